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
//!   | `{"keytype":"NOOP","magic":0}`                            | null (marks the log's end)    |
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
//! Lookups never touch the backend: logins read the in-memory `View`, so they neither wait
//! on the SQLite connection nor make a broker round trip. The view records when each user last
//! changed ([`UserStore::unchanged_since`]), so auth can drop what it remembered about exactly
//! that user. A change is made to the user as stored at that moment ([`UserStore::modify`]):
//! on Kafka the node first reads the topic to its end, so it does not undo another node's
//! change made just before.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::password;
use super::scram::{self, ScramCredentials};
use super::users::{check_grants, check_name, Role, User};
use crate::store::kafka::KafkaConfig;
use crate::registry::record::{GlobalKeyForm, RawRecord, Record};
use crate::store::kafka::KafkaStore;
use crate::store::{Store, StoreError};

/// How often a Kafka-backed store polls its topic for other nodes' changes.
pub const TAIL_INTERVAL: Duration = Duration::from_secs(1);
/// Records read per round trip while catching up.
const BATCH: usize = 1000;
const SALT_SECRET: &str = "unknown_user_salt";
/// How long the tailer may fail before it logs errors instead of warnings.
const STALE_AFTER: Duration = Duration::from_secs(30);

pub struct UserStore {
    view: RwLock<View>,
    backend: Backend,
}

/// What the store holds, as last read.
#[derive(Default)]
struct View {
    users: BTreeMap<String, User>,
    /// Counts the user changes applied; each name keeps the count at its last change (removed
    /// names too), so what auth remembers about one user outlives changes to the others.
    generation: u64,
    changed_at: HashMap<String, u64>,
    salt_key: Option<[u8; 32]>,
    /// Kafka: the log offset applied (Kafka offset + 1, as `KafkaStore` counts).
    applied: i64,
}

impl View {
    fn put(&mut self, user: User) {
        self.touch(&user.name);
        self.users.insert(user.name.clone(), user);
    }

    fn remove(&mut self, name: &str) -> bool {
        self.touch(name);
        self.users.remove(name).is_some()
    }

    fn touch(&mut self, name: &str) {
        self.generation += 1;
        self.changed_at.insert(name.to_string(), self.generation);
    }
}

enum Backend {
    Sql(SqlitePool),
    Kafka {
        log: Box<KafkaStore>,
        /// One reader at a time: the consumer has one position.
        reading: tokio::sync::Mutex<()>,
    },
    Memory,
}

impl UserStore {
    /// The users of `store`: its SQLite tables, a companion topic on its Kafka cluster, or
    /// memory. Loads them all, and on Kafka starts tailing the topic.
    pub async fn open(store: &Store, kafka: &KafkaConfig) -> Result<Arc<UserStore>, StoreError> {
        match store {
            Store::Sql(_) => {
                let pool = store.sqlite_pool().expect("a SQL store has a pool");
                UserStore::with(Backend::Sql(pool.clone())).await
            }
            Store::Kafka(k) => {
                if k.topic() == kafka.users_topic {
                    return Err(StoreError::Topic(format!(
                        "the users topic cannot be the schemas topic '{}': Confluent and \
                         Karapace read that one, and it would carry password hashes",
                        k.topic()
                    )));
                }
                UserStore::open_kafka(k.brokers(), kafka).await
            }
            Store::Memory(_) => UserStore::with(Backend::Memory).await,
        }
    }

    /// The users topic on the cluster at `brokers`, without the schemas topic (for the CLI).
    pub async fn open_kafka(
        brokers: &str,
        kafka: &KafkaConfig,
    ) -> Result<Arc<UserStore>, StoreError> {
        let log = KafkaStore::open(brokers, &kafka.users_topic, kafka).await?;
        let store = UserStore::with(Backend::Kafka {
            log: Box::new(log),
            reading: tokio::sync::Mutex::new(()),
        })
        .await?;
        tokio::spawn(tail(Arc::downgrade(&store)));
        Ok(store)
    }

    async fn with(backend: Backend) -> Result<Arc<UserStore>, StoreError> {
        let store = Arc::new(UserStore {
            view: RwLock::default(),
            backend,
        });
        store.load().await?;
        Ok(store)
    }

    /// Flushes and releases the Kafka clients, if any.
    pub async fn close(&self) {
        if let Backend::Kafka { log, .. } = &self.backend {
            log.close().await;
        }
    }

    /// A stamp to compare [`Self::unchanged_since`] with later: take it before reading a user.
    pub fn stamp(&self) -> u64 {
        self.read(|v| v.generation)
    }

