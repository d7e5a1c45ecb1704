//! The configuration as operators meet it: `docs/configuration.md` kept true to the flags
//! `schemata serve` accepts, and Confluent's `schema-registry.properties` read as a config file —
//! parsed into the expected settings, refused where it asks for what Schemata cannot do, and
//! serving a real registry on the listener it names.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::CommandFactory;
use schemata::config::{Config, Overrides};

// ----- docs/configuration.md against clap -----

/// One row of the settings table: file key, env var, flag, default.
#[derive(Debug)]
struct DocRow {
    file_key: String,
    env: String,
    default: String,
}

/// The settings table of `docs/configuration.md`, by flag.
fn documented() -> BTreeMap<String, DocRow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let table = text
        .split("## Settings")
        .nth(1)
        .expect("a Settings section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut rows = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_string())
            .collect();
        if !cells[2].starts_with("--") || cells[2].starts_with("---") {
            continue; // the header and its rule
        }
        assert_eq!(cells.len(), 5, "row with 5 cells: {line}");
        assert!(!cells[4].is_empty(), "row without a meaning: {line}");
        let row = DocRow {
            file_key: cells[0].clone(),
            env: cells[1].clone(),
            default: cells[3].clone(),
        };
        assert!(
            rows.insert(cells[2].clone(), row).is_none(),
            "{} documented twice",
            cells[2]
        );
    }
    rows
}

/// The file key a flag's setting has: `--kafka-timeout-ms` is `[kafka] timeout_ms`.
fn file_key(flag: &str) -> String {
    let name = flag.trim_start_matches("--");
    if name == "config" {
        return "—".into();
    }
    for table in ["kafka", "auth"] {
        if let Some(rest) = name.strip_prefix(&format!("{table}-")) {
            return format!("[{table}] {}", rest.replace('-', "_"));
        }
    }
    name.replace('-', "_")
}

/// The default of every setting as the docs write it, from the code's own defaults. A new
/// flag needs an entry here, so its documented default is checked too.
fn defaults() -> BTreeMap<&'static str, String> {
    let c = Config::default();
    let (h, k, a) = (&c.http, &c.kafka, &c.auth);
    let secs = |d: Duration| d.as_secs().to_string();
    let ms = |d: Duration| d.as_millis().to_string();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    BTreeMap::from([
        ("--config", "none".to_string()),
        ("--listen", c.listen.to_string()),
        ("--store", c.store.clone()),
        ("--max-body-bytes", c.max_body_bytes.to_string()),
        (
            "--http-header-read-timeout-secs",
            secs(h.header_read_timeout),
        ),
        ("--http-idle-timeout-secs", secs(h.idle_timeout)),
        ("--http-body-read-timeout-secs", secs(h.body_read_timeout)),
        ("--max-connections", h.max_connections.to_string()),
        (
            "--tls-cert",
            opt(c.tls.as_ref().map(|t| t.cert.display().to_string())),
        ),
        (
            "--tls-key",
            opt(c.tls.as_ref().map(|t| t.key.display().to_string())),
        ),
        ("--tls-client-ca", "none".to_string()),
        ("--tls-client-cert-required", "false".to_string()),
        ("--kafka-security-protocol", k.security_protocol.clone()),
        ("--kafka-sasl-mechanism", opt(k.sasl_mechanism.clone())),
        ("--kafka-sasl-username", opt(k.sasl_username.clone())),
        (
            "--kafka-sasl-password",
            opt(k.sasl_password.as_ref().map(|p| p.expose().to_string())),
        ),
        (
            "--kafka-ssl-ca-location",
            opt(k.ssl_ca_location.as_ref().map(|p| p.display().to_string())),
        ),
        (
            "--kafka-replication-factor",
            k.replication_factor.to_string(),
        ),
        ("--kafka-timeout-ms", ms(k.timeout)),
        ("--kafka-init-timeout-ms", ms(k.init_timeout)),
        ("--kafka-fetch-wait-ms", ms(k.fetch_wait)),
        ("--kafka-users-topic", k.users_topic.clone()),
        ("--kafka-leader-topic", opt(k.leader_topic.clone())),
        ("--kafka-lease-ms", ms(k.lease)),
        ("--advertised-url", opt(c.advertised_url.clone())),
        ("--leader-eligibility", c.leader_eligibility.to_string()),
        ("--auth-enabled", a.enabled.to_string()),
        (
            "--auth-credential-cache-ttl-secs",
            secs(a.credential_cache_ttl),
        ),
        (
            "--auth-credential-cache-max-secs",
            secs(a.credential_cache_max),
        ),
        ("--auth-session-ttl-secs", secs(a.session_ttl)),
        ("--auth-max-failed-logins", a.max_failed_logins.to_string()),
        (
            "--auth-failed-login-refill-secs",
            secs(a.failed_login_refill),
        ),
    ])
}

