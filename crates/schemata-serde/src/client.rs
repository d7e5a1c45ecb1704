//! The async registry client: Confluent's REST API over reqwest (rustls), with caches that keep
//! the hot path off the network.
//!
//! Every lookup whose answer cannot change (schema by id or GUID, a subject's version N, the id
//! of a (subject, schema) pair) is cached forever; the latest version is cached for
//! `latest.cache.ttl.sec`. Caches are single-flight: when many tasks ask for the same id at
//! once, one HTTP request is made and all of them get its answer. Failures are not cached.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::schema::ParsedSchema;
use crate::wire::SchemaRef;

/// Confluent's content type, sent with every request body.
const SR_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const SR_ACCEPT: &str = "application/vnd.schemaregistry.v1+json, \
     application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5";

/// A version of a subject, as `GET /subjects/{s}/versions/{v}` returns it.
#[derive(Debug, Clone)]
pub struct SubjectVersion {
    /// The subject.
    pub subject: String,
    /// The registry-wide schema id.
    pub id: u32,
    /// The version within the subject.
    pub version: i32,
    /// The schema, parsed (references inlined).
    pub schema: ParsedSchema,
}

/// Where a (subject, schema) pair is registered, as `POST /subjects/{s}` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The registry-wide schema id.
    pub id: u32,
    /// The version within the subject.
    pub version: i32,
}

/// The answer of a compatibility check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Compatibility {
    /// Whether the schema may be registered under the subject.
    pub is_compatible: bool,
    /// Why not, when the registry says (verbose mode).
    #[serde(default)]
    pub messages: Vec<String>,
}

