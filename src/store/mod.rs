//! The logs the registry is folded from. Every backend is an ordered, compacted log of
//! `(key, value | tombstone)`; a store holds two of them:
//!
//! - **`_schemas`** ([`Store::append`], [`Store::read_after`], …): what the registry appends
//!   and folds into its state (`crate::node`).
//! - **users** ([`Store::users`]): the registry users and auth secrets (their records are
//!   `crate::auth::store`'s), kept apart so Confluent or Karapace reading `_schemas` never see
//!   one. SQLite: the `user_records` table beside `records`; Kafka: a topic of its own
//!   (`[kafka] users_topic`, default `_schemata_users`), never the schemas topic; memory: a
//!   second map. Opened on first use, so a registry without auth never creates the topic.
//!
//! [`follow`] reads a log to its end, catches up to an offset and tails a log others write,
//! for whatever folds it.
//!
//! Backends are chosen by URL (`sqlite://path`, `kafka://host:port/topic`, `memory://`) and
//! dispatched through one enum rather than a trait object: the set is closed and known, and each
//! stays a plain struct.

pub mod follow;
pub mod kafka;
pub mod lease;
pub mod memory;
pub mod sql;

use std::sync::Arc;
use std::time::Duration;

use crate::registry::record::RawRecord;
use kafka::KafkaConfig;

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
    /// The store holds something contradictory that needs an operator (see the message).
    #[error("{0}")]
    Conflict(String),
    /// A write was not confirmed in time; it may still land (Confluent's 50002).
    #[error("timed out: {0}")]
    Timeout(String),
    /// Records did not land right after log offset `after`, so readers do not count them
    /// (`kafka::fence`) — all of them, or only those after the first `partly` counted ones;
    /// the last one is at `landed`.
    #[error("another record was appended after offset {after}; the write was fenced (landed at {landed})")]
    Fenced {
        landed: i64,
        after: i64,
        partly: bool,
    },
}

/// One log of a store. Cheap to clone: clones share the log.
#[derive(Clone)]
pub struct Log(Arc<Backend>);

enum Backend {
    Sql(sql::SqlLog),
    Kafka(kafka::KafkaStore),
    Memory(memory::MemoryStore),
}

impl Log {
    /// The topic `topic` on the Kafka cluster at `brokers`, on its own (the `schemata user`
    /// command opens only the users topic).
    pub async fn open_kafka(
        brokers: &str,
        topic: &str,
        config: &KafkaConfig,
    ) -> Result<Log, StoreError> {
        let log = kafka::KafkaStore::open(brokers, topic, config).await?;
        Ok(Log(Arc::new(Backend::Kafka(log))))
    }

    /// Appends records in order; returns the offset of the last one. SQLite and memory append
    /// atomically; Kafka in order but not atomically (see [`kafka`]).
    pub async fn append(&self, records: &[RawRecord]) -> Result<i64, StoreError> {
        match &*self.0 {
            Backend::Sql(s) => {
                let offsets = s.append(records, None).await?;
                s.flush().await?;
                Ok(offsets.last().copied().unwrap_or(0))
            }
            Backend::Kafka(k) => k.append(records, None).await,
            Backend::Memory(m) => Ok(m.append(records)),
        }
    }

