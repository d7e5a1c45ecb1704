//! The SQL store: each log as a compacted table (see migrations/) — `records` for `_schemas`,
//! `user_records` for the users log — read and written by the same code. SQLite is the embedded
//! default.
//!
//! SQLite runs as one process: the connection holds the database in exclusive locking mode, so a
//! second Schemata on the same file fails at start instead of two writers allocating ids.
//! Writes are `synchronous = FULL`: a registration we acknowledged survives a power cut.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::{StoreError, Stored};
use crate::registry::record::RawRecord;

/// The SQLite file: its connection, shared by its logs.
pub struct SqlStore {
    pool: SqlitePool,
}

/// One log of the file, as a table.
pub struct SqlLog {
    pool: SqlitePool,
    table: Table,
}

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
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .locking_mode(SqliteLockingMode::Exclusive)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(500));
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
        Ok(SqlStore { pool })
    }

    /// The log kept in `table`.
    pub fn log(&self, table: Table) -> SqlLog {
        SqlLog {
            pool: self.pool.clone(),
            table,
        }
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
        adopted
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
    /// `max_id` in it.
    ///
    /// The transaction is spelt out (`BEGIN IMMEDIATE` … `COMMIT`, `ROLLBACK` on any failure)
    /// instead of using sqlx's: when SQLite ends a transaction by itself (a full disk, an I/O
    /// error), sqlx's own rollback fails and sqlx keeps counting the transaction as open, so
    /// every later append would only release a savepoint inside a transaction that is never
    /// committed — read back on this connection and acknowledged, but never in the file. A
    /// `ROLLBACK` that may find no transaction leaves the connection in autocommit whatever
    /// failed.
    pub async fn append(
        &self,
        records: &[RawRecord],
        max_id: Option<i32>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let written = self.append_on(&mut conn, records, max_id).await;
        rollback_if_failed(conn, written.is_err()).await;
        written
    }

    async fn append_on(
        &self,
        conn: &mut sqlx::SqliteConnection,
        records: &[RawRecord],
        max_id: Option<i32>,
    ) -> Result<i64, StoreError> {
        sqlx::query(include_str!("sql/begin.sql"))
            .execute(&mut *conn)
            .await?;
        if let Some(max_id) = max_id {
            sqlx::query(include_str!("sql/raise_watermark.sql"))
                .bind(max_id)
                .execute(&mut *conn)
                .await?;
        }
        let last = append_rows(conn, self.table, records).await?;
        sqlx::query(include_str!("sql/commit.sql"))
            .execute(&mut *conn)
            .await?;
        Ok(last)
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

/// Upserts `records` into `table` inside the caller's transaction; the last one's offset.
async fn append_rows(
    conn: &mut sqlx::SqliteConnection,
    table: Table,
    records: &[RawRecord],
) -> Result<i64, StoreError> {
    let mut last = 0;
    for r in records {
        last = sqlx::query_scalar(table.append())
            .bind(&r.key)
            .bind(&r.value)
            .fetch_one(&mut *conn)
            .await?;
    }
    Ok(last)
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
