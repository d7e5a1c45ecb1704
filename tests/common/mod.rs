//! The one test harness: a real Schemata server on a free loopback port, driven over real HTTP,
//! backed by a real SQLite file in a temporary directory — or, when `SCHEMATA_TEST_KAFKA` names
//! a broker (`HOST:PORT`, as `scripts/kafka-broker` sets it), by a topic of its own on that
//! broker. `scripts/test` runs the suite both ways.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const CT: &str = "application/vnd.schemaregistry.v1+json";

pub struct TestServer {
    pub url: String,
    pub client: Client,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// A fresh registry on an empty SQLite file.
    pub async fn start() -> TestServer {
        Self::start_in(tempfile::tempdir().expect("tempdir")).await
    }

    /// A registry on `dir`'s store (see [`store_url`]), which may hold an earlier server's log.
    pub async fn start_in(dir: TempDir) -> TestServer {
        let config = Self::config_for(&dir);
        Self::start_with_config(dir, config).await
    }

    /// The harness's configuration for a server on `dir`'s store.
    pub fn config_for(dir: &TempDir) -> schemata::Config {
        let store = store_url(dir);
        // Users (when auth is on) go to a topic of this test's own too.
        let users_topic = match store.rsplit_once('/') {
            Some((_, topic)) if on_kafka() => format!("{topic}-users"),
            _ => schemata::store::kafka::KafkaConfig::default().users_topic,
        };
        schemata::Config {
            store,
            max_body_bytes: 64 * 1024,
            kafka: schemata::store::kafka::KafkaConfig {
                // Tansu holds each fetch for the full wait; keep writes quick.
                fetch_wait: std::time::Duration::from_millis(10),
                users_topic,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A registry with the caller's configuration (auth, limits, …) on a free loopback port,
    /// returned once it answers `/health`.
    pub async fn start_with_config(dir: TempDir, mut config: schemata::Config) -> TestServer {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            schemata::serve(&config, listener, async {
                let _ = rx.await;
            })
            .await
        });
        let server = TestServer {
            url,
            client: Client::new(),
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        };
        server.wait_ready().await;
        server
    }

    /// A client for a server running elsewhere (another process) on `dir`'s store, returned
    /// once it answers `/health`.
    pub async fn attach(url: String, dir: TempDir) -> TestServer {
        let server = TestServer {
            url,
            client: Client::new(),
            dir,
            shutdown: None,
            handle: None,
        };
        server.wait_ready().await;
        server
    }

    /// Hands back the directory of a server started by [`TestServer::attach`].
    pub fn detach(self) -> TempDir {
        self.dir
    }

    pub fn db_path(dir: &TempDir) -> PathBuf {
        dir.path().join("schemata.db")
    }

    async fn wait_ready(&self) {
        // Up to 20 s: a process of its own, on a loaded machine, may take a while to replay.
        for _ in 0..1000 {
            if let Ok(r) = self.client.get(format!("{}/health", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("server at {} did not become ready", self.url);
    }

    /// Stops the server gracefully and hands back its directory (for restart tests).
    pub async fn stop(mut self) -> TempDir {
        let _ = self.shutdown.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    /// Sends a request; returns the status and the body as JSON (or as a JSON string if the
    /// body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{}", self.url, path));
        if let Some(b) = body {
            req = req.header("Content-Type", CT).body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(format!("{}/metrics", self.url)).send();
        response.await.unwrap().text().await.unwrap()
    }

    /// Registers `schema` (a JSON value, sent as its string) and returns the new id.
    pub async fn register(&self, subject: &str, schema: &Value) -> i64 {
        let (status, body) = self
            .post(
                &format!("/subjects/{subject}/versions"),
                json!({ "schema": schema.to_string() }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "register {subject}: {body}");
        body["id"].as_i64().expect("id")
    }
}

/// Every `(subject, version, id, schema)` the registry holds, checked for the one rule producers
/// rely on: an id names exactly one schema text, everywhere it appears, and a text has one id.
pub async fn assert_one_text_per_id(s: &TestServer) -> Vec<Value> {
    let (status, all) = s.get("/schemas?deleted=true").await;
    assert_eq!(status, 200, "{all}");
    let all = all.as_array().expect("schema list").clone();
    let mut text_of = std::collections::HashMap::new();
    let mut id_of = std::collections::HashMap::new();
    for v in &all {
        let (id, text) = (v["id"].as_i64().unwrap(), v["schema"].as_str().unwrap());
        let known = text_of.entry(id).or_insert_with(|| text.to_string());
        assert_eq!(known, text, "id {id} names two schemas");
        let known = id_of.entry(text.to_string()).or_insert(id);
        assert_eq!(*known, id, "one schema under two ids: {text}");
    }
    for (id, text) in &text_of {
        let (status, by_id) = s.get(&format!("/schemas/ids/{id}")).await;
        assert_eq!(status, 200, "{by_id}");
        assert_eq!(
            by_id["schema"].as_str(),
            Some(text.as_str()),
            "/schemas/ids/{id}"
        );
    }
    all
}

/// Every acknowledged `(schema, id)` is still served under its id, as that schema.
pub async fn assert_acknowledged(s: &TestServer, acknowledged: &[(Value, i64)]) {
    for (schema, id) in acknowledged {
        let (status, found) = s.get(&format!("/schemas/ids/{id}")).await;
        assert_eq!(status, 200, "acknowledged id {id} lost: {found}");
        let text: Value = serde_json::from_str(found["schema"].as_str().unwrap()).unwrap();
        assert_eq!(text, *schema, "id {id} names another schema");
    }
}

/// A loopback port that was free a moment ago, for a process the test starts itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The broker of the Kafka pass (`kafka_broker`), or a notice and an early return from the
/// test without one. Needs `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! broker_or_skip {
    () => {
        match crate::common::kafka_broker() {
            Some(b) => b,
            None => {
                eprintln!("skipped: set SCHEMATA_TEST_KAFKA=HOST:PORT (scripts/test does) to run");
                return;
            }
        }
    };
}

/// The Kafka broker the suite runs against (`SCHEMATA_TEST_KAFKA=HOST:PORT`), if any.
pub fn kafka_broker() -> Option<String> {
    std::env::var("SCHEMATA_TEST_KAFKA")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether the suite runs on Kafka; tests of SQLite specifics skip themselves then.
pub fn on_kafka() -> bool {
    kafka_broker().is_some()
}

/// A topic name unique to this process and call, so tests never share (or inherit) a log.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The store URL a server started in `dir` uses: `dir/schemata.db`, or under Kafka a topic
/// chosen on first use and remembered in `dir`, so a restart in the same `dir` replays the same
/// topic.
pub fn store_url(dir: &TempDir) -> String {
    match kafka_broker() {
        None => format!("sqlite://{}", TestServer::db_path(dir).display()),
        Some(broker) => {
            let file = dir.path().join("kafka-topic");
            let topic = std::fs::read_to_string(&file).unwrap_or_else(|_| {
                let t = unique_topic("schemata-test");
                std::fs::write(&file, &t).unwrap();
                t
            });
            format!("kafka://{broker}/{topic}")
        }
    }
}

/// Opens `dir`'s store directly, to write or inspect raw records.
pub async fn open_store(dir: &TempDir) -> schemata::store::Store {
    schemata::store::Store::open(&store_url(dir))
        .await
        .expect("open store")
}

/// Asserts a Confluent error response.
#[track_caller]
pub fn assert_error(resp: &(StatusCode, Value), status: u16, code: i64) {
    assert_eq!(resp.0.as_u16(), status, "status of {}", resp.1);
    assert_eq!(
        resp.1["error_code"].as_i64(),
        Some(code),
        "error_code of {}",
        resp.1
    );
    assert!(
        resp.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {}",
        resp.1
    );
}

/// A record schema named `name` with string fields `fields`.
pub fn record(name: &str, fields: &[&str]) -> Value {
    json!({
        "type": "record",
        "name": name,
        "fields": fields.iter().map(|f| json!({"name": f, "type": "string"})).collect::<Vec<_>>(),
    })
}

/// Like [`record`], but every field after the first has a default (backward compatible growth).
pub fn record_with_defaults(name: &str, fields: &[&str]) -> Value {
    json!({
        "type": "record",
        "name": name,
        "fields": fields.iter().enumerate().map(|(i, f)| if i == 0 {
            json!({"name": f, "type": "string"})
        } else {
            json!({"name": f, "type": "string", "default": ""})
        }).collect::<Vec<_>>(),
    })
}

/// A Tansu broker of the test's own, on a sqlite file in `dir`; killed on drop.
pub struct Tansu(std::process::Child);

impl Tansu {
    pub fn start(dir: &std::path::Path, port: u16, extra: &[&str]) -> Tansu {
        let addr = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &addr,
                "--advertised-listener-url",
                &addr,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .args(extra)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu on PATH (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu(child)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
