//! Command-line tools that talk to a running registry over its REST API.
//!
//! - [`check`]: `schemata check`, compatibility of local schema files, for CI.
//! - [`migrate`]: `schemata migrate`, a copy of one registry into another, ids kept.
//! - [`client`]: the small HTTP client both use.

pub mod check;
pub mod client;
pub mod migrate;
