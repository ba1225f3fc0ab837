//! Restarts from the engine's restart point give the results of an uninterrupted run.
//!
//! A partition's records (`v1::EndpointEvents`: the events and watermarks of one endpoint from one
//! collector batch) are pushed in offset order with `advance` after each. At a cut the service
//! commits the first record whose latest time (events and watermarks) is at or after
//! `held_since`, and keeps the point; a fresh engine, told the point, is fed the records from
//! there on. The results stored before the cut, with the replay's upserted by ID (later wins),
//! must equal the uninterrupted run's, attempts and diagnoses compared whole.
//!
//! The streams are generated like the real ones: one or two endpoints, one or two NDES servers
//! each, whose collectors ship their IIS log, Application event log, HTTP.sys log and (in some
//! streams) health facts every minute or so, each batch one record per endpoint with the
//! sources' cumulative watermarks; Android and iOS devices whose logs are shipped a little
//! behind; enrollments joined by transactionID or by time, devices whose requests never arrive,
//! servers traffic without device logs, a background prober, 503 bursts with w3wp crashes, 500s
//! with Win32 status 1346, CertificateRegistrationSvc 403s.

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_proto::v1::{
    AndroidScep, AndroidStep, CertRole, EndpointEvents, Event, IosScep, IosStep, ScepOperation,
    Watermark,
};
use support::*;

const ENDPOINT2: &str = "https://ndes-fabrikam.contoso.com/certsrv/mscep/mscep.dll";

/// splitmix64 driven by proptest's seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
}

/// A collector: its sources' events (each in time order) and how far behind it ships.
struct Collector {
    endpoint: &'static str,
    sources: Vec<(Src, Vec<Event>)>,
    max_lag_ticks: u64,
}

impl Collector {
    fn new(endpoint: &'static str, max_lag_ticks: u64) -> Self {
        Collector {
            endpoint,
            sources: Vec::new(),
            max_lag_ticks,
        }
    }
    fn source(&mut self, src: Src) -> usize {
        self.sources.push((src, Vec::new()));
        self.sources.len() - 1
    }
    fn add(&mut self, i: usize, mut e: Event) {
        e.endpoint_id = self.endpoint.into();
        self.sources[i].1.push(e);
    }
}

fn url(endpoint: &str, op: &str) -> String {
    format!("{endpoint}?operation={op}&message=ca")
}

fn android(dev: &mut Src, endpoint: &str, start: i64, tx: &str) -> Vec<Event> {
    let caps = url(endpoint, "GetCACaps");
    let step = |dev: &mut Src, at: i64, a: AndroidScep, line: &str| {
        dev.event(
            at,
            endpoint,
            scepwatch_proto::v1::event::Payload::Android(a),
            line,
        )
    };
    vec![
        step(
            dev,
            start,
            AndroidScep {
                step: AndroidStep::RequestsPending as i32,
                request_count: 1,
                ..Default::default()
            },
            "There are 1 requests",
        ),
        step(
            dev,
            start + S,
            AndroidScep {
                step: AndroidStep::Sending as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: caps.clone(),
                ..Default::default()
            },
            &format!("Sending GetCACaps(ca) to {caps}"),
        ),
        step(
            dev,
            start + 6 * S,
            AndroidScep {
                step: AndroidStep::Received as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: caps.clone(),
                http_status: "200 OK".into(),
                http_status_code: 200,
                ..Default::default()
            },
            &format!("Received '200 OK' when sending GetCACaps(ca) to {caps}"),
        ),
        step(
            dev,
            start + 13 * S,
            AndroidScep {
                step: AndroidStep::Encoding as i32,
                transaction_id: tx.into(),
                message_type: "PKCS_REQ".into(),
                ..Default::default()
            },
            &format!("Encoding message: org.jscep.message.PkcsReq@2b06f45f[messageType=PKCS_REQ,transId={tx}]"),
        ),
        step(
            dev,
            start + 15 * S,
            AndroidScep {
                step: AndroidStep::SendingPkiMessage as i32,
                ..Default::default()
            },
            "Sending org.bouncycastle.cms.CMSSignedData@ad57775",
        ),
    ]
}

