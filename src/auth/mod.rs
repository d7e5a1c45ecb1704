//! Authentication and authorization: users with a role and subject grants, verified by
//! `Authorization: Basic` (RFC 7617, what Confluent's clients send) or SCRAM-SHA-256 over HTTP
//! (RFC 7804). Off by default; `api::auth` applies it to requests when `[auth] enabled`.
//!
//! - [`password`] — argon2id PHC hashes for Basic.
//! - [`scram`] — the SCRAM-SHA-256 server side.
//! - [`users`] — `User`, `Role`, grants, and the `Principal` a request runs as.
//! - [`store`] — where users live: SQLite tables, or a compacted topic beside `_schemas`.
//! - [`cli`] — `schemata user …`.
//!
//! **Basic** costs an argon2id hash (~19 MiB, tens of ms). Verified credentials are therefore
//! remembered for `credential_cache_ttl`, keyed by an HMAC of `user:password` under a key that
//! lives only in this process, so neither the cache nor a memory dump of it holds a password or
//! a value that can be tested offline without that key. Hashing runs on blocking threads, at
//! most one per core at a time, so a flood of bad passwords cannot starve the request threads.
//!
//! **SCRAM** follows RFC 7804 §5: `Authorization: SCRAM-SHA-256 data=<client-first>` is answered
//! 401 with `WWW-Authenticate: SCRAM-SHA-256 sid=…, data=<server-first>`; the client sends
//! `sid=…, data=<client-final>` and gets the response with
//! `Authentication-Info: sid=…, data=<server-final>`. The RFC leaves what a `sid` is worth after
//! that to the server; here it then serves as a session token for `session_ttl`:
//! `Authorization: SCRAM-SHA-256 sid=…` alone authenticates as that user (a bearer secret of 256
//! random bits, so use TLS). A client that knows nothing of this simply runs the exchange again,
//! which stays correct. RFC 7804 §5.1's one-round-trip reauthentication is not implemented.
//!
//! **Client certificates** (`tls_client_ca`, see [`crate::tls`]): a request without an
//! `Authorization` header on a connection whose certificate was verified runs as the user its
//! subject common name names. A header, when present, always decides instead.
//!
//! **Failed logins** drain a token bucket per user name and per client address
//! (`max_failed_logins` in a burst, one more per `failed_login_refill`); an empty bucket answers
//! 429 before any password is checked, right or wrong, so the limit cannot be probed around.
//! Unknown users cost the same argon2 work and get a SCRAM salt derived from their name under a
//! secret kept in the store, so neither timing nor the exchange — on any node, before or after a
//! restart — tells whether a user exists.
//!
//! **Changes** to a user, through any node or the CLI, end what was remembered about that user
//! (cached Basic logins, pending exchanges, sessions): each is stamped when made and ignored
//! once the store says the user changed since ([`UserStore::unchanged_since`]).

pub mod cli;
pub mod config;
pub mod password;
pub mod scram;
pub mod store;
pub mod users;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use config::AuthConfig;
use scram::{ClientFirst, Exchange, ScramCredentials};
use store::UserStore;
pub use users::{Principal, Role, User};

/// Longest Basic or SCRAM credential accepted; real ones are far shorter.
const MAX_CREDENTIAL_BYTES: usize = 4096;
/// The realm both challenges name.
pub const REALM: &str = "schemata";
/// How long a SCRAM exchange may take between its two requests.
const EXCHANGE_TTL: Duration = Duration::from_secs(30);
/// Bounds on what unauthenticated clients can make the server remember.
const MAX_PENDING_EXCHANGES: usize = 10_000;
const MAX_SESSIONS: usize = 100_000;
const MAX_CACHED_CREDENTIALS: usize = 10_000;
const MAX_RATE_BUCKETS: usize = 100_000;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    OsRng.fill_bytes(buf);
}

