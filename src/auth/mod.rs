//! Authentication and authorization: users with a role and subject grants, verified by
//! `Authorization: Basic` (RFC 7617, what Confluent's clients send) or SCRAM-SHA-256 over HTTP
//! (RFC 7804). Off by default; `api::auth` applies it to requests when `[auth] enabled`.
//!
//! - [`password`] — argon2id PHC hashes for Basic.
//! - [`scram`] — the SCRAM-SHA-256 server side.
//! - [`users`] — `User`, `Role`, grants, and the `Principal` a request runs as.
//! - [`store`] — where users live: SQLite tables, or a compacted topic beside `_schemas`.
//! - [`admin`] — managing users, with every rule: what `schemata user …` and `/admin/users` do.
//!
//! **Basic** costs an argon2id hash (~19 MiB, tens of ms). Verified credentials are therefore
//! remembered for `credential_cache_ttl`, keyed by an HMAC of `user:password` under a key that
//! lives only in this process, so neither the cache nor a memory dump of it holds a password or
//! a value that can be tested offline without that key. Hashing runs on blocking threads, at
//! most one per core at a time, so a flood of bad passwords cannot starve the request threads.
//! Requests presenting credentials that are being verified wait for that one verification
//! (`Flight`), so a burst of clients logging in with the same password costs one hash and no
//! failed-login tokens. A cached login is settled without waiting or allocating
//! ([`Authenticator::authenticate_now`]): that is the path nearly every request takes.
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
//! **Failed logins** drain token buckets: strictly per user name and client address
//! (`max_failed_logins` in a burst, one more per `failed_login_refill`), more loosely per client
//! and per user name (see `Limiter`); IPv6 clients count by /64. An empty bucket answers 429
//! before any password is checked, right or wrong, so the limit cannot be probed around. Failing
//! on purpose from one address therefore locks a user out only there; a verified login is cached
//! and each use extends it (up to `credential_cache_max`), so a working client is never sent
//! back to the limiter while someone else is failing.
//! Unknown users cost the same argon2 work and get a SCRAM salt derived from their name under a
//! secret kept in the store, so neither timing nor the exchange — on any node, before or after a
//! restart — tells whether a user exists.
//!
//! **Changes** to a user, through any node or the CLI, end what was remembered about that user
//! (cached Basic logins, pending exchanges, sessions): each is stamped when made and ignored
//! once the store says the user changed since ([`UserStore::unchanged_since`]).

pub mod admin;
pub mod config;
pub mod password;
pub mod scram;
pub mod store;
pub mod users;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use admin::{UserAdmin, UserError};
pub use config::AuthConfig;
use scram::{ClientFirst, Exchange, ScramCredentials};
use store::UserStore;
pub use users::{Principal, Role, User};

/// Longest Basic or SCRAM credential accepted; real ones are far shorter.
const MAX_CREDENTIAL_BYTES: usize = 4096;
/// Longest decoded Basic credential [`Authenticator::authenticate_now`] settles: any name and
/// a password of a few hundred bytes.
const FAST_CREDENTIAL_BYTES: usize = 512;
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
    /// Basic logins being verified now, by cache key: see [`Flight`].
    flights: Mutex<HashMap<[u8; 32], Arc<FlightCell>>>,
    exchanges: Mutex<HashMap<[u8; 32], Expiring<Pending>>>,
    sessions: Mutex<HashMap<[u8; 32], Expiring<Arc<Principal>>>>,
    limiter: Mutex<Limiter>,
    hashing: Arc<tokio::sync::Semaphore>,
    /// User management (`/admin/users`) on the same users.
    admin: UserAdmin,
}

struct Expiring<T> {
    value: T,
    until: Instant,
    /// How far use may push `until` (cached logins slide; the others do not).
    latest: Instant,
    /// The user store's stamp when this was made.
    stamp: u64,
}

impl<T> Expiring<T> {
    /// An entry for `ttl` from now that use does not extend.
    fn fixed(value: T, ttl: Duration, stamp: u64) -> Expiring<T> {
        let until = Instant::now() + ttl;
        Expiring {
            value,
            until,
            latest: until,
            stamp,
        }
    }

    /// Unexpired, and `user` has not changed since this was made.
    fn valid(&self, now: Instant, users: &UserStore, user: &str) -> bool {
        self.until > now && users.unchanged_since(user, self.stamp)
    }
}

