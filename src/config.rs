//! One typed configuration: TOML file < environment (`SCHEMATA_*`) < command-line flags.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// What `schemata serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP API listens. Default `0.0.0.0:8081`, Confluent's port.
    pub listen: SocketAddr,
    /// The store URL: `sqlite://PATH` (default `sqlite://schemata.db`),
    /// `kafka://HOST:PORT[,HOST:PORT]/TOPIC` (topic default `_schemas`) or `memory://`.
    pub store: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long clients may take and how many may connect (see `crate::server`).
    pub http: HttpLimits,
    /// Serve HTTPS with this PEM certificate chain and private key (both or neither).
    pub tls: Option<TlsFiles>,
    /// How to reach the Kafka cluster when the store is `kafka://`.
    pub kafka: KafkaConfig,
    /// Authentication and authorization (an `[auth]` table); off by default.
    pub auth: crate::auth::AuthConfig,
}

/// Bounds on HTTP clients, so stalled or idle connections cannot pin the server
/// (enforced in `crate::server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to deliver a whole request head: from connecting (TLS handshake included), or from
    /// the first byte of a later request on a kept-alive connection. Default 15 s: real clients
    /// send a head in one packet; a slow-loris client is cut off.
    pub header_read_timeout: Duration,
    /// How long a connection with nothing in flight stays open. Default 75 s: longer than the
    /// 60 s idle timeout of common load balancers, so they (not we) close pooled connections and
    /// never send on one we are closing.
    pub idle_timeout: Duration,
    /// Time for a request body to arrive whole after its head (408 otherwise). Default 60 s:
    /// the default 4 MiB body limit at 70 KB/s.
    pub body_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted. Default 4096: far above what
    /// clients with connection pools open, well below the descriptor limits servers run with.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// The longest timeout accepted in the configuration: a day is already absurd for any of them,
/// and bounding them keeps deadline arithmetic (`Instant + Duration`) from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The HTTP listener's TLS certificate chain and key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// PEM file of the CAs whose client certificates are accepted (see `crate::tls`); none:
    /// clients are not asked for one.
    pub client_ca: Option<PathBuf>,
    /// Refuse connections without a valid client certificate (needs `client_ca`).
    pub client_cert_required: bool,
}

/// Kafka client settings for the `kafka://` store, named after Confluent's `kafkastore.*` keys.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: String,
    /// `SCRAM-SHA-256`, `SCRAM-SHA-512` or `PLAIN`; required with the SASL protocols.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// PEM file of the CAs that sign the brokers' certificates (default: the system's).
    pub ssl_ca_location: Option<PathBuf>,
    /// Replication factor for a topic Schemata creates. Default 3, as Confluent's
    /// `kafkastore.topic.replication.factor`; like Confluent, capped (with a warning) at the
    /// number of live brokers, so a one-broker development cluster still works.
    pub replication_factor: i32,
    /// How long a write waits to be acknowledged and read back before it fails with 50002
    /// (Confluent's `kafkastore.timeout.ms`, which defaults to a tight 500 ms).
    pub timeout: Duration,
    /// How long start-up waits for the cluster (Confluent's `kafkastore.init.timeout.ms`).
    pub init_timeout: Duration,
    /// The reader's `fetch.wait.max.ms`. Kafka answers a waiting fetch as soon as a record
    /// arrives, so there this only paces idle polling; Tansu 0.6 holds every fetch for the full
    /// wait, which then adds up to about twice this to each write's latency.
    pub fetch_wait: Duration,
    /// The compacted topic that holds registry users when auth is on (see `auth::store`).
    /// Registries that share it share their users.
    pub users_topic: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            security_protocol: "PLAINTEXT".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            replication_factor: 3,
            timeout: Duration::from_secs(10),
            init_timeout: Duration::from_secs(60),
            fetch_wait: Duration::from_millis(100),
            users_topic: "_schemata_users".into(),
        }
    }
}

/// A credential: never printed by `Debug` or `Display`, so it cannot reach a log line.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            store: "sqlite://schemata.db".into(),
            max_body_bytes: 4 * 1024 * 1024,
            http: HttpLimits::default(),
            tls: None,
            kafka: KafkaConfig::default(),
            auth: crate::auth::AuthConfig::default(),
        }
    }
}

