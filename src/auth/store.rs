//! Where users live, so that every node agrees on them: in the users log of the registry's own
//! store (`Store::users`), apart from `_schemas` so Confluent or Karapace reading `_schemas`
//! never see a user.
//!
//! - **SQLite**: the `user_records` table, beside `records` in the same file (the server holds
//!   that file exclusively, so nobody else changes it). Databases of releases that kept users
//!   in `users` and `auth_secrets` tables have those rows turned into records of this log on
//!   the first start, in one transaction that also empties the old tables.
//! - **Kafka**: a compacted, one-partition topic of its own (`[kafka] users_topic`, default
//!   `_schemata_users`), never the `_schemas` topic. The topic holds password hashes and SCRAM
//!   keys, so restrict it with Kafka ACLs as you would any secret. Every node replays the topic
//!   on start and then tails it (every [`TAIL_INTERVAL`]), so a user added, changed or removed
//!   through any node — or by `schemata user` while servers run — takes effect everywhere
//!   within about a second.
//! - **Memory** (`memory://`): a second in-memory log, gone with the process.
//!
//! Every backend carries the same records:
//!
//! | key                                                         | value                      |
//! |-------------------------------------------------------------|----------------------------|
//! | `{"keytype":"USER","name":"alice","magic":0}`               | the user (below), or null  |
//! | `{"keytype":"SECRET","name":"unknown_user_salt","magic":0}` | `{"secret":"<base64>"}`    |
//! | `{"keytype":"NOOP","magic":0}`                              | null (marks the log's end) |
//!
//! A user value is `{"name","role","grants","password","scram_sha_256":{"salt","iterations",
//! "stored_key","server_key"}}`, binary fields in base64; `password` is the argon2id PHC
//! string. A null value deletes (compaction then drops the user for good). The secret
//! `unknown_user_salt` keys the fake SCRAM salts given for unknown user names, so a name's salt
//! never changes and the exchange does not tell whether the user exists.
//!
//! Lookups never touch the log: logins read the in-memory `View`, so they neither wait on the
//! SQLite connection nor make a broker round trip. The view records when each user last
//! changed ([`UserStore::unchanged_since`]), so auth can drop what it remembered about exactly
//! that user. A change is made to the user as stored at that moment ([`UserStore::modify`]):
//! the store first reads the log to its end (on Kafka through a NOOP, as the schema node
//! does), so it does not undo another node's change made just before; and it returns once its
//! own view has applied the change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::password;
use super::scram::{self, ScramCredentials};
use super::users::{check_grants, check_name, Role, User};
use crate::registry::record::RawRecord;
use crate::store::follow::{self, Fold, Follower};
use crate::store::kafka::KafkaConfig;
use crate::store::sql::{LegacyUser, LegacyUsers};
use crate::store::{Log, Store, StoreError, Stored};

/// How often a store whose log others write (Kafka) reads it for other nodes' changes.
pub const TAIL_INTERVAL: Duration = Duration::from_secs(1);
/// Records read per round trip while catching up.
const BATCH: usize = 1000;
const SALT_SECRET: &str = "unknown_user_salt";

pub struct UserStore {
    view: RwLock<View>,
    follower: Follower,
    /// One change at a time: each is decided on the log as read just before it.
    writing: tokio::sync::Mutex<()>,
}

/// What the log holds, as last read.
#[derive(Default)]
struct View {
    users: BTreeMap<String, User>,
    /// Counts the user changes applied; each name keeps the count at its last change (removed
    /// names too), so what auth remembers about one user outlives changes to the others.
    generation: u64,
    changed_at: HashMap<String, u64>,
    salt_key: Option<[u8; 32]>,
    /// The log offset applied.
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

impl UserStore {
    /// The users of `store` (its users log; the Kafka settings, the users topic included, are
    /// those `store` was opened with). Moves users an older release kept in SQLite tables into
    /// the log, loads them all, and on Kafka starts tailing the topic.
    pub async fn open(store: &Store) -> Result<Arc<UserStore>, StoreError> {
        let log = store.users().await?;
        let adopted = store.adopt_legacy_users(legacy_records).await?;
        if adopted > 0 {
            tracing::info!(
                records = adopted,
                "moved users from the old tables to the users log"
            );
        }
        UserStore::follow(log).await
    }

    /// The users topic on the cluster at `brokers`, without the schemas topic (for the CLI).
    pub async fn open_kafka(
        brokers: &str,
        kafka: &KafkaConfig,
    ) -> Result<Arc<UserStore>, StoreError> {
        let log = Log::open_kafka(brokers, &kafka.users_topic, kafka).await?;
        UserStore::follow(log).await
    }

