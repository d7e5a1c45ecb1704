//! The SQL store: the log as a compacted `records` table (see migrations/). SQLite is the
//! embedded default.
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

pub struct SqlStore {
    pool: SqlitePool,
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
        sqlx::query("BEGIN IMMEDIATE; COMMIT;")
            .execute(&pool)
            .await
            .map_err(|e| locked_or(e, path))?;
        Ok(SqlStore { pool })
    }

    /// Appends `records` in one transaction, raising the id watermark in it.
    ///
    /// The transaction is spelt out (`BEGIN IMMEDIATE` … `COMMIT`, `ROLLBACK` on any failure)
    /// instead of using sqlx's: when SQLite ends a transaction by itself (a full disk, an I/O
    /// error), sqlx's own rollback fails and sqlx keeps counting the transaction as open, so
    /// every later append would only release a savepoint inside a transaction that is never
    /// committed — read back on this connection and acknowledged, but never in the file. A
    /// `ROLLBACK` that may find no transaction leaves the connection in autocommit whatever
    /// failed.
    pub async fn append(&self, records: &[RawRecord], max_id: i32) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let written = Self::append_on(&mut conn, records, max_id).await;
        if written.is_err() {
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                // "No transaction is active" is fine: SQLite already ended it. Any other
                // failure may leave one open: closing the connection makes SQLite discard it,
                // and the pool opens a fresh connection.
                if !e.to_string().contains("no transaction is active") {
                    tracing::error!(error = %e, "rollback failed; reopening the database");
                    let _ = conn.close().await;
                }
            }
        }
        written
    }

    async fn append_on(
        conn: &mut sqlx::SqliteConnection,
        records: &[RawRecord],
        max_id: i32,
    ) -> Result<i64, StoreError> {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        sqlx::query(include_str!("sql/raise_watermark.sql"))
            .bind(max_id)
            .execute(&mut *conn)
            .await?;
        let mut last = 0;
        for r in records {
            last = sqlx::query_scalar(include_str!("sql/append.sql"))
                .bind(&r.key)
                .bind(&r.value)
                .fetch_one(&mut *conn)
                .await?;
        }
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        Ok(last)
    }

    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let rows = sqlx::query(include_str!("sql/read_after.sql"))
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

    pub async fn id_watermark(&self) -> Result<i32, StoreError> {
        let max: Option<i32> = sqlx::query_scalar("SELECT max_id FROM id_watermark")
            .fetch_optional(&self.pool)
            .await?;
        Ok(max.unwrap_or(0))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection, for the auth module's `users` table in the same file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
