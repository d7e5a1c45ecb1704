//! [`ParsedSchema`]: an Avro schema parsed once and shared, with everything the hot path needs
//! precomputed (resolved named types, full name, the text sent to the registry).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use apache_avro::schema::{NamesRef, ResolvedSchema};
use apache_avro::Schema;

use crate::error::Result;

/// A parsed Avro schema, cheap to clone (one `Arc`). Build it once and reuse it: serializers and
/// deserializers key their caches on it, so the hot path neither parses nor hashes schema text.
///
/// ```
/// use schemata_serde::ParsedSchema;
/// let s = ParsedSchema::parse(r#"{"type":"record","name":"Order","namespace":"com.acme",
///     "fields":[{"name":"id","type":"long"}]}"#).unwrap();
/// assert_eq!(s.fullname(), Some("com.acme.Order"));
/// assert!(ParsedSchema::parse("{not json").is_err());
/// ```
#[derive(Clone)]
pub struct ParsedSchema(Arc<Inner>);

struct Inner {
    /// Process-unique identity, so caches need not hash the schema text.
    key: u64,
    schema: Schema,
    /// Whether the schema refers to a named type by name (a type used twice). Only then does
    /// Avro need the name table, so only then is it built per call; apache-avro 0.22 does not
    /// export its owned resolved form.
    has_refs: bool,
    /// The text registered or looked up: the caller's own text, or the schema's full JSON form.
    /// Never the Parsing Canonical Form, which drops defaults and would register a different
    /// schema than the one the caller wrote.
    text: String,
    fullname: Option<String>,
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl ParsedSchema {
    /// Parses Avro schema JSON text. The text is kept as written and is what the registry sees.
    pub fn parse(text: &str) -> Result<Self> {
        let schema = Schema::parse_str(text)?;
        Self::with_text(schema, text.to_owned())
    }

    /// Parses a schema whose named types come partly from `references`: the texts of the
    /// schemas it references (in any order, transitively complete). The result is
    /// self-contained: referenced types are inlined.
    ///
    /// ```
    /// use schemata_serde::ParsedSchema;
    /// let address = r#"{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}"#;
    /// let person = r#"{"type":"record","name":"Person","fields":[{"name":"home","type":"Address"}]}"#;
    /// let s = ParsedSchema::parse_with_references(person, &[address.to_string()]).unwrap();
    /// assert_eq!(s.fullname(), Some("Person"));
    /// ```
    pub fn parse_with_references(text: &str, references: &[String]) -> Result<Self> {
        let (mut schema, deps) = Schema::parse_str_with_list(text, references)?;
        schema.denormalize(&deps)?;
        Self::with_text(schema, text.to_owned())
    }

    /// Wraps an already parsed schema; its full JSON form becomes the registry text.
    ///
    /// ```
    /// use schemata_serde::ParsedSchema;
    /// let s = ParsedSchema::from_schema(apache_avro::Schema::Long).unwrap();
    /// assert_eq!(s.text(), r#""long""#);
    /// assert_eq!(s.fullname(), None);
    /// ```
    pub fn from_schema(schema: Schema) -> Result<Self> {
        let text = serde_json::to_string(&schema)
            .map_err(|e| crate::Error::Config(format!("schema to JSON: {e}")))?;
        Self::with_text(schema, text)
    }

    /// The schema of an `apache_avro::AvroSchema` type (e.g. `#[derive(AvroSchema)]`), built
    /// once per type and process and shared after that.
    ///
    /// ```
    /// use schemata_serde::{AvroSchema, ParsedSchema};
    /// #[derive(AvroSchema)]
    /// struct Order { id: i64 }
    /// assert_eq!(ParsedSchema::of::<Order>().unwrap().fullname(), Some("Order"));
    /// ```
    pub fn of<T: apache_avro::AvroSchema + 'static>() -> Result<Self> {
        static BY_TYPE: OnceLock<RwLock<HashMap<TypeId, ParsedSchema>>> = OnceLock::new();
        let map = BY_TYPE.get_or_init(Default::default);
        let id = TypeId::of::<T>();
        if let Some(s) = map.read().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(s.clone());
        }
        let parsed = Self::from_schema(T::get_schema())?;
        let mut map = map.write().unwrap_or_else(|p| p.into_inner());
        Ok(map.entry(id).or_insert(parsed).clone())
    }

    fn with_text(schema: Schema, text: String) -> Result<Self> {
        let fullname = match &schema {
            Schema::Record(r) => Some(r.name.fullname(None)),
            Schema::Enum(e) => Some(e.name.fullname(None)),
            Schema::Fixed(f) => Some(f.name.fullname(None)),
            _ => None,
        };
        Ok(ParsedSchema(Arc::new(Inner {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            has_refs: has_refs(&schema),
            schema,
            text,
            fullname,
        })))
    }

    /// The Avro schema.
    pub fn schema(&self) -> &Schema {
        &self.0.schema
    }

    /// The schema text sent to the registry.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// The full name (`namespace.name`) of a record, enum or fixed schema.
    pub fn fullname(&self) -> Option<&str> {
        self.0.fullname.as_deref()
    }

    /// Process-unique identity of this parsed schema (clones share it).
    pub(crate) fn key(&self) -> u64 {
        self.0.key
    }

    /// The named types Avro needs to follow `Ref`s: empty (free) unless the schema has some.
    pub(crate) fn borrowed_names(&self) -> Result<ResolvedSchema<'_>> {
        if self.0.has_refs {
            Ok(ResolvedSchema::try_from(self.schema())?)
        } else {
            Ok(ResolvedSchema::new_with_known_schemata(
                Vec::new(),
                None,
                &NamesRef::new(),
            )?)
        }
    }
}

fn has_refs(schema: &Schema) -> bool {
    match schema {
        Schema::Ref { .. } => true,
        Schema::Record(r) => r.fields.iter().any(|f| has_refs(&f.schema)),
        Schema::Array(a) => has_refs(&a.items),
        Schema::Map(m) => has_refs(&m.types),
        Schema::Union(u) => u.variants().iter().any(has_refs),
        _ => false,
    }
}

impl std::fmt::Debug for ParsedSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedSchema")
            .field("fullname", &self.0.fullname)
            .field("text", &self.0.text)
            .finish()
    }
}
