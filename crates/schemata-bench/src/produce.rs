//! The broker's own ceiling for `register-new` on a Kafka store: how fast it acknowledges
//! records shaped like the registry's (idempotent producer, `acks=all`, no linger, one
//! partition), to a topic of their own.
//!
//! The registry writes one registration at a time (its writer decides each on the state the
//! previous one left), so the ceiling for `register-new` is `--in-flight 1`: one record
//! produced and acknowledged after another. More in flight show the broker's throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::load::percentile;

pub struct ProduceConfig {
    /// `HOST:PORT[,HOST:PORT]`.
    pub brokers: String,
    /// Created (one partition) if missing.
    pub topic: String,
    /// Records awaiting their acknowledgement at any time.
    pub in_flight: usize,
    /// Size of each record's value.
    pub value_bytes: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The outcome of one measured run.
#[derive(Debug, Clone)]
pub struct ProduceReport {
    pub in_flight: usize,
    /// Records acknowledged during the measured period.
    pub acknowledged: u64,
    pub errors: u64,
    pub per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl ProduceReport {
    /// One JSON line, its fields in a fixed order, for a shell script to pick numbers from.
    pub fn json_line(&self) -> String {
        format!(
            "{{\"in_flight\":{},\"acknowledged\":{},\"errors\":{},\"per_s\":{:.1},\"p50_us\":{},\"p99_us\":{}}}",
            self.in_flight, self.acknowledged, self.errors, self.per_s, self.p50_us, self.p99_us
        )
    }
}

/// Produces for `warmup + duration`; counts what was acknowledged in the measured part.
pub async fn run(config: &ProduceConfig) -> Result<ProduceReport, String> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    create_topic(&client, &config.topic).await?;
    let producer: FutureProducer = client
        .clone()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .map_err(|e| format!("cannot create a producer: {e}"))?;
    let value = Arc::new(vec![b'x'; config.value_bytes]);
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let until = measure_from + config.duration;
    let tasks: Vec<_> = (0..config.in_flight.max(1))
        .map(|task| {
            let (producer, value, topic) = (producer.clone(), value.clone(), config.topic.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                for n in 0u64.. {
                    let sent = Instant::now();
                    if sent >= until {
                        break;
                    }
                    let key = format!("{{\"keytype\":\"CEILING\",\"task\":{task},\"n\":{n}}}");
                    let record = FutureRecord::to(&topic)
                        .partition(0)
                        .key(key.as_bytes())
                        .payload(value.as_slice());
                    let acknowledged = producer
                        .send(record, Timeout::After(Duration::from_secs(10)))
                        .await
                        .is_ok();
                    if sent >= measure_from {
                        match acknowledged {
                            true => latencies.push(sent.elapsed().as_micros() as u32),
                            false => errors += 1,
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task
            .await
            .map_err(|e| format!("producer task failed: {e}"))?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    Ok(ProduceReport {
        in_flight: config.in_flight.max(1),
        acknowledged: latencies.len() as u64,
        errors,
        per_s: latencies.len() as f64 / config.duration.as_secs_f64(),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
    })
}

async fn create_topic(client: &ClientConfig, topic: &str) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .map_err(|e| format!("cannot create an admin client: {e}"))?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&new], &options)
        .await
        .map_err(|e| format!("cannot create topic {topic}: {e}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(format!("cannot create topic {t}: {code}")),
        }
    }
    Ok(())
}