#[test]
fn the_reference_lists_exactly_the_serve_flags_with_their_env_and_default() {
    let mut doc = documented();
    let defaults = defaults();
    let cli = schemata::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command");
    let mut seen = 0;
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        seen += 1;
        let flag = format!("--{long}");
        let row = doc
            .remove(&flag)
            .unwrap_or_else(|| panic!("{flag} is not in docs/configuration.md"));
        let env = arg.get_env().map(|e| e.to_string_lossy().to_string());
        assert_eq!(Some(&row.env), env.as_ref(), "{flag}: env var");
        assert_eq!(row.file_key, file_key(&flag), "{flag}: file key");
        let default = match arg.get_default_values() {
            [] => defaults
                .get(flag.as_str())
                .unwrap_or_else(|| panic!("{flag}: add its default to defaults()"))
                .clone(),
            values => values
                .iter()
                .map(|v| v.to_string_lossy())
                .collect::<Vec<_>>()
                .join(","),
        };
        assert_eq!(row.default, default, "{flag}: documented default");
    }
    assert!(seen >= 28, "only {seen} serve flags found");
    assert!(
        doc.is_empty(),
        "documented but not a serve flag: {:?}",
        doc.keys().collect::<Vec<_>>()
    );
}

#[test]
fn every_documented_file_key_loads_from_a_toml_file() {
    // The TOML side of the table: a key the file does not accept is caught by deny_unknown_fields.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.toml");
    let mut top = String::new();
    let mut tables: BTreeMap<String, String> = BTreeMap::new();
    for (flag, row) in documented() {
        if row.file_key == "—" {
            continue;
        }
        let value = match flag.as_str() {
            "--listen" => "\"127.0.0.1:9999\"".into(),
            "--store" => "\"memory://\"".into(),
            "--tls-cert" | "--tls-key" | "--tls-client-ca" | "--kafka-ssl-ca-location" => {
                "\"x.pem\"".into()
            }
            "--kafka-security-protocol" => "\"SASL_SSL\"".into(),
            "--kafka-sasl-mechanism" => "\"SCRAM-SHA-256\"".into(),
            "--kafka-sasl-username" | "--kafka-sasl-password" | "--kafka-users-topic" => {
                "\"u\"".into()
            }
            "--kafka-leader-topic" => "\"l\"".into(),
            "--advertised-url" => "\"http://node1:8081\"".into(),
            "--tls-client-cert-required" | "--auth-enabled" => "true".into(),
            _ => row.default.clone(),
        };
        match row.file_key.split_once("] ") {
            Some((table, key)) => {
                let body = tables
                    .entry(table.trim_start_matches('[').into())
                    .or_default();
                body.push_str(&format!("{key} = {value}\n"));
            }
            None => top.push_str(&format!("{} = {value}\n", row.file_key)),
        }
    }
    for (table, body) in tables {
        top.push_str(&format!("[{table}]\n{body}"));
    }
    std::fs::write(&path, &top).unwrap();
    let config =
        Config::load(Some(&path), Overrides::default()).unwrap_or_else(|e| panic!("{e}\n{top}"));
    assert_eq!(config.listen.port(), 9999);
    assert!(config.auth.enabled);
    assert_eq!(config.kafka.sasl_username.as_deref(), Some("u"));
    assert_eq!(config.kafka.leader_topic.as_deref(), Some("l"));
    assert_eq!(config.advertised_url(), "http://node1:8081");
}

// ----- Confluent's schema-registry.properties -----

const SCRAM: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// `schema-registry.properties` as Confluent ships it (comments and all), with the SASL_SSL
/// SCRAM settings its documentation shows.
fn confluent_file(listener: &str, kafka: &str) -> String {
    format!(
        r#"#
# Copyright 2018 Confluent Inc.
#
# The address the socket server listens on.
#   FORMAT:
#     listeners = listener_name://host_name:port
#   EXAMPLE:
#     listeners = PLAINTEXT://your.host.name:9092
listeners={listener}

# Use this setting to specify the bootstrap servers for your Kafka cluster and it
# will be used both for selecting the leader schema registry instance and for storing the data for
# registered schemas.
{kafka}

# The name of the topic to store schemas in
kafkastore.topic=_schemas

# If true, API requests that fail will include extra debugging information, including stack traces
debug=false

metadata.encoder.secret=REPLACE_ME_WITH_HIGH_ENTROPY_STRING
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load(text: &str) -> anyhow::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "schema-registry.properties", text);
    Config::load(Some(&path), Overrides::default())
}

