//! The Kafka store: the log is a compacted, one-partition `_schemas` topic, exactly as Confluent
//! Schema Registry and Karapace keep it, so Schemata can take over their topic (and hand it back).
//!
//! Chosen by `kafka://HOST:PORT[,HOST:PORT]/TOPIC` (topic default `_schemas`); security settings
//! come from [`KafkaConfig`]. The users log is a second `KafkaStore` on the same cluster, over
//! `[kafka] users_topic`, with the same rules below (its records are `auth::store`'s).
//!
//! - **Topic.** Created when missing with 1 partition and `cleanup.policy=compact`; an existing
//!   topic with more partitions or another cleanup policy is refused, as Confluent refuses it —
//!   order across partitions is undefined, and a deleting policy would lose schemas.
//!   Replication factor: Confluent's default of 3, capped at the live broker count with a
//!   warning (again as Confluent does), so development brokers work unconfigured.
//! - **Offsets.** The registry treats offset 0 as "nothing applied" and asks for records *after*
//!   an offset, while Kafka's first record is at offset 0. So log offset = Kafka offset + 1:
//!   [`KafkaStore::read_after`]`(n)` fetches from Kafka offset `n`, and [`KafkaStore::append`]
//!   returns the last record's Kafka offset + 1.
//! - **Knowing where the end is.** On open the store produces a NOOP record (as Confluent does
//!   to learn the log end) and the node replays until it has applied it: the NOOP's offset comes
//!   from the broker's produce acknowledgement, not from a high watermark, so a broker reporting
//!   a wrong watermark cannot end replay early. Afterwards `read_after` returns nothing only when
//!   the consumer stands at the end it last learnt (from its own appends or from ListOffsets),
//!   or librdkafka reported the partition's end.
//! - **Writes.** Idempotent producer with `acks=all`, so retries neither duplicate nor reorder.
//!   Records of one command are produced in order but not atomically (transactions would need
//!   `transactional.id`, which Tansu refuses); a failure part-way is reported as a failed write
//!   and whatever landed is applied like any record. The node answers only after its own state
//!   has applied the returned offset; a produce that times out is reported as a timeout (50002)
//!   even though the record may still land — exactly Confluent's ambiguity.
//! - **Id watermark.** `Store::id_watermark` is 0 here: a hard delete is a tombstone that
//!   Kafka keeps for `delete.retention.ms` (24 h by default) after compaction reaches it, and the
//!   record it deletes stays until then too, so replay still sees the highest id. An id could
//!   only be reused if its last record was compacted away and the registry restarted after that
//!   — the same exposure Confluent has.
//! - **Before its first write as leader** the node calls [`KafkaStore::mark_end`] and applies
//!   the log up to that NOOP; later writes are decided on what it has applied and fenced to it
//!   ([`fence`]), so a record written by another process or an earlier, timed-out write makes
//!   the write land fenced and be decided again once it is applied.
//! - **One writer.** Several Schemata nodes may share a topic: they elect one writer through a
//!   lease log (`super::lease`), and every record the writer produces is fenced to the end of
//!   the log it decided on ([`fence`]), so a deposed writer's late records count for no reader.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};
use rdkafka::{Message, Offset, TopicPartitionList};

mod config;
pub mod fence;

pub use config::{KafkaConfig, KafkaOverrides, Secret};

use super::{StoreError, Stored};
use crate::registry::record::{GlobalKeyForm, RawRecord, Record};

/// The topic when the URL names none, as Confluent's `kafkastore.topic`.
pub const DEFAULT_TOPIC: &str = "_schemas";

