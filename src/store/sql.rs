//! The SQL store: each log as a compacted table (see migrations/) — `records` for `_schemas`,
//! `user_records` for the users log — read and written by the same code. SQLite is the embedded
//! default.
//!
//! SQLite runs as one process: the connection holds the database in exclusive locking mode, so a
//! second Schemata on the same file fails at start instead of two writers allocating ids.
//! A write is on disk before it is acknowledged, and concurrent writers share the sync
//! ([`group_commit`]): a registration we acknowledged survives a power cut.

pub mod group_commit;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::{StoreError, Stored};
use crate::registry::record::RawRecord;
use group_commit::GroupCommit;

/// The SQLite file: its connection, shared by its logs.
pub struct SqlStore {
    pool: SqlitePool,
    /// None when SQLite could not use a write-ahead log (then every commit syncs).
    group: Option<Arc<GroupCommit>>,
    /// Per table, the offset of the last record this process appended, while it knows that
    /// nothing lies past it (see [`SqlLog::known_end`]).
    ends: Arc<[AtomicI64; 2]>,
}

/// One log of the file, as a table.
pub struct SqlLog {
    pool: SqlitePool,
    table: Table,
    group: Option<Arc<GroupCommit>>,
    ends: Arc<[AtomicI64; 2]>,
}

/// In [`SqlStore::ends`]: no append yet; the first that succeeds sets the end.
const UNKNOWN_END: i64 = -1;
/// In [`SqlStore::ends`]: an append failed, perhaps after committing; for good, readers read
/// to the end.
const LOST_END: i64 = -2;

/// The tables that hold a log. Both have the same shape, so only the statements differ.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// The `_schemas` log.
    Records,
    /// The users log.
    UserRecords,
}

impl Table {
    fn append(self) -> &'static str {
        match self {
            Table::Records => include_str!("sql/records/append.sql"),
            Table::UserRecords => include_str!("sql/user_records/append.sql"),
        }
    }

    fn read_after(self) -> &'static str {
        match self {
            Table::Records => include_str!("sql/records/read_after.sql"),
            Table::UserRecords => include_str!("sql/user_records/read_after.sql"),
        }
    }
}

/// A row of the `users` table releases before the users log kept (migration 0003), as stored.
#[derive(Debug, Clone)]
pub struct LegacyUser {
    pub name: String,
    pub role: String,
    /// A JSON array of subject prefixes.
    pub grants: String,
    pub password_phc: String,
    pub scram_salt: Vec<u8>,
    pub scram_iterations: i64,
    pub scram_stored_key: Vec<u8>,
    pub scram_server_key: Vec<u8>,
}

/// What the `users` and `auth_secrets` tables of an older release hold.
#[derive(Debug, Clone, Default)]
pub struct LegacyUsers {
    pub users: Vec<LegacyUser>,
    /// `auth_secrets` rows: name and value.
    pub secrets: Vec<(String, Vec<u8>)>,
}

impl LegacyUsers {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.secrets.is_empty()
    }
}