/// The overrides one layer (file, or env + flags) may give; unset fields fall through.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Address to listen on, e.g. 0.0.0.0:8081
    #[arg(long, env = "SCHEMATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Store URL: `sqlite://PATH`, `kafka://HOST:PORT[,HOST:PORT]/TOPIC` or `memory://`
    #[arg(long, env = "SCHEMATA_STORE")]
    pub store: Option<String>,
    /// Largest request body accepted, in bytes
    #[arg(long, env = "SCHEMATA_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds a client may take to send a request head (default 15)
    #[arg(
        long = "http-header-read-timeout-secs",
        env = "SCHEMATA_HTTP_HEADER_READ_TIMEOUT_SECS"
    )]
    pub http_header_read_timeout_secs: Option<u64>,
    /// Seconds an idle keep-alive connection stays open (default 75)
    #[arg(
        long = "http-idle-timeout-secs",
        env = "SCHEMATA_HTTP_IDLE_TIMEOUT_SECS"
    )]
    pub http_idle_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request body (default 60)
    #[arg(
        long = "http-body-read-timeout-secs",
        env = "SCHEMATA_HTTP_BODY_READ_TIMEOUT_SECS"
    )]
    pub http_body_read_timeout_secs: Option<u64>,
    /// Connections served at once; more wait to be accepted (default 4096)
    #[arg(long = "max-connections", env = "SCHEMATA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// PEM certificate chain for HTTPS (with --tls-key)
    #[arg(long, env = "SCHEMATA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert)
    #[arg(long, env = "SCHEMATA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates for client certificates; a verified certificate's common name
    /// names the user (with auth on)
    #[arg(long, env = "SCHEMATA_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Refuse HTTPS clients without a certificate signed by --tls-client-ca
    #[arg(
        long,
        env = "SCHEMATA_TLS_CLIENT_CERT_REQUIRED",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub tls_client_cert_required: Option<bool>,
    /// Kafka client settings (a `[kafka]` table in the file)
    #[command(flatten)]
    #[serde(default)]
    pub kafka: KafkaOverrides,
    /// Auth settings (an `[auth]` table in the file)
    #[command(flatten)]
    #[serde(default)]
    pub auth: crate::auth::config::AuthOverrides,
}

/// The Kafka settings one layer may give.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct KafkaOverrides {
    /// Kafka security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    #[arg(
        long = "kafka-security-protocol",
        env = "SCHEMATA_KAFKA_SECURITY_PROTOCOL"
    )]
    pub security_protocol: Option<String>,
    /// Kafka sasl.mechanism: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN
    #[arg(long = "kafka-sasl-mechanism", env = "SCHEMATA_KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// Kafka SASL user name
    #[arg(long = "kafka-sasl-username", env = "SCHEMATA_KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// Kafka SASL password (prefer the environment or the file: flags show in `ps`)
    #[arg(
        long = "kafka-sasl-password",
        env = "SCHEMATA_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<Secret>,
    /// PEM file with the CA certificates that sign the brokers' certificates
    #[arg(long = "kafka-ssl-ca-location", env = "SCHEMATA_KAFKA_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<PathBuf>,
    /// Replication factor of a `_schemas` topic Schemata creates (default 3, capped at the
    /// number of brokers)
    #[arg(
        long = "kafka-replication-factor",
        env = "SCHEMATA_KAFKA_REPLICATION_FACTOR"
    )]
    pub replication_factor: Option<i32>,
    /// Milliseconds a write may take to be acknowledged and read back (default 10000)
    #[arg(long = "kafka-timeout-ms", env = "SCHEMATA_KAFKA_TIMEOUT_MS")]
    pub timeout_ms: Option<u64>,
    /// Milliseconds start-up waits for the Kafka cluster (default 60000)
    #[arg(long = "kafka-init-timeout-ms", env = "SCHEMATA_KAFKA_INIT_TIMEOUT_MS")]
    pub init_timeout_ms: Option<u64>,
    /// The reader's fetch.wait.max.ms (default 100; lower it on brokers that hold fetches for
    /// the full wait, as Tansu does)
    #[arg(long = "kafka-fetch-wait-ms", env = "SCHEMATA_KAFKA_FETCH_WAIT_MS")]
    pub fetch_wait_ms: Option<u64>,
    /// Compacted topic for registry users when auth is on (default _schemata_users)
    #[arg(long = "kafka-users-topic", env = "SCHEMATA_KAFKA_USERS_TOPIC")]
    pub users_topic: Option<String>,
}