/// What checking a request's `Authorization` header came to.
#[derive(Debug)]
pub enum Outcome {
    /// Authenticated; `info` is an `Authentication-Info` value to send with the response.
    Authenticated {
        principal: Arc<Principal>,
        info: Option<String>,
    },
    /// No or bad credentials: 401 with the standard challenges.
    Unauthorized,
    /// A SCRAM exchange continues: 401 with this `WWW-Authenticate` value.
    Continue(String),
    /// Too many failed logins for this user or address: 429, retry after this long.
    Limited(Duration),
    /// The server cannot verify credentials now (shutting down): 500.
    Unavailable,
}

pub struct Authenticator {
    users: Arc<UserStore>,
    config: AuthConfig,
    /// Keyed with a process-local secret: credential-cache keys. Kept initialised so each use
    /// skips the key schedule.
    mac: Hmac<Sha256>,
    cache: Mutex<HashMap<[u8; 32], Expiring<Arc<Principal>>>>,
    exchanges: Mutex<HashMap<[u8; 32], Expiring<Pending>>>,
    sessions: Mutex<HashMap<[u8; 32], Expiring<Arc<Principal>>>>,
    limiter: Mutex<Limiter>,
    hashing: Arc<tokio::sync::Semaphore>,
    /// One user-management write at a time: each reads a user, changes it and writes it back,
    /// and the last-admin checks must see the others' results.
    user_writes: tokio::sync::Mutex<()>,
}

struct Expiring<T> {
    value: T,
    until: Instant,
    /// The user store's stamp when this was made.
    stamp: u64,
}

impl<T> Expiring<T> {
    /// Unexpired, and `user` has not changed since this was made.
    fn valid(&self, now: Instant, users: &UserStore, user: &str) -> bool {
        self.until > now && users.unchanged_since(user, self.stamp)
    }
}

/// A SCRAM exchange between its two requests, with the user looked up at its start (or
/// unusable credentials for an unknown user).
struct Pending {
    exchange: Exchange,
    principal: Option<Arc<Principal>>,
    creds: ScramCredentials,
}