    /// Up to `limit` records after `offset`, in log order.
    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        match &*self.0 {
            Backend::Sql(s) => s.read_after(offset, limit).await,
            Backend::Kafka(k) => k.read_after(offset, limit).await,
            Backend::Memory(m) => Ok(m.read_after(offset, limit)),
        }
    }

    /// An offset the log is known to reach now, for a writer that must decide on everything
    /// already in it. Kafka: the offset of a NOOP record produced just now — as Confluent does,
    /// because only a record of its own tells a client where the end is (a high watermark or a
    /// partition-EOF may lag what the broker acknowledged to another producer). Local stores
    /// have one writer, this process: SQLite knows where its last append ended (nothing to
    /// read when that is applied); otherwise reading until a read comes back empty suffices
    /// (0).
    pub async fn sync_point(&self) -> Result<i64, StoreError> {
        match &*self.0 {
            Backend::Kafka(k) => k.mark_end().await,
            Backend::Sql(s) => Ok(s.known_end()),
            Backend::Memory(_) => Ok(0),
        }
    }

    /// The offset start-up replay must reach. Local stores are complete when a read comes back
    /// empty (0); Kafka's end is the NOOP it wrote on open, because an empty poll may come
    /// before records the broker already holds.
    pub fn replay_target(&self) -> i64 {
        match &*self.0 {
            Backend::Kafka(k) => k.opened_at(),
            Backend::Sql(_) | Backend::Memory(_) => 0,
        }
    }

    /// Whether other processes may append to this log, so a reader must tail it to see their
    /// records: only Kafka (a SQLite file is held by one process, memory by none other).
    pub fn shared(&self) -> bool {
        matches!(&*self.0, Backend::Kafka(_))
    }

    /// How long applying a write may stall before a follower reports a timeout.
    pub fn timeout(&self) -> Duration {
        match &*self.0 {
            Backend::Kafka(k) => k.timeout(),
            Backend::Sql(_) | Backend::Memory(_) => LOCAL_TIMEOUT,
        }
    }

    /// Flushes and releases the log's clients (Kafka); local logs close with their store.
    pub async fn close(&self) {
        if let Backend::Kafka(k) = &*self.0 {
            k.close().await;
        }
    }
}

/// Where [`Store::commit`] put its records.
#[derive(Debug)]
pub struct Committed {
    /// The offset of the last record.
    pub last: i64,
    /// Each record's offset, when every reader counts them there: a SQLite file has one
    /// writer; a fenced Kafka append succeeds only right behind the offset it was decided on.
    /// The writer may then apply them as they are instead of reading them back. None: read
    /// them back.
    pub own: Option<Vec<i64>>,
}

pub struct Store {
    schemas: Log,
    /// Opened by the first [`Store::users`].
    users: tokio::sync::OnceCell<Log>,
    kind: Kind,
}

/// What a store needs besides its `_schemas` log: where its users log is and what the file is.
enum Kind {
    Sql(sql::SqlStore),
    Kafka(Box<KafkaCluster>),
    Memory,
}

/// Where a Kafka store's topics are: the users topic is opened beside the schemas topic.
struct KafkaCluster {
    brokers: String,
    topic: String,
    config: KafkaConfig,
}