impl KafkaConfig {
    /// Layers `cli` over `file` over the defaults and checks the combination.
    fn load(file: KafkaOverrides, cli: KafkaOverrides) -> anyhow::Result<KafkaConfig> {
        let d = KafkaConfig::default();
        let config = KafkaConfig {
            security_protocol: cli
                .security_protocol
                .or(file.security_protocol)
                .map(|p| p.to_ascii_uppercase())
                .unwrap_or(d.security_protocol),
            sasl_mechanism: cli
                .sasl_mechanism
                .or(file.sasl_mechanism)
                .map(|m| m.to_ascii_uppercase()),
            sasl_username: cli.sasl_username.or(file.sasl_username),
            sasl_password: cli.sasl_password.or(file.sasl_password),
            ssl_ca_location: cli.ssl_ca_location.or(file.ssl_ca_location),
            replication_factor: cli
                .replication_factor
                .or(file.replication_factor)
                .unwrap_or(d.replication_factor),
            timeout: cli
                .timeout_ms
                .or(file.timeout_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.timeout),
            init_timeout: cli
                .init_timeout_ms
                .or(file.init_timeout_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.init_timeout),
            fetch_wait: cli
                .fetch_wait_ms
                .or(file.fetch_wait_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.fetch_wait),
            users_topic: cli
                .users_topic
                .or(file.users_topic)
                .unwrap_or(d.users_topic),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let sasl = match self.security_protocol.as_str() {
            "PLAINTEXT" | "SSL" => false,
            "SASL_PLAINTEXT" | "SASL_SSL" => true,
            other => anyhow::bail!(
                "kafka security_protocol '{other}' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            ),
        };
        if sasl {
            match self.sasl_mechanism.as_deref() {
                Some("SCRAM-SHA-256" | "SCRAM-SHA-512" | "PLAIN") => {}
                Some(other) => anyhow::bail!(
                    "kafka sasl_mechanism '{other}' is not one of SCRAM-SHA-256, SCRAM-SHA-512, PLAIN"
                ),
                None => anyhow::bail!(
                    "kafka security_protocol {} needs sasl_mechanism",
                    self.security_protocol
                ),
            }
            if self.sasl_username.is_none() || self.sasl_password.is_none() {
                anyhow::bail!(
                    "kafka security_protocol {} needs sasl_username and sasl_password",
                    self.security_protocol
                );
            }
        }
        if self.replication_factor < 1 {
            anyhow::bail!("kafka replication_factor must be at least 1");
        }
        if !crate::store::kafka::valid_topic(&self.users_topic) {
            anyhow::bail!(
                "kafka users_topic '{}' is not a valid topic name",
                self.users_topic
            );
        }
        if self.timeout.is_zero() || self.init_timeout.is_zero() {
            anyhow::bail!("kafka timeouts must be positive");
        }
        Ok(())
    }
}

impl HttpLimits {
    /// Layers `cli` over `file` over the defaults and checks the bounds.
    fn load(file: &Overrides, cli: &Overrides) -> anyhow::Result<HttpLimits> {
        let d = HttpLimits::default();
        let secs = |name: &str, cli: Option<u64>, file: Option<u64>, default: Duration| {
            let value = cli.or(file).map_or(default, Duration::from_secs);
            if value.is_zero() || value > MAX_TIMEOUT {
                anyhow::bail!(
                    "{name} must be between 1 and {} seconds",
                    MAX_TIMEOUT.as_secs()
                );
            }
            Ok(value)
        };
        let limits = HttpLimits {
            header_read_timeout: secs(
                "http_header_read_timeout_secs",
                cli.http_header_read_timeout_secs,
                file.http_header_read_timeout_secs,
                d.header_read_timeout,
            )?,
            idle_timeout: secs(
                "http_idle_timeout_secs",
                cli.http_idle_timeout_secs,
                file.http_idle_timeout_secs,
                d.idle_timeout,
            )?,
            body_read_timeout: secs(
                "http_body_read_timeout_secs",
                cli.http_body_read_timeout_secs,
                file.http_body_read_timeout_secs,
                d.body_read_timeout,
            )?,
            max_connections: cli
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
        };
        // The cap is a semaphore's permits, and shutdown waits for all of them at once (u32).
        if limits.max_connections == 0 || limits.max_connections > u32::MAX as usize {
            anyhow::bail!("max_connections must be between 1 and {}", u32::MAX);
        }
        Ok(limits)
    }
}

impl Config {
    /// The config a TOML text alone gives (tests).
    #[cfg(test)]
    fn load_str(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("schemata.toml");
        std::fs::write(&path, toml)?;
        Config::load(Some(&path), Overrides::default())
    }

    /// Builds the config from an optional TOML file and the env/flag overrides.
    pub fn load(file: Option<&PathBuf>, cli: Overrides) -> anyhow::Result<Config> {
        let from_file: Overrides = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
            None => Overrides::default(),
        };
        let d = Config::default();
        let http = HttpLimits::load(&from_file, &cli)?;
        let config = Config {
            listen: cli.listen.or(from_file.listen).unwrap_or(d.listen),
            store: cli.store.or(from_file.store).unwrap_or(d.store),
            max_body_bytes: cli
                .max_body_bytes
                .or(from_file.max_body_bytes)
                .unwrap_or(d.max_body_bytes),
            http,
            tls: match (
                cli.tls_cert.or(from_file.tls_cert),
                cli.tls_key.or(from_file.tls_key),
            ) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert,
                    key,
                    client_ca: cli.tls_client_ca.or(from_file.tls_client_ca),
                    client_cert_required: cli
                        .tls_client_cert_required
                        .or(from_file.tls_client_cert_required)
                        .unwrap_or(false),
                }),
                (None, None)
                    if cli.tls_client_ca.is_some()
                        || from_file.tls_client_ca.is_some()
                        || cli.tls_client_cert_required == Some(true)
                        || from_file.tls_client_cert_required == Some(true) =>
                {
                    anyhow::bail!("client certificates need tls_cert and tls_key")
                }
                (None, None) => None,
                _ => anyhow::bail!("tls_cert and tls_key must be given together"),
            },
            kafka: KafkaConfig::load(from_file.kafka, cli.kafka)?,
            auth: crate::auth::AuthConfig::load(from_file.auth, cli.auth)?,
        };
        if config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_cert_required && t.client_ca.is_none())
        {
            anyhow::bail!("tls_client_cert_required needs tls_client_ca");
        }
        if config.max_body_bytes < 1024 {
            anyhow::bail!("max_body_bytes must be at least 1024");
        }
        Ok(config)
    }
}