    /// Replays `log`, makes the salt secret on first use, and tails the log if others write it.
    async fn follow(log: Log) -> Result<Arc<UserStore>, StoreError> {
        let shared = log.shared();
        let store = Arc::new(UserStore {
            view: RwLock::default(),
            follower: Follower::new(log, BATCH, "the users log"),
            writing: tokio::sync::Mutex::new(()),
        });
        store.follower.replay(&*store).await?;
        if store.read(|v| v.salt_key.is_none()) {
            let mut secret = [0u8; 32];
            super::fill_random(&mut secret);
            store
                .follower
                .append(&*store, &[secret_record(&secret)])
                .await?;
        }
        if shared {
            follow::tail(&store, |s| &s.follower, TAIL_INTERVAL);
        }
        Ok(store)
    }

    /// Flushes and releases the log's clients, if any (Kafka).
    pub async fn close(&self) {
        self.follower.log().close().await;
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
        let _writing = self.writing.lock().await;
        self.follower.sync(self).await?;
        if self.get(&user.name).is_some() {
            return Ok(false);
        }
        self.follower
            .append(self, &[user_record(&user.name, Some(user))])
            .await?;
        Ok(true)
    }

    /// Changes the user `name` as stored now — read afresh, not from a copy taken earlier, so
    /// a change made meanwhile elsewhere is not undone — and returns the result; `None` if
    /// there is no such user. Callers serialize their changes (`auth::admin::UserAdmin`);
    /// across nodes, two changes to one user within the same few milliseconds may still race.
    pub async fn modify(
        &self,
        name: &str,
        change: impl FnOnce(&mut User),
    ) -> Result<Option<User>, StoreError> {
        let _writing = self.writing.lock().await;
        self.follower.sync(self).await?;
        let Some(mut user) = self.get(name) else {
            return Ok(None);
        };
        change(&mut user);
        user.name = name.to_string();
        self.follower
            .append(self, &[user_record(name, Some(&user))])
            .await?;
        Ok(Some(user))
    }

    /// Removes the user; false if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let _writing = self.writing.lock().await;
        self.follower.sync(self).await?;
        if self.get(name).is_none() {
            return Ok(false);
        }
        self.follower
            .append(self, &[user_record(name, None)])
            .await?;
        Ok(true)
    }

    fn read<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        f(&self.view.read().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Fold for UserStore {
    fn applied(&self) -> i64 {
        self.read(|v| v.applied)
    }

    async fn apply(&self, batch: Vec<Stored>) -> Result<(), StoreError> {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        for stored in &batch {
            apply(&mut view, &stored.record);
            view.applied = stored.offset;
        }
        Ok(())
    }
}

// ---- The record format -------------------------------------------------------------

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

/// Folds one record of the users log into `view`. Records it cannot read are never fatal:
/// one bad record must not lock everyone out.
fn apply(view: &mut View, record: &RawRecord) {
    let Ok(key) = serde_json::from_slice::<Key>(&record.key) else {
        tracing::warn!("skipping a users-log record with an unreadable key");
        return;
    };
    let name = key.name.unwrap_or_default();
    if key.keytype == "NOOP" {
        return;
    }
    // Kafka compacts by key bytes: a record under another spelling of a key would outlive the
    // tombstone that deletes the canonical one, and come back on a later replay.
    if record.key != self::key(&key.keytype, &name) {
        tracing::warn!(keytype = %key.keytype, "skipping a users-log record with a non-canonical key");
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

// ---- Users of older releases ----------------------------------------------------------------

/// The records that carry what an older release kept in its `users` and `auth_secrets` tables.
/// A row that cannot be read fails the start, as it did when those tables were read directly.
fn legacy_records(legacy: LegacyUsers) -> Result<Vec<RawRecord>, StoreError> {
    let corrupt =
        |what: &str| StoreError::Sql(sqlx::Error::Decode(format!("{what} is corrupt").into()));
    let mut records = Vec::with_capacity(legacy.users.len() + legacy.secrets.len());
    for (name, value) in &legacy.secrets {
        if name == SALT_SECRET {
            let secret = <[u8; 32]>::try_from(value.as_slice())
                .map_err(|_| corrupt("auth_secrets value"))?;
            records.push(secret_record(&secret));
        }
    }
    for row in legacy.users {
        let user = legacy_user(row).map_err(|column| corrupt(&format!("users.{column}")))?;
        records.push(user_record(&user.name, Some(&user)));
    }
    Ok(records)
}

/// A `users` row as a user; the column that cannot be read, if one cannot.
fn legacy_user(row: LegacyUser) -> Result<User, &'static str> {
    let key = |bytes: Vec<u8>, column| <[u8; 32]>::try_from(bytes).map_err(|_| column);
    Ok(User {
        role: row.role.parse().map_err(|_| "role")?,
        grants: serde_json::from_str(&row.grants).map_err(|_| "grants")?,
        password_phc: row.password_phc,
        scram: ScramCredentials {
            salt: row.scram_salt,
            iterations: u32::try_from(row.scram_iterations).map_err(|_| "scram_iterations")?,
            stored_key: key(row.scram_stored_key, "scram_stored_key")?,
            server_key: key(row.scram_server_key, "scram_server_key")?,
        },
        name: row.name,
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
