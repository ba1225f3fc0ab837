//! The same events give the same attempts and diagnoses whatever the order of arrival and the
//! interleaving of `advance` calls, within the engine's contract (see the engine module doc):
//! - any permutation when `advance` is only called at the end;
//! - explicit watermarks only: device logs and host context first, then the IIS events in any
//!   order with honest watermarks (each after the events it covers) and `advance` anywhere;
//! - implicit watermarks: device logs and context first, then each IIS source in time order,
//!   interleaved at random with the others, and `advance` anywhere;
//! - implicit watermarks, devices competing for one window: device logs read alongside the IIS
//!   logs, every source in time order and up to 90 s behind the others, `advance` anywhere.

mod support;

use proptest::prelude::*;
use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::{
    AndroidScep, AndroidStep, CertRole, Event, IosScep, IosStep, ProbePage, ScepOperation,
    ServiceAccountFact, Watermark,
};
use support::*;

struct Scenario {
    /// Device logs and host context (with their final watermarks).
    early: Vec<Event>,
    early_watermarks: Vec<Watermark>,
    /// Each IIS source's events in time order, and the source.
    iis: Vec<(Src, Vec<Event>)>,
}

fn ios_url(dev: &mut Src, time: i64, op: ScepOperation, name: &str) -> Event {
    let url = format!("{ENDPOINT}?operation={name}&message=SCEP%20Authority");
    dev.ios_step(
        time,
        IosScep {
            step: IosStep::UrlRequest as i32,
            process: "profiled".into(),
            url: url.clone(),
            operation: op as i32,
            ..Default::default()
        },
        &format!("Performing synchronous URL request: {url}"),
    )
}

fn scenario() -> Scenario {
    let mut early = Vec::new();
    let mut early_watermarks = Vec::new();

    // Android device joined by transactionID to ndes01.
    let mut d1 = Src::android("pixel-7");
    early.extend(android_enrollment(&mut d1, t(10, 0, 0), TX));
    early_watermarks.push(d1.watermark(t(10, 0, 0), t(12, 0, 0)));
    // iOS device joined by the fallback to ndes02.
    let mut d2 = Src::ios("iphone-12");
    early.push(ios_url(
        &mut d2,
        t(10, 20, 0),
        ScepOperation::GetCaCert,
        "GetCACert",
    ));
    early.push(ios_url(
        &mut d2,
        t(10, 20, 1),
        ScepOperation::GetCaCaps,
        "GetCACaps",
    ));
    early.push(ios_url(
        &mut d2,
        t(10, 20, 2),
        ScepOperation::PkiOperation,
        "PKIOperation",
    ));
    early_watermarks.push(d2.watermark(t(10, 20, 0), t(12, 0, 0)));
    // Android device whose requests never arrive.
    let mut d3 = Src::android("galaxy-s21");
    early.push(d3.android_step(
        t(10, 40, 0),
        AndroidScep {
            step: AndroidStep::Sending as i32,
            operation: ScepOperation::GetCaCaps as i32,
            url: URL_CACAPS.into(),
            ..Default::default()
        },
        "Sending GetCACaps(ca) to ...",
    ));
    early_watermarks.push(d3.watermark(t(10, 40, 0), t(12, 0, 0)));

    // Context.
    let mut app2 = Src::application("ndes02");
    early.push(app2.w3wp_crash(t(10, 51, 0)));
    early_watermarks.push(app2.watermark(t(8, 0, 0), t(12, 0, 0)));
    let mut h1 = Src::health("ndes01");
    early.push(h1.fact(
        t(9, 30, 0),
        cert_fact(
            CertRole::RaEncryption,
            "CN=NDES01-MSCEP-RA",
            "AA11",
            t(9, 30, 0) + 10 * 24 * 60 * MIN,
            &[],
        ),
    ));
    early.push(h1.fact(
        t(11, 45, 0),
        Fact::ServiceAccount(ServiceAccountFact {
            account: "CONTOSO\\svc-ndes".into(),
            ..Default::default()
        }),
    ));
    early_watermarks.push(h1.watermark(t(9, 30, 0), t(12, 0, 0)));
    let mut h2 = Src::health("ndes02");
    early.push(h2.fact(
        t(9, 30, 0),
        cert_fact(
            CertRole::RootStoreIntermediate,
            "CN=Contoso Issuing CA",
            "BB22",
            t(23, 0, 0),
            &[],
        ),
    ));
    early_watermarks.push(h2.watermark(t(9, 30, 0), t(12, 0, 0)));
    let mut he2 = Src::httperr("ndes02");
    early.push(he2.httperr_rec(t(10, 50, 30), "10.0.0.9", 503, "AppOffline"));
    early_watermarks.push(he2.watermark(t(8, 0, 0), t(12, 0, 0)));
    let mut msi = Src::setupmsi("ndes01");
    early.push(msi.install(t(9, 0, 0), 0));
    early_watermarks.push(msi.watermark(t(9, 0, 0), t(9, 0, 0)));
    let mut probe = Src::probe("prober01");
    early.push(probe.probe_result(t(10, 5, 0), ProbePage::MscepForbidden, 403));
    early.push(probe.probe_result(t(10, 45, 0), ProbePage::GatewayTimeout, 504));
    early_watermarks.push(probe.watermark(t(10, 0, 0), t(12, 0, 0)));

    // ndes01: the Android enrollment, a Windows client failing with 500/1346, background traffic,
    // CertificateRegistrationSvc 403.
    let mut n1 = Src::iis("ndes01");
    let mut e1 = iis_enrollment(&mut n1, t(10, 0, 0), "10.0.0.5", UA_ANDROID, TX);
    for i in 0..3 {
        e1.push(n1.mscep(
            t(10, 30, i),
            ScepOperation::GetCaCert,
            500,
            0,
            1346,
            "10.0.0.7",
            UA_WINDOWS,
        ));
    }
    for i in 0..300 {
        e1.push(n1.mscep(
            t(9, 0, 0) + i * 30 * S,
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.20",
            UA_WINDOWS,
        ));
    }
    e1.push(n1.cert_registration(t(10, 0, 20), 403));
    e1.sort_by_key(|e| (e.event_time_us, e.position));
    // ndes02: the iOS enrollment and a burst of 503s.
    let mut n2 = Src::iis("ndes02");
    let mut e2 = iis_enrollment(&mut n2, t(10, 20, 0), "10.0.0.8", UA_IOS, "");
    for i in 0..5 {
        e2.push(n2.mscep(
            t(10, 50, i),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.9",
            UA_ANDROID,
        ));
    }
    for i in 0..300 {
        e2.push(n2.mscep(
            t(9, 0, 15) + i * 30 * S,
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.21",
            UA_WINDOWS,
        ));
    }
    e2.sort_by_key(|e| (e.event_time_us, e.position));
    Scenario {
        early,
        early_watermarks,
        iis: vec![(n1, e1), (n2, e2)],
    }
}