/// A verified Basic login: who, and the user store's stamp from before the check.
type Verified = (Arc<Principal>, u64);

/// What one verification of a set of Basic credentials came to, shared by every request that
/// presented them while it ran: `Some` if it succeeded.
type FlightCell = tokio::sync::OnceCell<Option<Verified>>;

/// A request's part in the verification of its Basic credentials: the first to arrive runs it
/// (see [`tokio::sync::OnceCell::get_or_init`]: if that request goes away, a waiting one takes
/// over), the others wait for its verdict. The map holds a flight only while someone is in it,
/// so it is bounded by the requests in progress; a finished flight is never joined.
struct Flight<'a> {
    flights: &'a Mutex<HashMap<[u8; 32], Arc<FlightCell>>>,
    key: [u8; 32],
    /// Always `Some` until dropped. Every clone and drop of these happens under the map's lock,
    /// so the last one out sees only the map's reference left.
    cell: Option<Arc<FlightCell>>,
}

impl<'a> Flight<'a> {
    fn join(flights: &'a Mutex<HashMap<[u8; 32], Arc<FlightCell>>>, key: [u8; 32]) -> Flight<'a> {
        let mut map = lock(flights);
        let cell = map.entry(key).or_default();
        if cell.initialized() {
            // Its verdict predates this request: stragglers may still hold it, but a new
            // request starts afresh (with the cache, which that verdict filled, checked first).
            *cell = Arc::default();
        }
        let cell = Some(cell.clone());
        Flight { flights, key, cell }
    }

    fn cell(&self) -> &FlightCell {
        self.cell.as_deref().expect("present until dropped")
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.flights);
        let Some(mine) = self.cell.take() else {
            return;
        };
        let last = map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &mine) && Arc::strong_count(&mine) == 2);
        if last {
            map.remove(&self.key);
        }
        drop(mine);
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
            admin: UserAdmin::new(users.clone()),
            users,
            limiter: Mutex::new(Limiter::new(
                config.max_failed_logins,
                config.failed_login_refill,
            )),
            config,
            mac,
            cache: Mutex::default(),
            flights: Mutex::default(),
            exchanges: Mutex::default(),
            sessions: Mutex::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    /// The auth layer for `store` (its users loaded), or `None` when auth is off.
    pub async fn open(
        config: &AuthConfig,
        store: &crate::store::Store,
    ) -> anyhow::Result<Option<Arc<Authenticator>>> {
        if !config.enabled {
            return Ok(None);
        }
        let users = UserStore::open(store)
            .await
            .map_err(|e| anyhow::anyhow!("cannot load users: {e}"))?;
        Ok(Some(Arc::new(Authenticator::new(users, config.clone()))))
    }

    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// Managing these users: what `/admin/users` does.
    pub fn admin(&self) -> &UserAdmin {
        &self.admin
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

    /// What [`Authenticator::authenticate`] would answer, when that needs no waiting: Basic
    /// credentials verified before (still cached), or unusable ones. `None` for everything
    /// else (a password to hash, SCRAM, no header): ask `authenticate`. Nearly every request
    /// of a working client is settled here, without an allocation.
    pub fn authenticate_now(&self, authorization: Option<&str>) -> Option<Outcome> {
        let (scheme, encoded) = authorization?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("Basic") {
            return None;
        }
        let encoded = encoded.trim();
        // Decoded on the stack; longer (rare) credentials take the general path.
        let mut buf = [0u8; FAST_CREDENTIAL_BYTES];
        if encoded.len() > FAST_CREDENTIAL_BYTES / 3 * 4 {
            return None;
        }
        let Some((name, pass)) = B64
            .decode_slice(encoded, &mut buf)
            .ok()
            .and_then(|n| user_and_password(&buf[..n]))
        else {
            return Some(Outcome::Unauthorized);
        };
        let principal = self.cached(&self.cache_key(name, pass), name)?;
        Some(Outcome::Authenticated {
            principal,
            info: None,
        })
    }

    async fn basic(&self, encoded: &str, client: IpAddr) -> Outcome {
        if encoded.len() > MAX_CREDENTIAL_BYTES {
            return Outcome::Unauthorized;
        }
        let Some(decoded) = B64.decode(encoded).ok() else {
            return Outcome::Unauthorized;
        };
        let Some((name, pass)) = user_and_password(&decoded) else {
            return Outcome::Unauthorized;
        };
        // A cached verification proves the password, so it is honoured even while failed
        // guesses by someone else have this user or address rate-limited.
        let cache_key = self.cache_key(name, pass);
        if let Some(principal) = self.cached(&cache_key, name) {
            return Outcome::Authenticated {
                principal,
                info: None,
            };
        }
        // The same credentials arriving while they are being verified wait for that verdict
        // instead of each taking a token and hashing: a fleet of clients restarting at once
        // with the same correct password is verified once, not refused after the first
        // `max_failed_logins`. Only a success is shared; after a failure each waiter makes its
        // own attempt, so parallel guesses still each cost a token.
        let flight = Flight::join(&self.flights, cache_key);
        let mut led = None;
        let verdict = flight
            .cell()
            .get_or_init(|| async {
                let outcome = self.verify(name, pass, client, cache_key).await;
                let verdict = outcome.as_ref().ok().cloned();
                led = Some(outcome);
                verdict
            })
            .await
            .clone();
        drop(flight);
        let outcome = match (led, verdict) {
            (Some(outcome), _) => outcome,
            // Verified for everyone waiting, unless the user changed since.
            (None, Some((principal, stamp))) if self.users.unchanged_since(name, stamp) => {
                Ok((principal, stamp))
            }
            (None, _) => self.verify(name, pass, client, cache_key).await,
        };
        match outcome {
            Ok((principal, _)) => Outcome::Authenticated {
                principal,
                info: None,
            },
            Err(refused) => refused,
        }
    }

    /// The principal a cached verification of these credentials names, if there is one that
    /// is unexpired and older than any change to `name`; its use extends it.
    fn cached(&self, cache_key: &[u8; 32], name: &str) -> Option<Arc<Principal>> {
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        let hit = cache
            .get_mut(cache_key)
            .filter(|e| e.valid(now, &self.users, name))?;
        // Use extends the entry (up to its maximum lifetime): a client that keeps working
        // never falls back to the limiter, where someone else's failures could lock it out.
        hit.until = (now + self.config.credential_cache_ttl).min(hit.latest);
        Some(hit.value.clone())
    }

    /// Checks `pass` against `name`'s hash (argon2: slow on purpose) after taking a token from
    /// the limiter, and caches a success: the principal, and the user store's stamp it holds
    /// from. Anything else is the outcome to answer.
    async fn verify(
        &self,
        name: &str,
        pass: &str,
        client: IpAddr,
        cache_key: [u8; 32],
    ) -> Result<Verified, Outcome> {
        // Every attempt takes a token before any hashing and gets it back only on success, so
        // parallel guesses cannot all slip past the check before the first failure is counted.
        if let Err(wait) = lock(&self.limiter).take(name, client) {
            return Err(Outcome::Limited(wait));
        }
        // A user change during the hash must not let the old verdict count: it is stamped with
        // the store's stamp from before the lookup.
        let stamp = self.users.stamp();
        let user = self.users.get(name);
        let phc = user.as_ref().map(|u| u.password_phc.clone());
        let pass = pass.to_string();
        let matched = {
            // The permit moves into the blocking task: a client that disconnects mid-hash
            // cannot free its slot while the hash still runs.
            let Ok(slot) = self.hashing.clone().acquire_owned().await else {
                return Err(Outcome::Unavailable);
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
                    return Err(Outcome::Unauthorized);
                }
                let mut cache = lock(&self.cache);
                make_room(&mut cache, MAX_CACHED_CREDENTIALS);
                let now = Instant::now();
                cache.insert(
                    cache_key,
                    Expiring {
                        value: principal.clone(),
                        until: now + self.config.credential_cache_ttl,
                        latest: now + self.config.credential_cache_max,
                        stamp,
                    },
                );
                Ok((principal, stamp))
            }
            // The token taken above stays spent: that is the failure counted.
            _ => Err(Outcome::Unauthorized),
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
            drop_expired(&mut pending, MAX_PENDING_EXCHANGES);
            if pending.len() >= MAX_PENDING_EXCHANGES {
                return Outcome::Limited(EXCHANGE_TTL);
            }
            let value = Pending {
                exchange,
                principal,
                creds,
            };
            pending.insert(token_key(&sid), Expiring::fixed(value, EXCHANGE_TTL, stamp));
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
                make_room(&mut sessions, MAX_SESSIONS);
                let session =
                    Expiring::fixed(principal.clone(), self.config.session_ttl, pending.stamp);
                sessions.insert(token_key(sid), session);
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

/// Basic's decoded `user:password` (RFC 7617: the first colon separates), if it is UTF-8.
fn user_and_password(decoded: &[u8]) -> Option<(&str, &str)> {
    std::str::from_utf8(decoded).ok()?.split_once(':')
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

/// Drops expired entries once `map` holds `max`.
fn drop_expired<K: Eq + Hash, T>(map: &mut HashMap<K, Expiring<T>>, max: usize) {
    if map.len() >= max {
        let now = Instant::now();
        map.retain(|_, e| e.until > now);
    }
}

/// Makes room for one more entry under `max`: expired entries go first, then the one closest to
/// expiring — the oldest session, the least recently used cached login. Without this a flood of
/// logins (each a valid user's) would grow the map without bound. Scanning for the oldest is
/// linear, but only ever runs on a full map.
fn make_room<K: Eq + Hash + Clone, T>(map: &mut HashMap<K, Expiring<T>>, max: usize) {
    drop_expired(map, max);
    while map.len() >= max.max(1) {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, e)| e.until)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        map.remove(&oldest);
    }
}

/// A client as the limiter counts it: an IPv4 address, or an IPv6 /64 — what one host or
/// subscriber is usually given, so cycling through one's own addresses earns no fresh buckets.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        },
        v4 => v4,
    }
}

