//! Several Schemata processes on one `_schemas` topic (`SCHEMATA_TEST_KAFKA=HOST:PORT`, set by
//! `scripts/kafka-broker`). Without the variable the tests print a notice and pass.
//!
//! Every node is the real binary, started on its own loopback port.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{kafka_broker, unique_topic};
use serde_json::{json, Value};

/// How long a schema registered on one node may take to be readable on another: the tail
/// interval plus a broker round trip, with room for a loaded machine.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

/// One `schemata serve` process; killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    async fn start(broker: &str, topic: &str) -> Node {
        let port = common::free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_schemata"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--store",
                &format!("kafka://{broker}/{topic}"),
            ])
            .current_dir(dir.path())
            .env("SCHEMATA_LOG", "warn")
            .spawn()
            .unwrap();
        let node = Node {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = client.get(format!("{}/subjects", node.url)).send().await {
                if r.status().is_success() {
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node on port {port} did not serve");
    }

    async fn register(&self, subject: &str, schema: &Value) -> i64 {
        let r = reqwest::Client::new()
            .post(format!("{}/subjects/{subject}/versions", self.url))
            .json(&json!({ "schema": schema.to_string() }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "register on {}: {body}", self.url);
        body["id"].as_i64().unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `path` answers 200 here; returns its body and how long that took.
    async fn wait_for(&self, path: &str) -> (Value, Duration) {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 {
                return (body, started.elapsed());
            }
            assert!(
                started.elapsed() < VISIBLE_WITHIN,
                "{}{path} still answers {status} after {VISIBLE_WITHIN:?}: {body}",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A schema registered through one node becomes readable on the others without any write
/// there: every node tails the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_see_schemas_registered_elsewhere() {
    let Some(broker) = kafka_broker() else {
        eprintln!("skipped: set SCHEMATA_TEST_KAFKA=HOST:PORT (scripts/test does) to run");
        return;
    };
    let topic = unique_topic("schemata-ha");
    let nodes = [
        Node::start(&broker, &topic).await,
        Node::start(&broker, &topic).await,
        Node::start(&broker, &topic).await,
    ];
    let mut slowest = Duration::ZERO;
    for (i, writer) in nodes.iter().enumerate() {
        let schema = common::record_with_defaults("R", &["a", "b", "c", "d"][..i + 1]);
        let id = writer.register("s", &schema).await;
        for reader in &nodes {
            let (body, took) = reader.wait_for(&format!("/schemas/ids/{id}")).await;
            slowest = slowest.max(took);
            let text: Value = serde_json::from_str(body["schema"].as_str().unwrap()).unwrap();
            assert_eq!(text, schema, "id {id} on {}", reader.url);
        }
    }
    for reader in &nodes {
        let (status, versions) = reader.get("/subjects/s/versions").await;
        assert_eq!(status, 200);
        assert_eq!(versions, json!([1, 2, 3]), "versions on {}", reader.url);
    }
    eprintln!("slowest follower: {slowest:?}");
}
