//! Where users live: the `users` table of the SQLite store (migrations/sqlite/0003_users.sql),
//! on the store's own connection, so the registry and its users share one file and one lock.
//! The Kafka store has no users yet (it needs a `_schemata_users` topic); auth refuses to start
//! there rather than silently keeping users somewhere else.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::scram::ScramCredentials;
use super::users::User;

#[derive(Clone)]
pub struct UserStore {
    pool: SqlitePool,
}

const COLUMNS: &str = "name, role, grants, password_phc, scram_salt, scram_iterations, \
                       scram_stored_key, scram_server_key";

impl UserStore {
    pub fn new(pool: SqlitePool) -> UserStore {
        UserStore { pool }
    }

    pub async fn get(&self, name: &str) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    pub async fn list(&self) -> Result<Vec<User>, sqlx::Error> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Adds `user`; false if the name is taken.
    pub async fn insert(&self, user: &User) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "INSERT INTO users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING"
        );
        let done = bind(sqlx::query(&sql), user).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the stored user of the same name; false if there is none.
    pub async fn update(&self, user: &User) -> Result<bool, sqlx::Error> {
        let sql = "UPDATE users SET name = ?, role = ?, grants = ?, password_phc = ?, \
                   scram_salt = ?, scram_iterations = ?, scram_stored_key = ?, \
                   scram_server_key = ? WHERE name = ?";
        let done = bind(sqlx::query(sql), user)
            .bind(&user.name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the user; false if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind<'q>(q: Query<'q>, u: &'q User) -> Query<'q> {
    q.bind(&u.name)
        .bind(u.role.as_str())
        .bind(serde_json::to_string(&u.grants).unwrap_or_else(|_| "[]".into()))
        .bind(&u.password_phc)
        .bind(&u.scram.salt)
        .bind(i64::from(u.scram.iterations))
        .bind(&u.scram.stored_key[..])
        .bind(&u.scram.server_key[..])
}

fn from_row(row: &SqliteRow) -> Result<User, sqlx::Error> {
    let corrupt = |what: &str| sqlx::Error::Decode(format!("users.{what} is corrupt").into());
    let role: String = row.try_get("role")?;
    let grants: String = row.try_get("grants")?;
    let iterations: i64 = row.try_get("scram_iterations")?;
    let key = |column: &str| -> Result<[u8; 32], sqlx::Error> {
        let bytes: Vec<u8> = row.try_get(column)?;
        bytes.try_into().map_err(|_| corrupt(column))
    };
    Ok(User {
        name: row.try_get("name")?,
        role: role.parse().map_err(|_| corrupt("role"))?,
        grants: serde_json::from_str(&grants).map_err(|_| corrupt("grants"))?,
        password_phc: row.try_get("password_phc")?,
        scram: ScramCredentials {
            salt: row.try_get("scram_salt")?,
            iterations: u32::try_from(iterations).map_err(|_| corrupt("scram_iterations"))?,
            stored_key: key("scram_stored_key")?,
            server_key: key("scram_server_key")?,
        },
    })
}
