//! One configuration for the registry client and the serializers, with Confluent's property
//! names so a team can carry its `schema.registry.url` / `auto.register.schemas` settings over.
//!
//! Build it in code with [`Config::builder`], or from Kafka-style properties with
//! [`Config::from_properties`]; the two produce the same value.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};

/// How a serializer names the subject a schema is registered under
/// (`key.subject.name.strategy` / `value.subject.name.strategy`).
///
/// ```
/// use schemata_serde::{Part, SubjectNameStrategy};
/// let s = SubjectNameStrategy::TopicRecordName;
/// assert_eq!(s.subject("orders", Part::Value, Some("com.acme.Order")).unwrap(), "orders-com.acme.Order");
/// assert_eq!(SubjectNameStrategy::TopicName.subject("orders", Part::Key, None).unwrap(), "orders-key");
/// assert!(SubjectNameStrategy::RecordName.subject("orders", Part::Value, None).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (Confluent's default).
    #[default]
    TopicName,
    /// The schema's full name, e.g. `com.acme.Order`; needs a named schema.
    RecordName,
    /// `<topic>-<full name>`; needs a named schema.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject for a record on `topic`, given the schema's full name (if it has one).
    pub fn subject(self, topic: &str, part: Part, fullname: Option<&str>) -> Result<String> {
        let named = |strategy| fullname.ok_or(Error::UnnamedSchema { strategy });
        Ok(match self {
            SubjectNameStrategy::TopicName => format!("{topic}-{}", part.suffix()),
            SubjectNameStrategy::RecordName => named("RecordNameStrategy")?.to_owned(),
            SubjectNameStrategy::TopicRecordName => {
                format!("{topic}-{}", named("TopicRecordNameStrategy")?)
            }
        })
    }

    /// Parses Confluent's Java class name (`io.confluent.kafka.serializers.subject.RecordNameStrategy`)
    /// or its short form (`RecordNameStrategy`, `record_name`).
    ///
    /// ```
    /// use schemata_serde::SubjectNameStrategy;
    /// assert_eq!(
    ///     SubjectNameStrategy::parse("io.confluent.kafka.serializers.subject.TopicRecordNameStrategy").unwrap(),
    ///     SubjectNameStrategy::TopicRecordName,
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        let short = s.rsplit('.').next().unwrap_or(s);
        match short.to_ascii_lowercase().replace('_', "").as_str() {
            "topicnamestrategy" | "topicname" | "topic" => Ok(Self::TopicName),
            "recordnamestrategy" | "recordname" | "record" => Ok(Self::RecordName),
            "topicrecordnamestrategy" | "topicrecordname" | "topicrecord" => {
                Ok(Self::TopicRecordName)
            }
            _ => Err(Error::Config(format!(
                "unknown subject name strategy {s:?}"
            ))),
        }
    }
}

/// Which side of a Kafka record a serializer handles; picks the `-key`/`-value` subject suffix
/// and the `__key_schema_id`/`__value_schema_id` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl Part {
    fn suffix(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }

    /// The record header that carries this side's schema GUID in the header form.
    ///
    /// ```
    /// assert_eq!(schemata_serde::Part::Value.header(), "__value_schema_id");
    /// ```
    pub fn header(self) -> &'static str {
        match self {
            Part::Key => crate::wire::KEY_SCHEMA_ID_HEADER,
            Part::Value => crate::wire::VALUE_SCHEMA_ID_HEADER,
        }
    }
}

/// Registry connection and serializer behaviour. Defaults follow Confluent's.
///
/// ```
/// use std::time::Duration;
/// use schemata_serde::Config;
/// let config = Config::builder("http://localhost:8081")
///     .basic_auth("svc", "secret")
///     .auto_register(false)
///     .use_latest_version(true)
///     .request_timeout(Duration::from_secs(5))
///     .build();
/// assert!(!config.auto_register);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Registry base URLs (`schema.registry.url`, comma-separated). Requests go to the first;
    /// a retry after a transport error moves to the next.
    pub urls: Vec<String>,
    /// `user:pass` for HTTP Basic (`basic.auth.user.info`).
    pub basic_auth: Option<(String, String)>,
    /// Extra CA certificates (PEM) to trust (`schema.registry.ssl.ca.location`).
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and private key (PEM) for mutual TLS
    /// (`schema.registry.ssl.certificate.location` + `schema.registry.ssl.key.location`).
    pub client_identity_pem: Option<Vec<u8>>,
    /// Timeout for establishing a connection (`http.connect.timeout.ms`).
    pub connect_timeout: Duration,
    /// Timeout for a whole request (`http.read.timeout.ms`).
    pub request_timeout: Duration,
    /// Retries after a transport error or a 5xx answer (`max.retries`, default 3).
    pub max_retries: u32,
    /// First back-off between retries, doubled each time (`retries.wait.ms`).
    pub retry_wait: Duration,
    /// Longest back-off between retries (`retries.max.wait.ms`).
    pub retry_max_wait: Duration,
    /// Register the writer's schema if the subject lacks it (`auto.register.schemas`, default true).
    pub auto_register: bool,
    /// Serialize with the subject's latest registered schema instead of the caller's
    /// (`use.latest.version`); wins over `auto_register`, as in Confluent.
    pub use_latest_version: bool,
    /// How long a "latest version" stays cached (`latest.cache.ttl.sec`; `None` = forever).
    pub latest_cache_ttl: Option<Duration>,
    /// Ask the registry to normalize schemas on register and lookup (`normalize.schemas`).
    pub normalize: bool,
    /// Subject naming for keys (`key.subject.name.strategy`).
    pub key_subject_strategy: SubjectNameStrategy,
    /// Subject naming for values (`value.subject.name.strategy`).
    pub value_subject_strategy: SubjectNameStrategy,
}