pub struct KafkaStore {
    topic: String,
    /// Replaced after a failed produce (see [`KafkaStore::append`]).
    producer: std::sync::RwLock<FutureProducer>,
    /// How to make a producer again.
    producer_config: ClientConfig,
    consumer: Arc<StreamConsumer<ReaderContext>>,
    /// The Kafka offset the consumer delivers next, or `None` when unknown (never assigned, or a
    /// read was cancelled part-way); a mismatch with the requested offset re-assigns.
    cursor: tokio::sync::Mutex<Option<i64>>,
    /// A Kafka offset the log is known to reach (exclusive): the high watermark as last learnt.
    known_end: AtomicI64,
    /// The log offset of the NOOP produced on open: replay is complete once it is applied.
    opened_at: i64,
    timeout: Duration,
    /// Keys whose last record read was fenced, for the leader to restate (see [`fence`]).
    fenced: std::sync::Mutex<std::collections::HashSet<Vec<u8>>>,
}

impl KafkaStore {
    /// Parses `HOST:PORT[,HOST:PORT][/TOPIC]` (what follows `kafka://`).
    pub fn parse_url(rest: &str) -> Option<(String, String)> {
        let (brokers, topic) = match rest.split_once('/') {
            Some((b, "")) => (b, DEFAULT_TOPIC),
            Some((b, t)) => (b, t),
            None => (rest, DEFAULT_TOPIC),
        };
        let valid_brokers = !brokers.is_empty()
            && brokers.split(',').all(|b| {
                b.rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            });
        (valid_topic(topic) && valid_brokers).then(|| (brokers.to_string(), topic.to_string()))
    }

    /// Connects, creates or verifies the topic and marks the log's current end with a NOOP.
    pub async fn open(
        brokers: &str,
        topic: &str,
        config: &KafkaConfig,
    ) -> Result<KafkaStore, StoreError> {
        let client = client_config(brokers, config);
        let admin: AdminClient<DefaultClientContext> = client.create().map_err(kafka)?;
        let producer_config = client
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // A registration waits for its record: don't hold it back to batch.
            .set("linger.ms", "0")
            .set("message.timeout.ms", config.timeout.as_millis().to_string())
            .clone();
        let producer: FutureProducer = producer_config.create().map_err(kafka)?;
        let consumer: StreamConsumer<ReaderContext> = client
            .clone()
            // librdkafka refuses `assign` without a group; no group is joined nor offset
            // committed (the registry always reads the whole log, as Confluent's reader does).
            .set("group.id", "schemata")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            // Replay in large fetches; tail with short broker waits so writes are seen promptly.
            .set(
                "fetch.wait.max.ms",
                config.fetch_wait.as_millis().to_string(),
            )
            .set("max.partition.fetch.bytes", (16 << 20).to_string())
            .set("fetch.max.bytes", (64 << 20).to_string())
            .create_with_context(ReaderContext)
            .map_err(kafka)?;
        let consumer = Arc::new(consumer);

        let brokers_up = wait_for_cluster(&consumer, brokers, config.init_timeout).await?;
        ensure_topic(&admin, &consumer, topic, brokers_up, config).await?;

        let mut store = KafkaStore {
            topic: topic.to_string(),
            producer: std::sync::RwLock::new(producer),
            producer_config,
            consumer,
            cursor: tokio::sync::Mutex::new(None),
            known_end: AtomicI64::new(0),
            opened_at: 0,
            timeout: config.timeout,
            fenced: Default::default(),
        };
        store.opened_at = store.mark_end().await?;
        Ok(store)
    }

    /// Produces a NOOP record and returns its log offset: everything any producer had written
    /// before lies at or below it. NOOPs share one key, so compaction keeps just the last.
    pub async fn mark_end(&self) -> Result<i64, StoreError> {
        self.append(&[Record::Noop.encode(GlobalKeyForm::Omitted)], None)
            .await
    }

    /// Gives back keys [`KafkaStore::take_fenced`] took.
    pub fn keep_fenced(&self, keys: Vec<Vec<u8>>) {
        let mut fenced = self.fenced.lock().unwrap_or_else(|p| p.into_inner());
        fenced.extend(keys);
    }