/// A schema reference: a named type this schema uses, registered elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The referenced type's full name.
    pub name: String,
    /// The subject it is registered under.
    pub subject: String,
    /// The version of that subject.
    pub version: i32,
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct VersionBody {
    subject: String,
    id: u32,
    version: i32,
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct IdBody {
    id: u32,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: i64,
    message: String,
}

/// A Schema Registry client. Cheap to clone: clones share connections and caches.
///
/// ```no_run
/// # async fn run() -> schemata_serde::Result<()> {
/// use schemata_serde::{Config, ParsedSchema, RegistryClient};
/// let client = RegistryClient::new(Config::builder("http://localhost:8081").build())?;
/// let schema = ParsedSchema::parse(r#"{"type":"record","name":"T","fields":[]}"#)?;
/// let id = client.register("t-value", &schema).await?;
/// let fetched = client.schema_by_id(id).await?;
/// assert_eq!(fetched.fullname(), Some("T"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RegistryClient(Arc<ClientInner>);

struct ClientInner {
    http: reqwest::Client,
    urls: Vec<Url>,
    /// Index into `urls` of the node that last answered; moves on after transport errors.
    current: AtomicUsize,
    config: Config,
    by_id: Flight<u32, ParsedSchema>,
    by_guid: Flight<Uuid, ParsedSchema>,
    registered: Flight<(String, String), u32>,
    looked_up: Flight<(String, String), Registered>,
    versions: Flight<(String, i32), SubjectVersion>,
    latest: Flight<String, SubjectVersion>,
    requests: AtomicU64,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `config`. Builds the HTTP client (TLS roots, timeouts) but sends nothing.
    ///
    /// ```
    /// use schemata_serde::{Config, RegistryClient};
    /// let client = RegistryClient::new(Config::builder("http://localhost:8081").build()).unwrap();
    /// assert_eq!(client.http_requests(), 0);
    /// assert!(RegistryClient::new(Config::builder("not a url").build()).is_err());
    /// ```
    pub fn new(config: Config) -> Result<Self> {
        if config.urls.is_empty() {
            return Err(Error::Config("no schema registry URL".into()));
        }
        let urls = config
            .urls
            .iter()
            .map(|u| {
                let url = Url::parse(u).map_err(|e| Error::Config(format!("URL {u:?}: {e}")))?;
                if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
                    return Err(Error::Config(format!("URL {u:?} is not http(s)")));
                }
                Ok(url)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout);
        if let Some(pem) = &config.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("CA certificates: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config("CA PEM holds no certificate".into()));
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &config.client_identity_pem {
            let id = reqwest::Identity::from_pem(pem)
                .map_err(|e| Error::Config(format!("client certificate: {e}")))?;
            http = http.identity(id);
        }
        let http = http
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let ttl = config.latest_cache_ttl;
        Ok(RegistryClient(Arc::new(ClientInner {
            http,
            urls,
            current: AtomicUsize::new(0),
            config,
            by_id: Flight::new(None),
            by_guid: Flight::new(None),
            registered: Flight::new(None),
            looked_up: Flight::new(None),
            versions: Flight::new(None),
            latest: Flight::new(ttl),
            requests: AtomicU64::new(0),
        })))
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// How many HTTP requests this client has sent (retries included). Useful for metrics and
    /// for checking that a warm cache stays off the network.
    pub fn http_requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Registers `schema` under `subject` (`POST /subjects/{s}/versions`) and returns its id.
    /// Registering a schema the subject already has returns the existing id. Cached.
    pub async fn register(&self, subject: &str, schema: &ParsedSchema) -> Result<u32> {
        let key = (subject.to_owned(), schema.text().to_owned());
        self.0
            .registered
            .get_or_try_init(key, || async {
                let body = serde_json::json!({ "schema": schema.text() });
                let r: IdBody = self
                    .call(
                        Method::POST,
                        &["subjects", subject, "versions"],
                        self.normalize_query(),
                        Some(&body),
                    )
                    .await?;
                Ok(r.id)
            })
            .await
    }

    /// Finds `schema` among `subject`'s versions (`POST /subjects/{s}`) without registering it.
    /// A schema the subject lacks is `Error::Registry` with `error_code` 40403. Cached.
    pub async fn lookup(&self, subject: &str, schema: &ParsedSchema) -> Result<Registered> {
        let key = (subject.to_owned(), schema.text().to_owned());
        self.0
            .looked_up
            .get_or_try_init(key, || async {
                let body = serde_json::json!({ "schema": schema.text() });
                let r: VersionBody = self
                    .call(
                        Method::POST,
                        &["subjects", subject],
                        self.normalize_query(),
                        Some(&body),
                    )
                    .await?;
                Ok(Registered {
                    id: r.id,
                    version: r.version,
                })
            })
            .await
    }

    /// The schema with global id `id` (`GET /schemas/ids/{id}`), parsed. Cached forever, since an
    /// id never changes meaning; concurrent first calls share one request.
    pub async fn schema_by_id(&self, id: u32) -> Result<ParsedSchema> {
        if let Some(s) = self.0.by_id.get(&id) {
            return Ok(s);
        }
        self.0
            .by_id
            .get_or_try_init(id, || async {
                let body: SchemaBody = self
                    .call(Method::GET, &["schemas", "ids", &id.to_string()], &[], None)
                    .await?;
                self.parse_body(SchemaRef::Id(id), body).await
            })
            .await
    }

    /// The schema with GUID `guid` (`GET /schemas/guids/{guid}`, Confluent 8.x), parsed. Cached.
    pub async fn schema_by_guid(&self, guid: Uuid) -> Result<ParsedSchema> {
        if let Some(s) = self.0.by_guid.get(&guid) {
            return Ok(s);
        }
        self.0
            .by_guid
            .get_or_try_init(guid, || async {
                let body: SchemaBody = self
                    .call(
                        Method::GET,
                        &["schemas", "guids", &guid.hyphenated().to_string()],
                        &[],
                        None,
                    )
                    .await?;
                self.parse_body(SchemaRef::Guid(guid), body).await
            })
            .await
    }

    /// The schema a record names, by id or GUID.
    pub async fn schema(&self, r: SchemaRef) -> Result<ParsedSchema> {
        match r {
            SchemaRef::Id(id) => self.schema_by_id(id).await,
            SchemaRef::Guid(guid) => self.schema_by_guid(guid).await,
        }
    }

    /// Version `version` of `subject` (`GET /subjects/{s}/versions/{v}`). Cached.
    pub async fn version(&self, subject: &str, version: i32) -> Result<SubjectVersion> {
        self.0
            .versions
            .get_or_try_init((subject.to_owned(), version), || async move {
                self.fetch_version(subject, &version.to_string()).await
            })
            .await
    }

    /// The latest version of `subject` (`GET /subjects/{s}/versions/latest`), cached for
    /// `latest.cache.ttl.sec` (forever by default, as in Confluent).
    pub async fn latest_version(&self, subject: &str) -> Result<SubjectVersion> {
        if let Some(v) = self.0.latest.get(subject) {
            return Ok(v);
        }
        self.0
            .latest
            .get_or_try_init(subject.to_owned(), || self.fetch_version(subject, "latest"))
            .await
    }

    /// Asks whether `schema` may be registered under `subject`, checked against `version`
    /// (`None` = latest) (`POST /compatibility/subjects/{s}/versions/{v}?verbose=true`).
    /// Never cached: the answer depends on the subject's current configuration.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        version: Option<i32>,
        schema: &ParsedSchema,
    ) -> Result<Compatibility> {
        let v = version.map_or_else(|| "latest".to_owned(), |v| v.to_string());
        let body = serde_json::json!({ "schema": schema.text() });
        let mut query = vec![("verbose", "true")];
        query.extend_from_slice(self.normalize_query());
        self.call(
            Method::POST,
            &["compatibility", "subjects", subject, "versions", &v],
            &query,
            Some(&body),
        )
        .await
    }

    fn normalize_query(&self) -> &'static [(&'static str, &'static str)] {
        if self.0.config.normalize {
            &[("normalize", "true")]
        } else {
            &[]
        }
    }

    async fn fetch_version(&self, subject: &str, version: &str) -> Result<SubjectVersion> {
        let body: VersionBody = self
            .call(
                Method::GET,
                &["subjects", subject, "versions", version],
                &[],
                None,
            )
            .await?;
        let schema = self
            .parse_body(
                SchemaRef::Id(body.id),
                SchemaBody {
                    schema: body.schema,
                    schema_type: body.schema_type,
                    references: body.references,
                },
            )
            .await?;
        Ok(SubjectVersion {
            subject: body.subject,
            id: body.id,
            version: body.version,
            schema,
        })
    }

    /// Parses a registry schema, fetching every referenced subject version (transitively) so the
    /// result is self-contained.
    async fn parse_body(&self, which: SchemaRef, body: SchemaBody) -> Result<ParsedSchema> {
        if let Some(t) = body.schema_type.as_deref() {
            if !t.eq_ignore_ascii_case("AVRO") {
                return Err(Error::NotAvro {
                    schema: which,
                    schema_type: t.to_owned(),
                });
            }
        }
        if body.references.is_empty() {
            return ParsedSchema::parse(&body.schema);
        }
        let mut pending = body.references;
        let mut seen = std::collections::HashSet::new();
        let mut texts = Vec::new();
        while let Some(r) = pending.pop() {
            if !seen.insert((r.subject.clone(), r.version)) {
                continue;
            }
            let dep: VersionBody = self
                .call(
                    Method::GET,
                    &["subjects", &r.subject, "versions", &r.version.to_string()],
                    &[],
                    None,
                )
                .await?;
            texts.push(dep.schema);
            pending.extend(dep.references);
        }
        ParsedSchema::parse_with_references(&body.schema, &texts)
    }

    /// One REST call with retries: transport errors and 5xx answers are retried up to
    /// `max.retries` times with doubling back-off, moving to the next URL after a transport
    /// error. Non-2xx answers become `Error::Registry` with Confluent's error code.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let inner = &*self.0;
        let body = body.map(|b| b.to_string());
        let mut attempt = 0u32;
        let mut wait = inner.config.retry_wait;
        loop {
            let at = inner.current.load(Ordering::Relaxed) % inner.urls.len();
            let mut url = inner.urls[at].clone();
            url.path_segments_mut()
                .expect("checked in new()")
                .pop_if_empty()
                .extend(path);
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(query);
            }
            let mut req = inner
                .http
                .request(method.clone(), url)
                .header(ACCEPT, SR_ACCEPT);
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, SR_CONTENT_TYPE).body(b.clone());
            }
            if let Some((user, pass)) = &inner.config.basic_auth {
                req = req.basic_auth(user, Some(pass));
            }
            inner.requests.fetch_add(1, Ordering::Relaxed);
            let err = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes().await {
                        Ok(bytes) if status.is_success() => {
                            return serde_json::from_slice(&bytes).map_err(|e| {
                                Error::Protocol(format!("{e}: {}", String::from_utf8_lossy(&bytes)))
                            })
                        }
                        Ok(bytes) => registry_error(status.as_u16(), &bytes),
                        Err(e) => Error::Transport(e),
                    }
                }
                Err(e) => Error::Transport(e),
            };
            if attempt >= inner.config.max_retries || !err.is_retryable() {
                return Err(err);
            }
            if matches!(err, Error::Transport(_)) {
                let _ = inner.current.compare_exchange(
                    at,
                    (at + 1) % inner.urls.len(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(inner.config.retry_max_wait);
        }
    }
}