impl Authenticator {
    pub fn new(users: Arc<UserStore>, config: AuthConfig) -> Authenticator {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Authenticator {
            users,
            limiter: Mutex::new(Limiter::new(
                config.max_failed_logins,
                config.failed_login_refill,
            )),
            config,
            mac,
            cache: Mutex::default(),
            exchanges: Mutex::default(),
            sessions: Mutex::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
            user_writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The auth layer for `store` (its users loaded), or `None` when auth is off.
    pub async fn open(
        config: &AuthConfig,
        store: &crate::store::Store,
        kafka: &crate::config::KafkaConfig,
    ) -> anyhow::Result<Option<Arc<Authenticator>>> {
        if !config.enabled {
            return Ok(None);
        }
        let users = UserStore::open(store, kafka)
            .await
            .map_err(|e| anyhow::anyhow!("cannot load users: {e}"))?;
        Ok(Some(Arc::new(Authenticator::new(users, config.clone()))))
    }

    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// Held across a user-management change (read, modify, write back).
    pub async fn user_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.user_writes.lock().await
    }

    /// A client whose TLS certificate, verified against `tls_client_ca` during the handshake,
    /// names `name`: that user, if there is one. The handshake proved the client holds the
    /// certificate's key, so no password is involved and no failed login is counted.
    pub fn certificate(&self, name: &str) -> Outcome {
        match self.users.get(name) {
            Some(user) => Outcome::Authenticated {
                principal: Arc::new(Principal::from(&user)),
                info: None,
            },
            None => Outcome::Unauthorized,
        }
    }

    /// Checks an `Authorization` header value from `client`.
    pub async fn authenticate(&self, authorization: Option<&str>, client: IpAddr) -> Outcome {
        let Some((scheme, rest)) = authorization.and_then(|a| a.trim().split_once(' ')) else {
            return Outcome::Unauthorized;
        };
        if scheme.eq_ignore_ascii_case("Basic") {
            self.basic(rest.trim(), client).await
        } else if scheme.eq_ignore_ascii_case("SCRAM-SHA-256") {
            self.scram(rest, client).await
        } else {
            Outcome::Unauthorized
        }
    }

    async fn basic(&self, encoded: &str, client: IpAddr) -> Outcome {
        if encoded.len() > MAX_CREDENTIAL_BYTES {
            return Outcome::Unauthorized;
        }
        let Some(decoded) = B64
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Outcome::Unauthorized;
        };
        let Some((name, pass)) = decoded.split_once(':') else {
            return Outcome::Unauthorized;
        };
        // A cached verification proves the password, so it is honoured even while failed
        // guesses by someone else have this user or address rate-limited.
        let cache_key = self.cache_key(name, pass);
        let now = Instant::now();
        // A user change during the hash must not let the old verdict count: it is stamped with
        // the store's stamp from before the lookup.
        let stamp = self.users.stamp();
        if let Some(hit) = lock(&self.cache)
            .get(&cache_key)
            .filter(|e| e.valid(now, &self.users, name))
        {
            return Outcome::Authenticated {
                principal: hit.value.clone(),
                info: None,
            };
        }
        // Every attempt takes a token before any hashing and gets it back only on success, so
        // parallel guesses cannot all slip past the check before the first failure is counted.
        if let Err(wait) = lock(&self.limiter).take(name, client) {
            return Outcome::Limited(wait);
        }
        let user = self.users.get(name);
        let phc = user.as_ref().map(|u| u.password_phc.clone());
        let pass = pass.to_string();
        let matched = {
            // The permit moves into the blocking task: a client that disconnects mid-hash
            // cannot free its slot while the hash still runs.
            let Ok(slot) = self.hashing.clone().acquire_owned().await else {
                return Outcome::Unavailable;
            };
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                // Unknown users are checked against a dummy hash: the same work, the same answer.
                let phc = match &phc {
                    Some(phc) => phc.as_str(),
                    None => dummy_phc(),
                };
                password::verify(&pass, phc)
            })
            .await
            .unwrap_or(false)
        };
        match user {
            Some(user) if matched => {
                lock(&self.limiter).refund(name, client);
                let principal = Arc::new(Principal::from(&user));
                if !self.users.unchanged_since(name, stamp) {
                    return Outcome::Unauthorized;
                }
                let mut cache = lock(&self.cache);
                bound(&mut cache, MAX_CACHED_CREDENTIALS);
                cache.insert(
                    cache_key,
                    Expiring {
                        value: principal.clone(),
                        until: Instant::now() + self.config.credential_cache_ttl,
                        stamp,
                    },
                );
                Outcome::Authenticated {
                    principal,
                    info: None,
                }
            }
            // The token taken above stays spent: that is the failure counted.
            _ => Outcome::Unauthorized,
        }
    }

    async fn scram(&self, params: &str, client: IpAddr) -> Outcome {
        // SCRAM messages are a few hundred bytes; pending exchanges must not pin more.
        if params.len() > MAX_CREDENTIAL_BYTES {
            return Outcome::Unauthorized;
        }
        let mut sid = None;
        let mut data = None;
        for param in params.split(',') {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "sid" => sid = Some(v),
                "data" => data = Some(v),
                _ => {} // realm, and anything a later revision adds
            }
        }
        let data = data.map(|d| {
            B64.decode(d)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                // RFC 7804's own examples end their messages with a newline.
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        });
        match (sid, data) {
            (None, Some(Some(first))) => self.scram_start(&first, client).await,
            (Some(sid), Some(Some(last))) => self.scram_finish(sid, &last, client),
            (Some(sid), None) => self.session(sid),
            _ => Outcome::Unauthorized,
        }
    }

    async fn scram_start(&self, client_first: &str, client: IpAddr) -> Outcome {
        let Ok(first) = ClientFirst::parse(client_first) else {
            return Outcome::Unauthorized;
        };
        // An exchange spends a token until it succeeds, so one address cannot fill the
        // pending-exchange table and lock every SCRAM client out.
        if let Err(wait) = lock(&self.limiter).take(&first.username, client) {
            return Outcome::Limited(wait);
        }
        let stamp = self.users.stamp();
        let (principal, creds) = match self.users.get(&first.username) {
            Some(user) => (Some(Arc::new(Principal::from(&user))), user.scram),
            None => (None, self.unknown_user_creds(&first.username)),
        };
        let server_nonce = random_token(18);
        let (exchange, server_first) =
            Exchange::start(first, &server_nonce, &creds.salt, creds.iterations);
        let sid = random_token(32);
        {
            let mut pending = lock(&self.exchanges);
            bound(&mut pending, MAX_PENDING_EXCHANGES);
            if pending.len() >= MAX_PENDING_EXCHANGES {
                return Outcome::Limited(EXCHANGE_TTL);
            }
            pending.insert(
                token_key(&sid),
                Expiring {
                    value: Pending {
                        exchange,
                        principal,
                        creds,
                    },
                    until: Instant::now() + EXCHANGE_TTL,
                    stamp,
                },
            );
        }
        Outcome::Continue(format!(
            "SCRAM-SHA-256 sid={sid}, data={}",
            B64.encode(server_first)
        ))
    }

    fn scram_finish(&self, sid: &str, client_final: &str, client: IpAddr) -> Outcome {
        // One use only: a replayed client-final finds nothing. An exchange begun before a user
        // change is void: it may carry the old password's keys.
        let Some(pending) = lock(&self.exchanges)
            .remove(&token_key(sid))
            .filter(|p| p.valid(Instant::now(), &self.users, &p.value.exchange.username))
        else {
            return Outcome::Unauthorized;
        };
        let Pending {
            exchange,
            principal,
            creds,
        } = pending.value;
        match (exchange.finish(client_final, &creds), principal) {
            (Ok(server_final), Some(principal)) => {
                lock(&self.limiter).refund(&exchange.username, client);
                let mut sessions = lock(&self.sessions);
                bound(&mut sessions, MAX_SESSIONS);
                sessions.insert(
                    token_key(sid),
                    Expiring {
                        value: principal.clone(),
                        until: Instant::now() + self.config.session_ttl,
                        stamp: pending.stamp,
                    },
                );
                Outcome::Authenticated {
                    principal,
                    info: Some(format!("sid={sid}, data={}", B64.encode(server_final))),
                }
            }
            // The token the exchange took at its start stays spent.
            _ => Outcome::Unauthorized,
        }
    }

    fn session(&self, sid: &str) -> Outcome {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let key = token_key(sid);
        match sessions.get(&key) {
            Some(s) if s.valid(now, &self.users, &s.value.name) => Outcome::Authenticated {
                principal: s.value.clone(),
                info: None,
            },
            Some(_) => {
                sessions.remove(&key);
                Outcome::Unauthorized
            }
            None => Outcome::Unauthorized,
        }
    }

    fn cache_key(&self, name: &str, pass: &str) -> [u8; 32] {
        self.keyed(&[
            &(name.len() as u64).to_be_bytes(),
            name.as_bytes(),
            pass.as_bytes(),
        ])
    }

    fn keyed(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Stable per name across nodes and restarts (keyed by the store's secret), so repeated
    /// probes see the same salt, and keys no password can match.
    fn unknown_user_creds(&self, name: &str) -> ScramCredentials {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.users.salt_key())
            .expect("HMAC takes any key length");
        mac.update(name.as_bytes());
        let salt: [u8; 32] = mac.finalize().into_bytes().into();
        let mut stored_key = [0u8; 32];
        let mut server_key = [0u8; 32];
        fill_random(&mut stored_key);
        fill_random(&mut server_key);
        ScramCredentials {
            salt: salt[..16].to_vec(),
            iterations: scram::DEFAULT_ITERATIONS,
            stored_key,
            server_key,
        }
    }
}

