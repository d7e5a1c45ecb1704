//! The Kafka store against a real broker (`SCHEMATA_TEST_KAFKA=HOST:PORT`, set by
//! `scripts/kafka-broker`; `scripts/test` runs this with Tansu). Without the variable the tests
//! that need a broker print a notice and pass.
//!
//! Records are produced and consumed here with a plain Kafka client, not through Schemata's
//! store, so "Confluent's format" is checked against bytes on the wire.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{unique_topic, Tansu, TestServer};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use schemata::registry::record::RawRecord;
use schemata::store::kafka::KafkaConfig;
use schemata::store::{Store, StoreError};
use serde_json::{json, Value};

fn client(broker: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker);
    c
}

async fn create_topic(broker: &str, topic: &str, partitions: i32, policy: &str) {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().unwrap();
    let new =
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)).set("cleanup.policy", policy);
    let results = admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

/// Topic partition count and cleanup.policy, as the broker describes them.
async fn describe(broker: &str, topic: &str) -> (usize, String) {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().unwrap();
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len();
    let configs = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = configs.into_iter().next().unwrap().unwrap();
    let policy = resource
        .get("cleanup.policy")
        .and_then(|e| e.value.clone())
        .unwrap_or_default();
    (partitions, policy)
}

/// Produces raw `(key, value)` records in order; `None` is a tombstone.
async fn produce(broker: &str, topic: &str, records: &[(&str, Option<&str>)]) {
    let producer: FutureProducer = client(broker)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    for (k, v) in records {
        let mut r = FutureRecord::<str, str>::to(topic).partition(0).key(k);
        if let Some(v) = v {
            r = r.payload(v);
        }
        producer.send(r, Duration::from_secs(10)).await.unwrap();
    }
}

/// A record as consumed: Kafka offset, key, value.
type OnWire = (i64, Vec<u8>, Option<Vec<u8>>);