    /// Whether `name` is as it was (or still absent) when `stamp` was taken.
    pub fn unchanged_since(&self, name: &str, stamp: u64) -> bool {
        self.read(|v| v.changed_at.get(name).is_none_or(|at| *at <= stamp))
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
                Ok(done.rows_affected() == 1
                    && self.change(|v| {
                        v.put(user.clone());
                        true
                    }))
            }
            Backend::Kafka { .. } => {
                self.sync().await?;
                if self.get(&user.name).is_some() {
                    return Ok(false);
                }
                self.produce(user_record(&user.name, Some(user))).await?;
                Ok(true)
            }
            Backend::Memory => Ok(self.change(|v| {
                !v.users.contains_key(&user.name) && {
                    v.put(user.clone());
                    true
                }
            })),
        }
    }

    /// Changes the user `name` as stored now — read afresh, not from a copy taken earlier, so
    /// a change made meanwhile elsewhere is not undone — and returns the result; `None` if
    /// there is no such user. Callers serialize their changes (`Authenticator::user_writes`);
    /// across nodes, two changes to one user within the same few milliseconds may still race.
    pub async fn modify(
        &self,
        name: &str,
        change: impl FnOnce(&mut User),
    ) -> Result<Option<User>, StoreError> {
        self.sync().await?;
        let Some(mut user) = self.get(name) else {
            return Ok(None);
        };
        change(&mut user);
        user.name = name.to_string();
        let written = match &self.backend {
            Backend::Sql(pool) => {
                let sql = "UPDATE users SET role = ?, grants = ?, password_phc = ?, \
                           scram_salt = ?, scram_iterations = ?, scram_stored_key = ?, \
                           scram_server_key = ? WHERE name = ?";
                let done = bind_fields(sqlx::query(sql), &user)
                    .bind(&user.name)
                    .execute(pool)
                    .await?;
                done.rows_affected() == 1
            }
            Backend::Kafka { .. } => {
                self.produce(user_record(name, Some(&user))).await?;
                return Ok(Some(user));
            }
            Backend::Memory => true,
        };
        Ok(written
            .then(|| {
                self.change(|v| {
                    v.put(user.clone());
                    true
                })
            })
            .map(|_| user))
    }

    /// Removes the user; false if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sql(pool) => {
                let done = sqlx::query("DELETE FROM users WHERE name = ?")
                    .bind(name)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1 && self.change(|v| v.remove(name)))
            }
            Backend::Kafka { .. } => {
                self.sync().await?;
                if self.get(name).is_none() {
                    return Ok(false);
                }
                self.produce(user_record(name, None)).await?;
                Ok(true)
            }
            Backend::Memory => Ok(self.change(|v| v.remove(name))),
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
                self.change(|v| {
                    users.into_iter().for_each(|u| v.put(u));
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
                self.change(|v| {
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

    /// Kafka: brings the view up to the end of the topic as of now, so a change is made to what
    /// other nodes wrote last, not to what the tailer saw a second ago. The end is learnt as
    /// Confluent learns it, by writing a NOOP and reading up to it: a broker's reported high
    /// watermark may lag what it has acknowledged.
    async fn sync(&self) -> Result<(), StoreError> {
        let Backend::Kafka { log, .. } = &self.backend else {
            return Ok(());
        };
        let noop = Record::Noop.encode(GlobalKeyForm::Omitted);
        let offset = log.append(&[noop]).await?;
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
            self.change(|v| {
                for stored in &batch {
                    apply(v, &stored.record);
                    v.applied = stored.offset;
                }
                true
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

    /// Runs `change` on the view under its write lock; returns what `change` returns.
    fn change(&self, change: impl FnOnce(&mut View) -> bool) -> bool {
        change(&mut self.view.write().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Follows the users topic for other nodes' changes until the store is dropped. While it
/// cannot, this node goes on with the users it has (schema reads keep working through a broker
/// outage) and says so, louder once it has been a while: removals and demotions made elsewhere
/// do not reach it meanwhile.
async fn tail(store: Weak<UserStore>) {
    let mut read_at = Instant::now();
    loop {
        tokio::time::sleep(TAIL_INTERVAL).await;
        let Some(store) = store.upgrade() else {
            return;
        };
        match store.catch_up().await {
            Ok(_) => read_at = Instant::now(),
            Err(e) if read_at.elapsed() > STALE_AFTER => tracing::error!(
                error = %e,
                stale_secs = read_at.elapsed().as_secs(),
                "cannot read the users topic: user changes made elsewhere are not applied here"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot read the users topic; retrying"),
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

/// Folds one record of the users topic into `view`. Records it cannot read are never fatal:
/// one bad record must not lock everyone out.
fn apply(view: &mut View, record: &RawRecord) {
    let Ok(key) = serde_json::from_slice::<Key>(&record.key) else {
        tracing::warn!("skipping a users-topic record with an unreadable key");
        return;
    };
    let name = key.name.unwrap_or_default();
    if key.keytype == "NOOP" {
        return;
    }
    // Kafka compacts by key bytes: a record under another spelling of a key would outlive the
    // tombstone that deletes the canonical one, and come back on a later replay.
    if record.key != self::key(&key.keytype, &name) {
        tracing::warn!(keytype = %key.keytype, "skipping a users-topic record with a non-canonical key");
        return;
    }
    match key.keytype.as_str() {
        "USER" => match &record.value {
            None => {
                view.remove(&name);
            }
            Some(bytes) => match decode_user(&name, bytes) {
                Some(user) => view.put(user),
                None => {
                    // Fail closed: keeping the previous version would keep an old password or
                    // role alive, and only until compaction drops it.
                    tracing::error!(user = %name, "unreadable or invalid user record: user disabled");
                    view.remove(&name);
                }
            },
        },
        "SECRET" if name == SALT_SECRET => {
            let secret = record
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<SecretValue>(v).ok())
                .and_then(|v| B64.decode(v.secret).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            // Two nodes may make one at once; every node applies both in log order, so all
            // settle on the later one.
            if let Some(s) = secret {
                view.salt_key = Some(s);
            }
        }
        _ => {} // record types of later versions
    }
}

fn decode_user(name: &str, bytes: &[u8]) -> Option<User> {
    let v: UserValue = serde_json::from_slice(bytes).ok()?;
    let key32 = |s: &str| {
        B64.decode(s)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
    };
    // The key names the user; a value that disagrees is not trusted. Nothing is taken on faith
    // from a topic others can write: names, grants and the cost of verifying are checked.
    let valid = v.name == name
        && check_name(&v.name).is_ok()
        && check_grants(&v.grants).is_ok()
        && password::acceptable(&v.password)
        && (scram::MIN_ITERATIONS..=scram::MAX_ITERATIONS).contains(&v.scram_sha_256.iterations);
    valid.then_some(())?;
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
    bind_fields(q.bind(&u.name), u)
}

/// Every column but the name.
fn bind_fields<'q>(q: Query<'q>, u: &'q User) -> Query<'q> {
    q.bind(u.role.as_str())
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
            password_phc: "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGg".into(),
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
        apply(&mut view, &user_record("alice", Some(&user("alice"))));
        let alice = &view.users["alice"];
        assert_eq!(alice.grants, vec!["orders-".to_string()]);
        assert_eq!(alice.scram.stored_key, [7; 32]);
        assert_eq!(alice.scram.salt, vec![1, 2, 3]);
        let stamp = view.generation;
        apply(&mut view, &user_record("alice", None));
        assert!(view.users.is_empty());
        assert!(
            view.changed_at["alice"] > stamp,
            "a removal counts as a change"
        );
        apply(&mut view, &secret_record(&[5; 32]));
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
    fn foreign_records_are_skipped_and_bad_user_records_disable_the_user() {
        let mut view = View::default();
        let noop = RawRecord {
            key: br#"{"keytype":"NOOP","magic":0}"#.to_vec(),
            value: None,
        };
        apply(&mut view, &noop);
        let garbage = RawRecord {
            key: b"\xff".to_vec(),
            value: Some(b"x".to_vec()),
        };
        apply(&mut view, &garbage);
        assert_eq!(view.generation, 0);

        apply(&mut view, &user_record("alice", Some(&user("alice"))));
        // Another spelling of alice's key: compaction would keep it past her tombstone.
        let mut respelled = user_record("alice", Some(&user("alice")));
        respelled.key = br#"{"magic":0,"keytype":"USER","name":"alice"}"#.to_vec();
        let mut admin = user("alice");
        admin.role = Role::Admin;
        respelled.value = user_record("alice", Some(&admin)).value;
        apply(&mut view, &respelled);
        assert_eq!(view.users["alice"].role, Role::Write);

        // A value naming another user than its key, or asking too much of a login, disables
        // the user rather than leaving the previous version in force.
        apply(&mut view, &user_record("alice", Some(&user("mallory"))));
        assert!(view.users.is_empty());
        apply(&mut view, &user_record("alice", Some(&user("alice"))));
        let mut greedy = user("alice");
        greedy.password_phc = greedy.password_phc.replace("m=19456", "m=4000000");
        apply(&mut view, &user_record("alice", Some(&greedy)));
        assert!(view.users.is_empty());
    }
}
