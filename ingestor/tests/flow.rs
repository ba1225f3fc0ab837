//! Flow control and shutdown: the in-flight bound holds under load, and a graceful shutdown
//! answers every batch already read before the streams end. Against the real broker, with the
//! producer's `linger.ms` raised so that batches stay in flight long enough to be counted.

mod common;

use std::time::Duration;

use common::*;
use scepwatch_proto::v1::batch_ack::Status as AckStatus;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_in_flight_never_exceed_the_limit() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("backpressure");
    let mut cfg = config(&bootstrap, &topic);
    cfg.limits.max_in_flight_batches = 2;
    cfg.limits.max_in_flight_per_stream = 4;
    cfg.kafka
        .properties
        .insert("linger.ms".into(), "150".into());
    let ing = Running::start(cfg).await;

    // Three collectors' streams, eight batches each, sent without waiting for acks: the
    // ingestor may read only two at a time.
    let mut tasks = Vec::new();
    let streams = [
        ("ndes01", TOKEN_NDES01),
        ("ndes02", TOKEN_NDES02),
        ("ndes01", TOKEN_NDES01),
    ];
    for (i, (name, token)) in streams.into_iter().enumerate() {
        let mut client = ing.client().await;
        tasks.push(tokio::spawn(async move {
            let mut s = open(&mut client, Some(token), None).await.unwrap();
            for seq in 1..=8u64 {
                let start = (i as u64 * 1_000_000) + seq * 10_000;
                s.send(batch(name, seq, iis_events(name, start, 20, ENDPOINT_A)))
                    .await;
            }
            let mut accepted = 0;
            for _ in 0..8 {
                let a = s.ack().await.unwrap();
                assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
                accepted += 1;
            }
            accepted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 24);
    assert_eq!(
        ing.shared.in_flight.peak(),
        2,
        "in flight must reach the bound and never pass it"
    );
    assert_eq!(ing.shared.in_flight.current(), 0);
    assert_eq!(records_in(&bootstrap, &topic), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_do_not_hold_publishing_slots() {
    // A fleet at night: most collectors have nothing to send. With a single publishing slot,
    // three idle streams must not keep the one active collector waiting.
    let bootstrap = require_kafka!();
    let topic = fresh_topic("idle-streams");
    let mut cfg = config(&bootstrap, &topic);
    cfg.limits.max_in_flight_batches = 1;
    let ing = Running::start(cfg).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut client = ing.client().await;
        idle.push(open(&mut client, Some(TOKEN_NDES02), None).await.unwrap());
    }
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None).await.unwrap();
    for seq in 1..=3u64 {
        s.send(batch(
            "ndes01",
            seq,
            iis_events("ndes01", seq * 10_000, 10, ENDPOINT_A),
        ))
        .await;
    }
    for _ in 0..3 {
        let a = tokio::time::timeout(Duration::from_secs(10), s.ack())
            .await
            .expect("the active collector was starved by idle streams")
            .unwrap();
        assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
    }
    assert_eq!(ing.shared.in_flight.peak(), 1);
    assert_eq!(
        ing.metric("scepwatch_ingestor_streams ").await,
        4.0,
        "four streams open"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_limit_are_refused() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("max-streams");
    let mut cfg = config(&bootstrap, &topic);
    cfg.limits.max_streams = 2;
    let ing = Running::start(cfg).await;
    let mut c1 = ing.client().await;
    let mut c2 = ing.client().await;
    let mut c3 = ing.client().await;
    let _s1 = open(&mut c1, Some(TOKEN_NDES01), None).await.unwrap();
    let s2 = open(&mut c2, Some(TOKEN_NDES02), None).await.unwrap();
    let refused = open(&mut c3, Some(TOKEN_NDES01), None)
        .await
        .err()
        .expect("a third stream over max_streams = 2");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("limits.max_streams = 2"));
    // A closed stream frees its place.
    drop(s2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match open(&mut c3, Some(TOKEN_NDES01), None).await {
            Ok(_) => break,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the place was never freed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_batches_in_flight_then_ends_streams() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("shutdown");
    let mut cfg = config(&bootstrap, &topic);
    cfg.limits.max_in_flight_per_stream = 4;
    cfg.kafka
        .properties
        .insert("linger.ms".into(), "600".into());
    let mut ing = Running::start(cfg).await;
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None).await.unwrap();

    let mut ids = Vec::new();
    for seq in 1..=4u64 {
        let events = iis_events("ndes01", seq * 100_000, 25, ENDPOINT_B);
        ids.extend(events.iter().map(|e| e.id.clone()));
        s.send(batch("ndes01", seq, events)).await;
    }
    // Wait until all four are read and publishing (each holds a slot), then stop.
    let shared = ing.shared.clone();
    tokio::time::timeout(Duration::from_secs(5), async {
        while shared.in_flight.current() < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("four batches in flight");
    let stopping = ing.begin_shutdown();

    let mut accepted = Vec::new();
    let end = loop {
        match s.ack().await {
            Ok(a) => {
                assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
                accepted.push(a.sequence);
            }
            Err(status) => break status,
        }
    };
    accepted.sort();
    assert_eq!(accepted, [1, 2, 3, 4], "every batch read was answered");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(end.message().contains("shutting down"), "{end:?}");

    let report = tokio::time::timeout(Duration::from_secs(20), stopping)
        .await
        .expect("shutdown within the drain timeout")
        .unwrap();
    assert!(report.drained, "{report:?}");
    assert_eq!(report.in_flight_left, 0);
    assert_eq!(report.records_left, 0);

    let records = consume(&bootstrap, &topic, ids.len(), Duration::from_secs(20));
    let got: Vec<_> = records
        .iter()
        .flat_map(|r| r.value.events.iter().map(|e| e.id.clone()))
        .collect();
    assert_eq!(got, ids, "all drained batches are in Kafka, in order");

    // Nothing listens any more.
    let again = tonic::transport::Endpoint::from_shared(format!("http://{}", ing.grpc))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(again.is_err(), "the ingestor still accepts connections");
}