fn ios(dev: &mut Src, endpoint: &str, start: i64) -> Vec<Event> {
    [
        (0, ScepOperation::GetCaCert, "GetCACert"),
        (1, ScepOperation::GetCaCaps, "GetCACaps"),
        (2, ScepOperation::PkiOperation, "PKIOperation"),
    ]
    .into_iter()
    .map(|(i, op, name)| {
        let u = format!("{endpoint}?operation={name}&message=SCEP%20Authority");
        dev.event(
            start + i * S,
            endpoint,
            scepwatch_proto::v1::event::Payload::Ios(IosScep {
                step: IosStep::UrlRequest as i32,
                process: "profiled".into(),
                url: u.clone(),
                operation: op as i32,
                ..Default::default()
            }),
            &format!("Performing synchronous URL request: {u}"),
        )
    })
    .collect()
}

const START_H: u32 = 8;
/// Length of the generated partitions of the property tests.
const HOURS: i64 = 8;
/// The health collector's round: it reports every fact again this often.
const HEALTH_ROUND: i64 = 6 * 60 * MIN;

/// A partition's records and the engine configuration of the service.
struct Stream {
    records: Vec<EndpointEvents>,
    config: EngineConfig,
}

fn stream(seed: u64) -> Stream {
    stream_of(seed, HOURS, MIN, None)
}

