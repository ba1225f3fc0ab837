//! The spike detector on generated traffic: IIS responses of several NDES servers minute by
//! minute (seeded ChaCha, so every run sees the same traffic), fed as the service feeds them
//! (event time, slightly out of order within the allowed lateness, `advance` with the newest
//! time seen).

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use scepwatch_analyzer::model::{Diagnosis, Evidence, Scope, Severity};
use scepwatch_analyzer::spike::{Incident, IncidentScope, SpikeConfig, SpikeDetector, MINUTE_US};
use scepwatch_proto::event_id_hex;
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::{CertRole, ScepOperation};
use support::{cert_fact, config_for, run, t, Src, UA_ANDROID};

const EP: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";
const EP2: &str = "https://ndes.fabrikam.com/certsrv/mscep/mscep.dll";

/// One IIS response as the service hands it to the detector.
#[derive(Debug, Clone, PartialEq)]
struct Resp {
    host: String,
    endpoint: String,
    time_us: i64,
    status: u16,
    id: String,
}

/// Generated traffic.
struct Traffic {
    rng: ChaCha8Rng,
    out: Vec<Resp>,
    seq: u64,
}

impl Traffic {
    fn new(seed: u64) -> Self {
        Traffic {
            rng: ChaCha8Rng::seed_from_u64(seed),
            out: Vec::new(),
            seq: 0,
        }
    }

