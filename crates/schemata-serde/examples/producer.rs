//! Produces Avro `Order` records to Kafka in the Confluent wire format, registering the schema
//! with a running Schemata (or Confluent Schema Registry) on first use.
//!
//! ```text
//! cargo run -p schemata-serde --example producer -- localhost:9092 http://localhost:8081 orders
//! ```

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use schemata_serde::{AvroSchema, Config, ParsedSchema, Part, RegistryClient, Serializer};
use serde::Serialize;

/// The record type; its Avro schema is derived, and registered as `<topic>-value`.
#[derive(Debug, Serialize, AvroSchema)]
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

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .create()?;
    let client = RegistryClient::new(Config::builder(&registry).build())?;
    let keys = Serializer::new(client.clone(), Part::Key);
    let values = Serializer::new(client, Part::Value);
    let key_schema = ParsedSchema::parse(r#""string""#)?;

    for id in 0..10 {
        let order = Order {
            id,
            item: format!("item-{id}"),
            qty: 1 + id as i32 % 3,
        };
        let key = keys
            .serialize(&topic, &key_schema, &format!("order-{id}"))
            .await?;
        let value = values.serialize_avro(&topic, &order).await?;
        let delivery = producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
        println!(
            "produced {order:?} to partition {} offset {}",
            delivery.partition, delivery.offset
        );
    }
    Ok(())
}