fn config(implicit: bool) -> EngineConfig {
    EngineConfig {
        implicit_watermarks: implicit,
        ..config_for(&["ndes01", "ndes02"])
    }
}

/// Everything, sorted by ID, as JSON: the comparable result of a run.
fn result(sink: &CollectSink) -> (Vec<String>, Vec<String>) {
    let mut a: Vec<String> = sink
        .attempts
        .iter()
        .map(|x| serde_json::to_string(x).unwrap_or_default())
        .collect();
    let mut d: Vec<String> = sink
        .diagnoses
        .iter()
        .map(|x| serde_json::to_string(x).unwrap_or_default())
        .collect();
    a.sort();
    d.sort();
    (a, d)
}

fn final_watermarks(s: &Scenario) -> Vec<Watermark> {
    let mut w = s.early_watermarks.clone();
    for (src, _) in &s.iis {
        w.push(src.watermark(t(8, 0, 0), t(12, 0, 0)));
    }
    w
}

fn reference(implicit: bool) -> (Vec<String>, Vec<String>) {
    let s = scenario();
    let mut events = s.early.clone();
    for (_, ev) in &s.iis {
        events.extend(ev.iter().cloned());
    }
    events.sort_by_key(|e| e.event_time_us);
    result(&run(config(implicit), &events, &final_watermarks(&s)))
}

/// What differs between two results, briefly.
fn diff(got: &(Vec<String>, Vec<String>), want: &(Vec<String>, Vec<String>)) -> String {
    let mut out = String::new();
    for (name, g, w) in [("attempt", &got.0, &want.0), ("diagnosis", &got.1, &want.1)] {
        for x in g.iter().filter(|x| !w.contains(x)) {
            out.push_str(&format!("\n+ {name} {}", &x[..x.len().min(400)]));
        }
        for x in w.iter().filter(|x| !g.contains(x)) {
            out.push_str(&format!("\n- {name} {}", &x[..x.len().min(400)]));
        }
    }
    out
}