impl SqlStore {
    pub async fn open_sqlite(path: &str) -> Result<SqlStore, StoreError> {
        // Commits do not sync: `GroupCommit` does, for several at once (it needs the WAL).
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .locking_mode(SqliteLockingMode::Exclusive)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(500));
        let file = options.get_filename().to_path_buf();
        // One connection: exclusive mode allows no second one, and reads never hit the store
        // after start-up anyway.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| locked_or(e, path))?;
        // The first write takes the exclusive lock and keeps it for the life of the connection.
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => locked_or(e, path),
                e => StoreError::Migrate(e),
            })?;
        sqlx::query(include_str!("sql/take_lock.sql"))
            .execute(&pool)
            .await
            .map_err(|e| locked_or(e, path))?;
        let mode: String = sqlx::query_scalar(include_str!("sql/journal_mode.sql"))
            .fetch_one(&pool)
            .await?;
        let group = if mode.eq_ignore_ascii_case("wal") {
            let group = Arc::new(GroupCommit::start(&file));
            // Whatever the migrations (or a process killed before its sync) left unsynced.
            group.committed();
            group.flush().await?;
            Some(group)
        } else {
            // No WAL (a file system without the shared memory it needs, say): each commit
            // syncs, as SQLite does by default.
            tracing::warn!(%mode, "SQLite cannot use a write-ahead log here; every commit syncs");
            sqlx::query(include_str!("sql/sync_every_commit.sql"))
                .execute(&pool)
                .await?;
            None
        };
        Ok(SqlStore {
            pool,
            group,
            ends: Arc::new([AtomicI64::new(UNKNOWN_END), AtomicI64::new(UNKNOWN_END)]),
        })
    }

    /// The log kept in `table`.
    pub fn log(&self, table: Table) -> SqlLog {
        SqlLog {
            pool: self.pool.clone(),
            table,
            group: self.group.clone(),
            ends: self.ends.clone(),
        }
    }

    /// Returns once every committed write is on disk ([`GroupCommit::flush`]).
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush(&self.group).await
    }

    /// Whether every committed write is on disk now.
    pub fn is_flushed(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.is_synced())
    }

    /// How many transactions committed and how many syncs served them (None without group
    /// commit).
    pub fn commit_counts(&self) -> Option<(u64, u64)> {
        self.group.as_ref().map(|g| g.counts())
    }

    pub async fn id_watermark(&self) -> Result<i32, StoreError> {
        let max: Option<i32> = sqlx::query_scalar(include_str!("sql/id_watermark.sql"))
            .fetch_optional(&self.pool)
            .await?;
        Ok(max.unwrap_or(0))
    }

    /// Moves what an older release kept in its `users` and `auth_secrets` tables into the users
    /// log, as the records `encode` makes of them (it may refuse a corrupt row), in one
    /// transaction: appended only while the log is still empty (both holding users is refused),
    /// and the old tables emptied in the same transaction, so a crash part-way leaves either
    /// the old tables or the records. Returns how many records.
    pub async fn adopt_legacy_users(
        &self,
        encode: impl FnOnce(LegacyUsers) -> Result<Vec<RawRecord>, StoreError>,
    ) -> Result<usize, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let adopted = Self::adopt_on(&mut conn, encode).await;
        rollback_if_failed(conn, adopted.is_err()).await;
        committed(&self.group);
        let adopted = adopted?;
        self.flush().await?;
        Ok(adopted)
    }

    async fn adopt_on(
        conn: &mut sqlx::SqliteConnection,
        encode: impl FnOnce(LegacyUsers) -> Result<Vec<RawRecord>, StoreError>,
    ) -> Result<usize, StoreError> {
        sqlx::query(include_str!("sql/begin.sql"))
            .execute(&mut *conn)
            .await?;
        let log_empty: bool = sqlx::query_scalar(include_str!("sql/user_records/is_empty.sql"))
            .fetch_one(&mut *conn)
            .await?;
        let mut legacy = LegacyUsers::default();
        for row in sqlx::query(include_str!("sql/legacy/users.sql"))
            .fetch_all(&mut *conn)
            .await?
        {
            legacy.users.push(LegacyUser {
                name: row.try_get(0)?,
                role: row.try_get(1)?,
                grants: row.try_get(2)?,
                password_phc: row.try_get(3)?,
                scram_salt: row.try_get(4)?,
                scram_iterations: row.try_get(5)?,
                scram_stored_key: row.try_get(6)?,
                scram_server_key: row.try_get(7)?,
            });
        }
        for row in sqlx::query(include_str!("sql/legacy/secrets.sql"))
            .fetch_all(&mut *conn)
            .await?
        {
            legacy.secrets.push((row.try_get(0)?, row.try_get(1)?));
        }
        let mut adopted = 0;
        if !legacy.is_empty() {
            // Both hold users only if something wrote the old tables after a conversion (an
            // older release on a copy of the file): refuse rather than drop either.
            if !log_empty {
                return Err(StoreError::Conflict(format!(
                    "the database has users both in the old `users`/`auth_secrets` tables ({} \
                     rows) and in the users log; move them by hand (`schemata user`) and empty \
                     the old tables",
                    legacy.users.len() + legacy.secrets.len()
                )));
            }
            let records = encode(legacy)?;
            adopted = records.len();
            append_rows(conn, Table::UserRecords, &records).await?;
            sqlx::query(include_str!("sql/legacy/forget.sql"))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(include_str!("sql/commit.sql"))
            .execute(&mut *conn)
            .await?;
        Ok(adopted)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl SqlLog {
    /// Appends `records` in one transaction; for the `_schemas` log, raises the id watermark to
    /// `max_id` in it. The records are readable at once, and on disk after the next
    /// [`SqlLog::flush`].
    ///
    /// The transaction is spelt out (`BEGIN IMMEDIATE` … `COMMIT`, `ROLLBACK` on any failure)
    /// instead of using sqlx's: when SQLite ends a transaction by itself (a full disk, an I/O
    /// error), sqlx's own rollback fails and sqlx keeps counting the transaction as open, so
    /// every later append would only release a savepoint inside a transaction that is never
    /// committed — read back on this connection and acknowledged, but never in the file. A
    /// `ROLLBACK` that may find no transaction leaves the connection in autocommit whatever
    /// failed.
    ///
    /// Returns each record's offset, in order.
    pub async fn append(
        &self,
        records: &[RawRecord],
        max_id: Option<i32>,
    ) -> Result<Vec<i64>, StoreError> {
        let end = &self.ends[self.table as usize];
        let mut conn = self.pool.acquire().await?;
        let written = self.append_on(&mut conn, records, max_id).await;
        rollback_if_failed(conn, written.is_err()).await;
        // Appends to one table may complete in any order (the users log has no writer lock):
        // the end only grows. A failed one may have committed before failing: then the end is
        // not known any more.
        let _ = end.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |known| match &written {
            _ if known == LOST_END => None,
            Ok(offsets) => Some(known.max(offsets.last().copied().unwrap_or(0))),
            Err(_) => Some(LOST_END),
        });
        // Counted even if it failed: it may have committed, and a sync too many costs little.
        committed(&self.group);
        written
    }

    /// Where the log ends, if this process knows: the offset of its last append, when that
    /// succeeded (the file has no other writer). 0 when unknown (the reader reads to the end).
    pub fn known_end(&self) -> i64 {
        self.ends[self.table as usize].load(Ordering::SeqCst).max(0)
    }

    /// Returns once every committed write is on disk ([`GroupCommit::flush`]).
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush(&self.group).await
    }

    async fn append_on(
        &self,
        conn: &mut sqlx::SqliteConnection,
        records: &[RawRecord],
        max_id: Option<i32>,
    ) -> Result<Vec<i64>, StoreError> {
        if records.len() <= ONE_TRIP {
            // The whole transaction in one query: every statement is a hand-off to the
            // connection's thread and back, and those hand-offs, not SQLite, were most of a
            // registration's time.
            let sql = transaction(self.table, records.len(), max_id.is_some());
            let mut query = sqlx::query(&sql);
            if let Some(max_id) = max_id {
                query = query.bind(max_id);
            }
            for r in records {
                query = query.bind(&r.key).bind(&r.value);
            }
            let rows = query.fetch_all(&mut *conn).await?;
            return Ok(rows
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?);
        }
        sqlx::query(include_str!("sql/begin.sql"))
            .execute(&mut *conn)
            .await?;
        if let Some(max_id) = max_id {
            sqlx::query(include_str!("sql/raise_watermark.sql"))
                .bind(max_id)
                .execute(&mut *conn)
                .await?;
        }
        let offsets = append_rows(conn, self.table, records).await?;
        sqlx::query(include_str!("sql/commit.sql"))
            .execute(&mut *conn)
            .await?;
        Ok(offsets)
    }

    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let rows = sqlx::query(self.table.read_after())
            .bind(offset)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Stored {
                offset: row.get(0),
                record: RawRecord {
                    key: row.get(1),
                    value: row.get(2),
                },
            })
            .collect())
    }
}