/// A fixed hash to verify unknown users against, made once.
fn dummy_phc() -> &'static str {
    static PHC: OnceLock<String> = OnceLock::new();
    PHC.get_or_init(|| password::hash("schemata-unknown-user"))
}

/// `n` random bytes as URL-safe base64: an HTTP token, and a valid SCRAM nonce.
fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Maps are keyed by a hash of each token, so lookup timing says nothing about the token.
fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps a map of expiring entries under `max`: drops expired ones when full.
fn bound<K: Eq + Hash, T>(map: &mut HashMap<K, Expiring<T>>, max: usize) {
    if map.len() >= max {
        let now = Instant::now();
        map.retain(|_, e| e.until > now);
    }
}

/// Token buckets of failed logins, per user name and per client address. Only failures create
/// buckets, so the common case — no recent failures — is two lookups in empty maps.
struct Limiter {
    users: HashMap<String, Bucket>,
    addrs: HashMap<IpAddr, Bucket>,
    capacity: f64,
    refill: Duration,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    fn new(capacity: u32, refill: Duration) -> Limiter {
        Limiter {
            users: HashMap::new(),
            addrs: HashMap::new(),
            capacity: f64::from(capacity),
            refill,
        }
    }

    fn tokens(&self, bucket: &Bucket, now: Instant) -> f64 {
        let earned = now.duration_since(bucket.at).as_secs_f64() / self.refill.as_secs_f64();
        (bucket.tokens + earned).min(self.capacity)
    }