/// A partition of `hours`, collectors shipping every `tick`, with health facts or not (`None`:
/// one stream in four).
fn stream_of(seed: u64, hours: i64, tick: i64, health: Option<bool>) -> Stream {
    let mut rng = Rng(seed);
    let start = t(START_H, 0, 0);
    let end = start + hours * 60 * MIN;
    // Enrollments and faults per eight hours.
    let blocks = (hours / 8).max(1) as u64;
    let two = rng.chance(50);
    let mut servers: Vec<(&str, &'static str)> = vec![("ndes01", ENDPOINT)];
    if rng.chance(50) {
        servers.push(("ndes02", ENDPOINT));
    }
    if two {
        servers.push(("ndes11", ENDPOINT2));
    }
    let mapped = rng.chance(50);
    let with_health = health.unwrap_or_else(|| rng.chance(25));
    let mut collectors: Vec<Collector> = Vec::new();
    // Server collectors: index of IIS, Application, HTTP.sys, health.
    let mut server_ix: Vec<(usize, usize, usize, usize, usize)> = Vec::new();
    for (host, ep) in &servers {
        let mut c = Collector::new(ep, 2);
        let iis = c.source(Src::iis(host));
        let app = c.source(Src::application(host));
        let he = c.source(Src::httperr(host));
        let health = c.source(Src::health(host));
        collectors.push(c);
        server_ix.push((collectors.len() - 1, iis, app, he, health));
    }
    // The background prober of every server: GetCACaps every 2 to 9 minutes.
    for &(c, iis, ..) in &server_ix {
        let mut at = start + rng.between(0, 5 * MIN);
        while at < end {
            let ev = collectors[c].sources[iis].0.mscep(
                at,
                ScepOperation::GetCaCaps,
                200,
                0,
                0,
                "10.0.0.20",
                UA_WINDOWS,
            );
            collectors[c].add(iis, ev);
            at += rng.between(2 * MIN, 9 * MIN);
        }
    }
    // Enrollments.
    let n = (3 + rng.below(6)) * blocks;
    for d in 0..n {
        let s = rng.below(servers.len() as u64) as usize;
        let ep = servers[s].1;
        let at = start + rng.between(10 * MIN, hours * 60 * MIN - 20 * MIN);
        let client = format!("10.1.{}.{}", d, rng.below(200) + 2);
        let device_log = !rng.chance(20);
        let server_side = !rng.chance(20);
        let is_ios = rng.chance(40);
        let tx = format!("{:040X}", rng.next());
        if device_log {
            let mut c = Collector::new(ep, 1);
            let (src, events) = if is_ios {
                let mut dev = Src::ios(&format!("iphone-{d}"));
                let ev = ios(&mut dev, ep, at - S);
                (dev, ev)
            } else {
                let mut dev = Src::android(&format!("pixel-{d}"));
                let ev = android(&mut dev, ep, at - 2 * S, &tx);
                (dev, ev)
            };
            let i = c.source(src);
            for e in events {
                c.add(i, e);
            }
            collectors.push(c);
        }
        if server_side {
            let (c, iis, ..) = server_ix[s];
            let ua = if is_ios { UA_IOS } else { UA_ANDROID };
            let tx = if is_ios { "" } else { tx.as_str() };
            let evs = iis_enrollment(&mut collectors[c].sources[iis].0, at, &client, ua, tx);
            for e in evs {
                collectors[c].add(iis, e);
            }
        }
    }
    // Faults.
    for &(c, iis, app, he, health) in &server_ix {
        for _ in 0..rng.below(3) * blocks {
            // A 503 burst, the pool crashing, HTTP.sys noting it.
            let at = start + rng.between(0, hours * 60 * MIN - 10 * MIN);
            for i in 0..3 + rng.below(5) as i64 {
                let ev = collectors[c].sources[iis].0.mscep(
                    at + i * 7 * S,
                    ScepOperation::GetCaCaps,
                    503,
                    0,
                    0,
                    "10.0.0.9",
                    UA_ANDROID,
                );
                collectors[c].add(iis, ev);
            }
            let crash = collectors[c].sources[app]
                .0
                .w3wp_crash(at - rng.between(0, 3 * MIN));
            collectors[c].add(app, crash);
            if rng.chance(50) {
                let rec = collectors[c].sources[he].0.httperr_rec(
                    at + 3 * S,
                    "10.0.0.9",
                    503,
                    "AppOffline",
                );
                collectors[c].add(he, rec);
            }
        }
        if rng.chance(40) {
            let at = start + rng.between(0, hours * 60 * MIN - 10 * MIN);
            for i in 0..3 {
                let ev = collectors[c].sources[iis].0.mscep(
                    at + i * S,
                    ScepOperation::GetCaCert,
                    500,
                    0,
                    1346,
                    "10.0.0.7",
                    UA_WINDOWS,
                );
                collectors[c].add(iis, ev);
            }
        }
        if rng.chance(30) {
            let at = start + rng.between(0, hours * 60 * MIN);
            let ev = collectors[c].sources[iis].0.cert_registration(at, 403);
            collectors[c].add(iis, ev);
        }
        let mut round = start + rng.between(0, (hours * 60 * MIN).min(HEALTH_ROUND));
        let root_intermediate = rng.chance(50);
        while with_health && round < end {
            let at = round;
            round += HEALTH_ROUND;
            let fact = if root_intermediate {
                cert_fact(
                    CertRole::RootStoreIntermediate,
                    "CN=Contoso Issuing CA",
                    "BB22",
                    end + 60 * 24 * 60 * MIN,
                    &[],
                )
            } else {
                cert_fact(
                    CertRole::RaEncryption,
                    "CN=NDES01-MSCEP-RA",
                    "AA11",
                    at + 10 * 24 * 60 * MIN,
                    &[],
                )
            };
            let ev = collectors[c].sources[health].0.fact(at, fact);
            collectors[c].add(health, ev);
        }
    }
    for c in &mut collectors {
        for (_, evs) in &mut c.sources {
            evs.sort_by_key(|e| (e.event_time_us, e.position));
        }
    }
    let records = ship(&mut rng, collectors, start, end, tick);
    // The service's settings: a device log that stops is emitted 30 minutes on.
    let mut config = EngineConfig {
        stall_timeout_us: Some(30 * MIN),
        ..EngineConfig::default()
    };
    if mapped {
        for (host, ep) in &servers {
            config
                .server_endpoints
                .insert(host.to_string(), ep.to_string());
        }
    }
    Stream { records, config }
}

/// Ships the collectors' events every tick (`every`): each collector sends, at each tick, what it
/// read up to a little before (its lag never goes back), as one record for its endpoint with the
/// cumulative watermarks of the sources that had news (now and then of the others too).
fn ship(
    rng: &mut Rng,
    mut collectors: Vec<Collector>,
    start: i64,
    end: i64,
    every: i64,
) -> Vec<EndpointEvents> {
    let mut out = Vec::new();
    let mut shipped: Vec<i64> = vec![i64::MIN; collectors.len()];
    let mut span: Vec<Vec<Option<(i64, i64)>>> = collectors
        .iter()
        .map(|c| vec![None; c.sources.len()])
        .collect();
    let mut sequence = 0u64;
    let mut tick = start;
    while tick <= end + 10 * MIN {
        let mut order: Vec<usize> = (0..collectors.len()).collect();
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        for c in order {
            let lag = rng.below(collectors[c].max_lag_ticks + 1) as i64 * every;
            let upto = (tick - lag).max(shipped[c]);
            if tick > end {
                // The end: everything.
                shipped[c] = i64::MAX;
            } else {
                shipped[c] = upto;
            }
            let limit = shipped[c];
            let col = &mut collectors[c];
            let mut events = Vec::new();
            let mut watermarks: Vec<Watermark> = Vec::new();
            for (i, (src, evs)) in col.sources.iter_mut().enumerate() {
                let n = evs.iter().take_while(|e| e.event_time_us <= limit).count();
                let batch: Vec<Event> = evs.drain(..n).collect();
                let news = !batch.is_empty();
                for e in &batch {
                    let s = span[c][i].get_or_insert((e.event_time_us, e.event_time_us));
                    s.0 = s.0.min(e.event_time_us);
                    s.1 = s.1.max(e.event_time_us);
                }
                events.extend(batch);
                if let Some((from, to)) = span[c][i] {
                    if news || rng.chance(5) {
                        let mut w = src.watermark(from, to);
                        w.endpoint_id = col.endpoint.into();
                        watermarks.push(w);
                    }
                }
            }
            // Sources of one batch are interleaved, each still in order.
            events.sort_by_key(|e| (e.event_time_us, e.position));
            if events.is_empty() && watermarks.is_empty() {
                continue;
            }
            sequence += 1;
            out.push(EndpointEvents {
                endpoint_id: col.endpoint.into(),
                collector: format!("collector-{c}"),
                batch_sequence: sequence,
                events,
                watermarks,
            });
        }
        tick += every;
    }
    out
}

/// The latest time a record carries: its events' and its watermarks' progress.
fn latest(r: &EndpointEvents) -> Option<i64> {
    r.events
        .iter()
        .map(|e| e.event_time_us)
        .chain(r.watermarks.iter().map(|w| w.read_up_to_us))
        .max()
}

fn feed(e: &mut Engine, r: &EndpointEvents) {
    for ev in &r.events {
        e.push(ev);
    }
    for w in &r.watermarks {
        e.watermark(w);
    }
}

/// Results by ID, as JSON.
#[derive(Default, Clone, PartialEq)]
struct Results {
    attempts: BTreeMap<String, String>,
    diagnoses: BTreeMap<String, String>,
}

impl Results {
    fn upsert(&mut self, sink: &CollectSink, attempts: usize, diagnoses: usize) {
        for a in sink.attempts.iter().take(attempts) {
            let json = serde_json::to_string(a).unwrap_or_default();
            self.attempts.insert(a.id.clone(), json);
        }
        for d in sink.diagnoses.iter().take(diagnoses) {
            let json = serde_json::to_string(d).unwrap_or_default();
            self.diagnoses.insert(d.id.clone(), json);
        }
    }
    fn of(sink: &CollectSink) -> Self {
        let mut r = Results::default();
        r.upsert(sink, usize::MAX, usize::MAX);
        r
    }
}

fn diff(got: &Results, want: &Results) -> String {
    let mut out = String::new();
    for (name, g, w) in [
        ("attempt", &got.attempts, &want.attempts),
        ("diagnosis", &got.diagnoses, &want.diagnoses),
    ] {
        for (id, x) in g {
            if w.get(id) != Some(x) {
                out.push_str(&format!("\n+ {name} {}", &x[..x.len().min(600)]));
            }
        }
        for (id, x) in w {
            if g.get(id) != Some(x) {
                out.push_str(&format!("\n- {name} {}", &x[..x.len().min(600)]));
            }
        }
    }
    out
}

/// The uninterrupted run, with what had been emitted and the restart point after each record.
struct Uninterrupted {
    sink: CollectSink,
    /// After record i: attempts and diagnoses emitted so far, and `held_since`.
    after: Vec<(usize, usize, Option<i64>)>,
}

fn uninterrupted(s: &Stream) -> Uninterrupted {
    let mut e = Engine::new(s.config.clone());
    let mut sink = CollectSink::default();
    let mut after = Vec::with_capacity(s.records.len());
    for r in &s.records {
        feed(&mut e, r);
        e.advance(&mut sink);
        after.push((sink.attempts.len(), sink.diagnoses.len(), e.held_since()));
    }
    e.finish(&mut sink);
    Uninterrupted { sink, after }
}

/// Where the service restarts after consuming records `from..=k` with the point `held`: the
/// first of them whose latest time is at or after the point, else the next one.
fn restart_at(records: &[EndpointEvents], from: usize, k: usize, held: Option<i64>) -> usize {
    let Some(h) = held else { return k + 1 };
    (from..=k)
        .find(|&i| records.get(i).and_then(latest).is_some_and(|t| t >= h))
        .unwrap_or(k + 1)
}

/// One engine's life: fed records `from..` (told `point` when it is a replay), until it crashes
/// after record `crash` (then its emitted results and `held_since`) or reaches the end.
fn life(
    s: &Stream,
    from: usize,
    point: Option<i64>,
    crash: Option<usize>,
) -> (CollectSink, Option<i64>) {
    let mut e = Engine::new(s.config.clone());
    if let Some(p) = point {
        e.replay_from(p);
    }
    let mut sink = CollectSink::default();
    for (i, r) in s.records.iter().enumerate().skip(from) {
        feed(&mut e, r);
        e.advance(&mut sink);
        if Some(i) == crash {
            return (sink, e.held_since());
        }
    }
    e.finish(&mut sink);
    (sink, None)
}

/// Crashes after each record of `cuts` (increasing) and restarts as the service does; the union
/// of everything stored.
fn with_crashes(s: &Stream, cuts: &[usize]) -> Results {
    let mut stored = Results::default();
    let (mut from, mut point) = (0usize, None);
    for &k in cuts {
        if k < from {
            continue;
        }
        let (sink, held) = life(s, from, point, Some(k));
        stored.upsert(&sink, usize::MAX, usize::MAX);
        from = restart_at(&s.records, from, k, held);
        point = held;
    }
    let (sink, _) = life(s, from, point, None);
    stored.upsert(&sink, usize::MAX, usize::MAX);
    stored
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// One crash at each of a few random records: stored before ∪ replay = uninterrupted.
    #[test]
    fn a_restart_from_the_point_gives_the_uninterrupted_results(
        seed in any::<u64>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 4),
    ) {
        let s = stream(seed);
        let u = uninterrupted(&s);
        let want = Results::of(&u.sink);
        prop_assert_eq!(want.attempts.len(), u.sink.attempts.len(), "attempt IDs repeat");
        prop_assert_eq!(want.diagnoses.len(), u.sink.diagnoses.len(), "diagnosis IDs repeat");
        for cut in cuts {
            let k = cut.index(s.records.len());
            let (attempts, diagnoses, held) = u.after[k];
            let mut got = Results::default();
            got.upsert(&u.sink, attempts, diagnoses);
            let from = restart_at(&s.records, 0, k, held);
            let (replay, _) = life(&s, from, held, None);
            got.upsert(&replay, usize::MAX, usize::MAX);
            prop_assert!(
                got == want,
                "cut after record {k} of {}, restart at {from} (point {held:?}):{}",
                s.records.len(),
                diff(&got, &want)
            );
        }
    }

    /// Five crashes in a row, each replay restarting from the point of the one before.
    #[test]
    fn five_crashes_in_a_row(
        seed in any::<u64>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 5),
    ) {
        let s = stream(seed);
        let want = Results::of(&uninterrupted(&s).sink);
        let mut ks: Vec<usize> = cuts.iter().map(|c| c.index(s.records.len())).collect();
        ks.sort_unstable();
        ks.dedup();
        let got = with_crashes(&s, &ks);
        prop_assert!(got == want, "crashes after {ks:?} of {}:{}", s.records.len(), diff(&got, &want));
    }
}