/// Up to how many records [`SqlLog::append`] writes in one query.
const ONE_TRIP: usize = 32;

/// `BEGIN`, the id watermark raise (binding the id) if `watermark`, one upsert per record
/// (binding its key and value) and `COMMIT`, as one multi-statement query.
///
/// Parameters are positional (`?`): sqlx numbers them across the statements in order, but
/// does not bind numbered ones (`?5`) past the first statement reliably.
fn transaction(table: Table, records: usize, watermark: bool) -> String {
    // The statements' own parameters are numbered `?1`, `?2`, in the order they appear.
    let statement = |sql: &str| {
        let positional = sql.replace("?1", "?").replace("?2", "?");
        format!("{};\n", positional.trim().trim_end_matches(';'))
    };
    let mut sql = statement(include_str!("sql/begin.sql"));
    if watermark {
        sql += &statement(include_str!("sql/raise_watermark.sql"));
    }
    for _ in 0..records {
        sql += &statement(table.append());
    }
    sql + &statement(include_str!("sql/commit.sql"))
}

/// Upserts `records` into `table` inside the caller's transaction; their offsets.
async fn append_rows(
    conn: &mut sqlx::SqliteConnection,
    table: Table,
    records: &[RawRecord],
) -> Result<Vec<i64>, StoreError> {
    let mut offsets = Vec::with_capacity(records.len());
    for r in records {
        offsets.push(
            sqlx::query_scalar(table.append())
                .bind(&r.key)
                .bind(&r.value)
                .fetch_one(&mut *conn)
                .await?,
        );
    }
    Ok(offsets)
}

