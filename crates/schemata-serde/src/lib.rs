//! Confluent-compatible Avro serialization for Kafka in Rust: the wire format, a caching Schema
//! Registry client, and serde integration. Works with Schemata and with Confluent Schema
//! Registry alike; it does not depend on the server.
//!
//! # Where things live
//!
//! - [`wire`] — the bytes: `0x00` + 4-byte id prefix, Confluent 8.x's `0x01` + GUID prefix, and
//!   the GUID-in-a-header form. Pure, panic-free parsing.
//! - [`RegistryClient`] — async REST client (reqwest + rustls): register, look up, fetch by id,
//!   GUID or version, check compatibility. Basic auth, custom CAs, timeouts, retries, and
//!   single-flight caches so the hot path makes no HTTP call.
//! - [`Config`] — one configuration with Confluent's property names
//!   ([`Config::from_properties`]) or a typed builder ([`Config::builder`]).
//! - [`ParsedSchema`] — an Avro schema parsed once, the key of every cache.
//! - [`Serializer`] / [`Deserializer`] — values in, framed bytes out, and back, for
//!   `serde` types, `#[derive(AvroSchema)]` types and [`Value`]. Reading resolves the writer's
//!   schema into the reader's (Avro schema evolution).
//! - [`blocking`] — the same, for code without an async runtime.
//!
//! # A producer and a consumer
//!
//! ```no_run
//! # async fn run() -> schemata_serde::Result<()> {
//! use schemata_serde::{AvroSchema, Config, Deserializer, Part, RegistryClient, Serializer};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize, AvroSchema)]
//! #[avro(namespace = "com.acme")]
//! struct Order {
//!     id: i64,
//!     item: String,
//! }
//!
//! let client = RegistryClient::new(
//!     Config::builder("http://localhost:8081").basic_auth("svc", "secret").build(),
//! )?;
//!
//! // Producer side: registers com.acme.Order under "orders-value" on first use.
//! let serializer = Serializer::new(client.clone(), Part::Value);
//! let order = Order { id: 1, item: "tea".into() };
//! let bytes = serializer.serialize_avro("orders", &order).await?;
//!
//! // Consumer side: fetches the writer schema by the id in the bytes (once), then decodes.
//! let deserializer = Deserializer::new(client);
//! let back: Option<Order> = deserializer.deserialize_avro(&bytes).await?;
//! assert_eq!(back, Some(order));
//! # Ok(()) }
//! ```
//!
//! # Carrying Confluent configuration over
//!
//! ```
//! use std::collections::HashMap;
//! let props = HashMap::from([
//!     ("schema.registry.url".to_string(), "http://localhost:8081".to_string()),
//!     ("auto.register.schemas".to_string(), "false".to_string()),
//!     ("use.latest.version".to_string(), "true".to_string()),
//! ]);
//! let config = schemata_serde::Config::from_properties(&props)?;
//! assert!(config.use_latest_version);
//! # Ok::<(), schemata_serde::Error>(())
//! ```
//!
//! # Behaviour worth knowing
//!
//! - Subjects follow `key.subject.name.strategy` / `value.subject.name.strategy`
//!   ([`SubjectNameStrategy`]); the record strategies need a named schema.
//! - `use.latest.version` wins over `auto.register.schemas`, and encodes with the latest
//!   registered schema; with neither, the schema must already be registered (lookup).
//! - A tombstone (`None` payload) decodes to `None` and [`Serializer::serialize_opt`] keeps
//!   `None` as `None`.
//! - The deserializer reads a schema-id header before the payload prefix, as Confluent's
//!   `DualSchemaIdDeserializer` does. The serializer writes the classic id prefix.
//! - Registry errors keep Confluent's `error_code` ([`Error::error_code`]).
//! - `#[derive(AvroSchema)]` expands to paths under `::apache_avro`, so a crate using the derive
//!   also lists `apache-avro = { version = "0.22", features = ["derive"] }` in its own
//!   dependencies (the trait itself is re-exported here).
//! - Build each [`ParsedSchema`] once and reuse it: caches are keyed by its identity.
//! - Decoding into a Rust type whose schema is the writer's reads the bytes with the crate's
//!   own decoder, compiled once per writer schema; shapes it does not know (decimals,
//!   durations, `u64`, general unions, tuples) go through apache-avro's. On every path, typed
//!   or generic, a datum nested more than 512 levels deep (only a recursive schema allows
//!   that), or with more array and map items than one per byte plus 2^20, is an
//!   [`Error::Avro`]: apache-avro's reader would recurse until the stack overflows, or count
//!   empty items without end. Schemas that allow neither cost no check.

#![warn(missing_docs)]

pub mod blocking;
mod client;
mod config;
mod datum;
mod de;
mod error;
mod schema;
mod ser;
pub mod wire;

pub use client::{Compatibility, Reference, Registered, RegistryClient, SubjectVersion};
pub use config::{Config, ConfigBuilder, Part, SubjectNameStrategy};
pub use de::{Deserializer, Incoming};
pub use error::{Error, Result};
pub use schema::ParsedSchema;
pub use ser::Serializer;

/// The Avro library this crate builds on, re-exported so versions always match.
pub use apache_avro;
/// Avro's generic value type, for schema-driven code without Rust types.
pub use apache_avro::types::Value;
/// `#[derive(AvroSchema)]` and the `AvroSchema` trait (from apache-avro).
pub use apache_avro::AvroSchema;