fn check(
    got: (Vec<String>, Vec<String>),
    want: (Vec<String>, Vec<String>),
) -> Result<(), TestCaseError> {
    prop_assert!(got == want, "{}", diff(&got, &want));
    Ok(())
}

/// splitmix64: a tiny deterministic generator driven by proptest's seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

enum Op {
    Event(Box<Event>),
    Mark(Watermark),
}

fn play(config: EngineConfig, ops: Vec<Op>, rng: &mut Rng, advance_one_in: usize) -> CollectSink {
    let mut e = Engine::new(config);
    let mut sink = CollectSink::default();
    for op in ops {
        match op {
            Op::Event(ev) => e.push(&ev),
            Op::Mark(w) => e.watermark(&w),
        }
        if rng.chance(advance_one_in) {
            e.advance(&mut sink);
        }
    }
    e.finish(&mut sink);
    sink
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_permutation_then_finish(seed in any::<u64>()) {
        let s = scenario();
        let mut rng = Rng(seed);
        let mut events = s.early.clone();
        for (_, ev) in &s.iis {
            events.extend(ev.iter().cloned());
        }
        rng.shuffle(&mut events);
        let mut marks = final_watermarks(&s);
        rng.shuffle(&mut marks);
        let got = result(&run(config(true), &events, &marks));
        check(got, reference(true))?;
    }

    #[test]
    fn explicit_watermarks_with_advance_anywhere(seed in any::<u64>()) {
        let s = scenario();
        let mut rng = Rng(seed);
        let mut ops: Vec<Op> = Vec::new();
        let mut early = s.early.clone();
        rng.shuffle(&mut early);
        ops.extend(early.into_iter().map(|e| Op::Event(Box::new(e))));
        let mut ew = s.early_watermarks.clone();
        rng.shuffle(&mut ew);
        ops.extend(ew.into_iter().map(Op::Mark));
        // IIS events in any order; each intermediate watermark after the events it covers.
        let mut iis: Vec<Event> = s.iis.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
        rng.shuffle(&mut iis);
        let mut slots: Vec<Vec<Watermark>> = vec![Vec::new(); iis.len() + 1];
        for (src, _) in &s.iis {
            for cut in [t(9, 30, 0), t(10, 10, 0), t(10, 25, 0), t(10, 45, 0), t(11, 0, 0), t(11, 40, 0)] {
                let host = &src.id.host;
                let last_covered = iis
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.source.as_ref().is_some_and(|x| &x.host == host) && e.event_time_us <= cut)
                    .map(|(i, _)| i + 1)
                    .max()
                    .unwrap_or(0);
                let at = last_covered + rng.below(iis.len() + 1 - last_covered);
                slots[at].push(src.watermark(t(8, 0, 0), cut));
            }
        }
        for (i, ev) in iis.into_iter().enumerate() {
            ops.extend(slots[i].drain(..).map(Op::Mark));
            ops.push(Op::Event(Box::new(ev)));
        }
        if let Some(last) = slots.last_mut() {
            ops.extend(last.drain(..).map(Op::Mark));
        }
        for (src, _) in &s.iis {
            ops.push(Op::Mark(src.watermark(t(8, 0, 0), t(12, 0, 0))));
        }
        let got = result(&play(config(false), ops, &mut rng, 7));
        check(got, reference(false))?;
    }

    #[test]
    fn sources_in_order_interleaved_with_advance_anywhere(seed in any::<u64>()) {
        let s = scenario();
        let mut rng = Rng(seed);
        let mut ops: Vec<Op> = Vec::new();
        let mut early = s.early.clone();
        rng.shuffle(&mut early);
        ops.extend(early.into_iter().map(|e| Op::Event(Box::new(e))));
        // A random merge of the IIS sources, each in time order.
        let mut queues: Vec<std::collections::VecDeque<Event>> =
            s.iis.iter().map(|(_, e)| e.iter().cloned().collect()).collect();
        loop {
            let live: Vec<usize> = (0..queues.len()).filter(|&i| !queues[i].is_empty()).collect();
            if live.is_empty() {
                break;
            }
            let q = live[rng.below(live.len())];
            // Take a run of a few events from that source.
            for _ in 0..=rng.below(40) {
                match queues[q].pop_front() {
                    Some(ev) => ops.push(Op::Event(Box::new(ev))),
                    None => break,
                }
            }
        }
        let got = result(&play(config(true), ops, &mut rng, 5));
        check(got, reference(true))?;
    }
}

