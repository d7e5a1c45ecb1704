//! Avro schema text: parsing (with Confluent references) and the canonical text we store.
//!
//! Confluent stores and returns `AvroSchema.canonicalString()`, which is Java Avro's
//! `Schema.toString()`: compact JSON, attributes in a fixed order, `{"type":"int"}` collapsed to
//! `"int"`, `namespace` written only where it differs from the enclosing one. We produce the same
//! text from the JSON so that clients comparing strings, and ids deduplicated by text, agree with
//! Confluent. apache-avro does the validation; this module only decides the spelling.

use apache_avro::Schema;
use serde_json::{Map, Value};

/// A schema the registry accepted: its canonical text and its parsed form.
#[derive(Debug)]
pub struct ParsedSchema {
    pub canonical: String,
    pub schema: Schema,
    /// The referenced named schemas, in dependency order; names in `schema` resolve against them.
    pub refs: Vec<Schema>,
}

/// Why a schema text was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSchema(pub String);

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Most fields one record may have.
pub const MAX_FIELDS: usize = 10_000;
/// Most symbols one enum may have.
pub const MAX_ENUM_SYMBOLS: usize = 20_000;
/// Most aliases one named type or field may have.
pub const MAX_ALIASES: usize = 1_000;
/// Most branches one union may have.
pub const MAX_UNION_BRANCHES: usize = 10_000;

/// Parses `text` with the already-resolved texts of its references (dependencies first).
///
/// For schemas already stored (replayed from the log, perhaps written by another registry):
/// no size limits, since refusing them now would help nobody. What clients submit goes through
/// [`parse_submitted`].
pub fn parse(text: &str, ref_texts: &[&str]) -> Result<ParsedSchema, InvalidSchema> {
    let json: Value =
        serde_json::from_str(text).map_err(|e| InvalidSchema(format!("Invalid schema: {e}")))?;
    parse_json(text, &json, ref_texts)
}

/// [`parse`] for a schema a client submits, refused first if one of its records, enums,
/// unions or alias lists is longer than the `MAX_*` limits above.
///
/// The limits sit far above anything real schemas use, and keep every later step (apache_avro's
/// parser, canonical text, compatibility) from meeting lists of hundreds of thousands of items
/// that a 4 MiB body can hold. Checked on the JSON, before apache_avro sees it.
pub fn parse_submitted(text: &str, ref_texts: &[&str]) -> Result<ParsedSchema, InvalidSchema> {
    let json: Value =
        serde_json::from_str(text).map_err(|e| InvalidSchema(format!("Invalid schema: {e}")))?;
    check_sizes(&json)?;
    parse_json(text, &json, ref_texts)
}

fn parse_json(text: &str, json: &Value, ref_texts: &[&str]) -> Result<ParsedSchema, InvalidSchema> {
    let (schema, refs) = if ref_texts.is_empty() {
        (Schema::parse(json).map_err(avro_err)?, Vec::new())
    } else {
        Schema::parse_str_with_list(text, ref_texts).map_err(avro_err)?
    };
    let canonical = canonical_text(json)?;
    Ok(ParsedSchema {
        canonical,
        schema,
        refs,
    })
}

