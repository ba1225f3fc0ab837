//! Bad input: strangers, garbage and oversized or invalid batches are refused with a clear
//! status or ack, counted, and nothing of them is published. Against the real broker.

mod common;

use std::time::Duration;

use bytes::Buf;
use common::*;
use prost::Message;
use scepwatch_proto::v1::batch_ack::Status as AckStatus;
use scepwatch_proto::v1::BatchAck;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Code;

async fn assert_unauthenticated(
    token: Option<&str>,
    collector: Option<&str>,
    says: &str,
    reason: &str,
) {
    let bootstrap = require_kafka!();
    let topic = fresh_topic(&format!("auth-{reason}"));
    let ing = Running::start(config(&bootstrap, &topic)).await;
    let mut client = ing.client().await;
    let status = match open(&mut client, token, collector).await {
        Ok(_) => panic!("stream accepted (token {token:?}, collector {collector:?})"),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains(says), "{status:?}");
    assert_eq!(
        ing.metric(&format!(
            "scepwatch_ingestor_refused_streams_total{{reason=\"{reason}\"}}"
        ))
        .await,
        1.0
    );
    assert_eq!(records_in(&bootstrap, &topic), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_collector_is_unauthenticated() {
    assert_unauthenticated(
        Some(TOKEN_NDES01),
        Some("ndes99"),
        "unknown collector `ndes99`",
        "unknown_collector",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_nobody_is_unauthenticated() {
    assert_unauthenticated(
        Some("Kx9vQ2mL7pR4sT8wN1bC6dF3gH5jZ0aY"),
        None,
        "matches no configured collector",
        "unknown_token",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_unauthenticated() {
    // ndes01's token presented as ndes02.
    assert_unauthenticated(
        Some(TOKEN_NDES01),
        Some("ndes02"),
        "wrong token for collector `ndes02`",
        "wrong_token",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_is_unauthenticated() {
    assert_unauthenticated(None, Some("ndes01"), "missing", "missing_token").await;
}

/// Sends raw bytes as gRPC messages: what a broken or hostile client puts on the wire.
#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;
struct AckDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for AckDecoder {
    type Item = BatchAck;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<BatchAck>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        BatchAck::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = BatchAck;
    type Encoder = RawEncoder;
    type Decoder = AckDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> AckDecoder {
        AckDecoder
    }
}

async fn raw_stream(
    ing: &Running,
    messages: Vec<Vec<u8>>,
) -> Result<tonic::Streaming<BatchAck>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", ing.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(tokio_stream::iter(messages));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN_NDES01}").parse().unwrap(),
    );
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/scepwatch.v1.Ingest/Stream");
    grpc.streaming(req, path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_protobuf_ends_the_stream_with_invalid_argument() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("garbage");
    let ing = Running::start(config(&bootstrap, &topic)).await;
    // A valid batch first, then a length-delimited field claiming 4 GiB in a 20-byte message.
    let good = batch("ndes01", 1, iis_events("ndes01", 0, 3, ENDPOINT_A)).encode_to_vec();
    let garbage = b"\x0a\xff\xff\xff\xff\x0fnot a batch at all".to_vec();
    let mut acks = raw_stream(&ing, vec![good, garbage]).await.unwrap();
    let first = acks.message().await.unwrap().unwrap();
    assert_eq!(first.status, AckStatus::Accepted as i32, "{first:?}");
    let end = match acks.message().await {
        Ok(Some(a)) => panic!("unexpected ack {a:?}"),
        Ok(None) => panic!("stream ended without a status"),
        Err(s) => s,
    };
    assert_eq!(end.code(), Code::InvalidArgument, "{end:?}");
    assert!(
        end.message().contains("not a scepwatch.v1.Batch"),
        "{end:?}"
    );
    assert_eq!(
        ing.metric("scepwatch_ingestor_refused_streams_total{reason=\"decode_error\"}")
            .await,
        1.0
    );
    assert_eq!(records_in(&bootstrap, &topic), 1, "only the valid batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batch_ends_the_stream_with_resource_exhausted() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("oversized");
    let ing = Running::start(config(&bootstrap, &topic)).await;
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None).await.unwrap();
    // 400 events with 1 KiB excerpts: about 0.5 MiB, over the 256 KiB limit.
    let mut events = iis_events("ndes01", 0, 400, ENDPOINT_A);
    for e in &mut events {
        e.excerpt = "x".repeat(1024);
    }
    s.send(batch("ndes01", 1, events)).await;
    let status = s.ack().await.expect_err("no ack for an oversized batch");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("limits.max_batch_bytes = 262144"),
        "{status:?}"
    );
    assert_eq!(
        ing.metric("scepwatch_ingestor_refused_streams_total{reason=\"batch_too_large\"}")
            .await,
        1.0
    );
    assert_eq!(records_in(&bootstrap, &topic), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_batches_are_rejected_and_the_stream_goes_on() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("rejected");
    let mut cfg = config(&bootstrap, &topic);
    cfg.limits.max_batch_bytes = 1 << 20;
    let ing = Running::start(cfg).await;
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None).await.unwrap();

    // Too many events (the limit is 500).
    s.send(batch("ndes01", 1, iis_events("ndes01", 0, 501, ENDPOINT_A)))
        .await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Rejected as i32, "{a:?}");
    assert_eq!(a.sequence, 1);
    assert!(a.message.contains("501 events"), "{}", a.message);

    // An event whose ID is not the one its source and position give (altered in transit).
    let mut events = iis_events("ndes01", 0, 5, ENDPOINT_A);
    events[3].position += 1;
    s.send(batch("ndes01", 2, events)).await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Rejected as i32, "{a:?}");
    assert!(a.message.contains("event 3"), "{}", a.message);
    assert!(a
        .message
        .contains("not the one its source and position give"));

    // ndes01 sending ndes02's data.
    s.send(batch("ndes02", 3, iis_events("ndes02", 0, 5, ENDPOINT_A)))
        .await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Rejected as i32, "{a:?}");
    assert!(
        a.message.contains("authenticated as `ndes01`"),
        "{}",
        a.message
    );

    // The stream still works.
    let good = iis_events("ndes01", 0, 7, ENDPOINT_A);
    let good_ids: Vec<_> = good.iter().map(|e| e.id.clone()).collect();
    s.send(batch("ndes01", 4, good)).await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
    assert_eq!(a.events_accepted, 7);

    let records = consume(&bootstrap, &topic, 7, Duration::from_secs(20));
    let ids: Vec<_> = records
        .iter()
        .flat_map(|r| r.value.events.iter().map(|e| e.id.clone()))
        .collect();
    assert_eq!(ids, good_ids, "nothing of the rejected batches published");
    assert_eq!(records_in(&bootstrap, &topic), 1);

    let m = http_get(ing.http, "/metrics").await.1;
    for (reason, events) in [
        ("too_many_events", 501.0),
        ("event_id_mismatch", 5.0),
        ("collector_mismatch", 5.0),
    ] {
        assert_eq!(
            metric_value(
                &m,
                &format!(
                    "scepwatch_ingestor_rejected_events_total{{collector=\"ndes01\",reason=\"{reason}\"}}"
                )
            ),
            events,
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_answers_retry() {
    let bootstrap = require_kafka!();
    let topic = fresh_topic("rate-limit");
    let mut cfg = config(&bootstrap, &topic);
    cfg.limits.events_per_second = 100;
    cfg.limits.burst_events = 100;
    cfg.limits.max_events_per_batch = 100;
    let ing = Running::start(cfg).await;
    let mut client = ing.client().await;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None).await.unwrap();

    s.send(batch("ndes01", 1, iis_events("ndes01", 0, 100, ENDPOINT_A)))
        .await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
    // The bucket is empty: the next batch must wait about a second.
    s.send(batch(
        "ndes01",
        2,
        iis_events("ndes01", 19_000, 100, ENDPOINT_A),
    ))
    .await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Retry as i32, "{a:?}");
    assert!(
        a.message.contains("rate limit of 100 events/s"),
        "{}",
        a.message
    );
    // Resent after the advertised wait, it passes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.send(batch(
        "ndes01",
        3,
        iis_events("ndes01", 19_000, 100, ENDPOINT_A),
    ))
    .await;
    let a = s.ack().await.unwrap();
    assert_eq!(a.status, AckStatus::Accepted as i32, "{a:?}");
    assert_eq!(
        ing.metric(
            "scepwatch_ingestor_retried_batches_total{collector=\"ndes01\",reason=\"rate_limit\"}"
        )
        .await,
        1.0
    );
}
