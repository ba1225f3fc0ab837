//! Batches in, Kafka records out: what is published, how it is keyed, and when it is
//! acknowledged. Against the real broker (`scripts/kafka.sh start`).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::*;
use scepwatch_proto::v1::batch_ack::Status as AckStatus;
use scepwatch_proto::v1::Event;

/// `n` events of a log none of whose lines in the batch names an endpoint (another site's log:
/// an event that names none travels with its source's naming events, and this source has none).
fn unnamed(start: u64, n: u64) -> Vec<Event> {
    (0..n)
        .map(|i| iis_event("ndes01", UNNAMED_PATH, start + i * 190, ""))
        .collect()
}

const UNNAMED_PATH: &str = r"C:\inetpub\logs\LogFiles\W3SVC2\u_ex251120.log";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_one_record_per_endpoint_keyed_and_partitioned_by_endpoint() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("round-trip");
    let ing = Running::start(config(&bootstrap, &topic)).await;
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), Some("ndes01"))
        .await
        .expect("authenticated");

    // Batch 1: two endpoints interleaved, and a watermark. Batch 2: a third endpoint, more of
    // the first, and events that name no endpoint (empty key). Batch 3: more of those, and a
    // watermark alone for the second endpoint.
    let mut b1 = iis_events("ndes01", 0, 30, ENDPOINT_A);
    for (i, e) in iis_events("ndes01", 100_000, 20, ENDPOINT_B)
        .into_iter()
        .enumerate()
    {
        b1.insert(i * 2 + 1, e);
    }
    let mut batch1 = batch("ndes01", 1, b1);
    batch1.watermarks = vec![watermark("ndes01", ENDPOINT_A, 1_763_633_800_000_000)];
    let mut e2 = iis_events("ndes01", 200_000, 25, ENDPOINT_C);
    e2.extend(iis_events("ndes01", 30 * 190, 10, ENDPOINT_A));
    e2.extend(unnamed(300_000, 5));
    let batch2 = batch("ndes01", 2, e2);
    let mut batch3 = batch("ndes01", 3, unnamed(300_000 + 5 * 190, 3));
    batch3.watermarks = vec![watermark("ndes01", ENDPOINT_B, 1_763_633_900_000_000)];

    let sent: Vec<_> = [&batch1, &batch2, &batch3]
        .iter()
        .flat_map(|b| {
            b.events
                .iter()
                .map(|e| (e.id.clone(), e.endpoint_id.clone()))
        })
        .collect();
    for b in [batch1, batch2, batch3] {
        s.send(b).await;
    }
    let mut acks = HashMap::new();
    for _ in 0..3 {
        let a = s.ack().await.expect("ack");
        acks.insert(a.sequence, a);
    }
    assert_eq!(
        acks[&1].status,
        AckStatus::Accepted as i32,
        "{:?}",
        acks[&1]
    );
    assert_eq!(acks[&1].events_accepted, 50);
    assert_eq!(
        acks[&2].status,
        AckStatus::Accepted as i32,
        "{:?}",
        acks[&2]
    );
    assert_eq!(acks[&2].events_accepted, 40);
    assert_eq!(acks[&3].status, AckStatus::Accepted as i32);
    assert_eq!(acks[&3].events_accepted, 3);

    let records = consume(&bootstrap, &topic, sent.len(), Duration::from_secs(30));
    // Batch 1: A, B; batch 2: C, A, ""; batch 3: "", B (watermark only).
    assert_eq!(records.len(), 7, "one record per (batch, endpoint)");
    assert_eq!(
        records_in(&bootstrap, &topic),
        7,
        "high watermarks count the records"
    );

    let got: BTreeSet<Vec<u8>> = records
        .iter()
        .flat_map(|r| r.value.events.iter().map(|e| e.id.clone()))
        .collect();
    let want: BTreeSet<Vec<u8>> = sent.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got, want, "every event published, once");

    let mut partition_of: HashMap<String, i32> = HashMap::new();
    for r in &records {
        assert_eq!(
            r.schema_header.as_deref(),
            Some("scepwatch.v1.EndpointEvents")
        );
        assert_eq!(r.value.collector, "ndes01");
        assert_eq!(r.key, r.value.endpoint_id);
        assert!(r.value.events.iter().all(|e| e.endpoint_id == r.key));
        let p = *partition_of.entry(r.key.clone()).or_insert(r.partition);
        assert_eq!(
            p, r.partition,
            "endpoint {:?} spread over partitions",
            r.key
        );
    }
    // Events that name no endpoint (empty key) are hashed too, not spread at random.
    assert_eq!(records.iter().filter(|r| r.key.is_empty()).count(), 2);
    // Endpoint A's events come back in the collector's order (batch 1 before batch 2).
    let mut a_records: Vec<_> = records.iter().filter(|r| r.key == ENDPOINT_A).collect();
    a_records.sort_by_key(|r| r.offset);
    let positions: Vec<u64> = a_records
        .iter()
        .flat_map(|r| r.value.events.iter().map(|e| e.position))
        .collect();
    assert_eq!(positions, (0..40).map(|i| i * 190).collect::<Vec<_>>());
    assert_eq!(a_records[0].value.batch_sequence, 1);
    assert_eq!(a_records[0].value.watermarks.len(), 1);
    let b_watermark_only = records
        .iter()
        .find(|r| r.key == ENDPOINT_B && r.value.batch_sequence == 3)
        .expect("watermark-only record");
    assert!(b_watermark_only.value.events.is_empty());
    assert_eq!(b_watermark_only.value.watermarks.len(), 1);

    let m = http_get(ing.http, "/metrics").await.1;
    assert_eq!(
        metric_value(
            &m,
            "scepwatch_ingestor_published_events_total{collector=\"ndes01\"}"
        ),
        93.0
    );
    assert_eq!(
        metric_value(
            &m,
            "scepwatch_ingestor_published_records_total{collector=\"ndes01\"}"
        ),
        7.0
    );
    assert!(m.contains("scepwatch_ingestor_collector_lag_seconds{collector=\"ndes01\"}"));
    assert!(m.contains("scepwatch_ingestor_kafka_delivery_seconds_count 3"));
    assert_eq!(http_get(ing.http, "/healthz").await.0, 200);
    let (code, body) = http_get(ing.http, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("6 partitions"), "{body}");

    drop(s);
    let report = ing.shutdown().await;
    assert!(report.drained);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_comes_only_after_kafka_has_every_record() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("ack-after-delivery");
    let mut cfg = config(&bootstrap, &topic);
    // The producer holds records 400 ms before sending them: an ack before that would be an
    // ack before delivery.
    cfg.kafka
        .properties
        .insert("linger.ms".into(), "400".into());
    let ing = Running::start(cfg).await;
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None).await.unwrap();

    let mut events = iis_events("ndes01", 0, 40, ENDPOINT_A);
    events.extend(iis_events("ndes01", 50_000, 40, ENDPOINT_B));
    let sent = Instant::now();
    s.send(batch("ndes01", 1, events)).await;
    let a = s.ack().await.unwrap();
    let waited = sent.elapsed();
    assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
    assert!(
        waited >= Duration::from_millis(400),
        "acknowledged after {waited:?}, before the producer could have delivered"
    );
    // At the ack, both records are committed: the high watermarks already count them.
    assert_eq!(records_in(&bootstrap, &topic), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_kafka_answers_retry_never_accepted() {
    // No broker needed: nothing listens on port 1.
    let topic = fresh_topic("unreachable");
    let mut cfg = config("127.0.0.1:1", &topic);
    cfg.kafka.delivery_timeout = Duration::from_secs(2);
    cfg.shutdown_drain_timeout = Duration::from_secs(3);
    let ingestor = scepwatch_ingestor::server::Ingestor::bind(cfg)
        .await
        .unwrap();
    let (grpc, http) = (ingestor.grpc_addr(), ingestor.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ingestor.run(async {
        let _ = stopped.await;
    }));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = scepwatch_proto::v1::ingest_client::IngestClient::new(channel);
    let mut s = open(&mut client, Some(TOKEN_NDES02), None).await.unwrap();
    s.send(batch("ndes02", 1, iis_events("ndes02", 0, 10, ENDPOINT_A)))
        .await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Retry as i32, "{a:?}");
    assert!(a.message.contains("Kafka"), "{}", a.message);
    assert_eq!(a.events_accepted, 0);

    let (code, body) = http_get(http, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    let metrics = http_get(http, "/metrics").await.1;
    assert_eq!(
        metric_value(
            &metrics,
            "scepwatch_ingestor_retried_batches_total{collector=\"ndes02\",reason=\"kafka\"}"
        ),
        1.0
    );
    drop(s);
    let _ = stop.send(());
    let _ = task.await;
}
