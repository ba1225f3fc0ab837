//! Publishing records to Kafka with an idempotent producer.
//!
//! The producer is configured for no loss and no reordering on retry: `enable.idempotence=true`
//! (which implies `acks=all` and at most 5 requests in flight per connection, with sequence
//! numbers the broker checks), `acks=all` written out anyway, and a bounded
//! `delivery.timeout.ms` after which a record fails and its batch is answered RETRY. The
//! partitioner is `murmur2_random`, Kafka's Java default, so other clients agree on which
//! partition an endpoint's key lands in; empty keys (events that name no endpoint) hash like
//! any other key.
//!
//! Records of a batch are enqueued in order before the next batch of the stream is read, so
//! one endpoint's records keep the collector's order within the partition.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::record::{Record, SCHEMA, SCHEMA_HEADER};
use crate::config::KafkaConfig;

/// A Kafka failure.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The producer or admin client could not be created (a bad property).
    #[error("Kafka client configuration: {0}")]
    Config(KafkaError),
    /// A record could not be enqueued.
    #[error("could not enqueue a record: {0}")]
    Enqueue(KafkaError),
    /// A record was not delivered.
    #[error("record not delivered: {0}")]
    Delivery(KafkaError),
    /// The producer went away before reporting.
    #[error("the producer was closed before the delivery report")]
    Canceled,
    /// Cluster metadata could not be read.
    #[error("Kafka metadata: {0}")]
    Metadata(KafkaError),
    /// The topic is missing or unusable.
    #[error("topic `{topic}`: {problem}")]
    Topic {
        /// The topic.
        topic: String,
        /// What is wrong.
        problem: String,
    },
    /// Creating the topic failed.
    #[error("creating topic `{topic}`: {cause}")]
    Create {
        /// The topic.
        topic: String,
        /// Why.
        cause: KafkaError,
    },
}

/// The producer settings the ingestor relies on, then the configured extra properties.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers);
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c
}

/// The producer's `linger.ms` unless `[kafka.properties]` sets it.
pub const DEFAULT_LINGER_MS: &str = "50";

fn producer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(cfg);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "delivery.timeout.ms",
            cfg.delivery_timeout.as_millis().to_string(),
        )
        .set("partitioner", "murmur2_random");
    // librdkafka's default linger (5 ms) makes its broker thread wake 200 times a second
    // while batches stream in, for records that mostly arrive together anyway (one gRPC
    // batch is enqueued at once). 50 ms costs a batch at most that much latency and saves
    // about 40 % of the ingestor's CPU under load (BENCHMARKS.md); a configured value wins.
    if !cfg.properties.contains_key("linger.ms")
        && !cfg.properties.contains_key("queue.buffering.max.ms")
    {
        c.set("linger.ms", DEFAULT_LINGER_MS);
    }
    // librdkafka refuses records over message.max.bytes (1,000,000 by default).
    let needed = cfg.max_record_bytes + 64 * 1024;
    if needed > 1_000_000 && !cfg.properties.contains_key("message.max.bytes") {
        c.set("message.max.bytes", needed.to_string());
    }
    c
}

/// State of the events topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStatus {
    /// Its partition count.
    pub partitions: usize,
    /// Whether this call created it.
    pub created: bool,
}

/// Publishes records to one topic.
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    delivery_timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// Records of one batch on their way; [`PendingBatch::wait`] resolves when all are delivered.
pub struct PendingBatch {
    deliveries: Vec<DeliveryFuture>,
    enqueued: Instant,
}

impl std::fmt::Debug for PendingBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBatch")
            .field("records", &self.deliveries.len())
            .field("enqueued", &self.enqueued)
            .finish()
    }
}

/// A delivered batch.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Records written.
    pub records: usize,
    /// Time from the first enqueue to the last delivery report.
    pub latency: Duration,
}

impl PendingBatch {
    /// Waits for every record's delivery report; the first failure fails the batch.
    pub async fn wait(self) -> Result<Delivered, SinkError> {
        let records = self.deliveries.len();
        let mut failure = None;
        // Wait for all of them even after a failure, so that no report is pending when the
        // batch is answered (a RETRY resend then cannot overtake its own first copy).
        for d in self.deliveries {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    failure.get_or_insert(SinkError::Delivery(e));
                }
                Err(_) => {
                    failure.get_or_insert(SinkError::Canceled);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(Delivered {
                records,
                latency: self.enqueued.elapsed(),
            }),
        }
    }
}