    /// Takes the keys whose last record read was fenced (see [`fence`]).
    pub fn take_fenced(&self) -> Vec<Vec<u8>> {
        let mut fenced = self.fenced.lock().unwrap_or_else(|p| p.into_inner());
        fenced.drain().collect()
    }

    /// Produces `records` in order; returns the log offset of the last one once every record is
    /// acknowledged by all in-sync replicas.
    ///
    /// A failed or timed-out produce replaces the producer. After a broker restart, an idempotent
    /// producer can be left refusing every record (its producer id unknown to the broker, or
    /// librdkafka's fatal idempotence state), which only a new producer ends; and librdkafka's
    /// own message timeout fires late while no broker is reachable, so the wait is bounded here
    /// too. Dropping the old producer purges what it still queues; anything it had already sent
    /// may land — the ambiguity every timed-out write has (50002), which the next write resolves
    /// by reading to the end of the log first.
    ///
    /// `after`: the log offset these records must directly follow ([`fence`]); the records
    /// carry it, and if any landed elsewhere this fails with [`StoreError::Fenced`].
    pub async fn append(
        &self,
        records: &[RawRecord],
        after: Option<i64>,
    ) -> Result<i64, StoreError> {
        let producer = self
            .producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let produced =
            match tokio::time::timeout(self.timeout, self.produce(&producer, records, after)).await
            {
                Ok(produced) => produced,
                Err(_) => Err(StoreError::Timeout(format!(
                    "produce not acknowledged within {} ms",
                    self.timeout.as_millis()
                ))),
            };
        match produced {
            Ok((first, last)) => {
                self.known_end.fetch_max(last + 1, Ordering::SeqCst);
                match after {
                    // Kafka offsets are log offsets - 1: the first record had to land at
                    // log offset `after + 1`, and the rest right behind it.
                    Some(after) if first != after || last - first + 1 != records.len() as i64 => {
                        Err(StoreError::Fenced {
                            landed: last + 1,
                            after,
                            // The first landed where it had to: it (and those right behind it)
                            // count, the rest do not.
                            partly: first == after,
                        })
                    }
                    Some(_) => {
                        // These records count and are now their keys' last: none of those
                        // keys needs restating any more (the writer applies them without
                        // reading them back, so the reader would not see them to say so).
                        self.counted(records.iter().map(|r| r.key.as_slice()));
                        Ok(last + 1)
                    }
                    None => Ok(last + 1),
                }
            }
            Err(e) if !needs_new_producer(&e) => Err(e),
            Err(e) => {
                self.renew_producer(&producer);
                // What the old producer still queues must never land after a later write's
                // records: purge it now, and finish destroying it (which may wait on its
                // threads, so not on a runtime worker) before the writer moves on.
                producer.purge(PurgeConfig::default().queue());
                let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
                Err(e)
            }
        }
    }

