//! HTTP Basic auth with a real third-party client: Python `confluent-kafka`'s
//! `SchemaRegistryClient` (`basic.auth.user.info`) and its `AvroSerializer`/`AvroDeserializer`,
//! run by `tests/clients/confluent_sr.py` against a server with auth on. Users are made the way
//! an operator makes them, with the real binary's `schemata user add --password-stdin`.
//!
//! `scripts/test` installs confluent-kafka; without it this test fails rather than skips, so a
//! machine missing it cannot pass silently. It runs on both of the suite's stores: on Kafka the
//! users go to the test's own users topic, added while no server runs, as on SQLite.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/confluent_sr.py");
const SUBJECT: &str = "python-interop-value";
const TOPIC: &str = "python-interop-serde";

const ADMIN: (&str, &str) = ("py-admin", "adm-pw-Zq8!");
// A `:` in the password: Basic splits user-pass at the first colon only (RFC 7617), and so does
// the client's `basic.auth.user.info`.
const WRITER: (&str, &str) = ("py-writer", "wr:it:er-Zq8!");
const READER: (&str, &str) = ("py-reader", "rd-pw-Zq8!");

/// `schemata user --store STORE add NAME --role ROLE --password-stdin`, password on stdin, for
/// the store (and users topic) of `config`.
fn add_user(config: &schemata::Config, (name, password): (&str, &str), role: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_schemata"))
        .args(["user", "--store", &config.store])
        .args(["--kafka-users-topic", &config.kafka.users_topic])
        .args(["add", name, "--role", role])
        .arg("--password-stdin")
        .env_remove("SCHEMATA_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run schemata user add");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "schemata user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails (never skips) when the client library is missing: CI installs it.
fn require_confluent_kafka() {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import confluent_kafka.schema_registry, confluent_kafka.schema_registry.avro",
        ])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "python3 cannot import confluent_kafka.schema_registry; run scripts/test, which \
             installs confluent-kafka[schemaregistry,avro] (CI does):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run python3 ({e}); run scripts/test on a machine with Python 3"),
    }
}

/// GET as the admin, through our own REST API.
async fn admin_get(server: &TestServer, path: &str) -> Value {
    let resp = server
        .client
        .get(format!("{}{path}", server.url))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_python_client_with_basic_auth() {
    require_confluent_kafka();

    let dir = tempfile::tempdir().unwrap();
    let mut config = TestServer::config_for(&dir);
    add_user(&config, ADMIN, "admin");
    add_user(&config, WRITER, "write");
    add_user(&config, READER, "read");
    config.auth = schemata::auth::AuthConfig {
        enabled: true,
        ..Default::default()
    };
    let server = TestServer::start_with_config(dir, config).await;
    // Anonymous requests are refused, so what the script gets it gets through its credentials.
    assert_eq!(server.get("/subjects").await.0, StatusCode::UNAUTHORIZED);

    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(SCRIPT)
            .args(["--url", &url, "--subject", SUBJECT, "--topic", TOPIC])
            .env("SCHEMATA_WRITER", format!("{}:{}", WRITER.0, WRITER.1))
            .env("SCHEMATA_READER", format!("{}:{}", READER.0, READER.1))
            .env("PYTHONUNBUFFERED", "1")
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "confluent_sr.py failed ({}):\n{stderr}\nstdout:\n{stdout}",
        out.status
    );
    let py: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("confluent_sr.py printed no JSON ({e}):\n{stdout}"));

    // What the Python client saw is what our REST API holds.
    let v1 = admin_get(&server, &format!("/subjects/{SUBJECT}/versions/1")).await;
    let v2 = admin_get(&server, &format!("/subjects/{SUBJECT}/versions/2")).await;
    assert!(v1["id"].as_i64().is_some_and(|id| id > 0), "{v1}");
    assert_eq!(py["id"], v1["id"], "{py}");
    assert_eq!(py["id_v2"], v2["id"], "{py}");
    assert_ne!(v1["id"], v2["id"]);
    assert_eq!(
        py["latest"],
        json!({
            "id": v1["id"],
            "version": 1,
            "subject": SUBJECT,
            "schema": v1["schema"],
            "schema_type": "AVRO",
        }),
    );
    let by_id = admin_get(&server, &format!("/schemas/ids/{}", v1["id"])).await;
    assert_eq!(py["schema"], by_id["schema"]);
    assert_eq!(
        py["lookup"],
        json!({"id": v1["id"], "version": 1, "subject": SUBJECT})
    );
    assert_eq!(py["lookup_missing"]["http_status"], 404, "{py}");
    assert_eq!(py["lookup_missing"]["error_code"], 40403, "{py}");
    assert_eq!(py["compatible"], true);
    assert_eq!(py["incompatible"], false);
    assert_eq!(py["versions"], json!([1, 2]));

    // Refusals reach the client as SchemaRegistryError with our status and error_code.
    assert_eq!(
        py["wrong_password"],
        json!({"http_status": 401, "error_code": 401, "message": "Unauthorized"}),
    );
    assert_eq!(
        py["read_only_register"],
        json!({"http_status": 403, "error_code": 403, "message": "Forbidden"}),
    );
    assert_eq!(py["read_only_latest_id"], v2["id"]);

    // The serializer registered its schema under the topic's subject, and its bytes are
    // Confluent's wire format: magic 0, the id (big-endian), then the Avro record
    // {"id": "p-1", "amount": 12.5} (zigzag length 3, "p-1", 12.5 as a little-endian double).
    let serde_subject = format!("{TOPIC}-value");
    let latest = admin_get(
        &server,
        &format!("/subjects/{serde_subject}/versions/latest"),
    )
    .await;
    assert_eq!(latest["version"], 1);
    let serde_id = latest["id"].as_i64().unwrap();
    assert_eq!(py["serde"]["subject"], serde_subject.as_str());
    assert_eq!(py["serde"]["id"], serde_id);
    assert_eq!(
        py["serde"]["bytes"],
        format!("00{serde_id:08x}06702d310000000000002940")
    );
    assert_eq!(py["serde"]["decoded"], json!({"id": "p-1", "amount": 12.5}));
    let schema: Value = serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["name"], "Payment");

    // The refused registration left nothing behind.
    let mut subjects = admin_get(&server, "/subjects").await;
    subjects
        .as_array_mut()
        .unwrap()
        .sort_by_key(|s| s.as_str().unwrap().to_string());
    assert_eq!(subjects, json!([serde_subject, SUBJECT]));

    server.stop().await;
}
