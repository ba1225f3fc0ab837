//! Bad input does not stop the service: records that do not decode, records of an unknown
//! schema, events with absurd times or a payload this analyzer does not know are counted and
//! stored in `rejects` with their reason, and the good events around them are stored.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
    pub mod kafka;
    pub mod service;
}

use std::time::Duration;

use prost::Message as _;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{EndpointEvents, Event, IisRequest, SourceId, SourceKind};
use scepwatch_proto::SourceKey;
use support::clickhouse::TestDb;
use support::kafka;
use support::service::{config, wait_until, Running};

const ENDPOINT: &str = "https://ndes.contoso.com/certsrv/mscep/mscep.dll";
const SCHEMA: &str = "scepwatch.v1.EndpointEvents";
/// 2026-11-20 10:00:00 UTC.
const T0: i64 = 1_795_168_800_000_000;

fn source() -> SourceId {
    SourceId {
        collector: "ndes01".into(),
        host: "NDES01".into(),
        kind: SourceKind::Iis as i32,
        path: "W3SVC1/u_ex261120.log".into(),
        stream: "3f2a9c0d11e8b7a6".into(),
    }
}

/// An IIS GetCACaps answered 200, as the collector's parser makes it.
fn iis(position: u64, time_us: i64) -> Event {
    let s = source();
    Event {
        id: SourceKey::of(&s).event_id(position).to_vec(),
        source: Some(s),
        position,
        event_time_us: time_us,
        observed_time_us: time_us + 1_000_000,
        endpoint_id: ENDPOINT.into(),
        excerpt: "2026-11-20 10:00:00 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=GetCACaps 443 - 10.1.2.3 Dalvik/2.1.0 - 200 0 0 15".into(),
        payload: Some(Payload::Iis(IisRequest {
            method: "GET".into(),
            uri_stem: "/certsrv/mscep/mscep.dll".into(),
            uri_query: "operation=GetCACaps".into(),
            client_ip: "10.1.2.3".into(),
            user_agent: "Dalvik/2.1.0".into(),
            status: 200,
            ..IisRequest::default()
        })),
    }
}

fn batch(seq: u64, events: Vec<Event>) -> Vec<u8> {
    EndpointEvents {
        endpoint_id: ENDPOINT.into(),
        collector: "ndes01".into(),
        batch_sequence: seq,
        events,
        watermarks: Vec::new(),
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_and_events_go_to_rejects_and_consumption_goes_on() {
    let Some(db) = TestDb::create("service_rejects") else {
        return;
    };
    let Some(bootstrap) = kafka::bootstrap() else {
        return;
    };
    let topic = kafka::fresh_topic("service-rejects");
    kafka::create_topic(&bootstrap, &topic, 1).await;
    let p = kafka::producer(&bootstrap);
    // 0: three good events.
    let good: Vec<Event> = (0..3)
        .map(|i| iis(100 * i, T0 + i as i64 * 1_000_000))
        .collect();
    kafka::send(&p, &topic, ENDPOINT, &batch(1, good), Some(SCHEMA)).await;
    // 1: not protobuf.
    kafka::send(
        &p,
        &topic,
        ENDPOINT,
        b"\xff\xff\xff\x0fnot a protobuf message",
        Some(SCHEMA),
    )
    .await;
    // 2: a schema this analyzer does not read.
    kafka::send(
        &p,
        &topic,
        ENDPOINT,
        &batch(2, vec![iis(300, T0)]),
        Some("scepwatch.v2.EndpointEvents"),
    )
    .await;
    // 3: absurd times, no payload, and one good event.
    let mut no_payload = iis(700, T0 + 7_000_000);
    no_payload.payload = None;
    let bad = vec![
        iis(400, -2_208_988_800_000_000), // 1900-01-01
        iis(500, 7_258_118_400_000_000),  // 2200-01-01
        iis(600, 4_102_444_800_000_000),  // 2100-01-01: in range, but a century ahead
        no_payload,
        iis(800, T0 + 8_000_000),
    ];
    kafka::send(&p, &topic, ENDPOINT, &batch(3, bad), Some(SCHEMA)).await;
    // 4: two good events after it all.
    let after: Vec<Event> = (9..11)
        .map(|i| iis(100 * i, T0 + i as i64 * 1_000_000))
        .collect();
    kafka::send(&p, &topic, ENDPOINT, &batch(4, after), Some(SCHEMA)).await;

    let service = Running::start(config(&bootstrap, &topic, db.config())).await;
    wait_until("every good event stored", Duration::from_secs(60), || {
        db.number("SELECT count() FROM events") >= 6
    })
    .await;
    wait_until("every reject stored", Duration::from_secs(30), || {
        db.number("SELECT count() FROM rejects") >= 6
    })
    .await;
    assert_eq!(
        service.metric("scepwatch_analyzer_rejects_total{reason=\"decode\"}"),
        1.0
    );
    assert_eq!(
        service.metric("scepwatch_analyzer_rejects_total{reason=\"payload_unknown\"}"),
        2.0
    );
    assert_eq!(
        service.metric("scepwatch_analyzer_rejects_total{reason=\"time_out_of_range\"}"),
        3.0
    );
    wait_until(
        "the partition reported read to its end",
        Duration::from_secs(30),
        || service.metric("scepwatch_analyzer_at_end{partition=\"0\"}") == 1.0,
    )
    .await;
    let report = service.stop().await;
    assert_eq!(report.records, 5);

    let rejects = db.exec(
        "SELECT kafka_offset, event_index, reason, collector, batch_sequence, length(payload) > 0 \
         FROM rejects FINAL ORDER BY kafka_offset, event_index FORMAT TabSeparated",
    );
    assert_eq!(
        rejects,
        "1\t-1\tdecode\t\t0\t1\n\
         2\t-1\tpayload_unknown\t\t0\t1\n\
         3\t0\ttime_out_of_range\tndes01\t3\t1\n\
         3\t1\ttime_out_of_range\tndes01\t3\t1\n\
         3\t2\ttime_out_of_range\tndes01\t3\t1\n\
         3\t3\tpayload_unknown\tndes01\t3\t1\n"
    );
    // The rejected event is kept whole: it decodes back to what was sent.
    let hex = db.exec(
        "SELECT hex(payload) FROM rejects FINAL WHERE kafka_offset = 3 AND event_index = 2 FORMAT TabSeparated",
    );
    let bytes: Vec<u8> = (0..hex.trim().len() / 2)
        .map(|i| u8::from_str_radix(&hex.trim()[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        Event::decode(bytes.as_slice()).unwrap(),
        iis(600, 4_102_444_800_000_000)
    );
    // The good events, and only them, are stored.
    let offsets = db.exec(
        "SELECT kafka_offset, count() FROM events FINAL GROUP BY kafka_offset ORDER BY kafka_offset FORMAT TabSeparated",
    );
    assert_eq!(offsets, "0\t3\n3\t1\n4\t2\n");
}