/// How far behind the newest record the point sits over three days, with and without a health
/// collector (whose facts rules consult whatever their age, so they hold the point for the whole
/// context retention); and, without, restarts on the third day still give the uninterrupted
/// results (remembered server-only attempts and host context pruned on the way).
#[test]
fn how_far_behind_the_point_sits_over_three_days() {
    for health in [false, true] {
        let s = stream_of(7, 72, 2 * MIN, Some(health));
        let u = uninterrupted(&s);
        let day2 = t(START_H, 0, 0) + 48 * 60 * MIN;
        let mut newest = i64::MIN;
        let mut lags: Vec<i64> = Vec::new();
        let mut replayed: Vec<usize> = Vec::new();
        for (i, r) in s.records.iter().enumerate() {
            newest = newest.max(latest(r).unwrap_or(i64::MIN));
            let held = u.after[i].2;
            if newest < day2 {
                continue;
            }
            if let Some(h) = held {
                lags.push(newest - h);
            }
            replayed.push(i + 1 - restart_at(&s.records, 0, i, held));
        }
        lags.sort_unstable();
        replayed.sort_unstable();
        let q = |v: &[i64], p: usize| v.get(v.len() * p / 100).copied().unwrap_or(0) / MIN;
        eprintln!(
            "health facts {health}: {} records over 72 h; on the third day the point sits \
             {} min behind the newest record (median), {} min (p99), {} min (max); a restart \
             replays {} records (median) of the {} a day",
            s.records.len(),
            q(&lags, 50),
            q(&lags, 99),
            lags.last().copied().unwrap_or(0) / MIN,
            replayed.get(replayed.len() / 2).copied().unwrap_or(0),
            s.records.len() / 3
        );
        if health {
            // The oldest fact within the retention: two days less up to a round of the health
            // collector, plus the crash window and the margin.
            assert!(
                q(&lags, 50) >= 42 * 60,
                "health facts hold the point about two days back"
            );
        } else {
            assert!(
                q(&lags, 99) <= 4 * 60,
                "sessions and buckets hold it hours back at most"
            );
            let want = Results::of(&u.sink);
            for k in [s.records.len() * 7 / 10, s.records.len() * 9 / 10] {
                let (attempts, diagnoses, held) = u.after[k];
                let mut got = Results::default();
                got.upsert(&u.sink, attempts, diagnoses);
                let from = restart_at(&s.records, 0, k, held);
                got.upsert(&life(&s, from, held, None).0, usize::MAX, usize::MAX);
                assert!(
                    got == want,
                    "cut after {k}, restart at {from}:{}",
                    diff(&got, &want)
                );
            }
        }
    }
}
