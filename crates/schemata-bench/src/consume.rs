//! The broker's own ceiling for start-up replay on a Kafka store: how fast a consumer set up
//! like the registry's reader (one partition, from the beginning, large fetches) reads a topic
//! from its first record to its last.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// How long the whole read may take before the run counts as failed.
const GIVE_UP: Duration = Duration::from_secs(300);

/// The outcome of one read of a topic.
#[derive(Debug, Clone)]
pub struct ConsumeReport {
    pub records: u64,
    pub bytes: u64,
    /// From the assignment to the last record, as the registry's replay is timed.
    pub elapsed: Duration,
}

impl ConsumeReport {
    /// One JSON line, its fields in a fixed order, for a shell script to pick numbers from.
    pub fn json_line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        format!(
            "{{\"records\":{},\"bytes\":{},\"elapsed_ms\":{},\"per_s\":{:.1}}}",
            self.records,
            self.bytes,
            self.elapsed.as_millis(),
            if secs > 0.0 {
                self.records as f64 / secs
            } else {
                0.0
            }
        )
    }
}

/// Reads partition 0 of `topic` from its beginning to the end it has when the read starts.
pub fn run(brokers: &str, topic: &str) -> Result<ConsumeReport, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // librdkafka needs a group for `assign`; none is joined, no offset committed.
        .set("group.id", "schemata-bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        // The registry's reader: its default fetch wait, its fetch sizes.
        .set("fetch.wait.max.ms", "100")
        .set("max.partition.fetch.bytes", (16 << 20).to_string())
        .set("fetch.max.bytes", (64 << 20).to_string())
        .create()
        .map_err(|e| format!("cannot create a consumer: {e}"))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .map_err(|e| format!("cannot read the end of {topic}: {e}"))?;
    let mut report = ConsumeReport {
        records: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    if high <= low {
        return Ok(report);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    consumer
        .assign(&assignment)
        .map_err(|e| format!("cannot assign {topic}: {e}"))?;
    loop {
        if start.elapsed() > GIVE_UP {
            return Err(format!(
                "read {} records of {topic} in {GIVE_UP:?}, not to its end",
                report.records
            ));
        }
        match consumer.poll(Duration::from_secs(1)) {
            Some(Ok(m)) => {
                report.records += 1;
                report.bytes +=
                    (m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len)) as u64;
                if m.offset() >= high - 1 {
                    break;
                }
            }
            // The end, also when the last offsets hold no record (a transaction marker).
            Some(Err(KafkaError::PartitionEOF(_))) if report.records > 0 => break,
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}
