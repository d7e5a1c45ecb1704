//! Several Schemata processes on one `_schemas` topic (`SCHEMATA_TEST_KAFKA=HOST:PORT`, set by
//! `scripts/kafka-broker`). Without the variable the tests print a notice and pass.
//!
//! Every node is the real binary, started on its own loopback port.

#[macro_use]
mod common;

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::unique_topic;
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
    /// Three nodes on `topic`, as most tests here run.
    async fn three(broker: &str, topic: &str) -> [Node; 3] {
        [
            Node::start(broker, topic).await,
            Node::start(broker, topic).await,
            Node::start(broker, topic).await,
        ]
    }

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
                // Tansu holds each fetch for the full wait: keep catch-ups after a write quick.
                "--kafka-fetch-wait-ms",
                "10",
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
    let broker = broker_or_skip!();
    let topic = unique_topic("schemata-ha");
    let nodes = Node::three(&broker, &topic).await;
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
    let broker = broker_or_skip!();
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

/// Registers `schema` under `subject` through `url`: Some((id, version)) if answered 200.
async fn try_register(url: &str, subject: &str, schema: &Value) -> Option<i64> {
    let r = reqwest::Client::new()
        .post(format!("{url}/subjects/{subject}/versions"))
        .json(&json!({ "schema": schema.to_string() }))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json::<Value>().await.ok()?["id"].as_i64()
}

/// Every id `node` serves names one text, and every subject's versions run 1..=n with no gap.
async fn assert_consistent(node: &Node) -> std::collections::BTreeMap<i64, String> {
    let mut ids = std::collections::BTreeMap::new();
    let (_, subjects) = node.get("/subjects").await;
    for subject in subjects.as_array().unwrap() {
        let subject = subject.as_str().unwrap();
        let (_, versions) = node.get(&format!("/subjects/{subject}/versions")).await;
        let versions: Vec<i64> = versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "{subject} on {} has a gap", node.url);
        for v in versions {
            let (_, body) = node.get(&format!("/subjects/{subject}/versions/{v}")).await;
            let id = body["id"].as_i64().unwrap();
            let text = body["schema"].as_str().unwrap().to_string();
            if let Some(other) = ids.insert(id, text.clone()) {
                assert_eq!(other, text, "id {id} names two schemas on {}", node.url);
            }
        }
    }
    ids
}

