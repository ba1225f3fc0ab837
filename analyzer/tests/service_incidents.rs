//! A 503 spike on one NDES server becomes an incident row: detected by the spike detector of the
//! partition, explained by nothing here (no crash logs), closed when the partition goes idle.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
    pub mod kafka;
    pub mod service;
}

use std::time::Duration;

use prost::Message as _;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{
    EndpointEvents, Event, IisRequest, IisTarget, ScepOperation, SourceId, SourceKind, Watermark,
};
use scepwatch_proto::SourceKey;
use support::clickhouse::TestDb;
use support::kafka;
use support::service::{config, wait_until, Running};

const ENDPOINT: &str = "https://ndes.contoso.com/certsrv/mscep/mscep.dll";
/// 2026-11-20 08:00:00 UTC.
const T0: i64 = 1_795_161_600_000_000;
const MINUTE: i64 = 60_000_000;

fn source() -> SourceId {
    SourceId {
        collector: "ndes01".into(),
        host: "ndes01".into(),
        kind: SourceKind::Iis as i32,
        path: "W3SVC1/u_ex261120.log".into(),
        stream: "0f1e2d3c4b5a6978".into(),
    }
}

fn request(position: u64, time_us: i64, status: u32, client: u32) -> Event {
    let s = source();
    Event {
        id: SourceKey::of(&s).event_id(position).to_vec(),
        source: Some(s),
        position,
        event_time_us: time_us,
        observed_time_us: time_us,
        endpoint_id: ENDPOINT.into(),
        excerpt: format!("GET /certsrv/mscep/mscep.dll operation=GetCACaps {status}"),
        payload: Some(Payload::Iis(IisRequest {
            method: "GET".into(),
            uri_stem: "/certsrv/mscep/mscep.dll".into(),
            uri_query: "operation=GetCACaps&message=default".into(),
            client_ip: format!("10.1.{}.{}", client / 250, client % 250),
            user_agent: "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7)".into(),
            status,
            target: IisTarget::Mscep as i32,
            operation: ScepOperation::GetCaCaps as i32,
            ..IisRequest::default()
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_spike_is_stored_as_an_incident() {
    let Some(db) = TestDb::create("service_incidents") else {
        return;
    };
    let Some(bootstrap) = kafka::bootstrap() else {
        return;
    };
    let topic = kafka::fresh_topic("service-incidents");
    kafka::create_topic(&bootstrap, &topic, 1).await;
    let p = kafka::producer(&bootstrap);
    // 70 minutes at 30 requests a minute, all 200 but one in a hundred 500; from minute 60 to
    // 65, 40 of them a minute answered 503.
    let mut pos = 0u64;
    for (seq, minute) in (1u64..).zip(0..70i64) {
        let mut events = Vec::new();
        let spike = (60..65).contains(&minute);
        let n = if spike { 60 } else { 30 };
        for k in 0..n {
            let t = T0 + minute * MINUTE + i64::from(k) * (MINUTE / i64::from(n));
            let status = match (spike, k) {
                (true, k) if k < 40 => 503,
                (false, k) if (pos + u64::from(k)).is_multiple_of(100) => 500,
                _ => 200,
            };
            events.push(request(pos, t, status, k));
            pos += 180;
        }
        let last = events.last().map_or(0, |e| e.event_time_us);
        let record = EndpointEvents {
            endpoint_id: ENDPOINT.into(),
            collector: "ndes01".into(),
            batch_sequence: seq,
            events,
            watermarks: vec![Watermark {
                source: Some(source()),
                endpoint_id: ENDPOINT.into(),
                read_from_us: T0,
                read_up_to_us: last,
                position: pos,
            }],
        };
        kafka::send(
            &p,
            &topic,
            ENDPOINT,
            &record.encode_to_vec(),
            Some("scepwatch.v1.EndpointEvents"),
        )
        .await;
    }

    let service = Running::start(config(&bootstrap, &topic, db.config())).await;
    let expected = pos / 180;
    wait_until("all events stored", Duration::from_secs(60), || {
        db.number("SELECT count() FROM events") >= expected
    })
    .await;
    wait_until(
        "the incident stored and closed",
        Duration::from_secs(30),
        || db.number("SELECT count() FROM incidents FINAL WHERE state = 'closed'") >= 1,
    )
    .await;
    assert!(service.metric("scepwatch_analyzer_incidents_total") >= 1.0);
    service.stop().await;
    let rows = db.exec(
        "SELECT toString(scope_kind), scope_id, http_status, toString(state), \
         toString(start_time), toString(end_time), errors, toString(severity) \
         FROM incidents FINAL WHERE retracted = 0 FORMAT TabSeparated",
    );
    assert_eq!(
        rows,
        "server\tndes01\t503\tclosed\t2026-11-20 09:00:00\t2026-11-20 09:05:00\t200\tcritical\n",
        "one incident: the five spike minutes of ndes01"
    );
}