/// How much looser the per-client bucket is than the per-(user, client) one: room for a few
/// users behind one NAT mistyping, still a bound on one client trying many names.
const CLIENT_FACTOR: u32 = 3;
/// How much looser the per-user bucket is: as many failures, in a burst and over time, as this
/// many clients may make. Only a guesser with that many addresses can lock a user out at all.
const USER_FACTOR: u32 = 10;

/// Token buckets of failed logins: strict per (user name, client), looser per client and
/// per user name (see the factors). Strict per name alone would let anyone lock a named account
/// out by failing on purpose; per client alone would let a botnet guess one password without
/// bound. Every attempt takes a token from all three before any password is checked.
///
/// Only attempts create buckets, and a bucket that has refilled is forgotten once its map is
/// full, so the common case is a few lookups in small maps. When a map is full of buckets still
/// draining, an attempt that would need a new one is refused (fail closed): not tracking it
/// would let a guesser who filled the map guess freely.
struct Limiter {
    pairs: Buckets<(String, IpAddr)>,
    clients: Buckets<IpAddr>,
    users: Buckets<String>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One kind of bucket, by key.
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    capacity: f64,
    refill: Duration,
    max: usize,
}

impl<K: Eq + Hash> Buckets<K> {
    fn new(capacity: u32, refill: Duration, max: usize) -> Buckets<K> {
        Buckets {
            map: HashMap::new(),
            capacity: f64::from(capacity),
            refill,
            max,
        }
    }

