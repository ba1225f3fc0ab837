//! Spike detector throughput and state size.
//!
//! - `observe_advance`: 10,000,000 generated IIS responses (200,000 when not run with
//!   `--bench`, as the test run does) of 1,000 NDES servers behind 100 endpoints, about
//!   60,000 a minute (so 10M span 2 h 47 min of event time), in time order with up to 20 s of
//!   disorder, `advance` every 10,000 responses with the newest time seen, as the service
//!   does after each batch. 2% of 500s, 1% of 503s, and a 503 outage of one server. The
//!   hex event ID of each response is formatted in the loop, as the service does.
//! - `minute_of_10k_scopes`: one response for each of 10,000 servers (behind 1,000 endpoints)
//!   and one `advance` that judges the minute: the per-minute cost of a large fleet.
//!
//! The state size (`SpikeStats::state_bytes`) per scope is printed for both, after the
//! baseline windows are full.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use scepwatch_analyzer::spike::{Incident, SpikeConfig, SpikeDetector, MINUTE_US};

/// 2026-11-20 00:00 UTC.
const T0: i64 = 1_795_132_800_000_000;

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

struct Fleet {
    hosts: Vec<String>,
    endpoints: Vec<String>,
}

fn fleet(servers: usize, per_endpoint: usize) -> Fleet {
    Fleet {
        hosts: (0..servers)
            .map(|i| format!("ndes{i:05}.contoso.com"))
            .collect(),
        endpoints: (0..servers.div_ceil(per_endpoint))
            .map(|i| format!("https://ndes-{i:04}.contoso.com/certsrv/mscep/mscep.dll"))
            .collect(),
    }
}

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Feeds `n` responses; returns the incident revisions produced.
fn run(det: &mut SpikeDetector, f: &Fleet, n: u64, out: &mut Vec<Incident>) -> usize {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut id = String::with_capacity(32);
    let per_minute = 60_000u64;
    let step = MINUTE_US / per_minute as i64;
    let mut newest = i64::MIN;
    let mut revisions = 0;
    for i in 0..n {
        let r = rng.next();
        let h = (r % f.hosts.len() as u64) as usize;
        let jitter = ((r >> 20) % 20_000_000) as i64;
        let t = T0 + i as i64 * step - jitter;
        let minute = (i / per_minute) as i64;
        let p = (r >> 40) % 1000;
        let status = if h == 7 && (50..62).contains(&minute) && p < 700 {
            503
        } else if p < 20 {
            500
        } else if p < 30 {
            503
        } else {
            200
        };
        id.clear();
        let _ = write!(id, "{:016x}{:016x}", r, i);
        det.observe(
            &f.hosts[h],
            &f.endpoints[h / 10 % f.endpoints.len()],
            t,
            status,
            &id,
        );
        newest = newest.max(t);
        if i % 10_000 == 9_999 {
            det.advance(newest, out);
            revisions += out.len();
            out.clear();
        }
    }
    det.advance(newest, out);
    revisions + out.len()
}

fn observe_advance(c: &mut Criterion) {
    let n: u64 = if full_run() { 10_000_000 } else { 200_000 };
    let f = fleet(1_000, 10);
    let mut g = c.benchmark_group("spike");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function(format!("observe_advance_{n}"), |b| {
        b.iter(|| {
            let mut det = SpikeDetector::new(SpikeConfig::default());
            let mut out = Vec::new();
            black_box(run(&mut det, &f, n, &mut out));
            det
        })
    });
    g.finish();
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let mut out = Vec::new();
    let revisions = run(&mut det, &f, n, &mut out);
    let s = det.stats();
    let scopes = s.server_scopes + s.endpoint_scopes;
    eprintln!(
        "spike/observe_advance: {n} responses, {revisions} incident revisions, {} servers + {} \
         endpoints, {} bytes of state, {} bytes per scope, {} late",
        s.server_scopes,
        s.endpoint_scopes,
        s.state_bytes,
        s.state_bytes / scopes.max(1),
        s.late_events
    );
}

fn minute_of_10k_scopes(c: &mut Criterion) {
    let f = fleet(10_000, 10);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let mut out = Vec::new();
    let mut id = String::with_capacity(32);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut minute = 0i64;
    let mut one_minute = |det: &mut SpikeDetector, out: &mut Vec<Incident>| {
        for (h, host) in f.hosts.iter().enumerate() {
            let r = rng.next();
            let status = if r.is_multiple_of(50) { 500 } else { 200 };
            id.clear();
            let _ = write!(id, "{:016x}{:016x}", r, h);
            let t = T0 + minute * MINUTE_US + (r >> 32) as i64 % MINUTE_US;
            det.observe(host, &f.endpoints[h / 10], t, status, &id);
        }
        minute += 1;
        det.advance(T0 + minute * MINUTE_US + 5 * MINUTE_US, out);
        out.clear();
    };
    // Fill the baseline windows first.
    for _ in 0..70 {
        one_minute(&mut det, &mut out);
    }
    let s = det.stats();
    let scopes = s.server_scopes + s.endpoint_scopes;
    eprintln!(
        "spike/10k scopes: {} servers + {} endpoints, {} bytes of state, {} bytes per scope",
        s.server_scopes,
        s.endpoint_scopes,
        s.state_bytes,
        s.state_bytes / scopes.max(1)
    );
    let mut g = c.benchmark_group("spike");
    g.throughput(Throughput::Elements(f.hosts.len() as u64));
    g.bench_function("minute_of_10k_scopes", |b| {
        b.iter(|| one_minute(&mut det, &mut out))
    });
    g.finish();
}

criterion_group!(benches, observe_advance, minute_of_10k_scopes);
criterion_main!(benches);
