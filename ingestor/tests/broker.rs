//! What the pipeline relies on from Kafka, checked on the test broker with the same client
//! (rdkafka): high watermarks count records (lag metrics, test assertions), a consumer group's
//! committed offsets survive the consumer (the analyzer resumes from them), lag is high
//! watermark minus committed offset, and the idempotent producer is accepted. docs/kafka.md
//! lists what the test broker does not do.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scepwatch_ingestor::config::KafkaConfig;
use scepwatch_ingestor::sink::kafka::ensure_topic;

async fn produce(bootstrap: &str, topic: &str, partition: i32, n: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    for i in 0..n {
        let key = format!("https://ndes.contoso.com/certsrv/mscep/mscep.dll#{i}");
        let value = format!("record {i}");
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_committed_offsets_and_lag() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("broker");
    let mut cfg = KafkaConfig::new(bootstrap.clone(), topic.clone());
    cfg.partitions = 3;
    let status = ensure_topic(&cfg, true).await.unwrap();
    assert_eq!(status.partitions, 3);
    assert!(status.created);
    // A second call finds it.
    assert!(!ensure_topic(&cfg, true).await.unwrap().created);

    produce(&bootstrap, &topic, 1, 10).await;

    let probe = group_consumer(&bootstrap, &format!("{topic}-probe"));
    assert_eq!(
        probe
            .fetch_watermarks(&topic, 1, Duration::from_secs(10))
            .unwrap(),
        (0, 10),
        "low and high watermark of the written partition"
    );
    assert_eq!(
        probe
            .fetch_watermarks(&topic, 0, Duration::from_secs(10))
            .unwrap(),
        (0, 0)
    );

    // A group member reads 4 records and commits; a later member of the group finds the
    // commit, and the lag is what is left.
    let group = format!("{topic}-analyzer");
    {
        let c = group_consumer(&bootstrap, &group);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 1, Offset::Beginning)
            .unwrap();
        c.assign(&tpl).unwrap();
        let mut read = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = -1;
        while read < 4 && Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                assert_eq!(m.offset(), read as i64, "offsets start at 0, in order");
                last = m.offset();
                read += 1;
            }
        }
        assert_eq!(read, 4);
        let mut commit = TopicPartitionList::new();
        commit
            .add_partition_offset(&topic, 1, Offset::Offset(last + 1))
            .unwrap();
        c.commit(&commit, CommitMode::Sync).unwrap();
    }
    let later = group_consumer(&bootstrap, &group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 1);
    let committed = later
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let offset = committed
        .find_partition(&topic, 1)
        .map(|p| p.offset())
        .unwrap();
    assert_eq!(offset, Offset::Offset(4));
    let (_, high) = later
        .fetch_watermarks(&topic, 1, Duration::from_secs(10))
        .unwrap();
    assert_eq!(high - 4, 6, "lag = high watermark - committed offset");

    // The later member resumes at the commit.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 1, Offset::Offset(4))
        .unwrap();
    later.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Some(m) = later.poll(Duration::from_millis(200)) {
            break m.unwrap().offset();
        }
        assert!(Instant::now() < deadline, "nothing after the commit");
    };
    assert_eq!(first, 4);
}
