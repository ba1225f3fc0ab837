//! One Kafka record per event, or one per group of an endpoint's events?
//!
//! Publishes the same events (IIS requests as the collector makes them, about 600 bytes each
//! encoded) through the ingestor's own producer ([`KafkaSink`]: idempotent, acks=all) with
//! 1, 10, 50 and 200 events per record, to a fresh topic of the broker at
//! `SCEPWATCH_KAFKA_BOOTSTRAP` (default 127.0.0.1:9092, started by `scripts/kafka.sh start`),
//! and prints records/s and events/s from the first enqueue to the last delivery report.
//!
//! ```text
//! cargo bench -p scepwatch-ingestor --bench record_grouping
//! SCEPWATCH_BENCH_EVENTS=200000 cargo bench -p scepwatch-ingestor --bench record_grouping
//! ```
//! Without a reachable broker it says so and exits 0 (the figures need a broker).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use scepwatch_ingestor::config::KafkaConfig;
use scepwatch_ingestor::sink::kafka::{ensure_topic, KafkaSink};
use scepwatch_ingestor::sink::record::{records_of, Record};
use scepwatch_proto::v1::{
    event, Batch, Event, IisRequest, IisTarget, ScepOperation, SourceId, SourceKind,
};

const GROUPS: &[usize] = &[1, 10, 50, 200];
const RUNS: usize = 3;

fn events(n: usize) -> Vec<Event> {
    let source = SourceId {
        collector: "bench".into(),
        host: "NDES01".into(),
        kind: SourceKind::Iis as i32,
        path: r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex251120.log".into(),
        stream: String::new(),
    };
    let key = scepwatch_proto::SourceKey::of(&source);
    let mut position = 0u64;
    (0..n)
        .map(|i| {
            let query = "operation=GetCACaps&message=default";
            let line = format!(
                "2025-11-20 10:{:02}:{:02} 10.0.0.5 GET /certsrv/mscep/mscep.dll {query} 443 - \
                 10.1.{}.{} Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-G991B+Build/UP1A.231005.007) - \
                 200 0 0 {}",
                (i / 60) % 60,
                i % 60,
                i % 250,
                (i / 250) % 250,
                5 + i % 40
            );
            let pos = position;
            position += line.len() as u64 + 2;
            Event {
                id: key.event_id(pos).to_vec(),
                source: Some(source.clone()),
                position: pos,
                event_time_us: 1_763_632_800_000_000 + i as i64 * 1000,
                observed_time_us: 1_763_632_801_000_000 + i as i64 * 1000,
                endpoint_id: format!(
                    "https://ndes{:02}.contoso.com/certsrv/mscep/mscep.dll",
                    i % 8
                ),
                payload: Some(event::Payload::Iis(IisRequest {
                    server_ip: "10.0.0.5".into(),
                    server_port: 443,
                    client_ip: format!("10.1.{}.{}", i % 250, (i / 250) % 250),
                    method: "GET".into(),
                    uri_stem: "/certsrv/mscep/mscep.dll".into(),
                    uri_query: query.into(),
                    user_agent: "Dalvik/2.1.0 (Linux; U; Android 14; SM-G991B Build/UP1A.231005.007)"
                        .into(),
                    status: 200,
                    time_taken_ms: 5 + (i % 40) as u32,
                    target: IisTarget::Mscep as i32,
                    operation: ScepOperation::GetCaCaps as i32,
                    query_length: query.len() as u32,
                    site: "W3SVC1".into(),
                    computer_name: "NDES01".into(),
                    ..Default::default()
                })),
                excerpt: line,
            }
        })
        .collect()
}

/// Records of `group` events of one endpoint each, as the ingestor would build them from
/// collector batches of that many events per endpoint.
fn records(events: &[Event], group: usize) -> Vec<Record> {
    let mut by_endpoint: Vec<Vec<Event>> = vec![Vec::new(); 8];
    for (i, e) in events.iter().enumerate() {
        by_endpoint[i % 8].push(e.clone());
    }
    let mut out = Vec::new();
    let mut seq = 0;
    for evs in by_endpoint {
        for chunk in evs.chunks(group) {
            seq += 1;
            out.extend(records_of(
                Batch {
                    collector: "bench".into(),
                    sequence: seq,
                    events: chunk.to_vec(),
                    watermarks: vec![],
                },
                900 << 10,
            ));
        }
    }
    out
}

async fn publish(sink: &KafkaSink, records: &[Record]) -> Duration {
    let start = Instant::now();
    let mut pending = Vec::new();
    // Enqueue in slices as the ingestor does per batch; the sink waits when the queue is full.
    for slice in records.chunks(1000) {
        match sink.enqueue(slice).await {
            Ok(p) => pending.push(p),
            Err(e) => panic!("enqueue: {e}"),
        }
    }
    for p in pending {
        if let Err(e) = p.wait().await {
            panic!("delivery: {e}");
        }
    }
    start.elapsed()
}

fn broker_reachable(bootstrap: &str) -> bool {
    bootstrap.split(',').any(|addr| {
        use std::net::ToSocketAddrs;
        addr.to_socket_addrs()
            .ok()
            .into_iter()
            .flatten()
            .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
    })
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it too: only measure for the
    // former.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let bootstrap =
        std::env::var("SCEPWATCH_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    if !broker_reachable(&bootstrap) {
        println!(
            "record_grouping: no Kafka broker at {bootstrap}; start one with scripts/kafka.sh start"
        );
        return;
    }
    let n: usize = std::env::var("SCEPWATCH_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut cfg = KafkaConfig::new(
            bootstrap.clone(),
            format!("scepwatch-bench-grouping-{stamp}"),
        );
        cfg.partitions = 12;
        cfg.delivery_timeout = Duration::from_secs(120);
        if let Err(e) = ensure_topic(&cfg, true).await {
            panic!("topic: {e}");
        }
        let sink = KafkaSink::new(&cfg).unwrap_or_else(|e| panic!("producer: {e}"));
        let evs = events(n);
        let event_bytes: usize = evs.iter().map(|e| e.encoded_len()).sum();
        println!(
            "record_grouping: {n} events, {:.0} bytes each encoded, broker {bootstrap}, topic {}, \
             {} partitions, median of {RUNS} runs",
            event_bytes as f64 / n as f64,
            cfg.topic,
            cfg.partitions
        );
        println!(
            "{:>16} {:>9} {:>12} {:>12} {:>10}",
            "events/record", "records", "records/s", "events/s", "MB/s"
        );
        for &g in GROUPS {
            let recs = records(&evs, g);
            let bytes: usize = recs.iter().map(|r| r.value.len()).sum();
            let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                times.push(publish(&sink, &recs).await);
            }
            times.sort();
            let t = times[RUNS / 2].as_secs_f64();
            println!(
                "{:>16} {:>9} {:>12.0} {:>12.0} {:>10.1}",
                g,
                recs.len(),
                recs.len() as f64 / t,
                n as f64 / t,
                bytes as f64 / t / 1e6
            );
        }
    });
}