fn registry_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => Error::Registry {
            status,
            error_code: e.error_code,
            message: e.message,
        },
        Err(_) => Error::Registry {
            status,
            error_code: i64::from(status),
            message: String::from_utf8_lossy(body).chars().take(500).collect(),
        },
    }
}

/// A single-flight cache: one `OnceCell` per key, so concurrent first requests for a key run
/// one initialisation and share its result. Entries may expire (`ttl`); failed initialisations
/// leave nothing behind.
struct Flight<K, V> {
    map: Mutex<HashMap<K, Slot<V>>>,
    ttl: Option<Duration>,
}

/// One key's cell: the value and when it was fetched.
type Slot<V> = Arc<OnceCell<(V, Instant)>>;

impl<K: Hash + Eq + Clone, V: Clone> Flight<K, V> {
    fn new(ttl: Option<Duration>) -> Self {
        Flight {
            map: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn fresh(&self, at: Instant) -> bool {
        self.ttl.is_none_or(|ttl| at.elapsed() < ttl)
    }

    /// The cached value, without waiting for an initialisation in flight.
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (v, at) = map.get(key)?.get()?;
        self.fresh(*at).then(|| v.clone())
    }

    async fn get_or_try_init<F, Fut>(&self, key: K, init: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let cell = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            let cell = map.entry(key.clone()).or_default();
            if cell.get().is_some_and(|(_, at)| !self.fresh(*at)) {
                *cell = Arc::default();
            }
            cell.clone()
        };
        let result = cell
            .get_or_try_init(|| async { Ok((init().await?, Instant::now())) })
            .await
            .map(|(v, _)| v.clone());
        if result.is_err() {
            // Drop the empty cell so unknown keys (garbage ids) cannot grow the map, unless a
            // concurrent caller has since filled or replaced it.
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map
                .get(&key)
                .is_some_and(|c| Arc::ptr_eq(c, &cell) && c.get().is_none())
            {
                map.remove(&key);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flight_shares_one_init_and_forgets_failures() {
        let f: Arc<Flight<u32, u32>> = Arc::new(Flight::new(None));
        let runs = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (f, runs) = (f.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                f.get_or_try_init(1, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(7)
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(f.get(&1), Some(7));

        let err = f
            .get_or_try_init(2, || async { Err(Error::Protocol("x".into())) })
            .await;
        assert!(err.is_err());
        assert!(f.map.lock().unwrap().get(&2).is_none());
    }

    #[tokio::test]
    async fn flight_expires_with_ttl() {
        let f: Flight<u32, u32> = Flight::new(Some(Duration::from_millis(10)));
        f.get_or_try_init(1, || async { Ok(1) }).await.unwrap();
        assert_eq!(f.get(&1), Some(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(f.get(&1), None);
        let v = f.get_or_try_init(1, || async { Ok(2) }).await.unwrap();
        assert_eq!(v, 2);
    }

    #[test]
    fn error_bodies_keep_confluent_codes() {
        let e = registry_error(404, br#"{"error_code":40403,"message":"Schema not found"}"#);
        assert_eq!(e.error_code(), Some(40403));
        let e = registry_error(502, b"<html>bad gateway</html>");
        assert_eq!(e.error_code(), Some(502));
        assert!(e.is_retryable());
    }
}
