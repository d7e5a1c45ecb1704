//! The log: where `_schemas` records live. Every backend is an ordered, compacted log of
//! `(key, value | tombstone)`; the registry appends to it and folds what it reads back.
//!
//! Backends are chosen by URL (`sqlite://path`, `kafka://host:port/topic`, `memory://`) and
//! dispatched through one enum rather than a trait object: the set is closed and known, and each
//! stays a plain struct.

pub mod kafka;
pub mod memory;
pub mod sql;

use std::time::Duration;

use kafka::KafkaConfig;
use crate::registry::record::RawRecord;

/// How long a local store may take to apply a write before the node gives up on it.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A record read back from the log with its position.
#[derive(Debug, Clone)]
pub struct Stored {
    pub offset: i64,
    pub record: RawRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported store URL '{0}' (expected sqlite://PATH, kafka://HOST:PORT[,HOST:PORT]/TOPIC or memory://)"
    )]
    BadUrl(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the store at '{0}' is in use by another Schemata process")]
    Locked(String),
    #[error("Kafka error: {0}")]
    Kafka(String),
    #[error("Kafka unavailable: {0}")]
    Unavailable(String),
    #[error("unusable schemas topic: {0}")]
    Topic(String),
    /// The log refused a record as such (too large, say); retrying cannot help.
    #[error("the log refused the record: {0}")]
    Refused(String),
    /// A write was not confirmed in time; it may still land (Confluent's 50002).
    #[error("timed out: {0}")]
    Timeout(String),
}

pub enum Store {
    Sql(sql::SqlStore),
    Kafka(kafka::KafkaStore),
    Memory(memory::MemoryStore),
}

impl Store {
    /// Opens (creating if needed) the store named by `url`, with default Kafka settings.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &KafkaConfig::default()).await
    }

    /// Opens (creating if needed) the store named by `url`.
    pub async fn open_with(url: &str, kafka: &KafkaConfig) -> Result<Store, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Store::Sql(sql::SqlStore::open_sqlite(path).await?))
        } else if let Some(rest) = url.strip_prefix("kafka://") {
            let (brokers, topic) =
                kafka::KafkaStore::parse_url(rest).ok_or_else(|| StoreError::BadUrl(url.into()))?;
            Ok(Store::Kafka(
                kafka::KafkaStore::open(&brokers, &topic, kafka).await?,
            ))
        } else if url == "memory://" {
            Ok(Store::Memory(memory::MemoryStore::default()))
        } else {
            Err(StoreError::BadUrl(url.to_string()))
        }
    }

    /// Appends records in order, atomically; returns the offset of the last one. `max_id` is
    /// the highest schema id the registry has allocated, kept where the log compacts at once
    /// (see [`Store::id_watermark`]).
    pub async fn append(&self, records: &[RawRecord], max_id: i32) -> Result<i64, StoreError> {
        match self {
            Store::Sql(s) => s.append(records, max_id).await,
            Store::Kafka(k) => k.append(records).await,
            Store::Memory(m) => Ok(m.append(records)),
        }
    }

    /// The highest schema id ever allocated, even if compaction removed every record with it,
    /// so ids are never reused for different content.
    pub async fn id_watermark(&self) -> Result<i32, StoreError> {
        match self {
            Store::Sql(s) => s.id_watermark().await,
            Store::Kafka(_) | Store::Memory(_) => Ok(0),
        }
    }

    /// Up to `limit` records after `offset`, in log order.
    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sql(s) => s.read_after(offset, limit).await,
            Store::Kafka(k) => k.read_after(offset, limit).await,
            Store::Memory(m) => Ok(m.read_after(offset, limit)),
        }
    }

    /// An offset the log is known to reach now, for a writer that must decide on everything
    /// already in it. Kafka: the offset of a NOOP record produced just now — as Confluent does,
    /// because only a record of its own tells a client where the end is (a high watermark or a
    /// partition-EOF may lag what the broker acknowledged to another producer). Local stores
    /// have one writer, this process, so reading until a read comes back empty suffices (0).
    pub async fn sync_point(&self) -> Result<i64, StoreError> {
        match self {
            Store::Kafka(k) => k.mark_end().await,
            Store::Sql(_) | Store::Memory(_) => Ok(0),
        }
    }

    /// The offset start-up replay must reach before the node serves. Local stores are complete
    /// when a read comes back empty (0); Kafka's end is the NOOP it wrote on open, because an
    /// empty poll may come before records the broker already holds.
    pub fn replay_target(&self) -> i64 {
        match self {
            Store::Kafka(k) => k.opened_at(),
            Store::Sql(_) | Store::Memory(_) => 0,
        }
    }

    /// How long applying a write may stall before the node reports a timeout.
    pub fn timeout(&self) -> Duration {
        match self {
            Store::Kafka(k) => k.timeout(),
            Store::Sql(_) | Store::Memory(_) => LOCAL_TIMEOUT,
        }
    }

    /// The SQLite connection, where the auth module keeps its `users` table (other stores have
    /// none yet).
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match self {
            Store::Sql(s) => Some(s.pool()),
            Store::Kafka(_) | Store::Memory(_) => None,
        }
    }

    /// Releases the store (and, for SQLite, the file lock) before shutdown completes.
    pub async fn close(&self) {
        match self {
            Store::Sql(s) => s.close().await,
            Store::Kafka(k) => k.close().await,
            Store::Memory(_) => {}
        }
    }
}