    fn tokens(&self, bucket: &Bucket, now: Instant) -> f64 {
        let earned = now.duration_since(bucket.at).as_secs_f64() / self.refill.as_secs_f64();
        (bucket.tokens + earned).min(self.capacity)
    }

    /// How long `key` must wait before it may fail again; `None` if it may now.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        match self.map.get(key) {
            Some(bucket) => {
                let tokens = self.tokens(bucket, now);
                (tokens < 1.0).then(|| self.refill.mul_f64(1.0 - tokens))
            }
            None => {
                if self.map.len() >= self.max {
                    self.prune(now);
                }
                (self.map.len() >= self.max).then_some(self.refill)
            }
        }
    }

    /// One more attempt by `key` (checked with [`Buckets::wait`] first).
    fn take(&mut self, key: K, now: Instant) {
        let tokens = self
            .map
            .get(&key)
            .map_or(self.capacity, |b| self.tokens(b, now));
        self.map.insert(
            key,
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }

    fn refund(&mut self, key: &K, now: Instant) {
        let Some(tokens) = self.map.get(key).map(|b| self.tokens(b, now)) else {
            return;
        };
        let capacity = self.capacity;
        if let Some(bucket) = self.map.get_mut(key) {
            bucket.tokens = (tokens + 1.0).min(capacity);
            bucket.at = now;
        }
    }

    /// Forgets buckets that have refilled.
    fn prune(&mut self, now: Instant) {
        let (capacity, refill) = (self.capacity, self.refill.as_secs_f64());
        self.map
            .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() / refill < capacity);
    }
}

impl Limiter {
    fn new(capacity: u32, refill: Duration) -> Limiter {
        Limiter::with_max(capacity, refill, MAX_RATE_BUCKETS)
    }