    /// Sends every record, then waits for each acknowledgement; the first and the last
    /// record's Kafka offsets.
    async fn produce(
        &self,
        producer: &FutureProducer,
        records: &[RawRecord],
        after: Option<i64>,
    ) -> Result<(i64, i64), StoreError> {
        let mut pending = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .partition(0)
                .key(&r.key);
            if let Some(v) = &r.value {
                record = record.payload(v);
            }
            if let Some(after) = after {
                record = record.headers(fence::header(after + i as i64));
            }
            let delivery = producer
                .send_result(record)
                .map_err(|(e, _)| produce_error(e))?;
            pending.push(delivery);
        }
        let (mut first, mut last) = (i64::MAX, -1);
        for delivery in pending {
            let delivered = delivery
                .await
                .map_err(|_| StoreError::Kafka("the producer shut down during a write".into()))?
                .map_err(|(e, _)| produce_error(e))?;
            first = first.min(delivered.offset);
            last = last.max(delivered.offset);
        }
        Ok((first, last))
    }

    /// Replaces `failed` with a new producer, unless another write already did.
    fn renew_producer(&self, failed: &FutureProducer) {
        let mut current = self.producer.write().unwrap_or_else(|p| p.into_inner());
        if !std::ptr::eq(current.client().native_ptr(), failed.client().native_ptr()) {
            return;
        }
        match self.producer_config.create::<FutureProducer>() {
            Ok(fresh) => {
                tracing::warn!(topic = %self.topic, "a produce failed; using a new Kafka producer");
                *current = fresh;
            }
            Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
        }
    }

    /// `keys` have a record that counts as their last: none needs restating any more.
    fn counted<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) {
        let mut fenced = self.fenced.lock().unwrap_or_else(|p| p.into_inner());
        if !fenced.is_empty() {
            for key in keys {
                fenced.remove(key);
            }
        }
    }

    /// Up to `limit` records after log offset `offset`. Empty means the consumer is at the end
    /// of the log as far as the broker has said; waits at most the configured timeout for
    /// records known to exist, then fails rather than pretend the log ended.
    pub async fn read_after(&self, offset: i64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let from = offset; // Kafka offset of the first record wanted.
        let mut cursor = self.cursor.lock().await;
        if *cursor != Some(from) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&self.topic, 0, Offset::Offset(from))
                .map_err(kafka)?;
            self.consumer.assign(&tpl).map_err(kafka)?;
        }
        let mut end = self.known_end.load(Ordering::SeqCst);
        if from >= end {
            end = self.high_watermark().await?;
            self.known_end.fetch_max(end, Ordering::SeqCst);
            if from >= end {
                *cursor = Some(from);
                return Ok(vec![]);
            }
        }
        // Until this read returns, the consumer's position is ahead of anything recorded: if
        // the future is dropped part-way, the next read must re-assign.
        *cursor = None;
        let mut next = from;
        let mut out = Vec::new();
        let deadline = Instant::now() + self.timeout;
        while out.len() < limit && next < end {
            let wait = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) if out.is_empty() => {
                    return Err(StoreError::Timeout(format!(
                        "no record from topic '{}' at offset {from} within {} ms, though the log reaches {end}",
                        self.topic,
                        self.timeout.as_millis()
                    )))
                }
                Err(_) => break,
                // The end of the partition (possibly reported before our last appends arrived;
                // the node polls again until it has applied what it waits for).
                Ok(Err(KafkaError::PartitionEOF(_))) => break,
                // librdkafka reconnects by itself; what it reported while the broker was away
                // waits in the queue and must not fail reads once the broker is back.
                Ok(Err(e)) if connection_trouble(&e) => {
                    tracing::debug!(error = %e, "Kafka connection trouble while reading");
                }
                Ok(Err(e)) => return Err(kafka(e)),
                Ok(Ok(m)) => {
                    if m.offset() < next {
                        continue; // left over from before a re-assign
                    }
                    next = m.offset() + 1;
                    let offset = m.offset() + 1;
                    let key = m.key().unwrap_or_default();
                    let record = if fence::holds(&m, offset) {
                        if !fence::is_noop(key) {
                            self.counted([key]);
                        }
                        RawRecord {
                            key: key.to_vec(),
                            value: m.payload().map(<[u8]>::to_vec),
                        }
                    } else {
                        tracing::warn!(
                            topic = %self.topic,
                            offset,
                            key = %String::from_utf8_lossy(key),
                            "ignored a fenced record: its writer decided it on an older end of the log"
                        );
                        if !fence::is_noop(key) {
                            let mut fenced = self.fenced.lock().unwrap_or_else(|p| p.into_inner());
                            if fenced.len() < fence::MAX_REMEMBERED {
                                fenced.insert(key.to_vec());
                            } else {
                                tracing::error!(topic = %self.topic, offset,
                                    "too many fenced records to restate; restart the leader to restate them");
                            }
                        }
                        Record::Noop.encode(GlobalKeyForm::Omitted)
                    };
                    out.push(Stored { offset, record });
                }
            }
        }
        *cursor = Some(next);
        Ok(out)
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The log offset replay must reach before the node serves: the NOOP written on open.
    pub fn opened_at(&self) -> i64 {
        self.opened_at
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn close(&self) {
        let producer = self
            .producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let timeout = self.timeout;
        let _ = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        let _ = self.consumer.unassign();
    }

    /// The partition's high watermark from the broker (ListOffsets), not from a cache.
    async fn high_watermark(&self) -> Result<i64, StoreError> {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || consumer.fetch_watermarks(&topic, 0, timeout))
            .await
            .map_err(|e| StoreError::Kafka(e.to_string()))?
            .map(|(_, high)| high)
            .map_err(kafka)
    }
}

