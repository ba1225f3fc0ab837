//! The test Kafka broker (`scripts/kafka.sh start`, 127.0.0.1:9092 unless
//! `SCEPWATCH_KAFKA_BOOTSTRAP` says otherwise): presence, fresh topics, and records produced
//! as the ingestor produces them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The broker's address.
pub fn bootstrap_addr() -> String {
    std::env::var("SCEPWATCH_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The broker when it answers; `None` (the test returns) when it does not, outside CI. In CI
/// (`CI=true`) a missing broker fails the test.
pub fn bootstrap() -> Option<String> {
    let addr = bootstrap_addr();
    let up = std::net::TcpStream::connect_timeout(
        &addr
            .parse()
            .unwrap_or_else(|_| "127.0.0.1:9092".parse().unwrap()),
        Duration::from_secs(2),
    )
    .is_ok();
    if up {
        return Some(addr);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no Kafka broker at {addr}: run scripts/kafka.sh start");
    }
    eprintln!("SKIPPED: no Kafka broker at {addr} (scripts/kafka.sh start)");
    None
}

/// A topic name of its own for `test`.
pub fn fresh_topic(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("scepwatch-test-{test}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with `partitions`.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let r = admin
        .create_topics(
            &[t],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for x in r {
        x.unwrap();
    }
}

/// A producer configured as the ingestor's.
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .create()
        .unwrap()
}

/// Sends one record (key, value) with the schema header the ingestor sets (`schema` None: no
/// header), and waits for its delivery.
pub async fn send(p: &FutureProducer, topic: &str, key: &str, value: &[u8], schema: Option<&str>) {
    let mut record = FutureRecord::to(topic).key(key).payload(value);
    if let Some(s) = schema {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: "scepwatch.schema",
            value: Some(s),
        }));
    }
    p.send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}