    fn with_max(capacity: u32, refill: Duration, max: usize) -> Limiter {
        Limiter {
            pairs: Buckets::new(capacity, refill, max),
            clients: Buckets::new(capacity.saturating_mul(CLIENT_FACTOR), refill, max),
            users: Buckets::new(
                capacity.saturating_mul(USER_FACTOR),
                refill / USER_FACTOR,
                max,
            ),
        }
    }

    /// Takes a token for an attempt by `name` from `addr`, or says how long to wait if any of
    /// its buckets is empty (or cannot be tracked).
    fn take(&mut self, name: &str, addr: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let client = client_key(addr);
        let pair = (name.to_string(), client);
        let wait = [
            self.pairs.wait(&pair, now),
            self.clients.wait(&client, now),
            self.users.wait(&pair.0, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        self.users.take(pair.0.clone(), now);
        self.pairs.take(pair, now);
        self.clients.take(client, now);
        Ok(())
    }

    /// Gives back the token a successful attempt took.
    fn refund(&mut self, name: &str, addr: IpAddr) {
        let now = Instant::now();
        let client = client_key(addr);
        self.pairs.refund(&(name.to_string(), client), now);
        self.clients.refund(&client, now);
        self.users.refund(&name.to_string(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_a_burst_then_refills() {
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let mut l = Limiter::new(3, Duration::from_millis(300));
        for _ in 0..3 {
            assert!(l.take("u", addr).is_ok());
        }
        let wait = l.take("u", addr).expect_err("limited");
        assert!(wait <= Duration::from_millis(300), "{wait:?}");
        // Another address may still try the name, and this address other names.
        assert!(l.take("u", other).is_ok());
        assert!(l.take("v", addr).is_ok());
        std::thread::sleep(Duration::from_millis(320));
        assert!(l.take("u", addr).is_ok());
    }

    #[test]
    fn a_client_trying_many_names_and_many_clients_trying_one_name_are_bounded() {
        let mut l = Limiter::new(2, Duration::from_secs(3600));
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        // Per client: CLIENT_FACTOR times the strict burst, across names.
        for i in 0..2 * CLIENT_FACTOR {
            assert!(l.take(&format!("name-{i}"), addr).is_ok(), "{i}");
        }
        assert!(l.take("fresh-name", addr).is_err());
        // Per name: USER_FACTOR times the strict burst, across clients.
        for i in 0..2 * USER_FACTOR {
            let client = IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
            assert!(l.take("victim", client).is_ok(), "{i}");
        }
        assert!(l.take("victim", "10.9.9.9".parse().unwrap()).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        assert_eq!(
            client_key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        let mut l = Limiter::new(2, Duration::from_secs(3600));
        assert!(l.take("u", a).is_ok());
        assert!(l.take("u", b).is_ok());
        // A third address in the same /64 finds the bucket empty; the next /64 does not.
        assert!(l.take("u", "2001:db8:1:2::7".parse().unwrap()).is_err());
        assert!(l.take("u", c).is_ok());
    }

    #[test]
    fn full_limiter_maps_refuse_clients_they_cannot_track() {
        let mut l = Limiter::with_max(3, Duration::from_secs(3600), 2);
        let addr = |i: u8| IpAddr::from([10, 0, 0, i]);
        assert!(l.take("a", addr(1)).is_ok());
        assert!(l.take("b", addr(2)).is_ok());
        // Both maps are full of draining buckets: a newcomer is refused, not left untracked …
        assert!(l.take("c", addr(3)).is_err());
        // … while clients already tracked go on as before.
        assert!(l.take("a", addr(1)).is_ok());
        // Refilled buckets make room again.
        l.refund("b", addr(2));
        assert!(l.take("c", addr(3)).is_ok());
    }

    #[test]
    fn a_full_map_makes_room_by_dropping_the_oldest() {
        let now = Instant::now();
        let mut map = HashMap::new();
        for i in 0..3u8 {
            map.insert(
                i,
                Expiring {
                    value: i,
                    until: now + Duration::from_secs(60 + u64::from(i)),
                    latest: now + Duration::from_secs(60 + u64::from(i)),
                    stamp: 0,
                },
            );
        }
        make_room(&mut map, 3);
        let mut left: Vec<u8> = map.keys().copied().collect();
        left.sort();
        assert_eq!(left, [1, 2]);
    }
}