/// Registrations stream in through every node while the leader is killed (SIGKILL): every one
/// answered 200 is on every survivor under its id, no id names two schemas, no subject has a
/// gap, and a survivor writes again within a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_mid_stream_loses_and_duplicates_nothing() {
    let broker = broker_or_skip!();
    const TOTAL: usize = 1000;
    const WORKERS: usize = 16;
    let topic = unique_topic("schemata-ha");
    let mut nodes = Vec::from(Node::three(&broker, &topic).await);
    let all: Vec<&Node> = nodes.iter().collect();
    let leader = agreed_leader(&all, LEASE * 4).await;
    let r = reqwest::Client::new()
        .put(format!("{}/config", nodes[(leader + 1) % 3].url))
        .json(&json!({"compatibility": "NONE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let dead = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let killed_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let first_after_kill = Arc::new(std::sync::Mutex::new(None::<Duration>));
    let mut workers = vec![];
    for w in 0..WORKERS {
        let (urls, dead, acked) = (urls.clone(), dead.clone(), acked.clone());
        let (killed_at, first_after_kill) = (killed_at.clone(), first_after_kill.clone());
        workers.push(tokio::spawn(async move {
            for k in (w..TOTAL).step_by(WORKERS) {
                let mut n = k % urls.len();
                if n == dead.load(std::sync::atomic::Ordering::SeqCst) {
                    n = (n + 1) % urls.len();
                }
                let schema = common::record(&format!("R{k}"), &["a"]);
                let subject = format!("s{}", k % 7);
                if let Some(id) = try_register(&urls[n], &subject, &schema).await {
                    let killed = *killed_at.lock().unwrap();
                    if let Some(at) = killed {
                        let mut first = first_after_kill.lock().unwrap();
                        if first.is_none() {
                            *first = Some(at.elapsed());
                        }
                    }
                    acked.lock().unwrap().push((schema, id));
                }
            }
        }));
    }
    // Kill once the stream is well under way.
    let under_way = Instant::now();
    while acked.lock().unwrap().len() < 200 && under_way.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dead.store(leader, std::sync::atomic::Ordering::SeqCst);
    nodes[leader].child.kill().unwrap();
    nodes[leader].child.wait().unwrap();
    *killed_at.lock().unwrap() = Some(Instant::now());
    let before = acked.lock().unwrap().len();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let took = first_after_kill
        .lock()
        .unwrap()
        .expect("no write succeeded after the kill");
    eprintln!(
        "{} of {TOTAL} registrations answered 200 ({before} before the kill); first write after the kill answered {took:?} after it",
        acked.len()
    );
    assert!(took < LEASE * 6, "takeover took {took:?}");
    nodes.remove(leader);
    assert_hold_acknowledged(&nodes, &acked).await;
    // And after a full restart: the log alone holds everything acknowledged.
    drop(nodes);
    let nodes = vec![
        Node::start(&broker, &topic).await,
        Node::start(&broker, &topic).await,
    ];
    assert_hold_acknowledged(&nodes, &acked).await;
}

/// Every node in `nodes` is consistent and serves every acknowledged registration under its id.
async fn assert_hold_acknowledged(nodes: &[Node], acked: &[(Value, i64)]) {
    for node in nodes {
        // Nodes tail the log: give them a moment to apply the last writes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ids = assert_consistent(node).await;
        for (schema, id) in acked {
            let text: Value = serde_json::from_str(&ids[id]).unwrap();
            assert_eq!(text, *schema, "acknowledged id {id} on {}", node.url);
        }
    }
}

/// The broker restarts under three nodes: they go on without a restart of their own — they
/// agree on a leader again, and a schema registered afterwards is readable on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ride_out_a_broker_restart() {
    broker_or_skip!();
    // A broker of this test's own, to restart.
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let broker = format!("127.0.0.1:{port}");
    let tansu = common::Tansu::start(dir.path(), port, &[]);
    let topic = unique_topic("schemata-ha");
    let nodes = Node::three(&broker, &topic).await;
    let all: Vec<&Node> = nodes.iter().collect();
    agreed_leader(&all, LEASE * 4).await;
    let before = nodes[0]
        .register("before", &common::record("Before", &["a"]))
        .await;
    drop(tansu);
    tokio::time::sleep(LEASE).await;
    let _tansu = common::Tansu::start(dir.path(), port, &[]);
    let restarted = Instant::now();
    agreed_leader(&all, Duration::from_secs(60)).await;
    // Writes through every node succeed again (the first may wait out the producer's retries).
    let schema = common::record("After", &["a"]);
    let mut after = None;
    while after.is_none() {
        after = try_register(&nodes[1].url, "after", &schema).await;
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "no write succeeded within 60 s of the broker's restart"
        );
    }
    eprintln!(
        "writes resumed {:?} after the broker restarted",
        restarted.elapsed()
    );
    let after = after.unwrap();
    assert!(after > before);
    for node in &nodes {
        let (body, _) = node.wait_for(&format!("/schemas/ids/{after}")).await;
        assert_eq!(body["schema"], json!(schema.to_string()));
        assert_consistent(node).await;
    }
}