/// Refuses a schema JSON with a list longer than its `MAX_*` limit. Recursive, but serde_json
/// has already bounded the nesting (128 levels).
fn check_sizes(v: &Value) -> Result<(), InvalidSchema> {
    let too_many = |what: String, n: usize, max: usize| {
        Err(invalid(format!(
            "{what} has {n} items, more than the {max} Schemata accepts"
        )))
    };
    let name = |o: &Map<String, Value>| {
        o.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let aliases = |o: &Map<String, Value>, what: &str| match o.get("aliases") {
        Some(Value::Array(a)) if a.len() > MAX_ALIASES => too_many(
            format!("the aliases of {what} {}", name(o)),
            a.len(),
            MAX_ALIASES,
        ),
        _ => Ok(()),
    };
    match v {
        Value::Array(branches) => {
            if branches.len() > MAX_UNION_BRANCHES {
                return too_many("a union".into(), branches.len(), MAX_UNION_BRANCHES);
            }
            branches.iter().try_for_each(check_sizes)
        }
        Value::Object(o) => {
            aliases(o, "type")?;
            if let Some(Value::Array(symbols)) = o.get("symbols") {
                if symbols.len() > MAX_ENUM_SYMBOLS {
                    let what = format!("the symbols of enum {}", name(o));
                    return too_many(what, symbols.len(), MAX_ENUM_SYMBOLS);
                }
            }
            if let Some(Value::Array(fields)) = o.get("fields") {
                if fields.len() > MAX_FIELDS {
                    let what = format!("the fields of record {}", name(o));
                    return too_many(what, fields.len(), MAX_FIELDS);
                }
                for field in fields.iter().filter_map(Value::as_object) {
                    aliases(field, "field")?;
                    if let Some(t) = field.get("type") {
                        check_sizes(t)?;
                    }
                }
            }
            for inner in ["type", "items", "values"] {
                if let Some(t @ (Value::Object(_) | Value::Array(_))) = o.get(inner) {
                    check_sizes(t)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn avro_err(e: apache_avro::Error) -> InvalidSchema {
    InvalidSchema(format!("Invalid schema: {e}"))
}

/// Java Avro's `Schema.toString()` spelling of an already-valid schema JSON.
pub fn canonical_text(json: &Value) -> Result<String, InvalidSchema> {
    let v = SchemaTextWriter::default().schema(json, None)?;
    Ok(v.to_string())
}

/// Confluent's `normalize=true` form: every name fully qualified, custom properties and aliases
/// sorted, a decimal's `scale: 0` dropped. Spellings of one schema that differ only in those
/// ways normalize to one text, and so to one id.
pub fn normalized_text(json: &Value) -> Result<String, InvalidSchema> {
    let v = SchemaTextWriter {
        normalize: true,
        ..SchemaTextWriter::default()
    }
    .schema(json, None)?;
    Ok(v.to_string())
}

/// Writes a schema's JSON in one of the two spellings above ([`canonical_text`],
/// [`normalized_text`]), checking on the way what Java Avro checks and apache-avro does not.
#[derive(Default)]
struct SchemaTextWriter {
    /// Normalize (see [`normalized_text`]) instead of reproducing Java's `toString()`.
    normalize: bool,
    /// Full names defined so far: Java Avro refuses to define one twice.
    defined: std::cell::RefCell<std::collections::HashSet<String>>,
}

fn invalid(msg: impl std::fmt::Display) -> InvalidSchema {
    InvalidSchema(format!("Invalid schema: {msg}"))
}

/// Java Avro's checks that apache-avro does not make, so that a schema every Java consumer
/// can parse is the only kind we accept.
fn check_aliases(v: Option<&Value>) -> Result<(), InvalidSchema> {
    match v {
        None => Ok(()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(()),
        Some(other) => Err(invalid(format!("aliases not an array of strings: {other}"))),
    }
}

/// A name split into its namespace and simple name, resolved against the enclosing namespace.
fn split_name(
    name: &str,
    namespace: Option<&str>,
    enclosing: Option<&str>,
) -> (Option<String>, String) {
    match name.rfind('.') {
        // `.Name` is explicitly in the null namespace.
        Some(i) => (
            Some(name[..i].to_string()).filter(|ns| !ns.is_empty()),
            name[i + 1..].to_string(),
        ),
        None => {
            let ns = namespace.or(enclosing).filter(|s| !s.is_empty());
            (ns.map(str::to_string), name.to_string())
        }
    }
}

fn full_name(ns: &Option<String>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_string(),
    }
}

impl SchemaTextWriter {
    fn schema(&self, v: &Value, enclosing: Option<&str>) -> Result<Value, InvalidSchema> {
        match v {
            Value::String(s) => Ok(Value::String(self.reference(s, enclosing))),
            Value::Array(branches) => branches
                .iter()
                .map(|b| self.schema(b, enclosing))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(obj) => self.object(obj, enclosing),
            other => Err(InvalidSchema(format!(
                "Invalid schema: not a schema: {other}"
            ))),
        }
    }

    fn reference(&self, s: &str, enclosing: Option<&str>) -> String {
        if PRIMITIVES.contains(&s) {
            return s.to_string();
        }
        let (ns, name) = split_name(s, None, enclosing);
        let enclosing = enclosing.filter(|e| !e.is_empty());
        match (&ns, enclosing) {
            (_, _) if !self.normalize && ns.as_deref() == enclosing => name,
            // The null namespace seen from inside another: a bare `Name` would resolve against
            // the enclosing namespace and name a different type.
            (None, Some(_)) => format!(".{name}"),
            _ => full_name(&ns, &name),
        }
    }

    fn object(
        &self,
        obj: &Map<String, Value>,
        enclosing: Option<&str>,
    ) -> Result<Value, InvalidSchema> {
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            // `{"type": {...}}` or `{"type": [...]}`: the wrapper adds nothing.
            Some(inner @ (Value::Object(_) | Value::Array(_))) if obj.len() == 1 => {
                return self.schema(inner, enclosing);
            }
            _ => {
                return Err(InvalidSchema(
                    "Invalid schema: missing or invalid \"type\"".into(),
                ))
            }
        };
        let mut out = Map::new();
        let copy_props = |out: &mut Map<String, Value>, reserved: &[&str]| {
            self.props(obj, reserved, out);
        };
        match ty {
            "record" | "error" | "enum" | "fixed" => {
                let name = obj.get("name").and_then(Value::as_str).ok_or_else(|| {
                    InvalidSchema("Invalid schema: named type without name".into())
                })?;
                let namespace = obj.get("namespace").and_then(Value::as_str);
                let (ns, simple) = split_name(name, namespace, enclosing);
                if PRIMITIVES.contains(&simple.as_str()) {
                    return Err(invalid(format!(
                        "Schemas may not be named after primitives: {simple}"
                    )));
                }
                if !self.defined.borrow_mut().insert(full_name(&ns, &simple)) {
                    return Err(invalid(format!(
                        "Can't redefine: {}",
                        full_name(&ns, &simple)
                    )));
                }
                check_aliases(obj.get("aliases"))?;
                out.insert("type".into(), ty.into());
                if self.normalize {
                    out.insert("name".into(), full_name(&ns, &simple).into());
                    // A full name without a dot is still read against the enclosing namespace.
                    if ns.is_none() && enclosing.is_some_and(|e| !e.is_empty()) {
                        out.insert("namespace".into(), "".into());
                    }
                } else {
                    out.insert("name".into(), simple.into());
                    let enclosing = enclosing.filter(|e| !e.is_empty());
                    match (&ns, enclosing) {
                        (Some(ns), e) if Some(ns.as_str()) != e => {
                            out.insert("namespace".into(), ns.clone().into());
                        }
                        (None, Some(_)) => {
                            out.insert("namespace".into(), "".into());
                        }
                        _ => {}
                    }
                }
                // Java drops a null doc.
                if let Some(doc) = obj.get("doc").filter(|d| d.is_string()) {
                    out.insert("doc".into(), doc.clone());
                }
                match ty {
                    "enum" => {
                        out.insert(
                            "symbols".into(),
                            obj.get("symbols").cloned().unwrap_or(Value::Null),
                        );
                        if let Some(d) = obj.get("default") {
                            out.insert("default".into(), d.clone());
                        }
                        copy_props(
                            &mut out,
                            &[
                                "type",
                                "name",
                                "namespace",
                                "doc",
                                "symbols",
                                "default",
                                "aliases",
                            ],
                        );
                    }
                    "fixed" => {
                        let size = obj.get("size").and_then(Value::as_i64);
                        if !size.is_some_and(|s| (0..=i64::from(i32::MAX)).contains(&s)) {
                            return Err(invalid("Invalid or no size for fixed"));
                        }
                        out.insert(
                            "size".into(),
                            obj.get("size").cloned().unwrap_or(Value::Null),
                        );
                        copy_props(
                            &mut out,
                            &["type", "name", "namespace", "doc", "size", "aliases"],
                        );
                    }
                    _ => {
                        let fields =
                            obj.get("fields").and_then(Value::as_array).ok_or_else(|| {
                                InvalidSchema("Invalid schema: record without fields".into())
                            })?;
                        let fields = fields
                            .iter()
                            .map(|f| self.field(f, ns.as_deref()))
                            .collect::<Result<Vec<_>, _>>()?;
                        out.insert("fields".into(), Value::Array(fields));
                        copy_props(
                            &mut out,
                            &["type", "name", "namespace", "doc", "fields", "aliases"],
                        );
                    }
                }
                if let Some(aliases) = obj
                    .get("aliases")
                    .and_then(|a| self.aliases(a, ns.as_deref()))
                {
                    out.insert("aliases".into(), aliases);
                }
            }
            "array" | "map" => {
                let part = if ty == "array" { "items" } else { "values" };
                let inner = obj
                    .get(part)
                    .ok_or_else(|| InvalidSchema(format!("Invalid schema: {ty} without {part}")))?;
                out.insert("type".into(), ty.into());
                out.insert(part.into(), self.schema(inner, enclosing)?);
                copy_props(&mut out, &["type", part]);
            }
            _ => {
                // A primitive (possibly with a logical type or custom properties) or a
                // `{"type":"Name"}` reference.
                let props: Vec<_> = obj.iter().filter(|(k, _)| k.as_str() != "type").collect();
                if props.is_empty() {
                    return Ok(Value::String(self.reference(ty, enclosing)));
                }
                out.insert("type".into(), Value::String(self.reference(ty, enclosing)));
                self.props(obj, &["type"], &mut out);
            }
        }
        Ok(Value::Object(out))
    }

    fn field(&self, f: &Value, enclosing: Option<&str>) -> Result<Value, InvalidSchema> {
        let obj = f
            .as_object()
            .ok_or_else(|| InvalidSchema("Invalid schema: field is not an object".into()))?;
        let mut out = Map::new();
        out.insert(
            "name".into(),
            obj.get("name").cloned().unwrap_or(Value::Null),
        );
        let ty = obj
            .get("type")
            .ok_or_else(|| InvalidSchema("Invalid schema: field without type".into()))?;
        out.insert("type".into(), self.schema(ty, enclosing)?);
        if let Some(doc) = obj.get("doc").filter(|d| d.is_string()) {
            out.insert("doc".into(), doc.clone());
        }
        if let Some(default) = obj.get("default") {
            out.insert("default".into(), default.clone());
        }
        match obj.get("order").map(|o| o.as_str()) {
            None | Some(Some("ascending")) => {}
            Some(Some(o @ ("descending" | "ignore"))) => {
                out.insert("order".into(), o.into());
            }
            Some(other) => return Err(invalid(format!("invalid field order {other:?}"))),
        }
        check_aliases(obj.get("aliases"))?;
        if let Some(aliases) = obj.get("aliases").and_then(|a| self.aliases(a, None)) {
            out.insert("aliases".into(), aliases);
        }
        self.props(
            obj,
            &["name", "type", "doc", "default", "order", "aliases"],
            &mut out,
        );
        Ok(Value::Object(out))
    }

    /// Copies the properties not in `reserved`: in input order (as Java keeps them), or sorted
    /// by key when normalizing, where a decimal's `scale: 0` (the default) is also dropped.
    fn props(&self, obj: &Map<String, Value>, reserved: &[&str], out: &mut Map<String, Value>) {
        let mut props: Vec<(&String, &Value)> = obj
            .iter()
            .filter(|(k, _)| !reserved.contains(&k.as_str()))
            .collect();
        if self.normalize {
            props.sort_by(|a, b| a.0.cmp(b.0));
            let decimal = obj.get("logicalType").and_then(Value::as_str) == Some("decimal");
            props.retain(|(k, v)| !(decimal && k.as_str() == "scale" && v.as_i64() == Some(0)));
        }
        for (k, v) in props {
            out.insert(k.clone(), v.clone());
        }
    }

    /// Aliases as Java writes them: none when empty, and a named type's aliases relative to
    /// its namespace (`a.b.Z` in `a.b` is `Z`); sorted when normalizing.
    fn aliases(&self, aliases: &Value, ns: Option<&str>) -> Option<Value> {
        let mut out: Vec<Value> = aliases
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(|a| match (a.rsplit_once('.'), ns) {
                (Some((alias_ns, short)), Some(ns)) if alias_ns == ns => short.into(),
                _ => a.into(),
            })
            .collect();
        if out.is_empty() {
            return None;
        }
        if self.normalize {
            out.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        }
        Some(Value::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        parse(s, &[]).unwrap().canonical
    }

    #[test]
    fn primitives_collapse() {
        assert_eq!(canon(r#"{"type": "string"}"#), r#""string""#);
        assert_eq!(canon(r#" "long" "#), r#""long""#);
        assert_eq!(
            canon(r#"{"logicalType":"date","type":"int"}"#),
            r#"{"type":"int","logicalType":"date"}"#
        );
    }

    #[test]
    fn record_attributes_in_java_order() {
        let s = r#"{"fields":[{"type":"string","name":"a","default":"x","doc":"d"},
            {"name":"b","type":{"type":"enum","symbols":["X","Y"],"name":"E"}},
            {"name":"c","type":["null","E"],"order":"ascending"}],
            "doc":"top","namespace":"com.acme","name":"R","type":"record","aliases":["Old"]}"#;
        assert_eq!(
            canon(s),
            r#"{"type":"record","name":"R","namespace":"com.acme","doc":"top","fields":[{"name":"a","type":"string","doc":"d","default":"x"},{"name":"b","type":{"type":"enum","name":"E","symbols":["X","Y"]}},{"name":"c","type":["null","E"]}],"aliases":["Old"]}"#
        );
    }

    #[test]
    fn namespaces_written_only_where_they_change() {
        let s = r#"{"type":"record","name":"com.acme.R","fields":[
            {"name":"x","type":{"type":"fixed","name":"other.F","size":4}},
            {"name":"y","type":"other.F"},
            {"name":"z","type":{"type":"record","name":"N","namespace":"com.acme","fields":[]}}]}"#;
        assert_eq!(
            canon(s),
            r#"{"type":"record","name":"R","namespace":"com.acme","fields":[{"name":"x","type":{"type":"fixed","name":"F","namespace":"other","size":4}},{"name":"y","type":"other.F"},{"name":"z","type":{"type":"record","name":"N","fields":[]}}]}"#
        );
    }

    #[test]
    fn normalized_uses_full_names() {
        let a = r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"f","type":"E"}]}"#;
        let b = r#"{"type":"record","name":"n.R","fields":[{"name":"e","type":{"type":"enum","name":"n.E","symbols":["A"]}},{"name":"f","type":"n.E"}]}"#;
        let na = normalized_text(&serde_json::from_str(a).unwrap()).unwrap();
        let nb = normalized_text(&serde_json::from_str(b).unwrap()).unwrap();
        assert_eq!(na, nb);
        assert!(na.contains(r#""name":"n.E""#));
    }

    #[test]
    fn invalid_schemas_are_refused() {
        for bad in [
            "{",
            r#"{"type":"record","name":"R"}"#,
            r#"{"type":"nope"}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}"#,
            "42",
        ] {
            assert!(parse(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn java_spelling_of_docs_aliases_and_names() {
        assert_eq!(
            canon(
                r#"{"type":"record","name":"R","namespace":"a.b","aliases":["Q","x.Y","a.b.Z"],"doc":null,"fields":[{"name":"f","type":"int","aliases":[]}]}"#
            ),
            r#"{"type":"record","name":"R","namespace":"a.b","fields":[{"name":"f","type":"int"}],"aliases":["Q","x.Y","Z"]}"#
        );
        assert_eq!(
            canon(r#"{"type":"record","name":".ND","fields":[]}"#),
            r#"{"type":"record","name":"ND","fields":[]}"#
        );
    }

    #[test]
    fn java_avro_validations() {
        for bad in [
            r#"{"type":"record","name":"int","fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"r","type":{"type":"record","name":"R","fields":[]}}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"SIDEWAYS"}]}"#,
            r#"{"type":"record","name":"R","aliases":"x","fields":[]}"#,
            r#"{"type":"fixed","name":"F","size":4294967296}"#,
        ] {
            assert!(parse(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalize_sorts_props_and_aliases_and_drops_zero_scale() {
        let a = r#"{"type":"record","name":"R","b":1,"a":2,"aliases":["Y","X"],"fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":0}}]}"#;
        let b = r#"{"type":"record","name":"R","a":2,"b":1,"aliases":["X","Y"],"fields":[{"name":"d","type":{"type":"bytes","precision":4,"logicalType":"decimal"}}]}"#;
        let n = |s: &str| normalized_text(&serde_json::from_str(s).unwrap()).unwrap();
        assert_eq!(n(a), n(b));
        assert_ne!(canon(a), canon(b));
    }

    #[test]
    fn references_resolve() {
        let addr = r#"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"street","type":"string"}]}"#;
        let person = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"home","type":"Address"}]}"#;
        assert!(parse(person, &[]).is_err());
        let p = parse(person, &[addr]).unwrap();
        assert_eq!(p.refs.len(), 1);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut s = String::from("\"int\"");
        for _ in 0..500 {
            s = format!(r#"{{"type":"array","items":{s}}}"#);
        }
        assert!(parse(&s, &[]).is_err());
    }

    #[test]
    fn submitted_schemas_are_held_to_the_size_limits() {
        let names = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let fields = |n: usize| {
            (0..n)
                .map(|i| serde_json::json!({"name": format!("f{i}"), "type": "int"}))
                .collect::<Vec<_>>()
        };
        let record = |fields: Vec<Value>| serde_json::json!({"type": "record", "name": "R", "fields": fields});
        let cases = [
            (record(fields(MAX_FIELDS + 1)), "the fields of record R"),
            (
                serde_json::json!({"type": "enum", "name": "E",
                    "symbols": names("S", MAX_ENUM_SYMBOLS + 1)}),
                "the symbols of enum E",
            ),
            (
                record(vec![serde_json::json!({"name": "f", "type": "int",
                    "aliases": names("a", MAX_ALIASES + 1)})]),
                "the aliases of field f",
            ),
            (
                // Nested in an array in a map in a field's union.
                record(vec![serde_json::json!({"name": "f", "type": ["null",
                    {"type": "map", "values": {"type": "array", "items":
                        {"type": "fixed", "name": "F", "size": 1,
                         "aliases": names("a", MAX_ALIASES + 1)}}}]})]),
                "the aliases of type F",
            ),
            (
                Value::Array(
                    names("T", MAX_UNION_BRANCHES + 1)
                        .into_iter()
                        .map(|n| serde_json::json!({"type": "fixed", "name": n, "size": 1}))
                        .collect(),
                ),
                "a union",
            ),
        ];
        for (schema, what) in cases {
            let text = schema.to_string();
            let refused = parse_submitted(&text, &[]).unwrap_err().0;
            assert!(
                refused.starts_with(&format!("Invalid schema: {what} has ")),
                "{refused}"
            );
            // Stored schemas are not refused.
            assert!(parse(&text, &[]).is_ok(), "{what}");
        }
        // At the limits is fine.
        let text = record(fields(MAX_FIELDS)).to_string();
        assert!(parse_submitted(&text, &[]).is_ok());
    }
}