impl std::fmt::Debug for Config {
    // Hand-written so credentials and keys never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("urls", &self.urls)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(u, _)| (u, "***")),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .field(
                "client_identity_pem",
                &self.client_identity_pem.as_ref().map(|_| "***"),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_wait", &self.retry_wait)
            .field("retry_max_wait", &self.retry_max_wait)
            .field("auto_register", &self.auto_register)
            .field("use_latest_version", &self.use_latest_version)
            .field("latest_cache_ttl", &self.latest_cache_ttl)
            .field("normalize", &self.normalize)
            .field("key_subject_strategy", &self.key_subject_strategy)
            .field("value_subject_strategy", &self.value_subject_strategy)
            .finish()
    }
}

impl Config {
    /// A builder with Confluent's defaults, talking to `url` (comma-separated for several).
    pub fn builder(url: impl AsRef<str>) -> ConfigBuilder {
        ConfigBuilder(Config {
            urls: split_urls(url.as_ref()),
            basic_auth: None,
            ca_pem: None,
            client_identity_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_wait: Duration::from_millis(1000),
            retry_max_wait: Duration::from_millis(20_000),
            auto_register: true,
            use_latest_version: false,
            latest_cache_ttl: None,
            normalize: false,
            key_subject_strategy: SubjectNameStrategy::TopicName,
            value_subject_strategy: SubjectNameStrategy::TopicName,
        })
    }

    /// The subject strategy for one side of the record.
    pub fn subject_strategy(&self, part: Part) -> SubjectNameStrategy {
        match part {
            Part::Key => self.key_subject_strategy,
            Part::Value => self.value_subject_strategy,
        }
    }

