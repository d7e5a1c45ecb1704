//! The Kafka store's settings, named after Confluent's `kafkastore.*` keys: what one layer
//! (file, environment, flags) may give, and the validated result.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

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
    /// One-partition topic where nodes elect the writer (see `store::lease`); default: the
    /// schemas topic's name + `_leader`, so registries on different topics elect apart.
    pub leader_topic: Option<String>,
    /// How long a leader's claim or renewal holds; a new leader takes over within about this.
    pub lease: Duration,
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
            leader_topic: None,
            lease: Duration::from_secs(10),
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
    /// Topic where nodes on one schemas topic elect the writer (default: TOPIC_leader)
    #[arg(long = "kafka-leader-topic", env = "SCHEMATA_KAFKA_LEADER_TOPIC")]
    pub leader_topic: Option<String>,
    /// Milliseconds a leader's lease holds; failover takes about this long (default 10000)
    #[arg(long = "kafka-lease-ms", env = "SCHEMATA_KAFKA_LEASE_MS")]
    pub lease_ms: Option<u64>,
}

impl KafkaConfig {
    /// Layers `cli` over `file` over the defaults and checks the combination.
    pub fn load(file: KafkaOverrides, cli: KafkaOverrides) -> anyhow::Result<KafkaConfig> {
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
            leader_topic: cli.leader_topic.or(file.leader_topic).or(d.leader_topic),
            lease: cli
                .lease_ms
                .or(file.lease_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.lease),
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
        if !super::valid_topic(&self.users_topic) {
            anyhow::bail!(
                "kafka users_topic '{}' is not a valid topic name",
                self.users_topic
            );
        }
        if let Some(topic) = self
            .leader_topic
            .as_ref()
            .filter(|t| !super::valid_topic(t))
        {
            anyhow::bail!("kafka leader_topic '{topic}' is not a valid topic name");
        }
        if self.lease < Duration::from_millis(300) {
            anyhow::bail!("kafka lease_ms must be at least 300");
        }
        if self.timeout.is_zero() || self.init_timeout.is_zero() {
            anyhow::bail!("kafka timeouts must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_kafka_settings_and_never_prints_the_password() {
        let file: KafkaOverrides = toml::from_str(
            "security_protocol = \"sasl_ssl\"\n\
             sasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"u\"\nsasl_password = \"hunter2\"\n",
        )
        .unwrap();
        let cli = KafkaOverrides {
            replication_factor: Some(1),
            ..Default::default()
        };
        let k = KafkaConfig::load(file, cli).unwrap();
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