fn committed(group: &Option<Arc<GroupCommit>>) {
    if let Some(group) = group {
        group.committed();
    }
}

async fn flush(group: &Option<Arc<GroupCommit>>) -> Result<(), StoreError> {
    match group {
        Some(group) => group.flush().await,
        None => Ok(()),
    }
}

/// After a failed transaction: `ROLLBACK`. "No transaction is active" is fine: SQLite already
/// ended it. Any other failure may leave one open: closing the connection makes SQLite discard
/// it, and the pool opens a fresh connection.
async fn rollback_if_failed(mut conn: sqlx::pool::PoolConnection<sqlx::Sqlite>, failed: bool) {
    if !failed {
        return;
    }
    if let Err(e) = sqlx::query(include_str!("sql/rollback.sql"))
        .execute(&mut *conn)
        .await
    {
        if !e.to_string().contains("no transaction is active") {
            tracing::error!(error = %e, "rollback failed; reopening the database");
            let _ = conn.close().await;
        }
    }
}

fn locked_or(e: sqlx::Error, path: &str) -> StoreError {
    let busy = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "5" || c == "6");
    if busy {
        StoreError::Locked(path.to_string())
    } else {
        StoreError::Sql(e)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, value: Option<&str>) -> RawRecord {
        RawRecord {
            key: key.as_bytes().to_vec(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    /// Both append paths (one query for a few records, a statement each for many) write the
    /// same log: offsets in order, tombstones kept, a rewritten key moved to its new offset,
    /// the watermark raised.
    #[tokio::test]
    async fn appends_of_any_size_land_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let store = SqlStore::open_sqlite(path.to_str().unwrap()).await.unwrap();
        let log = store.log(Table::Records);
        let few = [
            record("a", Some("1")),
            record("b", None),
            record("c", Some("3")),
        ];
        assert_eq!(log.append(&few, Some(7)).await.unwrap(), vec![1, 2, 3]);
        assert_eq!(log.known_end(), 3);
        let many: Vec<_> = (0..ONE_TRIP + 8)
            .map(|i| record(&format!("k{i}"), Some("v")))
            .chain([record("a", Some("again"))])
            .collect();
        let offsets = log.append(&many, Some(9)).await.unwrap();
        assert_eq!(offsets, (4..4 + many.len() as i64).collect::<Vec<_>>());
        assert_eq!(store.id_watermark().await.unwrap(), 9);
        let read = log.read_after(0, 1000).await.unwrap();
        // "a" was rewritten: only its last record remains, at its new offset.
        assert_eq!(read.len(), 2 + many.len());
        assert_eq!(read[0].record, few[1]);
        assert_eq!(read[1].record, few[2]);
        let last = read.last().unwrap();
        assert_eq!(
            (last.offset, &last.record),
            (*offsets.last().unwrap(), &many[many.len() - 1])
        );
    }
}