    /// Reads Confluent serializer properties. Keys this crate does not know are ignored (Kafka
    /// properties are usually one flat map); known keys with bad values are errors.
    /// Certificate paths are read here, so a missing file fails early.
    ///
    /// | key | meaning |
    /// |---|---|
    /// | `schema.registry.url` | required; comma-separated |
    /// | `basic.auth.credentials.source` | `USER_INFO` (default when user info is set) or `URL` (`http://user:pass@host`) |
    /// | `basic.auth.user.info` (or `schema.registry.basic.auth.user.info`) | `user:pass` |
    /// | `schema.registry.ssl.ca.location` | PEM file of CA certificates to trust |
    /// | `schema.registry.ssl.certificate.location`, `schema.registry.ssl.key.location` | PEM client certificate and key (mutual TLS) |
    /// | `http.connect.timeout.ms`, `http.read.timeout.ms` | timeouts |
    /// | `max.retries`, `retries.wait.ms`, `retries.max.wait.ms` | retries on transport errors and 5xx |
    /// | `auto.register.schemas` | default `true` |
    /// | `use.latest.version` | default `false` |
    /// | `latest.cache.ttl.sec` | default `-1` (forever) |
    /// | `normalize.schemas` | default `false` |
    /// | `key.subject.name.strategy`, `value.subject.name.strategy` | Java class or short name |
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use schemata_serde::{Config, SubjectNameStrategy};
    /// let props: HashMap<String, String> = [
    ///     ("schema.registry.url", "https://sr.internal:8081"),
    ///     ("basic.auth.credentials.source", "USER_INFO"),
    ///     ("basic.auth.user.info", "svc:s3cr:et"),
    ///     ("auto.register.schemas", "false"),
    ///     ("value.subject.name.strategy", "io.confluent.kafka.serializers.subject.RecordNameStrategy"),
    ///     ("bootstrap.servers", "ignored:9092"),
    /// ].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    /// let config = Config::from_properties(&props).unwrap();
    /// assert_eq!(config.basic_auth, Some(("svc".into(), "s3cr:et".into())));
    /// assert_eq!(config.value_subject_strategy, SubjectNameStrategy::RecordName);
    /// assert!(!config.auto_register);
    /// ```
    pub fn from_properties(props: &HashMap<String, String>) -> Result<Config> {
        let get = |k: &str| props.get(k).map(|v| v.trim());
        let url = get("schema.registry.url")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::Config("schema.registry.url is required".into()))?;
        let mut b = Config::builder(url);
        let source = get("basic.auth.credentials.source")
            .or_else(|| get("schema.registry.basic.auth.credentials.source"))
            .unwrap_or("USER_INFO")
            .to_ascii_uppercase();
        let user_info =
            get("basic.auth.user.info").or_else(|| get("schema.registry.basic.auth.user.info"));
        match source.as_str() {
            "USER_INFO" => {
                if let Some(info) = user_info.filter(|i| !i.is_empty()) {
                    let (user, pass) = info.split_once(':').ok_or_else(|| {
                        Error::Config("basic.auth.user.info must be \"user:password\"".into())
                    })?;
                    b = b.basic_auth(user, pass);
                }
            }
            "URL" => {
                let (urls, auth) = strip_url_credentials(&b.0.urls)?;
                b.0.urls = urls;
                b.0.basic_auth = auth;
            }
            other => {
                return Err(Error::Config(format!(
                    "basic.auth.credentials.source {other:?} is not supported (USER_INFO, URL)"
                )))
            }
        }
        if let Some(path) = get("schema.registry.ssl.ca.location").filter(|p| !p.is_empty()) {
            b = b.ca_pem(read_file("schema.registry.ssl.ca.location", path)?);
        }
        let cert = get("schema.registry.ssl.certificate.location").filter(|p| !p.is_empty());
        let key = get("schema.registry.ssl.key.location").filter(|p| !p.is_empty());
        match (cert, key) {
            (Some(cert), Some(key)) => {
                let mut pem = read_file("schema.registry.ssl.certificate.location", cert)?;
                pem.push(b'\n');
                pem.extend(read_file("schema.registry.ssl.key.location", key)?);
                b = b.client_identity_pem(pem);
            }
            (None, None) => {}
            _ => {
                return Err(Error::Config(
                    "schema.registry.ssl.certificate.location and .key.location go together".into(),
                ))
            }
        }
        if let Some(ms) = parse_num::<u64>(&get, "http.connect.timeout.ms")? {
            b = b.connect_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = parse_num::<u64>(&get, "http.read.timeout.ms")? {
            b = b.request_timeout(Duration::from_millis(ms));
        }
        if let Some(n) = parse_num::<u32>(&get, "max.retries")? {
            b = b.max_retries(n);
        }
        if let Some(ms) = parse_num::<u64>(&get, "retries.wait.ms")? {
            b.0.retry_wait = Duration::from_millis(ms);
        }
        if let Some(ms) = parse_num::<u64>(&get, "retries.max.wait.ms")? {
            b.0.retry_max_wait = Duration::from_millis(ms);
        }
        if let Some(v) = parse_bool(&get, "auto.register.schemas")? {
            b = b.auto_register(v);
        }
        if let Some(v) = parse_bool(&get, "use.latest.version")? {
            b = b.use_latest_version(v);
        }
        if let Some(secs) = parse_num::<i64>(&get, "latest.cache.ttl.sec")? {
            b.0.latest_cache_ttl = u64::try_from(secs).ok().map(Duration::from_secs);
        }
        if let Some(v) = parse_bool(&get, "normalize.schemas")? {
            b = b.normalize(v);
        }
        if let Some(s) = get("key.subject.name.strategy") {
            b = b.key_subject_strategy(SubjectNameStrategy::parse(s)?);
        }
        if let Some(s) = get("value.subject.name.strategy") {
            b = b.value_subject_strategy(SubjectNameStrategy::parse(s)?);
        }
        Ok(b.build())
    }
}