#[test]
fn confluents_properties_file_gives_the_expected_config() {
    let kafka = format!(
        "kafkastore.bootstrap.servers=SASL_SSL://broker1:9093,SASL_SSL://broker2:9093\n\
         kafkastore.security.protocol=SASL_SSL\n\
         kafkastore.sasl.mechanism=SCRAM-SHA-512\n\
         kafkastore.sasl.jaas.config={SCRAM} required \\\n    username=\"registry\" \\\n    password=\"s3cr=t\";\n\
         kafkastore.ssl.truststore.type=PEM\n\
         kafkastore.ssl.truststore.location=/etc/kafka/ca.pem\n\
         kafkastore.timeout.ms=2500\n\
         kafkastore.init.timeout.ms=30000\n\
         kafkastore.topic.replication.factor=1\n\
         schema.compatibility.level=backward"
    );
    let config = load(&confluent_file("http://0.0.0.0:8081", &kafka)).unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:8081");
    assert_eq!(config.store, "kafka://broker1:9093,broker2:9093/_schemas");
    let k = &config.kafka;
    assert_eq!(k.security_protocol, "SASL_SSL");
    assert_eq!(k.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
    assert_eq!(k.sasl_username.as_deref(), Some("registry"));
    assert_eq!(k.sasl_password.as_ref().unwrap().expose(), "s3cr=t");
    assert_eq!(k.ssl_ca_location, Some(PathBuf::from("/etc/kafka/ca.pem")));
    assert_eq!(k.timeout, Duration::from_millis(2500));
    assert_eq!(k.init_timeout, Duration::from_secs(30));
    assert_eq!(k.replication_factor, 1);
    // What the file does not say keeps Schemata's default.
    let d = Config::default();
    assert_eq!(config.max_body_bytes, d.max_body_bytes);
    assert!(!config.auth.enabled && config.tls.is_none());

    // The stock file: PLAINTEXT to a local broker.
    let plain = confluent_file(
        "http://0.0.0.0:8081",
        "kafkastore.bootstrap.servers=PLAINTEXT://localhost:9092",
    );
    let config = load(&plain).unwrap();
    assert_eq!(config.store, "kafka://localhost:9092/_schemas");
    assert_eq!(config.kafka.security_protocol, "PLAINTEXT");

    // Legacy `port`, and no Kafka: the store stays the default.
    let config = load("port=8085\nhost.name=registry1\n").unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:8085");
    assert_eq!(config.store, d.store);
}

#[test]
fn environment_and_flags_override_the_properties_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "sr.properties",
        &confluent_file(
            "http://0.0.0.0:8081",
            "kafkastore.bootstrap.servers=PLAINTEXT://localhost:9092",
        ),
    );
    let cli = Overrides {
        listen: Some("127.0.0.1:7000".parse().unwrap()),
        store: Some("memory://".into()),
        ..Overrides::default()
    };
    let config = Config::load(Some(&path), cli).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(config.store, "memory://");
}

