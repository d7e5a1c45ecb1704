//! Fills a `_schemas` topic with N registrations in Confluent's record format, for
//! `scripts/bench-replay`: `cargo run --example fill_schemas_topic -- BROKER TOPIC N`.
//!
//! Each schema is a distinct record type under its own subject, as a registry with N subjects
//! holds them; the topic is created (1 partition, compacted) if missing.

use std::time::Instant;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [broker, topic, n] = args.as_slice() else {
        anyhow::bail!("usage: fill_schemas_topic BROKER TOPIC N");
    };
    let n: usize = n.parse()?;
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", broker);
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    for r in admin.create_topics([&new], &AdminOptions::new()).await? {
        if let Err((t, code)) = r {
            anyhow::bail!("cannot create {t}: {code}");
        }
    }
    let producer: FutureProducer = client
        .clone()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let started = Instant::now();
    let mut pending = Vec::with_capacity(n);
    for i in 1..=n {
        let subject = format!("bench-{i}-value");
        let schema = json!({
            "type": "record",
            "name": format!("Bench{i}"),
            "namespace": "com.example.bench",
            "fields": [
                {"name": "id", "type": "long"},
                {"name": "name", "type": "string"},
                {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
            ],
        })
        .to_string();
        let key = format!(
            r#"{{"keytype":"SCHEMA","subject":{},"version":1,"magic":1}}"#,
            json!(subject)
        );
        let value =
            json!({"subject": subject, "version": 1, "id": i, "schema": schema, "deleted": false})
                .to_string();
        let record = FutureRecord::to(topic)
            .partition(0)
            .key(&key)
            .payload(&value);
        match producer.send_result(record) {
            Ok(f) => pending.push(f),
            Err((e, _)) => anyhow::bail!("produce: {e}"),
        }
    }
    for f in pending {
        f.await?
            .map_err(|(e, _)| anyhow::anyhow!("delivery: {e}"))?;
    }
    eprintln!(
        "produced {n} SCHEMA records to {topic} in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}