/// Builder for [`Config`]; every setter mirrors one Confluent property.
#[derive(Debug, Clone)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// HTTP Basic credentials (`basic.auth.user.info = user:pass`).
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.0.basic_auth = Some((user.into(), password.into()));
        self
    }
    /// Trust these PEM CA certificates in addition to the built-in roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.0.ca_pem = Some(pem.into());
        self
    }
    /// Present this PEM certificate chain and private key (mutual TLS).
    pub fn client_identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.0.client_identity_pem = Some(pem.into());
        self
    }
    /// Connection timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.0.connect_timeout = t;
        self
    }
    /// Whole-request timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.0.request_timeout = t;
        self
    }
    /// Retries after transport errors and 5xx answers.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.0.max_retries = n;
        self
    }
    /// First and longest back-off between retries.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.0.retry_wait = first;
        self.0.retry_max_wait = max;
        self
    }
    /// `auto.register.schemas`.
    pub fn auto_register(mut self, v: bool) -> Self {
        self.0.auto_register = v;
        self
    }
    /// `use.latest.version`.
    pub fn use_latest_version(mut self, v: bool) -> Self {
        self.0.use_latest_version = v;
        self
    }
    /// `latest.cache.ttl.sec` (`None` = cache forever).
    pub fn latest_cache_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.0.latest_cache_ttl = ttl;
        self
    }
    /// `normalize.schemas`.
    pub fn normalize(mut self, v: bool) -> Self {
        self.0.normalize = v;
        self
    }
    /// `key.subject.name.strategy`.
    pub fn key_subject_strategy(mut self, s: SubjectNameStrategy) -> Self {
        self.0.key_subject_strategy = s;
        self
    }
    /// `value.subject.name.strategy`.
    pub fn value_subject_strategy(mut self, s: SubjectNameStrategy) -> Self {
        self.0.value_subject_strategy = s;
        self
    }
    /// The finished configuration.
    pub fn build(self) -> Config {
        self.0
    }
}

fn split_urls(s: &str) -> Vec<String> {
    s.split(',')
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .collect()
}

type Credentials = Option<(String, String)>;

/// `basic.auth.credentials.source=URL`: credentials ride in the URL's user-info part.
fn strip_url_credentials(urls: &[String]) -> Result<(Vec<String>, Credentials)> {
    let mut auth = None;
    let mut out = Vec::new();
    for u in urls {
        let mut url = reqwest::Url::parse(u)
            .map_err(|e| Error::Config(format!("schema.registry.url {u:?}: {e}")))?;
        if !url.username().is_empty() {
            auth = Some((
                url.username().to_owned(),
                url.password().unwrap_or_default().to_owned(),
            ));
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        out.push(url.as_str().trim_end_matches('/').to_owned());
    }
    Ok((out, auth))
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config(format!("{key} {path:?}: {e}")))
}

fn parse_bool<'a>(get: &impl Fn(&str) -> Option<&'a str>, key: &str) -> Result<Option<bool>> {
    get(key)
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Error::Config(format!(
                "{key} must be true or false, not {v:?}"
            ))),
        })
        .transpose()
}

fn parse_num<'a, T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<&'a str>,
    key: &str,
) -> Result<Option<T>> {
    get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| Error::Config(format!("{key} must be a number, not {v:?}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_confluent() {
        let c = Config::from_properties(&props(&[("schema.registry.url", "http://a:1/")])).unwrap();
        assert_eq!(c.urls, vec!["http://a:1"]);
        assert!(c.auto_register);
        assert!(!c.use_latest_version);
        assert!(!c.normalize);
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.latest_cache_ttl, None);
        assert_eq!(c.value_subject_strategy, SubjectNameStrategy::TopicName);
        assert_eq!(c, Config::builder("http://a:1").build());
    }

    #[test]
    fn url_credentials_source() {
        let c = Config::from_properties(&props(&[
            ("schema.registry.url", "http://u:p%40ss@a:1,http://b:2"),
            ("basic.auth.credentials.source", "URL"),
        ]))
        .unwrap();
        assert_eq!(c.urls, vec!["http://a:1", "http://b:2"]);
        assert_eq!(c.basic_auth, Some(("u".into(), "p%40ss".into())));
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [
            vec![("auto.register.schemas", "yes")],
            vec![("max.retries", "-1")],
            vec![("basic.auth.user.info", "nocolon")],
            vec![("value.subject.name.strategy", "Nope")],
            vec![("basic.auth.credentials.source", "SASL_INHERIT")],
            vec![("schema.registry.ssl.ca.location", "/nonexistent/ca.pem")],
            vec![("schema.registry.ssl.key.location", "/x")],
        ] {
            let mut p = props(&bad);
            p.insert("schema.registry.url".into(), "http://a".into());
            assert!(
                matches!(Config::from_properties(&p), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
        assert!(Config::from_properties(&props(&[])).is_err());
    }

    #[test]
    fn latest_ttl_minus_one_is_forever() {
        let c = Config::from_properties(&props(&[
            ("schema.registry.url", "http://a"),
            ("latest.cache.ttl.sec", "-1"),
            ("use.latest.version", "TRUE"),
        ]))
        .unwrap();
        assert_eq!(c.latest_cache_ttl, None);
        assert!(c.use_latest_version);
        let c = Config::from_properties(&props(&[
            ("schema.registry.url", "http://a"),
            ("latest.cache.ttl.sec", "60"),
        ]))
        .unwrap();
        assert_eq!(c.latest_cache_ttl, Some(Duration::from_secs(60)));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Config::builder("http://a")
            .basic_auth("u", "hunter2")
            .build();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