impl KafkaSink {
    /// A producer for `cfg` (no connection is made until the first request).
    pub fn new(cfg: &KafkaConfig) -> Result<Self, SinkError> {
        let producer: FutureProducer = producer_config(cfg).create().map_err(SinkError::Config)?;
        Ok(KafkaSink {
            producer,
            topic: cfg.topic.clone(),
            delivery_timeout: cfg.delivery_timeout,
        })
    }

    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Enqueues `records` in order. When librdkafka's queue is full it waits (up to the
    /// delivery timeout) rather than fail: the in-flight bound upstream keeps this short.
    pub async fn enqueue(&self, records: &[Record]) -> Result<PendingBatch, SinkError> {
        let enqueued = Instant::now();
        let deadline = enqueued + self.delivery_timeout;
        let mut deliveries = Vec::with_capacity(records.len());
        for r in records {
            let mut record = FutureRecord::to(&self.topic)
                .key(r.key.as_bytes())
                .payload(r.value.as_slice())
                .headers(OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: SCHEMA_HEADER,
                    value: Some(SCHEMA),
                }));
            loop {
                match self.producer.send_result(record) {
                    Ok(d) => {
                        deliveries.push(d);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(SinkError::Enqueue(e)),
                }
            }
        }
        Ok(PendingBatch {
            deliveries,
            enqueued,
        })
    }

    /// Reads the topic's metadata (blocking: call it off the async workers).
    pub fn topic_status_blocking(&self, timeout: Duration) -> Result<TopicStatus, SinkError> {
        topic_status(self.producer.client(), &self.topic, timeout)
    }

    /// Flushes records still queued (blocking), up to `timeout`.
    pub fn flush_blocking(&self, timeout: Duration) -> Result<(), SinkError> {
        self.producer.flush(timeout).map_err(SinkError::Delivery)
    }

    /// Records not yet delivered.
    pub fn queued(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

fn topic_status<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<TopicStatus, SinkError> {
    let md = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(SinkError::Metadata)?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(SinkError::Topic {
            topic: topic.to_owned(),
            problem: "not in the cluster metadata".into(),
        });
    };
    if let Some(err) = t.error() {
        let code = RDKafkaErrorCode::from(err);
        return Err(SinkError::Topic {
            topic: topic.to_owned(),
            problem: code.to_string(),
        });
    }
    if t.partitions().is_empty() {
        return Err(SinkError::Topic {
            topic: topic.to_owned(),
            problem: "has no partitions".into(),
        });
    }
    Ok(TopicStatus {
        partitions: t.partitions().len(),
        created: false,
    })
}

/// Makes sure the topic exists: creates it with the configured partitions and replication
/// factor when it does not and `create` is set. Works on any Kafka cluster that allows the
/// CreateTopics request to this principal.
pub async fn ensure_topic(cfg: &KafkaConfig, create: bool) -> Result<TopicStatus, SinkError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(cfg).create().map_err(SinkError::Config)?;
    let timeout = Duration::from_secs(10);
    let admin = std::sync::Arc::new(admin);
    let status = {
        let (topic, a) = (cfg.topic.clone(), admin.clone());
        tokio::task::spawn_blocking(move || topic_status(a.inner(), &topic, timeout))
            .await
            .map_err(|_| SinkError::Canceled)?
    };
    match status {
        Ok(s) => return Ok(s),
        Err(SinkError::Topic { .. }) if create => {}
        Err(e) => return Err(e),
    }
    let new = NewTopic::new(
        &cfg.topic,
        cfg.partitions,
        TopicReplication::Fixed(cfg.replication_factor),
    );
    let opts = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics([&new], &opts)
        .await
        .map_err(|cause| SinkError::Create {
            topic: cfg.topic.clone(),
            cause,
        })?;
    let mut created = true;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => created = false,
            Err((topic, code)) => {
                return Err(SinkError::Create {
                    topic,
                    cause: KafkaError::AdminOp(code),
                })
            }
        }
    }
    // The new topic's metadata can take a moment to reach every broker.
    let deadline = Instant::now() + timeout;
    loop {
        let topic = cfg.topic.clone();
        let a = admin.clone();
        let status = tokio::task::spawn_blocking(move || {
            topic_status(a.inner(), &topic, Duration::from_secs(2))
        })
        .await
        .map_err(|_| SinkError::Canceled)?;
        match status {
            Ok(mut s) => {
                s.created = created;
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_lingers_50_ms_unless_configured() {
        let cfg = KafkaConfig::new("127.0.0.1:9092", "events");
        let c = producer_config(&cfg);
        assert_eq!(c.get("linger.ms"), Some(DEFAULT_LINGER_MS));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));

        let mut cfg = KafkaConfig::new("127.0.0.1:9092", "events");
        cfg.properties.insert("linger.ms".into(), "5".into());
        assert_eq!(producer_config(&cfg).get("linger.ms"), Some("5"));

        // The alias sets the same librdkafka property: no second value next to it.
        let mut cfg = KafkaConfig::new("127.0.0.1:9092", "events");
        cfg.properties
            .insert("queue.buffering.max.ms".into(), "20".into());
        let c = producer_config(&cfg);
        assert_eq!(c.get("linger.ms"), None);
        assert_eq!(c.get("queue.buffering.max.ms"), Some("20"));
    }
}
