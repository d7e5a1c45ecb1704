//! A thin blocking facade for code without an async runtime: each type owns a small
//! current-thread tokio runtime and its own [`RegistryClient`] (HTTP connections belong to the
//! runtime that opened them, so a client is never shared across runtimes).
//!
//! Do not call these from inside an async runtime (tokio panics on nested `block_on`); use the
//! async types there.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::runtime::Runtime;

use crate::{Config, Error, Incoming, ParsedSchema, Part, RegistryClient, Result, Value};

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("tokio runtime: {e}")))
}

/// Blocking [`crate::Serializer`].
///
/// ```no_run
/// use schemata_serde::{blocking, Config, ParsedSchema, Part};
/// let ser = blocking::Serializer::new(Config::builder("http://localhost:8081").build(), Part::Value)?;
/// let schema = ParsedSchema::parse(r#""string""#)?;
/// let bytes = ser.serialize("greetings", &schema, &"hello")?;
/// # Ok::<(), schemata_serde::Error>(())
/// ```
pub struct Serializer {
    inner: crate::Serializer,
    rt: Runtime,
}

impl Serializer {
    /// A serializer with its own client and runtime.
    pub fn new(config: Config, part: Part) -> Result<Self> {
        Ok(Serializer {
            inner: crate::Serializer::new(RegistryClient::new(config)?, part),
            rt: runtime()?,
        })
    }

    /// See [`crate::Serializer::serialize`].
    pub fn serialize<T: Serialize>(
        &self,
        topic: &str,
        schema: &ParsedSchema,
        value: &T,
    ) -> Result<Vec<u8>> {
        self.rt.block_on(self.inner.serialize(topic, schema, value))
    }

    /// See [`crate::Serializer::serialize_avro`].
    pub fn serialize_avro<T: Serialize + apache_avro::AvroSchema + 'static>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<Vec<u8>> {
        self.rt.block_on(self.inner.serialize_avro(topic, value))
    }

    /// See [`crate::Serializer::serialize_value`].
    pub fn serialize_value(
        &self,
        topic: &str,
        schema: &ParsedSchema,
        value: &Value,
    ) -> Result<Vec<u8>> {
        self.rt
            .block_on(self.inner.serialize_value(topic, schema, value))
    }
}

/// Blocking [`crate::Deserializer`].
///
/// ```no_run
/// use schemata_serde::{blocking, Config};
/// let de = blocking::Deserializer::new(Config::builder("http://localhost:8081").build())?;
/// let bytes: Vec<u8> = vec![0, 0, 0, 0, 1, 10, b'h', b'e', b'l', b'l', b'o'];
/// let value = de.deserialize_value(&bytes)?;
/// # Ok::<(), schemata_serde::Error>(())
/// ```
pub struct Deserializer {
    inner: crate::Deserializer,
    rt: Runtime,
}

impl Deserializer {
    /// A deserializer with its own client and runtime.
    pub fn new(config: Config) -> Result<Self> {
        Ok(Deserializer {
            inner: crate::Deserializer::new(RegistryClient::new(config)?),
            rt: runtime()?,
        })
    }

    /// See [`crate::Deserializer::deserialize_value`].
    pub fn deserialize_value<'a>(
        &self,
        incoming: impl Into<Incoming<'a>>,
    ) -> Result<Option<Value>> {
        self.rt.block_on(self.inner.deserialize_value(incoming))
    }

    /// See [`crate::Deserializer::deserialize`].
    pub fn deserialize<'a, T: DeserializeOwned>(
        &self,
        incoming: impl Into<Incoming<'a>>,
        reader: &ParsedSchema,
    ) -> Result<Option<T>> {
        self.rt.block_on(self.inner.deserialize(incoming, reader))
    }

    /// See [`crate::Deserializer::deserialize_avro`].
    pub fn deserialize_avro<'a, T: DeserializeOwned + apache_avro::AvroSchema + 'static>(
        &self,
        incoming: impl Into<Incoming<'a>>,
    ) -> Result<Option<T>> {
        self.rt.block_on(self.inner.deserialize_avro(incoming))
    }
}
