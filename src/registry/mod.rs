//! The registry core: pure and synchronous, no I/O, no clock.
//!
//! - [`ids`]: what things are called: `SchemaId`, `Subject` (and its naming rules), `Version`,
//!   and the `VersionSelector` a URL names a version with.
//! - [`record`]: the `_schemas` record format every store speaks.
//! - [`state`]: the state folded from records (the only way state changes).
//! - [`query`]: reads: what a request sees, what is in force, where a schema is used, what a
//!   compatibility check compares with.
//! - [`command`]: writes: each checks a request against the state and returns records to append.
//! - [`submitted`]: a schema a client submits, resolved against the state and parsed.
//! - [`fingerprint`]: submissions parsed before, so a repeated one is not parsed again.
//! - [`avro`]: parsing, canonical and normalized text.
//! - [`canonical_scan`]: a one-pass proof that a stored text is already canonical (replay).
//! - [`compat`]: reader/writer compatibility and the seven `CompatibilityLevel`s.
//! - [`mode`]: registry modes (READWRITE, READONLY, READONLY_OVERRIDE, IMPORT).
//! - [`error`]: the core's one error enum.

pub mod avro;
pub mod canonical_scan;
pub mod command;
pub mod compat;
pub mod error;
pub mod fingerprint;
pub mod ids;
pub mod mode;
pub mod query;
pub mod record;
pub mod state;
pub mod submitted;
