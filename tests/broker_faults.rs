//! The Kafka store when the broker goes away: reads keep being served from memory, writes fail
//! fast with Confluent's store errors (50001/50002) instead of hanging, and once the broker is
//! back, writes succeed again without restarting the registry — with every id still naming one
//! schema. Each test runs a Tansu broker of its own so it can stop it; like the other Kafka
//! tests they run when `SCHEMATA_TEST_KAFKA` is set (`scripts/test` does).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    assert_acknowledged, assert_one_text_per_id, kafka_broker, record, unique_topic, Tansu,
    TestServer,
};
use serde_json::{json, Value};

/// How long the broker stays down: long enough for librdkafka to give up on its connections
/// and for several writes to time out.
const OUTAGE: Duration = Duration::from_secs(30);
/// The store timeout of the registry under test: the longest a write may wait on the log.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// A registry on a topic of `port`'s broker, with a short store timeout.
async fn registry_on(port: u16, topic: &str, dir: tempfile::TempDir) -> TestServer {
    let mut config = TestServer::config_for(&dir);
    config.store = format!("kafka://127.0.0.1:{port}/{topic}");
    config.kafka.timeout = STORE_TIMEOUT;
    TestServer::start_with_config(dir, config).await
}

/// Registers a record named `name`, retrying until the registry can write again (at most 60 s
/// after the broker's return); the schema and its id.
async fn register_once_back(s: &TestServer, name: &str) -> (Value, i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let schema = record(name, &["a"]);
    loop {
        let (status, body) = s
            .post(
                "/subjects/after/versions",
                json!({"schema": schema.to_string()}),
            )
            .await;
        if status == 200 {
            return (schema, body["id"].as_i64().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "writes did not recover within 60 s of the broker's return: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_keeps_reads_fails_writes_fast_and_recovers_without_restart() {
    if kafka_broker().is_none() {
        eprintln!("skipped: set SCHEMATA_TEST_KAFKA=HOST:PORT (scripts/test does) to run");
        return;
    }
    let broker_dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let broker = Tansu::start(broker_dir.path(), port, &[]);
    let topic = unique_topic("outage");
    let s = Arc::new(registry_on(port, &topic, tempfile::tempdir().unwrap()).await);
    s.put("/config", json!({"compatibility": "NONE"})).await;
    let mut acknowledged = vec![];
    for i in 0..5 {
        let schema = record(&format!("Before{i}"), &["a"]);
        acknowledged.push((schema.clone(), s.register("before", &schema).await));
    }

    // Read load for the whole outage: every read must be answered from memory.
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failed_reads) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let reader = {
        let (s, stop, reads, failed) =
            (s.clone(), stop.clone(), reads.clone(), failed_reads.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in [
                    "/schemas/ids/1",
                    "/subjects/before/versions/latest",
                    "/subjects",
                ] {
                    let (status, _) = s.get(path).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    drop(broker); // SIGKILL: no goodbye to the registry's connections.
    let down_at = Instant::now();
    let mut refused = 0;
    let mut i = 0;
    while down_at.elapsed() < OUTAGE {
        let started = Instant::now();
        let (status, body) = s
            .post(
                "/subjects/during/versions",
                json!({"schema": record(&format!("During{i}"), &["a"]).to_string()}),
            )
            .await;
        let took = started.elapsed();
        i += 1;
        if status == 200 {
            // Acknowledged before the broker's death was noticed: it must survive.
            acknowledged.push((
                record(&format!("During{}", i - 1), &["a"]),
                body["id"].as_i64().unwrap(),
            ));
            continue;
        }
        assert_eq!(status, 500, "{body}");
        let code = body["error_code"].as_i64();
        assert!(matches!(code, Some(50001 | 50002)), "{body}");
        // Fast: one sync and one append, each bounded by the store timeout, plus slack.
        assert!(
            took < 2 * STORE_TIMEOUT + Duration::from_secs(2),
            "a write took {took:?} to fail"
        );
        refused += 1;
    }
    assert!(
        refused >= 3,
        "only {refused} writes were refused during the outage"
    );

    let broker = Tansu::start(broker_dir.path(), port, &[]);
    let back_at = Instant::now();
    let (schema, id) = register_once_back(&s, "After").await;
    acknowledged.push((schema, id));
    let back_after = back_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    eprintln!(
        "outage: {} reads served, {refused} writes refused, writes back {back_after:?} after \
         the broker (id {id})",
        reads.load(Ordering::Relaxed)
    );
    assert_eq!(
        failed_reads.load(Ordering::Relaxed),
        0,
        "reads failed during the outage"
    );
    assert!(
        reads.load(Ordering::Relaxed) > 100,
        "the read load did not run"
    );

    // A quick broker restart (no outage to speak of) is survived too.
    drop(broker);
    let broker = Tansu::start(broker_dir.path(), port, &[]);
    acknowledged.push(register_once_back(&s, "AfterRestart").await);

    let live = assert_one_text_per_id(&s).await;
    let dir = Arc::into_inner(s).expect("reader stopped").stop().await;
    let s = registry_on(port, &topic, dir).await;
    assert_eq!(
        assert_one_text_per_id(&s).await,
        live,
        "replay disagrees with the live registry"
    );
    assert_acknowledged(&s, &acknowledged).await;
    s.stop().await;
    drop(broker);
}
