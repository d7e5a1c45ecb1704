//! The crate's one error type. Every fallible call returns [`Error`]; registry refusals keep
//! Confluent's `error_code` so callers can match on them (40401 subject not found, 40403 schema
//! not found, 409 incompatible, …).

use crate::wire::{SchemaRef, WireError};

/// Everything that can go wrong while framing, talking to the registry, or encoding.
///
/// ```
/// use schemata_serde::Error;
/// let e = Error::Registry { status: 404, error_code: 40403, message: "Schema not found".into() };
/// assert_eq!(e.error_code(), Some(40403));
/// assert!(e.to_string().contains("40403"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid Confluent frame (wrong magic byte, too short).
    #[error("wire format: {0}")]
    Wire(#[from] WireError),
    /// The registry answered with an error body (`{"error_code": …, "message": …}`). When the
    /// body is not Confluent-shaped, `error_code` is the HTTP status.
    #[error("schema registry error {error_code} (HTTP {status}): {message}")]
    Registry {
        /// HTTP status of the response.
        status: u16,
        /// Confluent's `error_code`, e.g. 40403 (schema not found).
        error_code: i64,
        /// Confluent's `message`.
        message: String,
    },
    /// The registry could not be reached (connection refused, timeout, TLS), after retries.
    #[error("schema registry transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// The registry answered 2xx with a body this client does not understand.
    #[error("unexpected schema registry response: {0}")]
    Protocol(String),
    /// Avro parse, encode, decode or schema-resolution failure.
    #[error("avro: {0}")]
    Avro(#[from] apache_avro::Error),
    /// A schema of another type (PROTOBUF, JSON) where Avro was expected.
    #[error("schema {schema} has type {schema_type}; this crate handles AVRO only")]
    NotAvro {
        /// Which schema.
        schema: SchemaRef,
        /// The `schemaType` the registry reported.
        schema_type: String,
    },
    /// A record-name subject strategy was asked to name an unnamed schema (a primitive, array,
    /// map or union has no full name).
    #[error("subject strategy {strategy} needs a named schema (record, enum or fixed)")]
    UnnamedSchema {
        /// The strategy's short name.
        strategy: &'static str,
    },
    /// Invalid configuration (bad property value, unreadable certificate, bad URL).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// Confluent's `error_code`, when the registry refused the request.
    pub fn error_code(&self) -> Option<i64> {
        match self {
            Error::Registry { error_code, .. } => Some(*error_code),
            _ => None,
        }
    }

    /// True for errors a retry may cure: transport failures and 5xx answers.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(e) => !e.is_builder() && !e.is_decode(),
            Error::Registry { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
