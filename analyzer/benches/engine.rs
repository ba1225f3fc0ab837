//! Engine throughput: 1,000,000 synthetic IIS records pushed in time order with `advance` every
//! 10,000 records, as `scepwatch diagnose` does over a large IIS log set.
//!
//! The mix follows what an NDES server behind the application proxy logs: enrollments of
//! GetCACaps, GetCACert, GetCACaps and PKIOperation (with a transactionID) from a rotating
//! population of 5,000 clients and three user-agent families, about 2% of 500s (half with Win32
//! status 1346), 1% of 503s, 0.5% of 404.14 on long PKIOperation GETs, and monitoring GetCACaps
//! polls. Excerpts are realistic in size (PKIOperation lines carry ~1.5 KiB of query).
//!
//! With `SCEPWATCH_BENCH_CORPUS=<dir>` (a corpus written by `scepwatch-corpus`), it instead runs
//! `scepwatch diagnose` over that folder as the command does and reports the CPU time of the
//! engine alone (pushes, advances and the end), measured on the engine's thread: the driver
//! parses on the other threads, and the engine must keep up with them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeMap;

use scepwatch_analyzer::diagnose::run::{run_with, Correlator};
use scepwatch_analyzer::diagnose::summary::Collector;
use scepwatch_analyzer::diagnose::Options;
use scepwatch_analyzer::engine::{Engine, EngineConfig, Sink};
use scepwatch_analyzer::model::{Attempt, Diagnosis};
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{
    Event, IisRequest, IisTarget, ScepMessageInfo, ScepOperation, SourceId, SourceKind, Watermark,
};

const EVENTS: usize = 1_000_000;
const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";

struct Count(u64, u64);
impl Sink for Count {
    fn attempt(&mut self, a: Attempt) {
        self.0 += 1;
        black_box(a);
    }
    fn diagnosis(&mut self, d: Diagnosis) {
        self.1 += 1;
        black_box(d);
    }
}

