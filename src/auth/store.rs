//! Where users live, so that every node agrees on them: in the registry's own store.
//!
//! - **SQLite**: the `users` and `auth_secrets` tables (migrations/sqlite), on the store's own
//!   connection — the server holds that file exclusively, so nobody else changes them.
//! - **Kafka**: a compacted, one-partition topic of its own (`[kafka] users_topic`, default
//!   `_schemata_users`), never the `_schemas` topic, so Confluent or Karapace reading `_schemas`
//!   never sees a user. Its records are:
//!
//!   | key                                                      | value                         |
//!   |----------------------------------------------------------|-------------------------------|
//!   | `{"keytype":"USER","name":"alice","magic":0}`            | the user (below), or null     |
//!   | `{"keytype":"SECRET","name":"unknown_user_salt","magic":0}` | `{"secret":"<base64>"}`    |
//!   | `{"keytype":"NOOP","magic":0}`                            | null (marks the end on open)  |
//!
//!   A user value is `{"name","role","grants","password","scram_sha_256":{"salt","iterations",
//!   "stored_key","server_key"}}`, binary fields in base64; `password` is the argon2id PHC
//!   string. A null value deletes (compaction then drops the user for good). The topic holds
//!   password hashes and SCRAM keys, so restrict it with Kafka ACLs as you would any secret.
//!   Every node replays the topic on start and then tails it (every [`TAIL_INTERVAL`]), so a
//!   user added, changed or removed through any node — or by `schemata user` while servers run —
//!   takes effect everywhere within about a second. Changes through one node are applied there
//!   before its API answers.
//! - **Memory** (`memory://`): a map, gone with the process.
//!
//! Lookups never touch the backend: logins read the in-memory [`View`], so they neither wait
//! on the SQLite connection nor make a broker round trip. Every applied change bumps
//! [`UserStore::generation`], which invalidates whatever auth remembered about any user.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::scram::ScramCredentials;
use super::users::{Role, User};
use crate::config::KafkaConfig;
use crate::registry::record::RawRecord;
use crate::store::kafka::KafkaStore;
use crate::store::{Store, StoreError};

/// How often a Kafka-backed store polls its topic for other nodes' changes.
pub const TAIL_INTERVAL: Duration = Duration::from_secs(1);
/// Records read per round trip while catching up.
const BATCH: usize = 1000;
const SALT_SECRET: &str = "unknown_user_salt";

pub struct UserStore {
    view: RwLock<View>,
    backend: Backend,
    generation: AtomicU64,
}

/// What the store holds, as last read.
#[derive(Default)]
struct View {
    users: BTreeMap<String, User>,
    salt_key: Option<[u8; 32]>,
    /// Kafka: the log offset applied (Kafka offset + 1, as `KafkaStore` counts).
    applied: i64,
}

enum Backend {
    Sql(SqlitePool),
    Kafka {
        log: KafkaStore,
        /// One reader at a time: the consumer has one position.
        reading: tokio::sync::Mutex<()>,
    },
    Memory,
}

impl UserStore {
    /// The users of `store`: its SQLite tables, a companion topic on its Kafka cluster, or
    /// memory. Loads them all, and on Kafka starts tailing the topic.
    pub async fn open(store: &Store, kafka: &KafkaConfig) -> Result<Arc<UserStore>, StoreError> {
        let backend = match store {
            Store::Sql(_) => {
                Backend::Sql(store.sqlite_pool().expect("a SQL store has a pool").clone())
            }
            Store::Kafka(k) => Backend::Kafka {
                log: KafkaStore::open(k.brokers(), &kafka.users_topic, kafka).await?,
                reading: tokio::sync::Mutex::new(()),
            },
            Store::Memory(_) => Backend::Memory,
        };
        let store = Arc::new(UserStore {
            view: RwLock::default(),
            backend,
            generation: AtomicU64::new(0),
        });
        store.load().await?;
        if let Backend::Kafka { .. } = store.backend {
            tokio::spawn(tail(Arc::downgrade(&store)));
        }
        Ok(store)
    }