impl Store {
    /// Opens (creating if needed) the store named by `url`, with default Kafka settings.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &KafkaConfig::default()).await
    }

    /// Opens (creating if needed) the store named by `url`.
    pub async fn open_with(url: &str, kafka: &KafkaConfig) -> Result<Store, StoreError> {
        let (schemas, kind) = if let Some(path) = url.strip_prefix("sqlite://") {
            let file = sql::SqlStore::open_sqlite(path).await?;
            let schemas = Backend::Sql(file.log(sql::Table::Records));
            (schemas, Kind::Sql(file))
        } else if let Some(rest) = url.strip_prefix("kafka://") {
            let (brokers, topic) =
                kafka::KafkaStore::parse_url(rest).ok_or_else(|| StoreError::BadUrl(url.into()))?;
            let schemas = Backend::Kafka(kafka::KafkaStore::open(&brokers, &topic, kafka).await?);
            let kind = Kind::Kafka(Box::new(KafkaCluster {
                brokers,
                topic,
                config: kafka.clone(),
            }));
            (schemas, kind)
        } else if url == "memory://" {
            (
                Backend::Memory(memory::MemoryStore::default()),
                Kind::Memory,
            )
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(Store {
            schemas: Log(Arc::new(schemas)),
            users: tokio::sync::OnceCell::new(),
            kind,
        })
    }

    /// The `_schemas` log.
    pub fn schemas(&self) -> &Log {
        &self.schemas
    }

    /// The leader log beside a Kafka store's topic (`[kafka] leader_topic`, default the topic's
    /// name + `_leader`); other stores are
    /// held by one process, which always leads: None.
    pub async fn leader_log(&self) -> Result<Option<Log>, StoreError> {
        let Kind::Kafka(cluster) = &self.kind else {
            return Ok(None);
        };
        let KafkaCluster {
            brokers,
            topic,
            config,
        } = &**cluster;
        let leader = &config
            .leader_topic
            .clone()
            .unwrap_or_else(|| format!("{topic}_leader"));
        if leader == topic || *leader == config.users_topic {
            return Err(StoreError::Topic(format!(
                "the leader topic '{leader}' must differ from the schemas and users topics"
            )));
        }
        let log = kafka::KafkaStore::open(brokers, leader, config).await?;
        Ok(Some(Log(Arc::new(Backend::Kafka(log)))))
    }

    /// The users log, opened (on Kafka: the users topic created or verified) on first use.
    /// Kafka refuses a users topic that is the schemas topic: Confluent and Karapace read that
    /// one, and it would carry password hashes.
    pub async fn users(&self) -> Result<Log, StoreError> {
        self.users
            .get_or_try_init(|| async {
                let backend = match &self.kind {
                    Kind::Sql(file) => Backend::Sql(file.log(sql::Table::UserRecords)),
                    Kind::Kafka(cluster) => {
                        let KafkaCluster {
                            brokers,
                            topic,
                            config,
                        } = &**cluster;
                        if *topic == config.users_topic {
                            return Err(StoreError::Topic(format!(
                                "the users topic cannot be the schemas topic '{topic}': \
                                 Confluent and Karapace read that one, and it would carry \
                                 password hashes"
                            )));
                        }
                        let users = &config.users_topic;
                        Backend::Kafka(kafka::KafkaStore::open(brokers, users, config).await?)
                    }
                    Kind::Memory => Backend::Memory(memory::MemoryStore::default()),
                };
                Ok(Log(Arc::new(backend)))
            })
            .await
            .cloned()
    }

    /// Moves users an older release kept in SQLite tables into the users log (see
    /// [`sql::SqlStore::adopt_legacy_users`]); `encode` turns them into users-log records.
    /// Other stores never had such tables: 0.
    pub async fn adopt_legacy_users(
        &self,
        encode: impl FnOnce(sql::LegacyUsers) -> Result<Vec<RawRecord>, StoreError>,
    ) -> Result<usize, StoreError> {
        match &self.kind {
            Kind::Sql(file) => file.adopt_legacy_users(encode).await,
            Kind::Kafka(_) | Kind::Memory => Ok(0),
        }
    }

    /// Appends records to `_schemas` in order (atomically on SQLite and memory; on Kafka in
    /// order but not atomically, see [`kafka`]) and returns the offset of the last one once
    /// they are durable: [`Store::commit`], then [`Store::flush`].
    pub async fn append(
        &self,
        records: &[RawRecord],
        max_id: i32,
        after: Option<i64>,
    ) -> Result<i64, StoreError> {
        let committed = self.commit(records, max_id, after).await?;
        self.flush().await?;
        Ok(committed.last)
    }

    /// Appends records to `_schemas` like [`Store::append`], but returns as soon as they are
    /// in the log and readable: on SQLite they are on disk only after a later
    /// [`Store::flush`] (a crash of the process loses nothing, a power cut may), which lets
    /// several writers share one sync (`sql::group_commit`). Kafka acknowledges only what
    /// its replicas hold, and memory has no disk: both are as durable as they get at once.
    ///
    /// `max_id` is the highest schema id the registry has allocated, kept where the log
    /// compacts at once (see [`Store::id_watermark`]). `after` fences the records on a shared
    /// log (`kafka::fence`): they count only if they land directly after that offset. Local
    /// stores have one writer and ignore it.
    pub async fn commit(
        &self,
        records: &[RawRecord],
        max_id: i32,
        after: Option<i64>,
    ) -> Result<Committed, StoreError> {
        let (last, own) = match &*self.schemas.0 {
            Backend::Sql(s) => {
                let offsets = s.append(records, Some(max_id)).await?;
                (offsets.last().copied().unwrap_or(0), Some(offsets))
            }
            // A fenced append succeeds only if its records landed right after `after`, in
            // order (`kafka::fence`): every reader counts them there.
            Backend::Kafka(k) => {
                let last = k.append(records, after).await?;
                (last, after.map(|after| (after + 1..=last).collect()))
            }
            Backend::Memory(m) => (m.append(records), None),
        };
        Ok(Committed { last, own })
    }

    /// Returns once everything committed to this store so far is durable (see
    /// [`Store::commit`]); at once when it already is, and always on Kafka and memory.
    pub async fn flush(&self) -> Result<(), StoreError> {
        match &self.kind {
            Kind::Sql(file) => file.flush().await,
            Kind::Kafka(_) | Kind::Memory => Ok(()),
        }
    }

    /// Whether everything committed is durable now ([`Store::flush`] would return at once).
    pub fn is_flushed(&self) -> bool {
        match &self.kind {
            Kind::Sql(file) => file.is_flushed(),
            Kind::Kafka(_) | Kind::Memory => true,
        }
    }

    /// How many transactions a SQLite store committed and how many syncs made them durable
    /// (several writers share one sync); None for other stores.
    pub fn commit_counts(&self) -> Option<(u64, u64)> {
        match &self.kind {
            Kind::Sql(file) => file.commit_counts(),
            Kind::Kafka(_) | Kind::Memory => None,
        }
    }

    /// The `_schemas` keys whose last record read was fenced, for the leader to restate
    /// (`kafka::fence`); always none on local stores.
    pub fn take_fenced(&self) -> Vec<Vec<u8>> {
        match &*self.schemas.0 {
            Backend::Kafka(k) => k.take_fenced(),
            Backend::Sql(_) | Backend::Memory(_) => Vec::new(),
        }
    }

    /// Gives back keys [`Store::take_fenced`] took, when restating them failed.
    pub fn keep_fenced(&self, keys: Vec<Vec<u8>>) {
        if let Backend::Kafka(k) = &*self.schemas.0 {
            k.keep_fenced(keys);
        }
    }

    /// The highest schema id ever allocated, even if compaction removed every record with it,
    /// so ids are never reused for different content.
    pub async fn id_watermark(&self) -> Result<i32, StoreError> {
        match &self.kind {
            Kind::Sql(file) => file.id_watermark().await,
            Kind::Kafka(_) | Kind::Memory => Ok(0),
        }
    }

    /// Up to `limit` `_schemas` records after `offset`, in log order.
    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        self.schemas.read_after(offset, limit).await
    }

    /// See [`Log::sync_point`] (of `_schemas`).
    pub async fn sync_point(&self) -> Result<i64, StoreError> {
        self.schemas.sync_point().await
    }

    /// The offset start-up replay of `_schemas` must reach before the node serves (see
    /// [`Log::replay_target`]).
    pub fn replay_target(&self) -> i64 {
        self.schemas.replay_target()
    }

    /// How long applying a write may stall before the node reports a timeout.
    pub fn timeout(&self) -> Duration {
        self.schemas.timeout()
    }

    /// Releases both logs (and, for SQLite, the file lock) before shutdown completes.
    pub async fn close(&self) {
        if let Some(users) = self.users.get() {
            users.close().await;
        }
        self.schemas.close().await;
        if let Kind::Sql(file) = &self.kind {
            file.close().await;
        }
    }
}
