//! One typed configuration: file < environment (`SCHEMATA_*`) < command-line flags. The file is
//! TOML, or Confluent's `schema-registry.properties` when its name ends in `.properties`
//! (`confluent`). `docs/configuration.md` lists every setting; `tests/configuration.rs` keeps
//! it true to the flags below.

mod confluent;
mod properties;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::server::HttpLimits;
use crate::store::kafka::{KafkaConfig, KafkaOverrides};
use crate::tls::TlsFiles;

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
    /// The URL other nodes and clients reach this one at (published when it leads on Kafka).
    /// Default: derived from `listen` and TLS (0.0.0.0 → the host name).
    pub advertised_url: Option<String>,
    /// Whether this node may become the writer of a shared Kafka topic (default true).
    pub leader_eligibility: bool,
}

/// The longest timeout accepted in the configuration: a day is already absurd for any of them,
/// and bounding them keeps deadline arithmetic (`Instant + Duration`) from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

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
            advertised_url: None,
            leader_eligibility: true,
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
    /// URL other nodes reach this one at (default from --listen)
    #[arg(long, env = "SCHEMATA_ADVERTISED_URL")]
    pub advertised_url: Option<String>,
    /// Whether this node may lead (write) a shared Kafka topic (default true)
    #[arg(
        long,
        env = "SCHEMATA_LEADER_ELIGIBILITY",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub leader_eligibility: Option<bool>,
    /// Kafka client settings (a `[kafka]` table in the file)
    #[command(flatten)]
    #[serde(default)]
    pub kafka: KafkaOverrides,
    /// Auth settings (an `[auth]` table in the file)
    #[command(flatten)]
    #[serde(default)]
    pub auth: crate::auth::config::AuthOverrides,
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
    /// The URL this node advertises: `advertised_url`, or one derived from `listen` (an
    /// unspecified address becomes the host name, else 127.0.0.1).
    pub fn advertised_url(&self) -> String {
        if let Some(url) = &self.advertised_url {
            return url.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let port = self.listen.port();
        let host = if self.listen.ip().is_unspecified() {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|h| h.trim().to_string())
                        .filter(|h| !h.is_empty())
                })
                .unwrap_or_else(|| "127.0.0.1".into())
        } else if self.listen.is_ipv6() {
            format!("[{}]", self.listen.ip())
        } else {
            self.listen.ip().to_string()
        };
        format!("{scheme}://{host}:{port}")
    }

    /// One file's overrides; Confluent's properties keys it ignores are logged as warnings.
    fn read_file(path: &PathBuf) -> anyhow::Result<Overrides> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        let invalid = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!("invalid config file {}: {e}", path.display())
        };
        if path.extension().is_some_and(|e| e == "properties") {
            let props = properties::parse(&text).map_err(|e| invalid(&e))?;
            let translated = confluent::translate(props).map_err(|e| invalid(&e))?;
            for key in &translated.ignored {
                tracing::warn!(
                    "{}: Confluent property '{key}' has no Schemata equivalent; ignored",
                    path.display()
                );
            }
            Ok(translated.overrides)
        } else {
            toml::from_str(&text).map_err(|e| invalid(&e))
        }
    }

    /// The config a TOML text alone gives (tests).
    #[cfg(test)]
    fn load_str(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("schemata.toml");
        std::fs::write(&path, toml)?;
        Config::load(Some(&path), Overrides::default())
    }

    /// Builds the config from an optional file (TOML, or Confluent's `.properties`) and the
    /// env/flag overrides.
    pub fn load(file: Option<&PathBuf>, cli: Overrides) -> anyhow::Result<Config> {
        let from_file = match file {
            Some(path) => Self::read_file(path)?,
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
            advertised_url: cli.advertised_url.or(from_file.advertised_url),
            leader_eligibility: cli
                .leader_eligibility
                .or(from_file.leader_eligibility)
                .unwrap_or(d.leader_eligibility),
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
}