#[cfg(test)]
mod kafka_tests {
    use super::*;

    #[test]
    fn http_limits_layer_and_refuse_unusable_values() {
        let limits = Config::load_str(
            "http_header_read_timeout_secs = 5\nhttp_idle_timeout_secs = 30\n\
             http_body_read_timeout_secs = 20\nmax_connections = 100\n",
        )
        .unwrap()
        .http;
        assert_eq!(
            limits,
            HttpLimits {
                header_read_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(30),
                body_read_timeout: Duration::from_secs(20),
                max_connections: 100,
            }
        );
        assert_eq!(Config::load_str("").unwrap().http, HttpLimits::default());
        for bad in [
            "http_header_read_timeout_secs = 0",
            "http_idle_timeout_secs = 9223372036854775807",
            "http_body_read_timeout_secs = 86401",
            "max_connections = 0",
        ] {
            let err = Config::load_str(bad).unwrap_err().to_string();
            assert!(err.contains(bad.split(' ').next().unwrap()), "{bad}: {err}");
        }
    }

    #[test]
    fn client_certificate_settings_need_what_they_depend_on() {
        let load = |toml: &str| Config::load_str(toml);
        assert!(load("tls_client_cert_required = true").is_err());
        assert!(load("tls_client_ca = \"ca.pem\"").is_err());
        let tls = "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
        assert!(load(&format!("{tls}tls_client_cert_required = true")).is_err());
        let ok = load(&format!("{tls}tls_client_ca = \"ca.pem\"")).unwrap();
        let files = ok.tls.unwrap();
        assert_eq!(files.client_ca, Some(PathBuf::from("ca.pem")));
        assert!(!files.client_cert_required);
    }

    #[test]
    fn layers_kafka_settings_and_never_prints_the_password() {
        let file: Overrides = toml::from_str(
            "store = \"kafka://b:9092\"\n[kafka]\nsecurity_protocol = \"sasl_ssl\"\n\
             sasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"u\"\nsasl_password = \"hunter2\"\n",
        )
        .unwrap();
        let cli = KafkaOverrides {
            replication_factor: Some(1),
            ..Default::default()
        };
        let k = KafkaConfig::load(file.kafka, cli).unwrap();
        assert_eq!(k.security_protocol, "SASL_SSL");
        assert_eq!(k.replication_factor, 1);
        assert_eq!(
            k.sasl_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert!(!format!("{k:?}").contains("hunter2"));
        let missing = KafkaOverrides {
            security_protocol: Some("SASL_PLAINTEXT".into()),
            ..Default::default()
        };
        assert!(KafkaConfig::load(missing, KafkaOverrides::default()).is_err());
    }
}