    fn push(&mut self, host: &str, endpoint: &str, time_us: i64, status: u16) {
        self.seq += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.rng.random::<u64>().to_be_bytes());
        id[8..].copy_from_slice(&self.seq.to_be_bytes());
        self.out.push(Resp {
            host: host.into(),
            endpoint: endpoint.into(),
            time_us,
            status,
            id: event_id_hex(&id),
        });
    }

    /// `n` responses of `status` at random times within the minute starting at `minute_us`.
    fn add(&mut self, host: &str, endpoint: &str, minute_us: i64, n: u32, status: u16) {
        for _ in 0..n {
            let at = minute_us + self.rng.random_range(0..MINUTE_US);
            self.push(host, endpoint, at, status);
        }
    }

    /// Ordinary traffic: `rpm` requests a minute over `[from, to)` (minute starts), each a
    /// 500 with probability `p500`, else a 200.
    fn steady(&mut self, host: &str, endpoint: &str, from: i64, to: i64, rpm: u32, p500: f64) {
        let mut m = from;
        while m < to {
            for _ in 0..rpm {
                let at = m + self.rng.random_range(0..MINUTE_US);
                let status = if self.rng.random_bool(p500) { 500 } else { 200 };
                self.push(host, endpoint, at, status);
            }
            m += MINUTE_US;
        }
    }

    /// The responses in the order a partition delivers them: by time, each displaced by up
    /// to `jitter_us` (less than the allowed lateness).
    fn delivered(&mut self, jitter_us: i64) -> Vec<Resp> {
        let mut v: Vec<(i64, Resp)> = self
            .out
            .iter()
            .map(|r| {
                (
                    r.time_us + self.rng.random_range(0..jitter_us.max(1)),
                    r.clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        v.into_iter().map(|(_, r)| r).collect()
    }
}

fn m(h: u32, min: u32) -> i64 {
    t(h, min, 0)
}

/// Feeds `resps` in order, advancing to the newest time seen every `every` responses.
/// Returns every revision.
fn feed_part(det: &mut SpikeDetector, resps: &[Resp], every: usize) -> Vec<Incident> {
    let mut out = Vec::new();
    let mut newest = i64::MIN;
    for (i, r) in resps.iter().enumerate() {
        det.observe(&r.host, &r.endpoint, r.time_us, r.status, &r.id);
        newest = newest.max(r.time_us);
        if (i + 1).is_multiple_of(every.max(1)) {
            det.advance(newest, &mut out);
        }
    }
    out
}

/// [`feed_part`], then an advance 30 minutes past the last response: every incident closes
/// (10 quiet minutes and the 5 minutes of lateness), and stays explainable.
fn feed(det: &mut SpikeDetector, resps: &[Resp], every: usize) -> Vec<Incident> {
    let mut out = feed_part(det, resps, every);
    if let Some(newest) = resps.iter().map(|r| r.time_us).max() {
        det.advance(newest + 30 * MINUTE_US, &mut out);
    }
    out
}

/// The latest revision of each incident.
fn latest(revs: &[Incident]) -> BTreeMap<String, Incident> {
    let mut m = BTreeMap::new();
    for i in revs {
        m.insert(i.id.clone(), i.clone());
    }
    m
}

fn errors_in(resps: &[Resp], host: Option<&str>, status: u16, from: i64, to: i64) -> (u64, u64) {
    let mine = resps
        .iter()
        .filter(|r| host.is_none_or(|h| r.host == h) && r.time_us >= from && r.time_us < to);
    let (mut e, mut n) = (0, 0);
    for r in mine {
        n += 1;
        if r.status == status {
            e += 1;
        }
    }
    (e, n)
}

/// Four servers behind one endpoint, 60 requests a minute each from 08:00 to 12:00, with
/// sparse 500s.
fn fleet(seed: u64) -> Traffic {
    let mut tr = Traffic::new(seed);
    for h in ["ndes01", "ndes02", "ndes03", "ndes04"] {
        tr.steady(h, EP, m(8, 0), m(12, 0), 60, 0.003);
    }
    tr
}

#[test]
fn a_503_burst_on_one_server_among_several_is_that_servers_incident() {
    let mut tr = fleet(1);
    // ndes03's pool fails from 10:14 to 10:25: 30 to 60 503s a minute, 150 at 10:19.
    for k in 0..12 {
        let n = if k == 5 {
            150
        } else {
            tr.rng.random_range(30..60)
        };
        tr.add("ndes03", EP, m(10, 14 + k), n, 503);
    }
    let resps = tr.delivered(30_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let revs = feed(&mut det, &resps, 500);
    let all = latest(&revs);
    assert_eq!(all.len(), 1, "{all:#?}");
    let i = all.values().next().unwrap();
    assert_eq!(i.scope, IncidentScope::Server);
    assert_eq!(i.scope_id, "ndes03");
    assert_eq!(i.endpoint, EP);
    assert_eq!(i.http_status, 503);
    assert!(!i.open);
    assert_eq!(i.start_us, m(10, 14));
    assert_eq!(i.end_us, m(10, 26));
    assert_eq!(i.peak_us, m(10, 19));
    assert_eq!(i.peak_rate, 150.0);
    let (e, n) = errors_in(&resps, Some("ndes03"), 503, i.start_us, i.end_us);
    assert_eq!((i.errors, i.requests), (e, n));
    assert_eq!(i.severity, Severity::Critical);
    assert_eq!(i.baseline_rate, 0.0);
    assert_eq!(i.threshold_rate, 10.0);
    assert_eq!(i.evidence_event_ids.len(), 5);
    let mut first: Vec<&Resp> = resps
        .iter()
        .filter(|r| r.host == "ndes03" && r.status == 503)
        .collect();
    first.sort_by(|a, b| (a.time_us, &a.id).cmp(&(b.time_us, &b.id)));
    let want: Vec<&str> = first.iter().take(5).map(|r| r.id.as_str()).collect();
    assert_eq!(i.evidence_event_ids, want);
    assert!(!i.retracted);
    assert!(
        i.summary.starts_with(&format!(
            "503 spike on server ndes03 ({EP}): 150 errors/min at 2026-11-20 10:19 UTC, baseline 0/min"
        )),
        "{}",
        i.summary
    );
    assert!(
        i.summary.contains("from 2026-11-20 10:14 UTC to 10:26 UTC"),
        "{}",
        i.summary
    );
    assert!(
        i.summary.ends_with("no diagnosis explains it yet."),
        "{}",
        i.summary
    );
    assert!(i.detector.starts_with("spike/1 baseline=60m min_errors=10"));
    // The first revision was sent open as soon as 10:14 was final.
    let first_rev = revs.iter().find(|r| r.id == i.id).unwrap();
    assert!(first_rev.open);
    assert_eq!(first_rev.start_us, m(10, 14));
    let st = det.stats();
    assert_eq!(st.late_events, 0);
    assert_eq!(st.observed, resps.len() as u64);
}

#[test]
fn servers_rising_together_make_an_endpoint_incident() {
    let mut tr = fleet(2);
    // 10:30-10:40: every server answers 6 more 503s a minute: below the count floor on each
    // server, 24 a minute on the endpoint.
    for k in 0..11 {
        for h in ["ndes01", "ndes02", "ndes03", "ndes04"] {
            tr.add(h, EP, m(10, 30 + k), 6, 503);
        }
    }
    let resps = tr.delivered(30_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let all = latest(&feed(&mut det, &resps, 1000));
    assert_eq!(all.len(), 1, "{all:#?}");
    let i = all.values().next().unwrap();
    assert_eq!(i.scope, IncidentScope::Endpoint);
    assert_eq!((i.scope_id.as_str(), i.endpoint.as_str()), (EP, EP));
    assert_eq!(i.http_status, 503);
    assert_eq!((i.start_us, i.end_us), (m(10, 30), m(10, 41)));
    let (e, n) = errors_in(&resps, None, 503, i.start_us, i.end_us);
    assert_eq!((i.errors, i.requests), (e, n));
    assert_eq!(i.peak_rate, 24.0);
    // 24 of about 264 responses: an error, not critical.
    assert_eq!(i.severity, Severity::Error);
    assert!(i
        .summary
        .starts_with(&format!("503 spike on endpoint {EP}:")));
}

#[test]
fn one_server_of_an_endpoint_is_not_also_an_endpoint_incident_but_two_are() {
    let mut tr = fleet(3);
    for k in 0..5 {
        tr.add("ndes01", EP, m(9, 10 + k), 40, 500);
        tr.add("ndes01", EP, m(11, 10 + k), 40, 500);
        tr.add("ndes02", EP, m(11, 10 + k), 40, 500);
    }
    let resps = tr.delivered(30_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let all = latest(&feed(&mut det, &resps, 700));
    let mut got: Vec<(IncidentScope, String, i64)> = all
        .values()
        .map(|i| (i.scope, i.scope_id.clone(), i.start_us))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (IncidentScope::Server, "ndes01".into(), m(9, 10)),
            (IncidentScope::Server, "ndes01".into(), m(11, 10)),
            (IncidentScope::Server, "ndes02".into(), m(11, 10)),
            (IncidentScope::Endpoint, EP.into(), m(11, 10)),
        ]
    );
    assert!(all.values().all(|i| i.http_status == 500));
}

#[test]
fn quiet_noise_is_no_spike() {
    let mut tr = Traffic::new(4);
    // Sparse random 500s on three servers, and now and then a cluster of up to 4 in a minute.
    for h in ["ndes01", "ndes02", "ndes03"] {
        tr.steady(h, EP, m(6, 0), m(14, 0), 40, 0.01);
        for _ in 0..20 {
            let at = m(6, 0) + tr.rng.random_range(0..480) * MINUTE_US;
            let n = tr.rng.random_range(1..5);
            tr.add(h, EP, at, n, 500);
        }
    }
    // A quiet night: 2 requests a minute, and one minute where both are 503s.
    tr.steady("ndes-night", EP2, m(0, 0), m(6, 0), 2, 0.0);
    tr.add("ndes-night", EP2, m(3, 17), 2, 503);
    // A gentle ramp of traffic, 20 to 800 requests a minute, with a flat 2% of 500s.
    let mut k = 0;
    while k < 360 {
        let rpm = 20 + (780 * k / 360) as u32;
        tr.steady(
            "ndes-ramp",
            "https://ramp.contoso.com/certsrv/mscep/mscep.dll",
            m(6, 0) + k * MINUTE_US,
            m(6, 1) + k * MINUTE_US,
            rpm,
            0.02,
        );
        k += 1;
    }
    let resps = tr.delivered(45_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let revs = feed(&mut det, &resps, 2000);
    assert!(revs.is_empty(), "{revs:#?}");
    assert_eq!(det.stats().late_events, 0);
}

#[test]
fn an_incident_closes_after_the_quiet_minutes() {
    let cfg = SpikeConfig::default();
    let lateness = cfg.allowed_lateness_us;
    // Judges every minute before `minute_us`.
    let until = |minute_us: i64| minute_us + lateness;
    let mut tr = Traffic::new(5);
    tr.steady("ndes01", EP, m(8, 0), m(11, 0), 60, 0.0);
    // 503s 09:00-09:04, 6 quiet minutes, 09:11-09:12: one incident. Then 09:40: another.
    for k in [0, 1, 2, 3, 4, 11, 12, 40] {
        tr.add("ndes01", EP, m(9, k), 40, 503);
    }
    let resps = tr.delivered(1);
    let mut det = SpikeDetector::new(cfg.clone());
    let mut out = Vec::new();
    let mut fed = 0;
    let mut step = |det: &mut SpikeDetector, to: i64, out: &mut Vec<Incident>| {
        while fed < resps.len() && resps[fed].time_us < to {
            let r = &resps[fed];
            det.observe(&r.host, &r.endpoint, r.time_us, r.status, &r.id);
            // The progress follows the responses, minute by minute.
            if fed.is_multiple_of(60) {
                det.advance(r.time_us, out);
            }
            fed += 1;
        }
        det.advance(to, out);
    };
    step(&mut det, until(m(9, 1)), &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].open);
    assert_eq!((out[0].start_us, out[0].end_us), (m(9, 0), m(9, 1)));
    let id = out[0].id.clone();
    // The last spike minute is 09:12; nine quiet minutes later it is still open...
    step(&mut det, until(m(9, 22)), &mut out);
    let last = out.last().unwrap();
    assert!(last.open && last.id == id);
    assert_eq!(last.end_us, m(9, 13));
    assert_eq!(det.stats().open_incidents, 1);
    // ...the tenth closes it.
    out.clear();
    step(&mut det, until(m(9, 23)), &mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].open && out[0].id == id);
    assert_eq!(out[0].end_us, m(9, 13));
    let (e, n) = errors_in(&resps, Some("ndes01"), 503, m(9, 0), m(9, 13));
    assert_eq!((out[0].errors, out[0].requests), (e, n));
    assert_eq!(e, 7 * 40);
    assert_eq!(det.stats().open_incidents, 0);
    assert_eq!(det.stats().closed_incidents, 1);
    // Nothing more until 09:40, which is a new incident.
    out.clear();
    step(&mut det, until(m(9, 40)), &mut out);
    assert!(out.is_empty());
    step(&mut det, until(m(11, 0)), &mut out);
    let ids: Vec<&str> = out.iter().map(|i| i.id.as_str()).collect();
    assert!(!ids.contains(&id.as_str()));
    let l = latest(&out);
    assert_eq!(l.len(), 1);
    let second = l.values().next().unwrap();
    assert_eq!(
        (second.start_us, second.end_us, second.open),
        (m(9, 40), m(9, 41), false)
    );
}

#[test]
fn a_stopped_pool_stays_one_incident_however_long() {
    let mut tr = Traffic::new(6);
    tr.steady("ndes01", EP, m(6, 0), m(8, 0), 30, 0.0);
    // From 08:00 every request is a 503 for three hours (longer than the baseline window).
    let mut k = 0;
    while k < 180 {
        tr.add("ndes01", EP, m(8, 0) + k * MINUTE_US, 30, 503);
        k += 1;
    }
    tr.steady("ndes01", EP, m(11, 0), m(12, 0), 30, 0.0);
    let resps = tr.delivered(20_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let all = latest(&feed(&mut det, &resps, 300));
    assert_eq!(all.len(), 1, "{all:#?}");
    let i = all.values().next().unwrap();
    assert_eq!((i.start_us, i.end_us), (m(8, 0), m(11, 0)));
    assert_eq!(i.severity, Severity::Critical);
    assert_eq!(i.errors, 180 * 30);
}

#[test]
fn late_and_far_ahead_responses_are_counted_not_applied() {
    let cfg = SpikeConfig::default();
    let mut det = SpikeDetector::new(cfg.clone());
    let mut out = Vec::new();
    det.observe("ndes01", EP, m(10, 0), 200, "01");
    det.advance(m(10, 30), &mut out);
    // Older than 10:30 minus the lateness: late.
    det.observe("ndes01", EP, m(10, 24), 503, "02");
    // Within the lateness: applied.
    det.observe("ndes01", EP, m(10, 26), 503, "03");
    // More than max_ahead_minutes past the first minute not judged (10:25): dropped.
    det.observe(
        "ndes01",
        EP,
        m(10, 25) + i64::from(cfg.max_ahead_minutes) * MINUTE_US,
        503,
        "04",
    );
    det.observe("ndes01", EP, m(10, 54), 200, "05");
    let s = det.stats();
    assert_eq!((s.observed, s.late_events, s.ahead_events), (5, 1, 1));
    assert_eq!(s.server_scopes, 1);
    assert_eq!(s.endpoint_scopes, 1);
}

/// The engine's own diagnoses for a crashing pool: IIS 503s on ndes01 from 10:14 to 10:20,
/// w3wp.exe crashes among them, and a health snapshot at 09:30 that found an intermediate CA
/// certificate in LocalMachine\Root.
fn engine_diagnoses() -> (Vec<Diagnosis>, Vec<Resp>) {
    let mut iis = Src::iis("ndes01");
    let mut app = Src::application("ndes01");
    let mut health = Src::health("ndes01");
    let mut events = vec![health.fact(
        t(9, 30, 0),
        cert_fact(
            CertRole::RootStoreIntermediate,
            "CN=Contoso Issuing CA",
            "AB12",
            t(23, 0, 0),
            &[],
        ),
    )];
    for (k, s) in [(0, 10), (2, 40), (5, 5)] {
        events.push(app.w3wp_crash(t(10, 14 + k, s)));
    }
    let mut resps = Vec::new();
    for k in 0..7u32 {
        for j in 0..40u32 {
            let at = t(10, 14 + k, 0) + i64::from(j) * 1_500_000;
            let client = format!("10.0.{}.{}", j % 7, 10 + j);
            let ev = iis.mscep(at, ScepOperation::GetCaCaps, 503, 0, 0, &client, UA_ANDROID);
            resps.push(Resp {
                host: "ndes01".into(),
                endpoint: EP.into(),
                time_us: at,
                status: 503,
                id: event_id_hex(&ev.id),
            });
            events.push(ev);
        }
    }
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    (sink.diagnoses, resps)
}

#[test]
fn the_engines_diagnoses_explain_a_503_spike_cause_first() {
    let (diags, burst) = engine_diagnoses();
    let server_scope = |code: &str| {
        diags
            .iter()
            .find(|d| d.code == code && d.scope == Scope::Server("ndes01".into()))
            .unwrap_or_else(|| {
                panic!(
                    "no server-scope {code}: {:?}",
                    diags
                        .iter()
                        .map(|d| (&d.code, &d.scope))
                        .collect::<Vec<_>>()
                )
            })
            .clone()
    };
    let crash = server_scope("iis.app_pool_crashing.root_intermediate");
    let root = server_scope("health.root_store_intermediate");
    let mut tr = fleet(7);
    tr.out.extend(burst);
    let resps = tr.delivered(20_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    // The health diagnosis arrives before the spike (its hourly bucket closed at 10:00)...
    let mut out = Vec::new();
    det.explain(&root, &mut out);
    assert!(out.is_empty());
    let cut = resps.iter().position(|r| r.time_us >= m(10, 40)).unwrap();
    let mut revs = feed_part(&mut det, &resps[..cut], 400);
    let open: Vec<&Incident> = revs.iter().filter(|i| i.scope_id == "ndes01").collect();
    let first = open.first().expect("the spike is found");
    assert_eq!(first.diagnosis_codes, ["health.root_store_intermediate"]);
    // ...the crash diagnosis after (the engine concludes the 10:00 bucket after 11:00).
    let mut out = Vec::new();
    det.explain(&crash, &mut out);
    assert_eq!(out.len(), 1);
    let i = &out[0];
    assert_eq!(i.id, first.id);
    assert_eq!(
        i.diagnosis_codes,
        [
            "iis.app_pool_crashing.root_intermediate",
            "health.root_store_intermediate"
        ]
    );
    assert_eq!(i.diagnosis_ids, [crash.id.clone(), root.id.clone()]);
    revs.extend(out.iter().cloned());
    assert!(
        i.summary.contains(&format!(
            "probable cause: {} (iis.app_pool_crashing.root_intermediate; also \
             health.root_store_intermediate).",
            crash.title
        )),
        "{}",
        i.summary
    );
    // The same diagnosis again changes nothing; unrelated ones attach nowhere.
    let mut out = Vec::new();
    det.explain(&crash, &mut out);
    let mut other = crash.clone();
    other.scope = Scope::Server("ndes02".into());
    other.id = "00".into();
    det.explain(&other, &mut out);
    let mut internal = crash.clone();
    internal.code = "ndes.internal_error".into();
    internal.id = "01".into();
    det.explain(&internal, &mut out);
    let mut attempt = crash.clone();
    attempt.scope = Scope::Attempt("a1".into());
    attempt.id = "02".into();
    det.explain(&attempt, &mut out);
    let mut reached = crash.clone();
    reached.code = "ndes.reached".into();
    reached.id = "03".into();
    det.explain(&reached, &mut out);
    assert!(out.is_empty(), "{out:#?}");
    revs.extend(feed(&mut det, &resps[cut..], 400));
    let l = latest(&revs);
    assert_eq!(l.len(), 1, "{l:#?}");
    let fin = l.values().next().unwrap();
    assert!(!fin.open);
    assert_eq!(
        fin.diagnosis_codes,
        [
            "iis.app_pool_crashing.root_intermediate",
            "health.root_store_intermediate"
        ]
    );
    assert_eq!((fin.start_us, fin.end_us), (m(10, 14), m(10, 21)));
}

#[test]
fn a_prober_diagnosis_of_the_endpoint_explains_its_servers_incidents() {
    let mut tr = fleet(8);
    for k in 0..4 {
        tr.add("ndes02", EP, m(9, 50 + k), 50, 503);
    }
    let resps = tr.delivered(10_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let revs = feed(&mut det, &resps, 900);
    let inc = latest(&revs).into_values().next().expect("incident");
    let mut out = Vec::new();
    let d = Diagnosis {
        id: "9f".into(),
        code: "iis.app_pool_unavailable".into(),
        catalog_row: 4,
        severity: Severity::Critical,
        title: "The SCEP application pool is not serving requests (HTTP 503)".into(),
        explanation: String::new(),
        fix: String::new(),
        scope: Scope::Endpoint(EP.into()),
        endpoint: EP.into(),
        first_seen: to_rfc3339(m(9, 52)),
        last_seen: to_rfc3339(m(9, 52)),
        occurrences: 1,
        evidence: vec![Evidence {
            event_id: "aa".into(),
            time: to_rfc3339(m(9, 52)),
            time_us: m(9, 52),
            host: "prober".into(),
            source: "probe".into(),
            kind: "probe".into(),
            excerpt: String::new(),
            note: String::new(),
        }],
    };
    det.explain(&d, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, inc.id);
    assert_eq!(out[0].diagnosis_codes, ["iis.app_pool_unavailable"]);
}

#[test]
fn state_stays_bounded_over_a_long_run() {
    let mut tr = Traffic::new(9);
    for h in ["ndes01", "ndes02"] {
        tr.steady(h, EP, m(0, 0), m(20, 0), 30, 0.01);
    }
    for hour in 1..20 {
        tr.add("ndes01", EP, m(hour, 30), 60, 503);
    }
    let resps = tr.delivered(30_000_000);
    let mut det = SpikeDetector::new(SpikeConfig::default());
    let mut out = Vec::new();
    let mut newest = i64::MIN;
    let mut sizes = Vec::new();
    for (i, r) in resps.iter().enumerate() {
        det.observe(&r.host, &r.endpoint, r.time_us, r.status, &r.id);
        newest = newest.max(r.time_us);
        if i.is_multiple_of(500) {
            det.advance(newest, &mut out);
        }
        if i.is_multiple_of(6000) {
            sizes.push(det.stats().state_bytes);
        }
    }
    assert_eq!(latest(&out).len(), 19);
    // After the first three hours (window filled, incidents closed and retired), the state no
    // longer grows.
    let settled = sizes[sizes.len() / 4..].iter().copied().max().unwrap();
    let at_quarter = sizes[sizes.len() / 4];
    assert!(settled <= at_quarter * 3 / 2, "{sizes:?}");
    assert!(settled < 20_000, "{sizes:?}");
}

#[test]
fn a_replay_from_held_since_rebuilds_an_open_incident() {
    let cfg = SpikeConfig::default();
    let mut tr = fleet(10);
    for k in 0..20 {
        tr.add("ndes04", EP, m(10, 40 + k), 45, 503);
    }
    let resps = tr.delivered(30_000_000);
    // Cut while the incident is open (10:50).
    let cut = resps.iter().position(|r| r.time_us >= m(10, 50)).unwrap();
    let mut a = SpikeDetector::new(cfg.clone());
    let mut a_out = Vec::new();
    let mut newest = i64::MIN;
    for r in &resps[..cut] {
        a.observe(&r.host, &r.endpoint, r.time_us, r.status, &r.id);
        newest = newest.max(r.time_us);
        a.advance(newest, &mut a_out);
    }
    let since = a.held_since().unwrap();
    // baseline + quiet minutes before the incident's start.
    assert_eq!(since, m(10, 40) - 70 * MINUTE_US);
    let mut b = SpikeDetector::resume(cfg, since);
    let mut b_out = Vec::new();
    let replay: Vec<Resp> = resps[..cut]
        .iter()
        .filter(|r| r.time_us >= since)
        .cloned()
        .collect();
    let mut newest_b = i64::MIN;
    for r in &replay {
        b.observe(&r.host, &r.endpoint, r.time_us, r.status, &r.id);
        newest_b = newest_b.max(r.time_us);
        b.advance(newest_b, &mut b_out);
    }
    a_out.extend(feed(&mut a, &resps[cut..], 50));
    b_out.extend(feed(&mut b, &resps[cut..], 50));
    let (la, lb) = (latest(&a_out), latest(&b_out));
    assert_eq!(la.len(), 1);
    assert_eq!(la, lb);
}

// ---------------------------------------------------------------------------------------------
// Properties: order and batching do not matter; a replay from held_since rebuilds the same
// incidents.

/// What the service does, as operations.
#[derive(Debug, Clone)]
enum Op {
    Observe(Resp),
    Advance(i64),
}

fn small_config() -> SpikeConfig {
    SpikeConfig {
        baseline_minutes: 20,
        min_errors_per_minute: 5,
        quiet_minutes: 4,
        allowed_lateness_us: 2 * MINUTE_US,
        max_ahead_minutes: 30,
        ..SpikeConfig::default()
    }
}

/// Four hours of three servers behind two endpoints with random bursts of 500s and 503s on
/// one server or on both servers of the first endpoint.
fn random_traffic(seed: u64) -> Traffic {
    let mut tr = Traffic::new(seed);
    let hosts = [("ndes01", EP), ("ndes02", EP), ("ndes03", EP2)];
    for (h, ep) in hosts {
        let rpm = tr.rng.random_range(4..30);
        tr.steady(h, ep, m(8, 0), m(12, 0), rpm, 0.02);
    }
    let bursts = tr.rng.random_range(2..7);
    for _ in 0..bursts {
        let start = m(8, 0) + tr.rng.random_range(0..230) * MINUTE_US;
        let len = tr.rng.random_range(1..15);
        let status = if tr.rng.random_bool(0.5) { 500 } else { 503 };
        let which: Vec<(&str, &str)> = match tr.rng.random_range(0..4) {
            0 => vec![hosts[0], hosts[1]],
            k => vec![hosts[k - 1]],
        };
        for k in 0..len {
            for (h, ep) in &which {
                let n = tr.rng.random_range(0..25);
                tr.add(h, ep, start + k * MINUTE_US, n, status);
            }
        }
    }
    tr
}

/// The responses of `tr` delivered with up to 45 s of disorder, with an advance after each
/// response with probability `1 / batching` (and at least every 10 minutes of event time).
fn ops(tr: &mut Traffic, batching: u32) -> Vec<Op> {
    let resps = tr.delivered(45_000_000);
    let mut v = Vec::new();
    let mut newest = i64::MIN;
    let mut last_adv = i64::MIN;
    for r in resps {
        newest = newest.max(r.time_us);
        v.push(Op::Observe(r));
        if tr.rng.random_range(0..batching.max(1)) == 0
            || newest.saturating_sub(last_adv) > 10 * MINUTE_US
        {
            v.push(Op::Advance(newest));
            last_adv = newest;
        }
    }
    v.push(Op::Advance(newest + 6 * 60 * MINUTE_US));
    v
}

fn apply(det: &mut SpikeDetector, ops: &[Op], out: &mut Vec<Incident>) {
    for op in ops {
        match op {
            Op::Observe(r) => det.observe(&r.host, &r.endpoint, r.time_us, r.status, &r.id),
            Op::Advance(p) => det.advance(*p, out),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn order_and_batching_do_not_change_the_incidents(
        seed in any::<u64>(),
        b1 in 1u32..3000,
        b2 in 1u32..3000,
        reorder in any::<u64>(),
    ) {
        let mut tr = random_traffic(seed);
        let first = ops(&mut tr, b1);
        tr.rng = ChaCha8Rng::seed_from_u64(reorder);
        let second = ops(&mut tr, b2);
        let (mut a, mut b) = (SpikeDetector::new(small_config()), SpikeDetector::new(small_config()));
        let (mut oa, mut ob) = (Vec::new(), Vec::new());
        apply(&mut a, &first, &mut oa);
        apply(&mut b, &second, &mut ob);
        prop_assert_eq!(a.stats().late_events, 0);
        prop_assert_eq!(b.stats().late_events, 0);
        prop_assert_eq!(latest(&oa), latest(&ob));
    }

    #[test]
    fn a_replay_from_held_since_rebuilds_the_same_incidents(
        seed in any::<u64>(),
        batching in 1u32..2000,
        cut_per_mille in 100usize..950,
    ) {
        let cfg = small_config();
        let hold = i64::from(cfg.baseline_minutes + cfg.quiet_minutes) * MINUTE_US;
        let mut tr = random_traffic(seed);
        let all = ops(&mut tr, batching);
        let cut = all.len() * cut_per_mille / 1000;
        let mut a = SpikeDetector::new(cfg.clone());
        let mut oa = Vec::new();
        apply(&mut a, &all[..cut], &mut oa);
        let open_at_cut: Vec<String> = latest(&oa)
            .into_values()
            .filter(|i| i.open)
            .map(|i| i.id)
            .collect();
        let Some(since) = a.held_since() else {
            return Ok(());
        };
        prop_assert_eq!(since % MINUTE_US, 0);
        // What the service replays: the records from the first one carrying an event at or
        // after `since` (here: exactly those events, and the progress as it was).
        let replay: Vec<Op> = all[..cut]
            .iter()
            .filter(|op| match op {
                Op::Observe(r) => r.time_us >= since,
                Op::Advance(_) => true,
            })
            .cloned()
            .collect();
        let mut b = SpikeDetector::resume(cfg.clone(), since);
        let mut ob = Vec::new();
        apply(&mut b, &replay, &mut ob);
        apply(&mut a, &all[cut..], &mut oa);
        apply(&mut b, &all[cut..], &mut ob);
        let (la, lb) = (latest(&oa), latest(&ob));
        // The resumed detector sends nothing it cannot know, and what it sends is what the
        // uninterrupted one concluded.
        for (id, i) in &lb {
            prop_assert!(i.start_us >= since + hold, "{:?} before the gate", i);
            prop_assert_eq!(Some(i), la.get(id));
        }
        // Every incident open at the restart, and every one starting after the replay point,
        // is rebuilt.
        for (id, i) in &la {
            if i.start_us >= since + hold || open_at_cut.contains(id) {
                prop_assert_eq!(Some(i), lb.get(id));
            }
        }
    }
}
