//! Consumes the `producer` example's records and decodes them, fetching each writer schema
//! from the registry once. Reads any Confluent form: id prefix, GUID prefix, or a GUID in the
//! `__value_schema_id` header.
//!
//! ```text
//! cargo run -p schemata-serde --example consumer -- localhost:9092 http://localhost:8081 orders
//! ```

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use schemata_serde::{AvroSchema, Config, Deserializer, Incoming, Part, RegistryClient};
use serde::Deserialize;

/// The reader's view of the record; Avro schema resolution maps the writer's data onto it.
#[derive(Deserialize, AvroSchema)]
#[avro(namespace = "com.acme")]
struct Order {
    id: i64,
    item: String,
    qty: i32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "localhost:9092".into());
    let registry = args
        .next()
        .unwrap_or_else(|| "http://localhost:8081".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "schemata-serde-example")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let client = RegistryClient::new(Config::builder(&registry).build())?;
    let deserializer = Deserializer::new(client);

    for _ in 0..10 {
        let msg = consumer.recv().await?;
        let header = msg.headers().and_then(|hs| {
            hs.iter()
                .find(|h| h.key == Part::Value.header())
                .and_then(|h| h.value)
        });
        let incoming = Incoming::new(msg.payload()).header(header);
        match deserializer.deserialize_avro::<Order>(incoming).await? {
            Some(order) => println!(
                "offset {}: order {} of {} x {}",
                msg.offset(),
                order.id,
                order.qty,
                order.item
            ),
            None => println!("offset {}: tombstone", msg.offset()),
        }
    }
    Ok(())
}