#[test]
fn what_schemata_cannot_honour_is_refused_with_what_to_do() {
    let base = "listeners=http://0.0.0.0:8081\nkafkastore.bootstrap.servers=PLAINTEXT://k:9092\n";
    for (extra, says) in [
        (
            "kafkastore.sasl.mechanism=GSSAPI\nkafkastore.sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k.keytab\";",
            "Krb5LoginModule is not supported",
        ),
        (
            &format!("kafkastore.sasl.mechanism=SCRAM-SHA-256\nkafkastore.sasl.jaas.config={SCRAM} required username=\"u\";"),
            "username and password are both required",
        ),
        (
            &format!("kafkastore.sasl.mechanism=PLAIN\nkafkastore.sasl.jaas.config={SCRAM} required username=\"u\" password=\"p\";"),
            "kafkastore.sasl.mechanism is PLAIN",
        ),
        (
            "kafkastore.ssl.truststore.location=/etc/kafka/truststore.jks\nkafkastore.ssl.truststore.password=changeit",
            "only PEM trust stores",
        ),
        ("kafkastore.ssl.keystore.location=/k.jks", "kafkastore.ssl.keystore.location"),
        ("authentication.method=BASIC\nauthentication.roles=admin", "schemata user add"),
        ("ssl.client.auth=true", "SCHEMATA_TLS_CLIENT_CA"),
        ("ssl.client.authentication=REQUIRED", "SCHEMATA_TLS_CLIENT_CA"),
        ("resource.extension.class=io.confluent.kafka.schemaregistry.security.SchemaRegistrySecurityResourceExtension", "not supported"),
        ("schema.compatibility.level=full", "PUT /config"),
        ("avro.compatibility.level=none", "PUT /config"),
        ("kafkastore.timeout.ms=soon", "kafkastore.timeout.ms"),
    ] {
        let err = load(&format!("{base}{extra}\n")).unwrap_err().to_string();
        assert!(err.contains(says), "{extra}:\n{err}");
        assert!(err.contains("schema-registry.properties"), "names the file: {err}");
    }
    for (file, says) in [
        (
            "listeners=https://0.0.0.0:8443\nssl.keystore.location=/k.jks\n",
            "SCHEMATA_TLS_CERT",
        ),
        ("kafkastore.connection.url=zk:2181\n", "ZooKeeper"),
        (
            "kafkastore.bootstrap.servers=PLAINTEXT://nohost\n",
            "host:port",
        ),
    ] {
        let err = load(file).unwrap_err().to_string();
        assert!(err.contains(says), "{file}:\n{err}");
    }
    // A refused password never reaches the message.
    let err = load(&format!(
        "{base}kafkastore.sasl.mechanism=PLAIN\nkafkastore.sasl.jaas.config={SCRAM} required username=\"u\" password=\"Hunter-42\";\n"
    ))
    .unwrap_err();
    assert!(!format!("{err:?}").contains("Hunter-42"));
}

/// The binary started with `--config schema-registry.properties` serves on the file's
/// listener. On Kafka (`SCHEMATA_TEST_KAFKA`) the file also names the store; otherwise no
/// Confluent property selects SQLite, so `--store` adds it (a flag over the file).
#[tokio::test]
async fn a_server_started_from_a_properties_file_answers_on_its_listener() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let (kafka, store_flag) = match common::kafka_broker() {
        Some(broker) => (
            format!(
                "kafkastore.bootstrap.servers=PLAINTEXT://{broker}\n\
                 kafkastore.topic.replication.factor=1\n\
                 kafkastore.topic={}",
                common::unique_topic("properties")
            ),
            None,
        ),
        None => (
            String::new(),
            Some(format!("sqlite://{}", dir.path().join("s.db").display())),
        ),
    };
    let file = write(
        dir.path(),
        "schema-registry.properties",
        &confluent_file(&format!("http://127.0.0.1:{port}"), &kafka)
            .replace("kafkastore.topic=_schemas\n", ""),
    );
    let log = dir.path().join("stderr.log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_schemata"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .env_remove("SCHEMATA_LISTEN")
        .env_remove("SCHEMATA_STORE")
        .env("SCHEMATA_KAFKA_FETCH_WAIT_MS", "10")
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(store) = &store_flag {
        command.args(["--store", store]);
    }
    let mut child = command.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut answered = None;
    for _ in 0..400 {
        if let Ok(resp) = client.get(format!("{url}/subjects")).send().await {
            answered = Some(resp.status());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the server exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let registered = client
        .post(format!("{url}/subjects/props-value/versions"))
        .json(&serde_json::json!({"schema": "\"string\""}))
        .send()
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(answered, Some(reqwest::StatusCode::OK), "{stderr}");
    assert!(registered.unwrap().status().is_success(), "{stderr}");
    assert!(
        stderr.contains("'debug'") && stderr.contains("ignored"),
        "unmapped properties are warned about:\n{stderr}"
    );
}

#[test]
fn the_advertised_url_defaults_to_the_listen_address() {
    let mut config = Config {
        listen: "127.0.0.1:9000".parse().unwrap(),
        ..Config::default()
    };
    assert_eq!(config.advertised_url(), "http://127.0.0.1:9000");
    config.listen = "0.0.0.0:9000".parse().unwrap();
    let url = config.advertised_url();
    assert!(
        url.starts_with("http://") && url.ends_with(":9000"),
        "{url}"
    );
    assert!(!url.contains("0.0.0.0"), "{url}");
    config.advertised_url = Some("https://registry.example:443/".into());
    assert_eq!(config.advertised_url(), "https://registry.example:443");
}
