//! The log: where `_schemas` records live. Every backend is an ordered, compacted log of
//! `(key, value | tombstone)`; the registry appends to it and folds what it reads back.
//!
//! Backends are chosen by URL (`sqlite://path`, `memory://`) and dispatched through one enum
//! rather than a trait object: the set is closed and known, and each stays a plain struct.

pub mod memory;
pub mod sql;

use crate::registry::record::RawRecord;

/// A record read back from the log with its position.
#[derive(Debug, Clone)]
pub struct Stored {
    pub offset: i64,
    pub record: RawRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL '{0}' (expected sqlite://PATH or memory://)")]
    BadUrl(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the store at '{0}' is in use by another Schemata process")]
    Locked(String),
}

pub enum Store {
    Sql(sql::SqlStore),
    Memory(memory::MemoryStore),
}

impl Store {
    /// Opens (creating if needed) the store named by `url`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Store::Sql(sql::SqlStore::open_sqlite(path).await?))
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
            Store::Memory(m) => Ok(m.append(records)),
        }
    }

    /// The highest schema id ever allocated, even if compaction removed every record with it,
    /// so ids are never reused for different content.
    pub async fn id_watermark(&self) -> Result<i32, StoreError> {
        match self {
            Store::Sql(s) => s.id_watermark().await,
            Store::Memory(_) => Ok(0),
        }
    }

    /// Up to `limit` records after `offset`, in log order.
    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sql(s) => s.read_after(offset, limit).await,
            Store::Memory(m) => Ok(m.read_after(offset, limit)),
        }
    }

    /// Releases the store (and, for SQLite, the file lock) before shutdown completes.
    pub async fn close(&self) {
        if let Store::Sql(s) = self {
            s.close().await;
        }
    }
}
