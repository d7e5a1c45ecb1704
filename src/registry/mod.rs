//! The registry core: pure and synchronous, no I/O, no clock.
//!
//! - [`record`]: the `_schemas` record format every store speaks.
//! - [`state`]: the state folded from records (the only way state changes).
//! - [`command`]: write operations; each checks a request against the state and returns records.
//! - [`avro`]: parsing, references, canonical and normalized text.
//! - [`compat`]: reader/writer compatibility and the seven levels.
//! - [`mode`], [`error`]: registry modes and the core's one error enum.

pub mod avro;
pub mod command;
pub mod compat;
pub mod error;
pub mod mode;
pub mod record;
pub mod state;