/// Kafka's rule for topic names.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && topic != "."
        && topic != ".."
}

/// The reader's librdkafka context: reaching the end of the partition is how the reader knows
/// it is caught up, not an error worth a log line on every write.
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "Kafka client error");
        }
    }
}

impl ConsumerContext for ReaderContext {}

type Reader = Arc<StreamConsumer<ReaderContext>>;

/// Settings every client (admin, producer, consumer) shares. The password goes only to
/// librdkafka, never to a log line.
fn client_config(brokers: &str, config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "schemata")
        .set(
            "security.protocol",
            config.security_protocol.to_ascii_lowercase(),
        );
    if let Some(m) = &config.sasl_mechanism {
        c.set("sasl.mechanism", m);
    }
    if let Some(u) = &config.sasl_username {
        c.set("sasl.username", u);
    }
    if let Some(p) = &config.sasl_password {
        c.set("sasl.password", p.expose());
    }
    if let Some(ca) = &config.ssl_ca_location {
        c.set("ssl.ca.location", ca.to_string_lossy());
    }
    c
}

/// Retries metadata until the cluster answers or `init_timeout` passes; returns how many
/// brokers it lists.
async fn wait_for_cluster(
    consumer: &Reader,
    brokers: &str,
    init_timeout: Duration,
) -> Result<usize, StoreError> {
    let deadline = Instant::now() + init_timeout;
    loop {
        let c = consumer.clone();
        let attempt = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(5))
            .max(Duration::from_millis(100));
        let result = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(None, attempt).map(|m| m.brokers().len())
        })
        .await
        .map_err(|e| StoreError::Kafka(e.to_string()))?;
        match result {
            Ok(n) if n > 0 => return Ok(n),
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => {
                return Err(StoreError::Unavailable(format!(
                    "no Kafka broker at {brokers} answered within {} ms: {e}",
                    init_timeout.as_millis()
                )))
            }
            Err(e) => {
                tracing::warn!(%brokers, error = %e, "Kafka cluster not reachable yet; retrying")
            }
        }
        if Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "the Kafka cluster at {brokers} listed no brokers within {} ms",
                init_timeout.as_millis()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Creates the topic if missing; otherwise checks it is one compacted partition.