/// Every record in the topic, from the start to the high watermark.
fn consume_all(broker: &str, topic: &str) -> Vec<OnWire> {
    let consumer: BaseConsumer = client(broker)
        .set("group.id", "kafka-store-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = vec![];
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.last().is_none_or(|(o, _, _)| o + 1 < high) {
        assert!(Instant::now() < deadline, "did not reach offset {high}");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            out.push((
                m.offset(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

/// A server on `topic` (which may already hold records).
async fn server_on(topic: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kafka-topic"), topic).unwrap();
    TestServer::start_in(dir).await
}

#[tokio::test]
async fn creates_a_compacted_single_partition_topic() {
    let broker = broker_or_skip!();
    let topic = unique_topic("fresh");
    let s = server_on(&topic).await;
    assert_eq!(describe(&broker, &topic).await, (1, "compact".to_string()));
    s.register("t-value", &json!("string")).await;
    s.stop().await;
}

#[tokio::test]
async fn refuses_a_topic_with_three_partitions() {
    let broker = broker_or_skip!();
    let topic = unique_topic("three");
    create_topic(&broker, &topic, 3, "compact").await;
    match Store::open(&format!("kafka://{broker}/{topic}")).await {
        Err(StoreError::Topic(msg)) => assert!(msg.contains("3 partitions"), "{msg}"),
        Err(e) => panic!("expected a topic error, got {e}"),
        Ok(_) => panic!("opened a 3-partition topic"),
    }
}

#[tokio::test]
async fn refuses_a_topic_that_deletes() {
    let broker = broker_or_skip!();
    let topic = unique_topic("delete");
    create_topic(&broker, &topic, 1, "delete").await;
    match Store::open(&format!("kafka://{broker}/{topic}")).await {
        Err(StoreError::Topic(msg)) => assert!(msg.contains("cleanup.policy"), "{msg}"),
        Err(e) => panic!("expected a topic error, got {e}"),
        Ok(_) => panic!("opened a topic with cleanup.policy=delete"),
    }
}

#[tokio::test]
async fn an_unreachable_broker_fails_start_up_clearly() {
    // Needs no broker: port 1 on loopback refuses connections.
    let config = KafkaConfig {
        init_timeout: Duration::from_millis(1500),
        ..Default::default()
    };
    let started = Instant::now();
    match Store::open_with("kafka://127.0.0.1:1/_schemas", &config).await {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("127.0.0.1:1"), "{msg}"),
        Err(e) => panic!("expected Unavailable, got {e}"),
        Ok(_) => panic!("opened a store with no broker"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn log_offsets_are_kafka_offsets_plus_one() {
    let broker = broker_or_skip!();
    let topic = unique_topic("offsets");
    let store = Store::open(&format!("kafka://{broker}/{topic}"))
        .await
        .unwrap();
    let raw = |k: &str| RawRecord {
        key: k.as_bytes().to_vec(),
        value: Some(b"{}".to_vec()),
    };
    // Open wrote a NOOP at Kafka offset 0, which is log offset 1.
    let last = store
        .append(
            &[raw(r#"{"keytype":"A"}"#), raw(r#"{"keytype":"B"}"#)],
            0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(last, 3);
    let all = store.read_after(0, 100).await.unwrap();
    let offsets: Vec<_> = all.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![1, 2, 3]);
    assert_eq!(all[0].record.key, br#"{"keytype":"NOOP","magic":0}"#);
    assert_eq!(all[0].record.value, None);
    assert_eq!(store.read_after(1, 100).await.unwrap().len(), 2);
    assert!(store.read_after(3, 100).await.unwrap().is_empty());
    store.close().await;
    let on_wire: Vec<_> = consume_all(&broker, &topic)
        .into_iter()
        .map(|(o, _, _)| o)
        .collect();
    assert_eq!(on_wire, vec![0, 1, 2]);
}

/// The fence (`store::kafka::fence`): a record produced for a stale end of the log is read
/// by every Schemata reader as a NOOP, on the live store and on a fresh one replaying the topic.
#[tokio::test]
async fn records_fenced_on_a_stale_end_are_read_as_noops() {
    let broker = broker_or_skip!();
    let topic = unique_topic("fence");
    let url = format!("kafka://{broker}/{topic}");
    let store = Store::open(&url).await.unwrap();
    let schema = |subject: &str| RawRecord {
        key: format!(r#"{{"keytype":"SCHEMA","subject":"{subject}","version":1,"magic":1}}"#)
            .into_bytes(),
        value: Some(b"{}".to_vec()),
    };
    // Open wrote its NOOP at log offset 1: a record decided on it lands at 2 and counts.
    let end = store.sync_point().await.unwrap();
    assert_eq!(end, 2);
    let landed = store
        .append(&[schema("fresh")], 1, Some(end))
        .await
        .unwrap();
    assert_eq!(landed, 3);
    // A writer that decided on offset 2 produces after the log moved on to 3: fenced.
    match store.append(&[schema("stale")], 1, Some(end)).await {
        Err(StoreError::Fenced {
            landed,
            after,
            partly,
        }) => assert_eq!((landed, after, partly), (4, 2, false)),
        other => panic!("expected a fenced write, got {other:?}"),
    }
    // Two records decided on the true end both count.
    assert_eq!(
        store
            .append(&[schema("a"), schema("b")], 1, Some(4))
            .await
            .unwrap(),
        6
    );
    let keys = |records: Vec<schemata::store::Stored>| -> Vec<String> {
        records
            .into_iter()
            .map(|r| String::from_utf8(r.record.key).unwrap())
            .collect()
    };
    let noop = r#"{"keytype":"NOOP","magic":0}"#.to_string();
    let subject =
        |s: &str| format!(r#"{{"keytype":"SCHEMA","subject":"{s}","version":1,"magic":1}}"#);
    let expected = vec![
        noop.clone(),
        noop.clone(),
        subject("fresh"),
        noop.clone(),
        subject("a"),
        subject("b"),
    ];
    assert_eq!(keys(store.read_after(0, 100).await.unwrap()), expected);
    store.close().await;
    // On the wire the stale record is there, with its header; a new reader fences it too.
    let fresh = Store::open(&url).await.unwrap();
    let replayed = keys(fresh.read_after(0, 6).await.unwrap());
    assert_eq!(replayed, expected);
    fresh.close().await;
}

#[tokio::test]
async fn takes_over_a_topic_written_by_confluent() {
    let broker = broker_or_skip!();
    let topic = unique_topic("takeover");
    create_topic(&broker, &topic, 1, "compact").await;
    let user = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    let sv = |subject: &str, version: i32, id: i32, schema: &str, deleted: bool| {
        json!({"subject": subject, "version": version, "id": id, "schema": schema, "deleted": deleted})
            .to_string()
    };
    let users1 = sv("users", 1, 1, user, false);
    let gone1 = sv("gone", 1, 2, "\"int\"", false);
    let hard1 = sv("hard", 1, 3, "\"long\"", false);
    let hard1_deleted = sv("hard", 1, 3, "\"long\"", true);
    let cleared1 = sv("cleared", 1, 4, "\"float\"", false);
    let cleared1_deleted = sv("cleared", 1, 4, "\"float\"", true);
    let other1 = sv("other", 1, 7, "\"double\"", false);
    produce(
        &broker,
        &topic,
        &[
            (r#"{"keytype":"NOOP","magic":0}"#, None),
            // Both spellings of the global config key; the later record wins.
            (
                r#"{"keytype":"CONFIG","magic":0}"#,
                Some(r#"{"compatibilityLevel":"BACKWARD"}"#),
            ),
            (
                r#"{"keytype":"CONFIG","subject":null,"magic":0}"#,
                Some(r#"{"compatibilityLevel":"FULL"}"#),
            ),
            (
                r#"{"keytype":"CONFIG","subject":"users","magic":0}"#,
                Some(r#"{"subject":"users","compatibilityLevel":"NONE"}"#),
            ),
            (
                r#"{"keytype":"MODE","magic":0}"#,
                Some(r#"{"mode":"READWRITE"}"#),
            ),
            (
                r#"{"keytype":"MODE","subject":"users","magic":0}"#,
                Some(r#"{"subject":"users","mode":"READONLY"}"#),
            ),
            (
                r#"{"keytype":"SCHEMA","subject":"users","version":1,"magic":1}"#,
                Some(&users1),
            ),
            // Soft delete of a subject.
            (
                r#"{"keytype":"SCHEMA","subject":"gone","version":1,"magic":1}"#,
                Some(&gone1),
            ),
            (
                r#"{"keytype":"DELETE_SUBJECT","subject":"gone","magic":0}"#,
                Some(r#"{"subject":"gone","version":1}"#),
            ),
            // Permanent delete of a version: soft delete, then a tombstone.
            (
                r#"{"keytype":"SCHEMA","subject":"hard","version":1,"magic":1}"#,
                Some(&hard1),
            ),
            (
                r#"{"keytype":"SCHEMA","subject":"hard","version":1,"magic":1}"#,
                Some(&hard1_deleted),
            ),
            (
                r#"{"keytype":"SCHEMA","subject":"hard","version":1,"magic":1}"#,
                None,
            ),
            // Permanent delete of a subject: CLEAR_SUBJECT.
            (
                r#"{"keytype":"SCHEMA","subject":"cleared","version":1,"magic":1}"#,
                Some(&cleared1),
            ),
            (
                r#"{"keytype":"SCHEMA","subject":"cleared","version":1,"magic":1}"#,
                Some(&cleared1_deleted),
            ),
            (
                r#"{"keytype":"CLEAR_SUBJECT","subject":"cleared","magic":0}"#,
                Some(r#"{"subject":"cleared"}"#),
            ),
            (
                r#"{"keytype":"SCHEMA","subject":"other","version":1,"magic":1}"#,
                Some(&other1),
            ),
            // What a tolerant reader skips.
            (
                r#"{"keytype":"CONTEXT","tenant":"default","context":".ctx","magic":0}"#,
                Some(r#"{"tenant":"default","context":".ctx"}"#),
            ),
            (r#"{"keytype":"SOMETHING_NEW","magic":0}"#, Some("{}")),
            ("garbage", Some("more garbage")),
            (
                r#"{"keytype":"SCHEMA","subject":"bad","version":1,"magic":1}"#,
                Some("{not json"),
            ),
        ],
    )
    .await;

    let s = server_on(&topic).await;
    assert_eq!(s.get("/subjects").await.1, json!(["other", "users"]));
    assert_eq!(
        s.get("/subjects?deleted=true").await.1,
        json!(["gone", "other", "users"])
    );
    assert_eq!(
        s.get("/config").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(s.get("/config/users").await.1["compatibilityLevel"], "NONE");
    assert_eq!(s.get("/mode/users").await.1, json!({"mode": "READONLY"}));
    assert_eq!(s.get("/subjects/users/versions/1").await.1["id"], 1);
    assert_eq!(s.get("/schemas/ids/7").await.1["schema"], "\"double\"");
    assert_eq!(s.get("/schemas/ids/3").await.0, 404);
    assert_eq!(
        s.get("/subjects/cleared/versions?deleted=true").await.0,
        404
    );
    // New ids continue after the highest in the topic.
    assert_eq!(s.register("next", &json!("bytes")).await, 8);
    s.stop().await;
}

/// The key every record Schemata writes must carry, rebuilt from its parts in Confluent's
/// `@JsonPropertyOrder` with no whitespace (compaction compares key bytes).
fn confluent_key(key: &Value) -> String {
    let kt = key["keytype"].as_str().unwrap();
    let subject = key.get("subject").map(|s| format!(",\"subject\":{s}"));
    match kt {
        "SCHEMA" => format!(
            r#"{{"keytype":"SCHEMA"{},"version":{},"magic":1}}"#,
            subject.unwrap(),
            key["version"]
        ),
        "NOOP" => r#"{"keytype":"NOOP","magic":0}"#.to_string(),
        _ => format!(
            r#"{{"keytype":"{kt}"{},"magic":0}}"#,
            subject.unwrap_or_default()
        ),
    }
}

#[tokio::test]
async fn writes_byte_exact_confluent_records() {
    let broker = broker_or_skip!();
    let topic = unique_topic("exact");
    let s = server_on(&topic).await;
    let id = s
        .register("orders-value", &common::record("Order", &["id"]))
        .await;
    s.register(
        "orders-value",
        &common::record_with_defaults("Order", &["id", "note"]),
    )
    .await;
    s.put("/config", json!({"compatibility": "NONE"})).await;
    s.put("/config/orders-value", json!({"compatibility": "FULL"}))
        .await;
    s.put("/mode/orders-value", json!({"mode": "READWRITE"}))
        .await;
    s.delete("/subjects/orders-value/versions/2").await;
    s.register("gone", &json!("int")).await;
    s.delete("/subjects/gone").await;
    s.delete("/subjects/gone?permanent=true").await;
    s.stop().await;

    let records = consume_all(&broker, &topic);
    let mut keytypes = std::collections::BTreeSet::new();
    for (offset, key, value) in &records {
        let text = String::from_utf8(key.clone()).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text, confluent_key(&parsed), "key at offset {offset}");
        keytypes.insert(parsed["keytype"].as_str().unwrap().to_string());
        if let Some(v) = value {
            let v: Value = serde_json::from_slice(v).expect("value is JSON");
            if parsed["keytype"] == "SCHEMA" {
                assert_eq!(v["subject"], parsed["subject"]);
                assert_eq!(v["version"], parsed["version"]);
                assert!(v["id"].is_i64() && v["schema"].is_string() && v["deleted"].is_boolean());
                assert!(
                    v.get("schemaType").is_none(),
                    "AVRO is written without schemaType"
                );
            }
        }
    }
    for kt in ["NOOP", "SCHEMA", "CONFIG", "MODE"] {
        assert!(keytypes.contains(kt), "no {kt} record in {keytypes:?}");
    }
    let keys: Vec<_> = records
        .iter()
        .map(|(_, k, _)| String::from_utf8_lossy(k).to_string())
        .collect();
    for exact in [
        r#"{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}"#,
        r#"{"keytype":"CONFIG","magic":0}"#,
        r#"{"keytype":"CONFIG","subject":"orders-value","magic":0}"#,
        r#"{"keytype":"MODE","subject":"orders-value","magic":0}"#,
    ] {
        assert!(keys.iter().any(|k| k == exact), "{exact} not in {keys:#?}");
    }
    let first = records
        .iter()
        .find(|(_, k, _)| {
            k.starts_with(br#"{"keytype":"SCHEMA","subject":"orders-value","version":1,"#)
        })
        .unwrap();
    let v: Value = serde_json::from_slice(first.2.as_ref().unwrap()).unwrap();
    assert_eq!(v["id"].as_i64(), Some(id));
    // The permanent delete left a tombstone for gone v1.
    assert!(records.iter().any(|(_, k, v)| v.is_none()
        && k == br#"{"keytype":"SCHEMA","subject":"gone","version":1,"magic":1}"#));
}

#[tokio::test]
async fn restart_replays_the_topic() {
    let _broker = broker_or_skip!();
    let topic = unique_topic("restart");
    let s = server_on(&topic).await;
    for i in 0..50 {
        s.register(&format!("s{i}"), &common::record(&format!("R{i}"), &["a"]))
            .await;
    }
    s.delete("/subjects/s0").await;
    let before = (s.get("/subjects").await.1, s.get("/schemas").await.1);
    s.stop().await;
    let s = server_on(&topic).await;
    assert_eq!(
        (s.get("/subjects").await.1, s.get("/schemas").await.1),
        before
    );
    assert_eq!(s.register("new", &json!("string")).await, 51);
    s.stop().await;
}

/// A deposed leader's late record (fenced: it names an end of the log that has moved on) is
/// not applied, and the leader restates the key's value behind it, so compaction — which keeps
/// a key's last record — cannot leave the fenced one as the only record of that version.
#[tokio::test]
async fn a_late_record_of_a_deposed_leader_is_ignored_and_its_key_restated() {
    let broker = broker_or_skip!();
    let topic = unique_topic("late");
    let s = server_on(&topic).await;
    let mine = common::record("Mine", &["a"]);
    assert_eq!(s.register("s", &mine).await, 1);
    let key = r#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#;
    let late = json!({"subject": "s", "version": 1, "id": 1, "schema": "\"int\"",
        "deleted": false})
    .to_string();
    let producer: FutureProducer = client(&broker).create().unwrap();
    producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .partition(0)
                .key(key)
                .payload(&late)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "schemata.after",
                    value: Some("0"),
                })),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let value_of = |records: &[OnWire]| -> Vec<(i64, String)> {
        records
            .iter()
            .filter(|(_, k, _)| k == key.as_bytes())
            .map(|(o, _, v)| (*o, String::from_utf8(v.clone().unwrap()).unwrap()))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let restated = loop {
        let on_wire = value_of(&consume_all(&broker, &topic));
        if on_wire.len() == 3 {
            break on_wire;
        }
        assert!(Instant::now() < deadline, "not restated: {on_wire:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Registered, then the late record, then the leader's restatement of the registered one.
    assert_eq!(restated[1].1, late);
    assert_eq!(restated[2].1, restated[0].1);
    let (_, by_id) = s.get("/schemas/ids/1").await;
    assert_eq!(by_id["schema"], json!(mine.to_string()));
    s.stop().await;
    // A fresh reader of the topic skips the late record too.
    let s = server_on(&topic).await;
    assert_eq!(
        s.get("/schemas/ids/1").await.1["schema"],
        json!(mine.to_string())
    );
    assert_eq!(s.register("next", &json!("string")).await, 2);
    s.stop().await;
}

/// A record another process wrote while the registry runs is applied before the registry
/// chooses its next id: each write first reads the log to its end (a NOOP of its own), so the
/// new schema never takes an id the log already gives to another.
#[tokio::test]
async fn a_record_written_by_another_process_is_applied_before_the_next_id() {
    let broker = broker_or_skip!();
    let topic = unique_topic("foreign");
    let s = server_on(&topic).await;
    assert_eq!(s.register("mine", &json!("string")).await, 1);
    let foreign = json!({"subject": "theirs", "version": 1, "id": 2, "schema": "\"int\"",
        "deleted": false})
    .to_string();
    produce(
        &broker,
        &topic,
        &[(
            r#"{"keytype":"SCHEMA","subject":"theirs","version":1,"magic":1}"#,
            Some(&foreign),
        )],
    )
    .await;
    // No wait: the registration itself must find the foreign record.
    let id = s.register("mine-too", &json!("long")).await;
    assert_eq!(id, 3, "took an id the log already holds");
    assert_eq!(s.get("/schemas/ids/2").await.1["schema"], json!("\"int\""));
    assert_eq!(s.get("/schemas/ids/3").await.1["schema"], json!("\"long\""));
    assert_eq!(s.get("/subjects/theirs/versions/1").await.1["id"], json!(2));
    let before = s.get("/schemas?deleted=true").await.1;
    s.stop().await;
    let s = server_on(&topic).await;
    assert_eq!(
        s.get("/schemas?deleted=true").await.1,
        before,
        "replay disagrees"
    );
    s.stop().await;
}

/// SASL/SCRAM against Tansu's `--authentication`: users can only be created while the broker
/// runs without it (its CLI cannot log in), so create, restart with it, then connect.
#[tokio::test]
async fn sasl_scram_logins() {
    let _broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    {
        let _open = Tansu::start(dir.path(), port, &[]);
        for (mechanism, user) in [("scram256", "alice"), ("scram512", "bob")] {
            let status = std::process::Command::new("tansu")
                .args([
                    "user",
                    "create",
                    "--broker",
                    &format!("tcp://127.0.0.1:{port}"),
                ])
                .args(["--mechanism", mechanism, user, "s3cret"])
                .status()
                .unwrap();
            assert!(status.success(), "tansu user create {user}");
        }
    }
    let _secured = Tansu::start(dir.path(), port, &["--authentication"]);
    let url = format!("kafka://127.0.0.1:{port}/_schemas");
    let sasl = |mechanism: &str, user: &str, password: &str| KafkaConfig {
        security_protocol: "SASL_PLAINTEXT".into(),
        sasl_mechanism: Some(mechanism.into()),
        sasl_username: Some(user.into()),
        sasl_password: Some(schemata::store::kafka::Secret::new(password)),
        init_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    for (mechanism, user) in [("SCRAM-SHA-256", "alice"), ("SCRAM-SHA-512", "bob")] {
        let store = Store::open_with(&url, &sasl(mechanism, user, "s3cret"))
            .await
            .unwrap_or_else(|e| panic!("{mechanism} login as {user}: {e}"));
        let last = store
            .append(
                &[RawRecord {
                    key: br#"{"keytype":"NOOP","magic":0}"#.to_vec(),
                    value: None,
                }],
                0,
                None,
            )
            .await
            .unwrap();
        assert!(!store.read_after(last - 1, 10).await.unwrap().is_empty());
        store.close().await;
    }
    match Store::open_with(&url, &sasl("SCRAM-SHA-256", "alice", "wrong")).await {
        Err(e) => assert!(!e.to_string().contains("wrong"), "password leaked: {e}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
}