    /// How long to wait if either bucket is empty.
    fn check(&self, name: &str, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        [self.users.get(name), self.addrs.get(&addr)]
            .into_iter()
            .flatten()
            .map(|b| self.tokens(b, now))
            .filter(|t| *t < 1.0)
            .map(|t| self.refill.mul_f64(1.0 - t))
            .max()
    }

    /// Takes one token from both buckets, or says how long to wait if either is empty.
    fn take(&mut self, name: &str, addr: IpAddr) -> Result<(), Duration> {
        if let Some(wait) = self.check(name, addr) {
            return Err(wait);
        }
        self.fail(name, addr);
        Ok(())
    }

    /// Gives back the token a successful attempt took.
    fn refund(&mut self, name: &str, addr: IpAddr) {
        let now = Instant::now();
        let capacity = self.capacity;
        let refill = self.refill;
        let earned = |b: &Bucket| now.duration_since(b.at).as_secs_f64() / refill.as_secs_f64();
        for bucket in [self.users.get_mut(name), self.addrs.get_mut(&addr)]
            .into_iter()
            .flatten()
        {
            bucket.tokens = (bucket.tokens + earned(bucket) + 1.0).min(capacity);
            bucket.at = now;
        }
    }

    fn fail(&mut self, name: &str, addr: IpAddr) {
        let now = Instant::now();
        let user = self.drained(self.users.get(name), now);
        let address = self.drained(self.addrs.get(&addr), now);
        prune(&mut self.users, self.capacity, self.refill, now);
        prune(&mut self.addrs, self.capacity, self.refill, now);
        // Past the bound, only buckets already tracked are updated: memory stays bounded, and
        // the address bucket still limits a client spraying new user names.
        if self.users.len() < MAX_RATE_BUCKETS || self.users.contains_key(name) {
            self.users.insert(name.to_string(), user);
        }
        if self.addrs.len() < MAX_RATE_BUCKETS || self.addrs.contains_key(&addr) {
            self.addrs.insert(addr, address);
        }
    }

    /// `bucket` (full if none) after one more failure at `now`.
    fn drained(&self, bucket: Option<&Bucket>, now: Instant) -> Bucket {
        let tokens = bucket.map_or(self.capacity, |b| self.tokens(b, now));
        Bucket {
            tokens: (tokens - 1.0).max(0.0),
            at: now,
        }
    }
}

/// Forgets buckets that have refilled, once a map grows past its bound.
fn prune<K: Eq + Hash>(
    map: &mut HashMap<K, Bucket>,
    capacity: f64,
    refill: Duration,
    now: Instant,
) {
    if map.len() >= MAX_RATE_BUCKETS {
        let refill = refill.as_secs_f64();
        map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() / refill < capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_a_burst_then_refills() {
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        let mut l = Limiter::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(l.check("u", addr).is_none());
            l.fail("u", addr);
        }
        let wait = l.check("u", addr).expect("limited");
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        // The address is limited for other names too, and the name from other addresses.
        assert!(l.check("v", addr).is_some());
        assert!(l.check("u", "10.0.0.2".parse().unwrap()).is_some());
        assert!(l.check("v", "10.0.0.2".parse().unwrap()).is_none());
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.check("u", addr).is_none());
    }
}