    /// Bumped by every change applied, whoever made it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn get(&self, name: &str) -> Option<User> {
        self.read(|v| v.users.get(name).cloned())
    }

    /// Every user, by name.
    pub fn list(&self) -> Vec<User> {
        self.read(|v| v.users.values().cloned().collect())
    }

    /// A secret shared by every node and kept across restarts: keys unknown users' fake SCRAM
    /// salts, so they look the same on every node and every day.
    pub fn salt_key(&self) -> [u8; 32] {
        self.read(|v| v.salt_key).unwrap_or_default()
    }

    /// Adds `user`; false if the name is taken.
    pub async fn insert(&self, user: &User) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sql(pool) => {
                let sql = format!(
                    "INSERT INTO users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (name) DO NOTHING"
                );
                let done = bind(sqlx::query(&sql), user).execute(pool).await?;
                Ok(done.rows_affected() == 1 && self.applied(|v| put(v, user.clone())))
            }
            Backend::Kafka { .. } => {
                self.catch_up().await?;
                if self.get(&user.name).is_some() {
                    return Ok(false);
                }
                self.produce(user_record(&user.name, Some(user))).await?;
                Ok(true)
            }
            Backend::Memory => {
                Ok(self.applied(|v| !v.users.contains_key(&user.name) && put(v, user.clone())))
            }
        }
    }

    /// Replaces the stored user of the same name; false if there is none.
    pub async fn update(&self, user: &User) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sql(pool) => {
                let sql = "UPDATE users SET name = ?, role = ?, grants = ?, password_phc = ?, \
                           scram_salt = ?, scram_iterations = ?, scram_stored_key = ?, \
                           scram_server_key = ? WHERE name = ?";
                let done = bind(sqlx::query(sql), user)
                    .bind(&user.name)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1 && self.applied(|v| put(v, user.clone())))
            }
            Backend::Kafka { .. } => {
                self.catch_up().await?;
                if self.get(&user.name).is_none() {
                    return Ok(false);
                }
                self.produce(user_record(&user.name, Some(user))).await?;
                Ok(true)
            }
            Backend::Memory => {
                Ok(self.applied(|v| v.users.contains_key(&user.name) && put(v, user.clone())))
            }
        }
    }

    /// Removes the user; false if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sql(pool) => {
                let done = sqlx::query("DELETE FROM users WHERE name = ?")
                    .bind(name)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1 && self.applied(|v| v.users.remove(name).is_some()))
            }
            Backend::Kafka { .. } => {
                self.catch_up().await?;
                if self.get(name).is_none() {
                    return Ok(false);
                }
                self.produce(user_record(name, None)).await?;
                Ok(true)
            }
            Backend::Memory => Ok(self.applied(|v| v.users.remove(name).is_some())),
        }
    }

    /// Reads everything the backend holds; makes the salt secret on first use.
    async fn load(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sql(pool) => {
                let mut secret = [0u8; 32];
                super::fill_random(&mut secret);
                sqlx::query(
                    "INSERT INTO auth_secrets (name, value) VALUES (?, ?) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(SALT_SECRET)
                .bind(&secret[..])
                .execute(pool)
                .await?;
                let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users"))
                    .fetch_all(pool)
                    .await?;
                let users = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
                let salt: Vec<u8> =
                    sqlx::query_scalar("SELECT value FROM auth_secrets WHERE name = ?")
                        .bind(SALT_SECRET)
                        .fetch_one(pool)
                        .await?;
                let salt_key = salt.try_into().map_err(|_| {
                    StoreError::Sql(sqlx::Error::Decode("auth_secrets value is corrupt".into()))
                })?;
                self.applied(|v| {
                    v.users = users.into_iter().map(|u| (u.name.clone(), u)).collect();
                    v.salt_key = Some(salt_key);
                    true
                });
            }
            Backend::Kafka { log, .. } => {
                self.catch_up_to(log.opened_at()).await?;
                if self.read(|v| v.salt_key.is_none()) {
                    let mut secret = [0u8; 32];
                    super::fill_random(&mut secret);
                    self.produce(secret_record(&secret)).await?;
                }
            }
            Backend::Memory => {
                let mut secret = [0u8; 32];
                super::fill_random(&mut secret);
                self.applied(|v| {
                    v.salt_key = Some(secret);
                    true
                });
            }
        }
        Ok(())
    }

    /// Kafka: appends `record` and returns once this node has applied it.
    async fn produce(&self, record: RawRecord) -> Result<(), StoreError> {
        let Backend::Kafka { log, .. } = &self.backend else {
            unreachable!("only the Kafka backend produces records")
        };
        let offset = log.append(&[record]).await?;
        self.catch_up_to(offset).await
    }

    /// Kafka: applies whatever the topic holds past the view; returns how many records.
    async fn catch_up(&self) -> Result<usize, StoreError> {
        let Backend::Kafka { log, reading } = &self.backend else {
            return Ok(0);
        };
        let _reading = reading.lock().await;
        let mut count = 0;
        loop {
            let from = self.read(|v| v.applied);
            let batch = log.read_after(from, BATCH).await?;
            if batch.is_empty() {
                return Ok(count);
            }
            count += batch.len();
            self.applied(|v| {
                let mut changed = false;
                for stored in &batch {
                    changed |= apply(v, &stored.record);
                    v.applied = stored.offset;
                }
                changed
            });
        }
    }

    /// Kafka: catches up until `target` is applied, or fails after the store's timeout without
    /// progress (a remote log may answer an empty read before it delivers what it holds).
    async fn catch_up_to(&self, target: i64) -> Result<(), StoreError> {
        let Backend::Kafka { log, .. } = &self.backend else {
            return Ok(());
        };
        let mut progress_at = Instant::now();
        loop {
            let n = self.catch_up().await?;
            let applied = self.read(|v| v.applied);
            if applied >= target {
                return Ok(());
            }
            if n > 0 {
                progress_at = Instant::now();
            } else if progress_at.elapsed() >= log.timeout() {
                return Err(StoreError::Timeout(format!(
                    "the users topic did not deliver offset {target} within {} ms",
                    log.timeout().as_millis()
                )));
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    fn read<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        f(&self.view.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `change` on the view; if it says it changed something, bumps the generation.
    fn applied(&self, change: impl FnOnce(&mut View) -> bool) -> bool {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        let changed = change(&mut view);
        if changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        changed
    }
}

fn put(view: &mut View, user: User) -> bool {
    view.users.insert(user.name.clone(), user);
    true
}

/// Follows the users topic for other nodes' changes until the store is dropped.
async fn tail(store: Weak<UserStore>) {
    loop {
        tokio::time::sleep(TAIL_INTERVAL).await;
        let Some(store) = store.upgrade() else {
            return;
        };
        if let Err(e) = store.catch_up().await {
            tracing::warn!(error = %e, "cannot read the users topic; retrying");
        }
    }
}

// ---- The Kafka record format -------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct Key {
    keytype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    magic: i32,
}

#[derive(Serialize, Deserialize)]
struct UserValue {
    name: String,
    role: Role,
    grants: Vec<String>,
    password: String,
    scram_sha_256: ScramValue,
}

#[derive(Serialize, Deserialize)]
struct ScramValue {
    salt: String,
    iterations: u32,
    stored_key: String,
    server_key: String,
}

#[derive(Serialize, Deserialize)]
struct SecretValue {
    secret: String,
}

fn key(keytype: &str, name: &str) -> Vec<u8> {
    let key = Key {
        keytype: keytype.into(),
        name: Some(name.into()),
        magic: 0,
    };
    serde_json::to_vec(&key).expect("a key serializes")
}

fn user_record(name: &str, user: Option<&User>) -> RawRecord {
    let value = user.map(|u| {
        let value = UserValue {
            name: u.name.clone(),
            role: u.role,
            grants: u.grants.clone(),
            password: u.password_phc.clone(),
            scram_sha_256: ScramValue {
                salt: B64.encode(&u.scram.salt),
                iterations: u.scram.iterations,
                stored_key: B64.encode(u.scram.stored_key),
                server_key: B64.encode(u.scram.server_key),
            },
        };
        serde_json::to_vec(&value).expect("a user serializes")
    });
    RawRecord {
        key: key("USER", name),
        value,
    }
}

fn secret_record(secret: &[u8; 32]) -> RawRecord {
    let value = SecretValue {
        secret: B64.encode(secret),
    };
    RawRecord {
        key: key("SECRET", SALT_SECRET),
        value: Some(serde_json::to_vec(&value).expect("a secret serializes")),
    }
}

/// Folds one record of the users topic into `view`; true if it changed a user or the secret.
/// Records it cannot read are skipped with a warning, never fatal: one bad record must not lock
/// everyone out.
fn apply(view: &mut View, record: &RawRecord) -> bool {
    let Ok(key) = serde_json::from_slice::<Key>(&record.key) else {
        tracing::warn!("skipping a users-topic record with an unreadable key");
        return false;
    };
    match (key.keytype.as_str(), key.name) {
        ("USER", Some(name)) => match &record.value {
            None => view.users.remove(&name).is_some(),
            Some(bytes) => match decode_user(&name, bytes) {
                Some(user) => put(view, user),
                None => {
                    tracing::warn!(user = %name, "skipping an unreadable user record");
                    false
                }
            },
        },
        ("SECRET", Some(name)) if name == SALT_SECRET => {
            let secret = record
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<SecretValue>(v).ok())
                .and_then(|v| B64.decode(v.secret).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            match secret {
                Some(s) => {
                    // Two nodes may make one at once; every node applies both in log order, so
                    // all settle on the later one.
                    view.salt_key = Some(s);
                    true
                }
                None => false,
            }
        }
        _ => false, // NOOP, and record types of later versions
    }
}

fn decode_user(name: &str, bytes: &[u8]) -> Option<User> {
    let v: UserValue = serde_json::from_slice(bytes).ok()?;
    let key32 = |s: &str| {
        B64.decode(s)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
    };
    // The key names the user; a value that disagrees is not trusted.
    (v.name == name).then_some(())?;
    Some(User {
        name: v.name,
        role: v.role,
        grants: v.grants,
        password_phc: v.password,
        scram: ScramCredentials {
            salt: B64.decode(&v.scram_sha_256.salt).ok()?,
            iterations: v.scram_sha_256.iterations,
            stored_key: key32(&v.scram_sha_256.stored_key)?,
            server_key: key32(&v.scram_sha_256.server_key)?,
        },
    })
}

// ---- The SQLite tables -------------------------------------------------------------------

const COLUMNS: &str = "name, role, grants, password_phc, scram_salt, scram_iterations, \
                       scram_stored_key, scram_server_key";

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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            name: name.into(),
            role: Role::Write,
            grants: vec!["orders-".into()],
            password_phc: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            scram: ScramCredentials {
                salt: vec![1, 2, 3],
                iterations: 4096,
                stored_key: [7; 32],
                server_key: [9; 32],
            },
        }
    }

    #[test]
    fn records_round_trip_and_tombstones_delete() {
        let mut view = View::default();
        assert!(apply(
            &mut view,
            &user_record("alice", Some(&user("alice")))
        ));
        let alice = &view.users["alice"];
        assert_eq!(alice.grants, vec!["orders-".to_string()]);
        assert_eq!(alice.scram.stored_key, [7; 32]);
        assert_eq!(alice.scram.salt, vec![1, 2, 3]);
        assert!(apply(&mut view, &user_record("alice", None)));
        assert!(view.users.is_empty());
        assert!(apply(&mut view, &secret_record(&[5; 32])));
        assert_eq!(view.salt_key, Some([5; 32]));
    }

    #[test]
    fn keys_are_stable_bytes_for_compaction() {
        assert_eq!(
            user_record("alice", None).key,
            br#"{"keytype":"USER","name":"alice","magic":0}"#
        );
    }

    #[test]
    fn unreadable_or_foreign_records_are_skipped() {
        let mut view = View::default();
        let noop = RawRecord {
            key: br#"{"keytype":"NOOP","magic":0}"#.to_vec(),
            value: None,
        };
        assert!(!apply(&mut view, &noop));
        let garbage = RawRecord {
            key: b"\xff".to_vec(),
            value: Some(b"x".to_vec()),
        };
        assert!(!apply(&mut view, &garbage));
        // A value naming another user than its key is refused.
        let forged = user_record("alice", Some(&user("mallory")));
        assert!(!apply(&mut view, &forged));
        assert!(view.users.is_empty());
    }
}
