//! [`Serializer`]: values in, Confluent-framed bytes out.
//!
//! The first record for a (topic, schema) pair resolves the subject (strategy), then the id
//! (register, look up, or take the latest version) through the [`RegistryClient`]'s caches;
//! every later record is a map lookup and an Avro encode.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;

use crate::client::RegistryClient;
use crate::config::Part;
use crate::error::Result;
use crate::schema::ParsedSchema;
use crate::wire;

/// Encodes keys or values in the Confluent wire format (`0x00`, id, Avro datum).
///
/// ```no_run
/// # async fn run() -> schemata_serde::Result<()> {
/// use schemata_serde::{AvroSchema, Config, Part, RegistryClient, Serializer};
///
/// #[derive(serde::Serialize, AvroSchema)]
/// struct Order { id: i64, item: String }
///
/// let client = RegistryClient::new(Config::builder("http://localhost:8081").build())?;
/// let serializer = Serializer::new(client, Part::Value);
/// let bytes = serializer.serialize_avro("orders", &Order { id: 1, item: "tea".into() }).await?;
/// assert_eq!(bytes[0], 0x00);
/// # Ok(()) }
/// ```
pub struct Serializer {
    client: RegistryClient,
    part: Part,
    /// schema key → topic → where records of that schema on that topic go.
    targets: RwLock<HashMap<u64, HashMap<String, Target>>>,
}

/// The id to frame with and the schema to encode with (the caller's, or the subject's latest).
#[derive(Clone)]
struct Target {
    id: u32,
    schema: ParsedSchema,
    expires: Option<Instant>,
}

impl Serializer {
    /// A serializer for one side (`Part::Key` or `Part::Value`) of records, configured by the
    /// client's [`Config`](crate::Config).
    pub fn new(client: RegistryClient, part: Part) -> Self {
        Serializer {
            client,
            part,
            targets: RwLock::new(HashMap::new()),
        }
    }

    /// The client this serializer talks through.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Encodes a `serde::Serialize` value with `schema` for `topic`.
    ///
    /// With `use.latest.version` the subject's latest schema is used to encode instead of
    /// `schema` (which still names the subject under the record strategies).
    pub async fn serialize<T: Serialize>(
        &self,
        topic: &str,
        schema: &ParsedSchema,
        value: &T,
    ) -> Result<Vec<u8>> {
        let target = self.target(topic, schema).await?;
        encode_serde(target.id, &target.schema, value)
    }

    /// Like [`serialize`](Self::serialize), with Kafka's tombstone rule: `None` stays `None`
    /// (a null record value), never framed.
    pub async fn serialize_opt<T: Serialize>(
        &self,
        topic: &str,
        schema: &ParsedSchema,
        value: Option<&T>,
    ) -> Result<Option<Vec<u8>>> {
        match value {
            Some(v) => self.serialize(topic, schema, v).await.map(Some),
            None => Ok(None),
        }
    }

    /// Encodes a value whose type derives `apache_avro::AvroSchema`; the type's schema is built
    /// once per process.
    pub async fn serialize_avro<T: Serialize + apache_avro::AvroSchema + 'static>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<Vec<u8>> {
        let schema = ParsedSchema::of::<T>()?;
        self.serialize(topic, &schema, value).await
    }

    /// Encodes a generic `apache_avro::types::Value`, validated against the schema.
    ///
    /// ```no_run
    /// # async fn run(serializer: schemata_serde::Serializer) -> schemata_serde::Result<()> {
    /// use schemata_serde::{ParsedSchema, Value};
    /// let schema = ParsedSchema::parse(r#"{"type":"record","name":"T","fields":[{"name":"n","type":"int"}]}"#)?;
    /// let value = Value::Record(vec![("n".into(), Value::Int(3))]);
    /// let bytes = serializer.serialize_value("t", &schema, &value).await?;
    /// # Ok(()) }
    /// ```
    pub async fn serialize_value(
        &self,
        topic: &str,
        schema: &ParsedSchema,
        value: &Value,
    ) -> Result<Vec<u8>> {
        let target = self.target(topic, schema).await?;
        encode_value(target.id, &target.schema, value)
    }

    /// The subject `schema` goes under on `topic`, by the configured strategy.
    pub fn subject(&self, topic: &str, schema: &ParsedSchema) -> Result<String> {
        self.client.config().subject_strategy(self.part).subject(
            topic,
            self.part,
            schema.fullname(),
        )
    }

    /// The schema id records of `schema` on `topic` are framed with (registering or looking it
    /// up on first use).
    pub async fn schema_id(&self, topic: &str, schema: &ParsedSchema) -> Result<u32> {
        Ok(self.target(topic, schema).await?.id)
    }

    async fn target(&self, topic: &str, schema: &ParsedSchema) -> Result<Target> {
        {
            let targets = self.targets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = targets.get(&schema.key()).and_then(|m| m.get(topic)) {
                if t.expires.is_none_or(|e| Instant::now() < e) {
                    return Ok(t.clone());
                }
            }
        }
        let config = self.client.config();
        let subject = self.subject(topic, schema)?;
        let target = if config.use_latest_version {
            let latest = self.client.latest_version(&subject).await?;
            Target {
                id: latest.id,
                schema: latest.schema,
                expires: config.latest_cache_ttl.map(|ttl| Instant::now() + ttl),
            }
        } else {
            let id = if config.auto_register {
                self.client.register(&subject, schema).await?
            } else {
                self.client.lookup(&subject, schema).await?.id
            };
            Target {
                id,
                schema: schema.clone(),
                expires: None,
            }
        };
        self.targets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(schema.key())
            .or_default()
            .insert(topic.to_owned(), target.clone());
        Ok(target)
    }
}

/// Frames a serde value: id prefix, then the datum, encoded straight from `Serialize` without
/// an intermediate `Value`.
pub(crate) fn encode_serde<T: Serialize>(
    id: u32,
    schema: &ParsedSchema,
    value: &T,
) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(64);
    wire::write_id_prefix(&mut buf, id);
    let names = schema.borrowed_names()?;
    apache_avro::write_avro_datum_ref(schema.schema(), names.get_names(), value, &mut buf)?;
    Ok(buf)
}

/// Frames a generic value after validating it against the schema.
pub(crate) fn encode_value(id: u32, schema: &ParsedSchema, value: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(64);
    wire::write_id_prefix(&mut buf, id);
    GenericDatumWriter::builder(schema.schema())
        .resolved_schemata(schema.borrowed_names()?)
        .build()?
        .write_value_ref(&mut buf, value)?;
    Ok(buf)
}
