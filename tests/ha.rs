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

/// The lease the nodes run with: short, so failover tests stay quick.
const LEASE: Duration = Duration::from_millis(1500);

/// One `schemata serve` process; killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    async fn start(broker: &str, topic: &str) -> Node {
        Node::start_with(broker, topic, &[]).await
    }

    async fn start_with(broker: &str, topic: &str, extra: &[&str]) -> Node {
        let port = common::free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_schemata"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--store",
                &format!("kafka://{broker}/{topic}"),
                "--kafka-lease-ms",
                &LEASE.as_millis().to_string(),
            ])
            .args(extra)
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

/// The leader as `node` reports it on `/ready`: (leading here, leader URL), once it knows one.
async fn ready(node: &Node) -> Option<(bool, String)> {
    let (status, body) = node.get("/ready").await;
    (status == 200).then(|| {
        (
            body["leader"].as_bool().unwrap(),
            body["leaderUrl"].as_str().unwrap().to_string(),
        )
    })
}

/// Waits until every node in `nodes` names the same leader, one of them, which alone reports
/// leading; returns its index.
async fn agreed_leader(nodes: &[&Node], within: Duration) -> usize {
    let started = Instant::now();
    loop {
        let mut views = vec![];
        for n in nodes {
            views.push(ready(n).await);
        }
        if let Some(Some((_, url))) = views.first() {
            let same = views
                .iter()
                .all(|v| v.as_ref().is_some_and(|(_, u)| u == url));
            let leading: Vec<usize> = views
                .iter()
                .enumerate()
                .filter(|(_, v)| v.as_ref().is_some_and(|(l, _)| *l))
                .map(|(i, _)| i)
                .collect();
            if same && leading.len() == 1 && nodes[leading[0]].url == *url {
                return leading[0];
            }
        }
        assert!(
            started.elapsed() < within,
            "no agreed leader within {within:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
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

/// Nodes elect one leader, which publishes its URL; when it dies, the survivors elect another
/// within a few leases, and a node that may not lead never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_elect_one_leader_and_replace_it_when_it_dies() {
    let Some(broker) = kafka_broker() else {
        eprintln!("skipped: set SCHEMATA_TEST_KAFKA=HOST:PORT (scripts/test does) to run");
        return;
    };
    let topic = unique_topic("schemata-ha");
    let mut nodes = vec![
        Node::start(&broker, &topic).await,
        Node::start(&broker, &topic).await,
        Node::start_with(&broker, &topic, &["--leader-eligibility", "false"]).await,
    ];
    let all: Vec<&Node> = nodes.iter().collect();
    let first = agreed_leader(&all, LEASE * 4).await;
    assert_ne!(first, 2, "a node that may not lead was elected");
    let (status, metrics) = {
        let r = reqwest::get(format!("{}/metrics", nodes[first].url))
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(metrics.contains("\nschemata_leader 1"), "{metrics}");
    let mut old = nodes.remove(first);
    old.child.kill().unwrap(); // SIGKILL
    old.child.wait().unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<&Node> = nodes.iter().collect();
    let next = agreed_leader(&survivors, LEASE * 4).await;
    eprintln!(
        "new leader known everywhere {:?} after the kill",
        killed_at.elapsed()
    );
    assert_eq!(
        nodes[next].url, survivors[0].url,
        "the eligible survivor leads"
    );
    let r = reqwest::get(format!("{}/metrics", nodes[1].url))
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("\nschemata_leader 0"));
}