#[test]
fn both_modes_agree_and_the_scenario_covers_the_catalog() {
    let (a_imp, d_imp) = reference(true);
    let (a_exp, d_exp) = reference(false);
    assert_eq!(a_imp, a_exp);
    assert_eq!(d_imp, d_exp);
    for code in [
        "ndes.reached",
        "ndes.request_submitted",
        "device.android_progress",
        "device.ios_progress",
        "network.blocked_before_ndes",
        "iis.impersonation_right_missing",
        "iis.app_pool_crashing.root_intermediate",
        "ndes.policy_cert_missing_client_auth",
        "app_proxy.connector_down",
        "ndes.mscep_answering",
        "health.ra_cert_expiring",
        "health.root_store_intermediate",
    ] {
        assert!(
            d_imp
                .iter()
                .any(|d| d.contains(&format!("\"code\":\"{code}\""))),
            "{code} missing"
        );
    }
}

/// A fleet's shape, where device logs are read alongside the IIS logs (as collectors ship them):
/// Android devices of one endpoint enrolling within a few minutes of each other on two servers,
/// half of them with a transactionID (which the server's log lacks one time in five: a message
/// cut short), the others only joinable by the time-window fallback; some with a second attempt minutes later, some
/// whose device log is not collected, some whose requests never reach a server. Every source
/// arrives in time order, each behind the others by up to 90 s, with `advance` anywhere: the
/// joins must be those of one run over everything. Two devices competing for one window are
/// the case this covers (before, whichever became ready first took the session the other
/// would have joined by transactionID).
fn competing_devices(rng: &mut Rng) -> (Vec<Event>, Vec<Vec<Event>>) {
    let hosts = ["ndes01", "ndes02"];
    let mut iis: Vec<Src> = hosts.iter().map(|h| Src::iis(h)).collect();
    let mut iis_events: Vec<Vec<Event>> = vec![Vec::new(), Vec::new()];
    let mut device_logs: Vec<Vec<Event>> = Vec::new();
    let devices = 2 + rng.below(5);
    for d in 0..devices {
        let mut log = Src::android(&format!("pixel-{d}"));
        let client = format!("10.0.1.{}", 10 + d);
        let mut events = Vec::new();
        let mut start = t(10, 0, 0) + rng.below(240) as i64 * S;
        for a in 0..1 + rng.below(2) {
            let tx = if rng.chance(2) {
                format!("{:040X}", d * 16 + a + 1)
            } else {
                String::new()
            };
            let logged = !rng.chance(6);
            let reached = !rng.chance(6) || !logged;
            if logged {
                events.extend(android_enrollment(&mut log, start, &tx));
            }
            if reached {
                let s = rng.below(hosts.len());
                // One in five PKIOperations cut short: the server has no transactionID.
                let server_tx = if rng.chance(5) { "" } else { tx.as_str() };
                iis_events[s].extend(iis_enrollment(
                    &mut iis[s],
                    start + rng.below(5) as i64 * S,
                    &client,
                    UA_ANDROID,
                    server_tx,
                ));
            }
            start += (6 + rng.below(7) as i64) * MIN;
        }
        if !events.is_empty() {
            device_logs.push(events);
        }
    }
    let mut all: Vec<Event> = device_logs.iter().flatten().cloned().collect();
    for ev in &mut iis_events {
        ev.sort_by_key(|e| e.event_time_us);
        all.extend(ev.iter().cloned());
    }
    device_logs.extend(iis_events);
    (all, device_logs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn devices_competing_for_one_window_join_as_in_one_run(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let (all, sources) = competing_devices(&mut rng);
        let config = config_for(&["ndes01", "ndes02"]);
        let want = result(&run(config.clone(), &all, &[]));
        // Each source in time order, behind the others by a delay of its own.
        let mut keyed: Vec<(i64, usize, usize, Event)> = Vec::new();
        for (i, events) in sources.into_iter().enumerate() {
            let delay = rng.below(91) as i64 * S;
            for (j, e) in events.into_iter().enumerate() {
                keyed.push((e.event_time_us + delay, i, j, e));
            }
        }
        keyed.sort_by_key(|k| (k.0, k.1, k.2));
        let ops = keyed.into_iter().map(|k| Op::Event(Box::new(k.3))).collect();
        let one_in = 1 + rng.below(8);
        let got = result(&play(config, ops, &mut rng, one_in));
        check(got, want)?;
    }
}