/// xorshift64*: deterministic input.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn corpus() -> Vec<Event> {
    let uas = [
        "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)",
        "Dalvik/2.1.0 (Linux; U; Android 12; Pixel 6 Build/SQ3A.220705.004)",
        "profiled/1.0 CFNetwork/1410.0.3 Darwin/22.6.0",
        "Mozilla/4.0 (compatible; Win32; NDES client)",
    ];
    let hosts = ["ndes01", "ndes02"];
    let sources: Vec<SourceId> = hosts
        .iter()
        .map(|h| SourceId {
            collector: "bench".into(),
            host: (*h).into(),
            kind: SourceKind::Iis as i32,
            path: "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log".into(),
            stream: String::new(),
        })
        .collect();
    let message = "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgMFADCABgkqhkiG9w0BBwGggCSABIIZfzCABgkqhkiG9w0BBwOggDCAAgEAMYIBgjCCAX4CAQAwZjBPMRUwEwYKCZImiZPyLGQBGRYFbG9jYWwx".repeat(10);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(EVENTS);
    let start = 1_795_132_800_000_000i64; // 2026-11-20T00:00:00Z
    let mut pos = [0u64; 2];
    let mut i = 0usize;
    while out.len() < EVENTS {
        // One enrollment (4 requests) or one monitoring poll, ~11 ms apart on average.
        let r = rng.next();
        let host = (r % 2) as usize;
        let client = format!("10.{}.{}.{}", (r >> 8) % 4, (r >> 16) % 50, (r >> 24) % 25);
        let ua = uas[((r >> 32) % 4) as usize];
        let base = start + (i as i64) * 44_000;
        i += 1;
        let poll = (r >> 40).is_multiple_of(10);
        let steps: &[ScepOperation] = if poll {
            &[ScepOperation::GetCaCaps]
        } else {
            &[
                ScepOperation::GetCaCaps,
                ScepOperation::GetCaCert,
                ScepOperation::GetCaCaps,
                ScepOperation::PkiOperation,
            ]
        };
        for (k, op) in steps.iter().enumerate() {
            let roll = rng.next() % 1000;
            let (status, sub, win32) = match roll {
                0..=9 => (500, 0, 1346),
                10..=19 => (500, 0, 0),
                20..=29 => (503, 0, 0),
                30..=34 if *op == ScepOperation::PkiOperation => (404, 14, 0),
                _ => (200, 0, 0),
            };
            let (opname, query, tx) = match op {
                ScepOperation::GetCaCaps => (
                    "GetCACaps",
                    "operation=GetCACaps&message=ca".to_string(),
                    String::new(),
                ),
                ScepOperation::GetCaCert => (
                    "GetCACert",
                    "operation=GetCACert&message=ca".to_string(),
                    String::new(),
                ),
                _ => (
                    "PKIOperation",
                    format!("operation=PKIOperation&message={message}"),
                    format!("{:040X}", rng.next()),
                ),
            };
            let t = base + (k as i64) * 2_000_000;
            pos[host] += 250;
            let excerpt = format!(
                "2026-11-20 10:00:00 10.0.0.{} GET /certsrv/mscep/mscep.dll {} 443 - {} {} - {} {} {} 31",
                host + 10,
                &query[..query.len().min(1600)],
                client,
                ua.replace(' ', "+"),
                status,
                sub,
                win32
            );
            let src = &sources[host];
            out.push(Event {
                id: scepwatch_proto::event_id(src, pos[host]).to_vec(),
                source: Some(src.clone()),
                position: pos[host],
                event_time_us: t,
                observed_time_us: t,
                endpoint_id: String::new(),
                excerpt,
                payload: Some(Payload::Iis(IisRequest {
                    client_ip: client.clone(),
                    method: "GET".into(),
                    uri_stem: "/certsrv/mscep/mscep.dll".into(),
                    uri_query: query[..query.len().min(512)].to_string(),
                    user_agent: ua.into(),
                    status,
                    substatus: sub,
                    win32_status: win32,
                    target: IisTarget::Mscep as i32,
                    operation: *op as i32,
                    query_length: query.len() as u32,
                    scep: (!tx.is_empty()).then(|| ScepMessageInfo {
                        transaction_id: tx.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })),
            });
            let _ = opname;
        }
    }
    out.truncate(EVENTS);
    out.sort_by_key(|e| e.event_time_us);
    out
}

fn run(events: &[Event]) -> Count {
    let config = EngineConfig {
        server_endpoints: [("ndes01", ENDPOINT), ("ndes02", ENDPOINT)]
            .iter()
            .map(|(h, e)| (h.to_string(), e.to_string()))
            .collect(),
        ..Default::default()
    };
    let mut engine = Engine::new(config);
    let mut sink = Count(0, 0);
    for (n, e) in events.iter().enumerate() {
        engine.push(e);
        if n % 10_000 == 9_999 {
            engine.advance(&mut sink);
        }
    }
    engine.finish(&mut sink);
    sink
}

/// One pass with the time spent in `push` and in `advance`/`finish` reported apart.
fn profile(events: &[Event]) {
    let config = EngineConfig {
        server_endpoints: [("ndes01", ENDPOINT), ("ndes02", ENDPOINT)]
            .iter()
            .map(|(h, e)| (h.to_string(), e.to_string()))
            .collect(),
        ..Default::default()
    };
    let mut engine = Engine::new(config);
    let mut sink = Count(0, 0);
    let (mut push, mut adv) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut peak = 0usize;
    for chunk in events.chunks(10_000) {
        let t0 = std::time::Instant::now();
        for e in chunk {
            engine.push(e);
        }
        let t1 = std::time::Instant::now();
        engine.advance(&mut sink);
        adv += t1.elapsed();
        push += t1 - t0;
        peak = peak.max(engine.stats().state_bytes);
    }
    let t2 = std::time::Instant::now();
    engine.finish(&mut sink);
    adv += t2.elapsed();
    eprintln!(
        "push {:.2} s, advance+finish {:.2} s, peak state {} MiB",
        push.as_secs_f64(),
        adv.as_secs_f64(),
        peak >> 20
    );
}

/// The engine behind `diagnose`, with the CPU time of its thread spent in it.
struct Timed {
    engine: Engine,
    cpu: std::time::Duration,
    events: u64,
}

/// CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`, nanoseconds on CPU).
fn thread_cpu() -> std::time::Duration {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    std::time::Duration::from_nanos(ns)
}

impl Timed {
    fn timed<R>(&mut self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let t0 = thread_cpu();
        let r = f(&mut self.engine);
        self.cpu += thread_cpu().saturating_sub(t0);
        r
    }
}

impl Correlator for Timed {
    fn push(&mut self, event: &Event) {
        self.events += 1;
        self.timed(|e| e.push(event));
    }
    fn push_batch(&mut self, source: &SourceId, events: &[Event]) {
        self.events += events.len() as u64;
        self.timed(|e| e.push_from(source, events));
    }
    fn watermark(&mut self, watermark: &Watermark) {
        self.timed(|e| e.watermark(watermark));
    }
    fn advance(&mut self, out: &mut Collector) {
        self.timed(|e| e.advance(out));
    }
    fn finish(self: Box<Self>, out: &mut Collector) -> BTreeMap<String, u64> {
        let t0 = thread_cpu();
        let Timed {
            engine,
            cpu,
            events,
        } = *self;
        engine.finish(out);
        let secs = (cpu + thread_cpu().saturating_sub(t0)).as_secs_f64();
        eprintln!(
            "diagnose: engine CPU {secs:.2} s for {events} events = {:.2} M events/s",
            events as f64 / secs / 1e6
        );
        BTreeMap::new()
    }
}

/// `diagnose` over `dir`, reporting the engine's CPU time.
fn diagnose_corpus(dir: &str) {
    let opts = Options {
        inputs: vec![dir.into()],
        ..Options::default()
    };
    let t0 = std::time::Instant::now();
    let report = run_with(
        &opts,
        &mut |_| {},
        Box::new(
            |mapping: &BTreeMap<String, String>| -> Box<dyn Correlator> {
                Box::new(Timed {
                    engine: Engine::new(EngineConfig {
                        server_endpoints: mapping.clone(),
                        ..Default::default()
                    }),
                    cpu: std::time::Duration::ZERO,
                    events: 0,
                })
            },
        ),
    );
    match report {
        Ok(r) => eprintln!(
            "diagnose: {} attempts in {:.2} s wall",
            r.attempt_counts.total,
            t0.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!("diagnose: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    if let Ok(dir) = std::env::var("SCEPWATCH_BENCH_CORPUS") {
        diagnose_corpus(&dir);
        return;
    }
    let events = corpus();
    profile(&events);
    let t0 = std::time::Instant::now();
    let count = run(&events);
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "one pass: {} events in {:.2} s = {:.0} events/s; {} attempts, {} diagnoses",
        events.len(),
        secs,
        events.len() as f64 / secs,
        count.0,
        count.1
    );
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("push_1m_iis", |b| b.iter(|| black_box(run(&events))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
