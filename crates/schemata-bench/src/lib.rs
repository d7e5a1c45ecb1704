//! A benchmark for Confluent-compatible schema registries: a load generator that sends the
//! requests Kafka clients make most (see [`workload::Workload`]), and a trivial loopback server
//! that answers the same number of bytes, so a registry's throughput can be read against the
//! ceiling of the machine it runs on. `scripts/bench` drives both; docs/performance.md explains
//! the numbers.

pub mod connection;
pub mod consume;
pub mod load;
pub mod loopback;
pub mod produce;
pub mod workload;
