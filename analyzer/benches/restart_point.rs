//! The restart point of a partition with 100,000 open attempts: `held_since`, which the service
//! reads after every poll, and the `advance` that keeps it (one pass over the state it holds).
//!
//! The state: one NDES server whose IIS log has delivered, an hour ago, the single GetCACaps of
//! 100,000 clients (released since as server-only attempts, all remembered), and now the
//! requests of 100,000 other clients within the last two minutes (open sessions), with 1,000
//! Android device logs whose attempts wait for them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{
    AndroidScep, AndroidStep, Event, IisRequest, IisTarget, ScepOperation, SourceId, SourceKind,
};

const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";
const OPEN: usize = 100_000;
const DEVICES: usize = 1_000;
/// 2026-11-20 08:00 UTC.
const T0: i64 = 1_795_161_600_000_000;
const MIN: i64 = 60_000_000;

fn source(host: &str, kind: SourceKind, path: &str) -> SourceId {
    SourceId {
        collector: host.into(),
        host: host.into(),
        kind: kind as i32,
        path: path.into(),
        stream: String::new(),
    }
}

fn request(src: &SourceId, pos: u64, time: i64, client: &str) -> Event {
    let line = format!(
        "2026-11-20 10:00:00 10.0.0.10 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - {client} Dalvik/2.1.0+(Linux;+U;+Android+13) - 200 0 0 31"
    );
    Event {
        id: scepwatch_proto::event_id(src, pos).to_vec(),
        source: Some(src.clone()),
        position: pos,
        event_time_us: time,
        observed_time_us: time,
        endpoint_id: ENDPOINT.into(),
        excerpt: line,
        payload: Some(Payload::Iis(IisRequest {
            client_ip: client.into(),
            method: "GET".into(),
            uri_stem: "/certsrv/mscep/mscep.dll".into(),
            uri_query: "operation=GetCACaps&message=ca".into(),
            user_agent: "Dalvik/2.1.0 (Linux; U; Android 13)".into(),
            status: 200,
            target: IisTarget::Mscep as i32,
            operation: ScepOperation::GetCaCaps as i32,
            ..Default::default()
        })),
    }
}

fn state() -> Engine {
    let config = EngineConfig {
        server_endpoints: [("ndes01".to_string(), ENDPOINT.to_string())].into(),
        stall_timeout_us: Some(30 * MIN),
        ..Default::default()
    };
    let mut e = Engine::new(config);
    let mut sink = CollectSink::default();
    let iis = source(
        "ndes01",
        SourceKind::Iis,
        "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log",
    );
    let mut pos = 0u64;
    // An hour ago: 100,000 clients, one request each, over 50 minutes.
    for i in 0..OPEN {
        pos += 1;
        let client = format!("10.{}.{}.{}", 1 + i / 65_536, (i / 256) % 256, i % 256);
        e.push(&request(&iis, pos, T0 + i as i64 * 30_000, &client));
    }
    // Now: 100,000 other clients within two minutes.
    let now = T0 + 120 * MIN;
    for i in 0..OPEN {
        pos += 1;
        let client = format!("172.{}.{}.{}", 16 + i / 65_536, (i / 256) % 256, i % 256);
        e.push(&request(&iis, pos, now + i as i64 * 1_200, &client));
        if i % 10_000 == 9_999 {
            e.advance(&mut sink);
        }
    }
    for d in 0..DEVICES {
        let dev = source(
            &format!("pixel-{d}"),
            SourceKind::AndroidOmadm,
            "omadmlog.log",
        );
        let url = format!("{ENDPOINT}?operation=GetCACaps&message=ca");
        e.push(&Event {
            id: scepwatch_proto::event_id(&dev, 1).to_vec(),
            source: Some(dev.clone()),
            position: 1,
            event_time_us: now + d as i64 * 100_000,
            observed_time_us: now,
            endpoint_id: ENDPOINT.into(),
            excerpt: format!("Sending GetCACaps(ca) to {url}"),
            payload: Some(Payload::Android(AndroidScep {
                step: AndroidStep::Sending as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url,
                ..Default::default()
            })),
        });
    }
    e.advance(&mut sink);
    let st = e.stats();
    eprintln!(
        "state: {} open sessions, {} open device attempts, {} attempts emitted, {} MiB; \
         held since {} min before the newest request",
        st.open_sessions,
        st.open_device_attempts,
        st.attempts_emitted,
        st.state_bytes >> 20,
        e.held_since()
            .map_or(-1, |h| (now + OPEN as i64 * 1_200 - h) / MIN)
    );
    e
}

fn bench(c: &mut Criterion) {
    let mut e = state();
    let mut sink = CollectSink::default();
    let mut g = c.benchmark_group("restart_point");
    g.sample_size(20);
    g.bench_function("held_since_100k_open", |b| {
        b.iter(|| black_box(e.held_since()))
    });
    g.bench_function("advance_100k_open", |b| {
        b.iter(|| {
            e.advance(&mut sink);
            black_box(sink.attempts.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