/// A leader stopped (SIGSTOP) for longer than its lease is replaced; once resumed it writes
/// nothing itself: a registration it receives goes to the new leader, and it reports following.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_comes_back_as_a_follower() {
    let broker = broker_or_skip!();
    let topic = unique_topic("schemata-ha");
    let nodes = Node::three(&broker, &topic).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let old = agreed_leader(&all, LEASE * 4).await;
    let first = nodes[old]
        .register("s", &common::record("Before", &["a"]))
        .await;
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &nodes[old].child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    let others: Vec<&Node> = (0..3).filter(|i| *i != old).map(|i| &nodes[i]).collect();
    let stopped_at = Instant::now();
    let new = agreed_leader(&others, LEASE * 4).await;
    eprintln!(
        "new leader while the old one is stopped: {:?}",
        stopped_at.elapsed()
    );
    let during = others[new]
        .register("s", &common::record_with_defaults("Before", &["a", "b"]))
        .await;
    // A registration sent to the stopped leader waits in its accept queue until it resumes.
    let url = nodes[old].url.clone();
    let late = tokio::spawn(async move {
        try_register(
            &url,
            "s",
            &common::record_with_defaults("Before", &["a", "b", "c"]),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal("-CONT");
    let late = late
        .await
        .unwrap()
        .expect("the resumed node answered the registration");
    assert!(late > during && during > first, "{first} {during} {late}");
    let everyone: Vec<&Node> = nodes.iter().collect();
    let leader = agreed_leader(&everyone, LEASE * 4).await;
    assert_ne!(leader, old, "the paused node took the lease back");
    for node in &nodes {
        node.wait_for(&format!("/schemas/ids/{late}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ids = assert_consistent(node).await;
        assert_eq!(ids.len(), 3, "on {}: {ids:?}", node.url);
    }
}

/// Forwarding with HTTPS and auth on: two nodes share a self-signed certificate; a write sent
/// to the follower with Basic credentials is forwarded over HTTPS with them and succeeds, a
/// write with a reader's credentials is refused as the leader refuses it, and one without
/// credentials never reaches the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_works_over_https_with_auth() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let topic = unique_topic("schemata-ha");
    let users_topic = format!("{topic}-users");
    let store = format!("kafka://{broker}/{topic}");
    for (name, password, role) in [("w", "writer-pw", "write"), ("r", "reader-pw", "read")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_schemata"))
            .args([
                "user",
                "--store",
                &store,
                "--kafka-users-topic",
                &users_topic,
            ])
            .args(["add", name, "--role", role, "--password-stdin"])
            .env_remove("SCHEMATA_CONFIG")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        assert!(child.wait().unwrap().success(), "schemata user add {name}");
    }
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let start = |port: u16| {
        let child = Command::new(env!("CARGO_BIN_EXE_schemata"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", &store, "--kafka-users-topic", &users_topic])
            .args(["--kafka-lease-ms", &LEASE.as_millis().to_string()])
            .args(["--kafka-fetch-wait-ms", "10", "--auth-enabled", "true"])
            .args(["--advertised-url", &format!("https://localhost:{port}")])
            .arg("--tls-cert")
            .arg(&cert_path)
            .arg("--tls-key")
            .arg(&key_path)
            .current_dir(dir.path())
            .env("SCHEMATA_LOG", "warn")
            .spawn()
            .unwrap();
        Node {
            child,
            url: format!("https://localhost:{port}"),
        }
    };
    let nodes = [start(common::free_port()), start(common::free_port())];
    // Wait until both serve and agree who leads.
    let started = Instant::now();
    let leader = loop {
        let mut urls = vec![];
        for n in &nodes {
            let ready = client.get(format!("{}/ready", n.url));
            if let Ok(r) = ready.basic_auth("r", Some("reader-pw")).send().await {
                if let Ok(body) = r.json::<Value>().await {
                    urls.push(body["leaderUrl"].as_str().map(str::to_string));
                }
            }
        }
        if urls.len() == 2 && urls[0].is_some() && urls[0] == urls[1] {
            break urls[0].clone().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no agreed leader: {urls:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let follower = nodes.iter().find(|n| n.url != leader).unwrap();
    let register = |user: Option<(&'static str, &'static str)>| {
        let mut r = client
            .post(format!("{}/subjects/tls/versions", follower.url))
            .json(&json!({"schema": "\"string\""}));
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        r.send()
    };
    let r = register(Some(("w", "writer-pw"))).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = register(Some(("r", "reader-pw"))).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = register(None).await.unwrap();
    assert_eq!(r.status(), 401);
    // The schema the writer registered is readable on the leader too.
    let r = client
        .get(format!("{leader}/subjects/tls/versions/1"))
        .basic_auth("r", Some("reader-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