async fn ensure_topic(
    admin: &AdminClient<DefaultClientContext>,
    consumer: &Reader,
    topic: &str,
    brokers_up: usize,
    config: &KafkaConfig,
) -> Result<(), StoreError> {
    let options = AdminOptions::new().request_timeout(Some(config.init_timeout));
    match partitions(consumer, topic, config.init_timeout).await? {
        None => {
            let replication = config.replication_factor.min(brokers_up as i32);
            if replication < config.replication_factor {
                tracing::warn!(
                    topic,
                    replication,
                    wanted = config.replication_factor,
                    "creating a topic with fewer replicas than configured because only \
                     {brokers_up} broker(s) are up; add brokers and raise it in production"
                );
            }
            let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
                .set("cleanup.policy", "compact");
            let results = admin.create_topics([&new], &options).await.map_err(kafka)?;
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((t, code)) => {
                        return Err(StoreError::Topic(format!(
                            "cannot create topic '{t}': {code}"
                        )))
                    }
                }
            }
            tracing::info!(topic, replication, "created the topic");
            // Metadata may lag creation by a moment; the topic must be visible before use.
            let deadline = Instant::now() + config.init_timeout;
            while partitions(consumer, topic, config.init_timeout)
                .await?
                .is_none()
            {
                if Instant::now() >= deadline {
                    return Err(StoreError::Topic(format!(
                        "topic '{topic}' was created but never appeared in metadata"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            verify_topic(admin, consumer, topic, config).await
        }
        Some(_) => verify_topic(admin, consumer, topic, config).await,
    }
}

async fn verify_topic(
    admin: &AdminClient<DefaultClientContext>,
    consumer: &Reader,
    topic: &str,
    config: &KafkaConfig,
) -> Result<(), StoreError> {
    let n = partitions(consumer, topic, config.init_timeout)
        .await?
        .unwrap_or(0);
    if n != 1 {
        return Err(StoreError::Topic(format!(
            "topic '{topic}' has {n} partitions; a registry topic must have exactly 1, \
             or records lose their order"
        )));
    }
    let options = AdminOptions::new().request_timeout(Some(config.init_timeout));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(kafka)?;
    let resource = described
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Topic(format!("the broker described no config for '{topic}'")))?
        .map_err(|code| StoreError::Topic(format!("cannot describe topic '{topic}': {code}")))?;
    let policy = resource
        .get("cleanup.policy")
        .and_then(|e| e.value.clone())
        .unwrap_or_default();
    if policy != "compact" {
        return Err(StoreError::Topic(format!(
            "topic '{topic}' has cleanup.policy '{policy}'; a registry topic must be 'compact' \
             (only), or the broker will delete its records"
        )));
    }
    Ok(())
}

/// The topic's partition count, or `None` if the broker does not know it.
async fn partitions(
    consumer: &Reader,
    topic: &str,
    timeout: Duration,
) -> Result<Option<usize>, StoreError> {
    let c = consumer.clone();
    let t = topic.to_string();
    let metadata = tokio::task::spawn_blocking(move || c.fetch_metadata(Some(&t), timeout))
        .await
        .map_err(|e| StoreError::Kafka(e.to_string()))?
        .map_err(kafka)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// Whether a failed produce calls for a new producer: not for a record the client refuses by
/// itself (too large, say), which a new producer would refuse just the same.
fn needs_new_producer(e: &StoreError) -> bool {
    !matches!(e, StoreError::Refused(_))
}

/// Errors about reaching the cluster, which librdkafka recovers from on its own.
fn connection_trouble(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::OperationTimedOut
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::RequestTimedOut
                | C::BrokerNotAvailable
                | C::NetworkException
        )
    )
}

fn kafka(e: KafkaError) -> StoreError {
    StoreError::Kafka(e.to_string())
}

fn produce_error(e: KafkaError) -> StoreError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut) => {
            StoreError::Timeout(format!("produce not acknowledged in time: {e}"))
        }
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord,
        ) => StoreError::Refused(e.to_string()),
        _ => kafka(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            KafkaStore::parse_url("localhost:9092"),
            Some(("localhost:9092".into(), "_schemas".into()))
        );
        assert_eq!(
            KafkaStore::parse_url("a:1,b:2/_schemas_2"),
            Some(("a:1,b:2".into(), "_schemas_2".into()))
        );
        assert_eq!(
            KafkaStore::parse_url("a:1/"),
            Some(("a:1".into(), "_schemas".into()))
        );
        assert_eq!(KafkaStore::parse_url("a/_schemas"), None);
        assert_eq!(KafkaStore::parse_url("a:1/bad topic"), None);
        assert_eq!(KafkaStore::parse_url(""), None);
    }
}
