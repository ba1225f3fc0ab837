//! How the engine forms attempts: joins by transactionID and by the fallback keys, one-sided
//! attempts, sessions, endpoints and IDs.

mod support;

use scepwatch_analyzer::engine::EngineConfig;
use scepwatch_analyzer::model::{Confidence, JoinMethod, Platform, Side};
use scepwatch_proto::v1::{IosScep, IosStep, ScepOperation};
use support::*;

fn enrollment(
    tx_device: &str,
    tx_server: &str,
    skew: i64,
) -> (Vec<scepwatch_proto::v1::Event>, Src) {
    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let mut events = android_enrollment(&mut dev, t(10, 0, 0) + skew, tx_device);
    events.extend(iis_enrollment(
        &mut iis,
        t(10, 0, 0),
        "10.0.0.5",
        UA_ANDROID,
        tx_server,
    ));
    (events, iis)
}

#[test]
fn transaction_id_join_is_exact_and_high_confidence() {
    let (events, iis) = enrollment(TX, TX, 0);
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(9, 0, 0), t(12, 0, 0))],
    );
    assert_eq!(sink.attempts.len(), 1, "{:#?}", sink.attempts);
    let a = &sink.attempts[0];
    assert_eq!(a.join, JoinMethod::TransactionId);
    assert_eq!(a.confidence, Confidence::High);
    assert_eq!(a.platform, Platform::Android);
    assert_eq!(a.device.as_deref(), Some("pixel-7"));
    assert_eq!(a.servers, vec!["ndes01".to_string()]);
    assert_eq!(a.endpoint, ENDPOINT);
    assert_eq!(a.transaction_ids, vec![TX.to_string()]);
    assert_eq!(a.client_ip.as_deref(), Some("10.0.0.5"));
    assert!(a.steps.iter().any(|s| s.side == Side::Device));
    assert!(a
        .steps
        .iter()
        .any(|s| s.side == Side::Server && s.what == "PKIOperation → 200"));
    assert!(a.steps.windows(2).all(|w| w[0].time_us <= w[1].time_us));
    for code in [
        "device.android_progress",
        "ndes.reached",
        "ndes.request_submitted",
    ] {
        assert!(a.diagnoses.contains(&code.to_string()), "{:?}", a.diagnoses);
    }
}

#[test]
fn fallback_join_with_one_candidate_is_medium() {
    let (events, iis) = enrollment("", "", 0);
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(9, 0, 0), t(12, 0, 0))],
    );
    assert_eq!(sink.attempts.len(), 1);
    assert_eq!(sink.attempts[0].join, JoinMethod::Fallback);
    assert_eq!(sink.attempts[0].confidence, Confidence::Medium);
}

#[test]
fn device_clock_skew_within_join_window_still_joins() {
    let (events, iis) = enrollment("", "", 90 * S);
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(9, 0, 0), t(12, 0, 0))],
    );
    assert_eq!(sink.attempts.len(), 1);
    assert_eq!(sink.attempts[0].join, JoinMethod::Fallback);
}

#[test]
fn several_fallback_candidates_take_the_closest_with_low_confidence() {
    let (mut events, mut iis) = enrollment("", "", 0);
    // Another Android device behind another address, a minute later.
    events.extend(iis_enrollment(
        &mut iis,
        t(10, 1, 0),
        "10.0.0.6",
        UA_ANDROID,
        "",
    ));
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(9, 0, 0), t(12, 0, 0))],
    );
    let joined: Vec<_> = sink
        .attempts
        .iter()
        .filter(|a| a.join == JoinMethod::Fallback)
        .collect();
    assert_eq!(joined.len(), 1, "{:#?}", sink.attempts);
    assert_eq!(joined[0].confidence, Confidence::Low);
    assert_eq!(joined[0].client_ip.as_deref(), Some("10.0.0.5"));
    let server_only: Vec<_> = sink
        .attempts
        .iter()
        .filter(|a| a.join == JoinMethod::ServerOnly)
        .collect();
    assert_eq!(server_only.len(), 1);
    assert_eq!(server_only[0].client_ip.as_deref(), Some("10.0.0.6"));
    assert_eq!(server_only[0].platform, Platform::Unknown);
    assert_eq!(server_only[0].user_agent_family.as_deref(), Some("android"));
}

#[test]
fn another_user_agent_family_does_not_join() {
    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let mut events = android_enrollment(&mut dev, t(10, 0, 0), "");
    events.extend(iis_enrollment(
        &mut iis,
        t(10, 0, 0),
        "10.0.0.5",
        UA_IOS,
        "",
    ));
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(9, 0, 0), t(12, 0, 0))],
    );
    let mut joins: Vec<JoinMethod> = sink.attempts.iter().map(|a| a.join).collect();
    joins.sort();
    assert_eq!(joins, vec![JoinMethod::DeviceOnly, JoinMethod::ServerOnly]);
}

#[test]
fn a_different_transaction_id_is_not_joined_by_time() {
    let (events, iis) = enrollment(TX, "0000AAAA", 0);
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(9, 0, 0), t(12, 0, 0))],
    );
    let mut joins: Vec<JoinMethod> = sink.attempts.iter().map(|a| a.join).collect();
    joins.sort();
    assert_eq!(joins, vec![JoinMethod::DeviceOnly, JoinMethod::ServerOnly]);
}

#[test]
fn unmapped_server_host_is_its_own_endpoint() {
    let mut iis = Src::iis("NDES01");
    let events = iis_enrollment(&mut iis, t(10, 0, 0), "10.0.0.5", UA_WINDOWS, "");
    let sink = run(EngineConfig::default(), &events, &[]);
    assert_eq!(sink.attempts.len(), 1);
    assert_eq!(sink.attempts[0].endpoint, "host:ndes01");
    assert_eq!(sink.attempts[0].join, JoinMethod::ServerOnly);
    assert_eq!(
        sink.attempts[0].user_agent_family.as_deref(),
        Some("windows")
    );
}

#[test]
fn requests_further_apart_than_the_gap_are_separate_sessions() {
    let mut iis = Src::iis("ndes01");
    let events = vec![
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.5",
            UA_WINDOWS,
        ),
        iis.mscep(
            t(10, 4, 0),
            ScepOperation::GetCaCert,
            200,
            0,
            0,
            "10.0.0.5",
            UA_WINDOWS,
        ),
        iis.mscep(
            t(10, 9, 1),
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.5",
            UA_WINDOWS,
        ),
        // Same time, another client and another user agent: separate sessions.
        iis.mscep(
            t(10, 0, 1),
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.7",
            UA_WINDOWS,
        ),
        iis.mscep(
            t(10, 0, 2),
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.5",
            UA_IOS,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    assert_eq!(sink.attempts.len(), 4, "{:#?}", sink.attempts);
}

#[test]
fn repeated_requests_fold_into_one_step_with_a_count() {
    let mut iis = Src::iis("ndes01");
    let events: Vec<_> = (0..50)
        .map(|i| {
            iis.mscep(
                t(10, 0, 0) + i * S,
                ScepOperation::GetCaCaps,
                200,
                0,
                0,
                "10.0.0.5",
                UA_ANDROID,
            )
        })
        .collect();
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    assert_eq!(sink.attempts.len(), 1);
    let a = &sink.attempts[0];
    assert_eq!(a.steps.len(), 1);
    assert!(
        a.steps[0].what.starts_with("GetCACaps → 200 (×50 until"),
        "{}",
        a.steps[0].what
    );
    // Successful server-only traffic is folded per server and hour.
    let d = server_diag(&sink, "ndes.reached");
    assert_eq!(d.occurrences, 50);
    assert!(d.explanation.contains("GetCACaps 50"), "{}", d.explanation);
    assert!(a.diagnoses.is_empty());
}

#[test]
fn ios_starts_a_new_attempt_at_get_ca_cert_after_pki_operation() {
    let mut dev = Src::ios("iphone-12");
    let url = |op: &str| format!("{ENDPOINT}?operation={op}&message=SCEP%20Authority");
    let step = |dev: &mut Src, time, op: ScepOperation, name: &str| {
        dev.ios_step(
            time,
            IosScep {
                step: IosStep::UrlRequest as i32,
                process: "profiled".into(),
                url: url(name),
                operation: op as i32,
                ..Default::default()
            },
            &format!("Performing synchronous URL request: {}", url(name)),
        )
    };
    let events = vec![
        step(
            &mut dev,
            t(18, 30, 53),
            ScepOperation::GetCaCert,
            "GetCACert",
        ),
        step(
            &mut dev,
            t(18, 30, 54),
            ScepOperation::GetCaCaps,
            "GetCACaps",
        ),
        step(
            &mut dev,
            t(18, 30, 55),
            ScepOperation::PkiOperation,
            "PKIOperation",
        ),
        step(
            &mut dev,
            t(18, 31, 10),
            ScepOperation::GetCaCert,
            "GetCACert",
        ),
        step(
            &mut dev,
            t(18, 31, 11),
            ScepOperation::GetCaCaps,
            "GetCACaps",
        ),
    ];
    let sink = run(EngineConfig::default(), &events, &[]);
    assert_eq!(sink.attempts.len(), 2);
    assert!(sink.attempts.iter().all(|a| a.platform == Platform::Ios));
    assert!(sink.attempts.iter().all(|a| a.endpoint == ENDPOINT));
}

#[test]
fn ids_are_digests_of_content() {
    let (events, iis) = enrollment(TX, TX, 0);
    let wm = [iis.watermark(t(9, 0, 0), t(12, 0, 0))];
    let a = run(config_for(&["ndes01"]), &events, &wm);
    let b = run(config_for(&["ndes01"]), &events, &wm);
    assert_eq!(a.attempts[0].id, b.attempts[0].id);
    assert_eq!(a.attempts[0].id.len(), 32);
    let ids_a: Vec<&str> = a.diagnoses.iter().map(|d| d.id.as_str()).collect();
    let ids_b: Vec<&str> = b.diagnoses.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids_a, ids_b);
    let (other, _) = enrollment(TX, TX, 3 * S);
    let c = run(config_for(&["ndes01"]), &other, &wm);
    assert_ne!(a.attempts[0].id, c.attempts[0].id);
    for d in &a.diagnoses {
        assert!(d.evidence.len() <= 5);
        assert!(!d.fix.is_empty() && !d.title.is_empty());
    }
}

/// A sink that keeps only some attempts in full gets the others as summaries, and every
/// diagnosis either way.
#[test]
fn a_sink_may_take_attempts_as_summaries() {
    use scepwatch_analyzer::engine::{AttemptSummary, Engine, Sink};
    use scepwatch_analyzer::model::{Attempt, Diagnosis, Severity};

    #[derive(Default)]
    struct OnlyProblems {
        full: Vec<Attempt>,
        summaries: Vec<(String, JoinMethod, Severity)>,
        diagnoses: Vec<Diagnosis>,
    }
    impl Sink for OnlyProblems {
        fn attempt(&mut self, a: Attempt) {
            self.full.push(a);
        }
        fn diagnosis(&mut self, d: Diagnosis) {
            self.diagnoses.push(d);
        }
        fn wants_attempt(&mut self, s: &AttemptSummary<'_>) -> bool {
            s.severity > Severity::Info
        }
        fn attempt_summary(&mut self, s: &AttemptSummary<'_>) {
            self.summaries.push((s.id.to_string(), s.join, s.severity));
        }
    }

    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let mut events = android_enrollment(&mut dev, t(10, 0, 0), TX);
    events.extend(iis_enrollment(
        &mut iis,
        t(10, 0, 0),
        "10.0.0.5",
        UA_ANDROID,
        TX,
    ));
    // A failing server-only session (500, win32 1346) and a successful one.
    for (time, status, win32) in [(t(11, 0, 0), 500, 1346), (t(12, 0, 0), 200, 0)] {
        events.push(iis.mscep(
            time,
            ScepOperation::PkiOperation,
            status,
            0,
            win32,
            "10.0.0.9",
            UA_IOS,
        ));
    }
    let all = run(config_for(&["ndes01"]), &events, &[]);
    let mut e = Engine::new(config_for(&["ndes01"]));
    for ev in &events {
        e.push(ev);
    }
    let mut some = OnlyProblems::default();
    e.finish(&mut some);

    assert_eq!(all.attempts.len(), 3);
    assert_eq!(some.full.len() + some.summaries.len(), 3);
    assert_eq!(some.full.len(), 1, "only the failing attempt in full");
    let failing = all
        .attempts
        .iter()
        .find(|a| a.severity > Severity::Info)
        .unwrap();
    assert_eq!(&some.full[0], failing);
    for (id, join, severity) in &some.summaries {
        let a = all.attempts.iter().find(|a| &a.id == id).unwrap();
        assert_eq!((a.join, a.severity), (*join, *severity));
    }
    let ids = |d: &[Diagnosis]| {
        let mut v: Vec<String> = d.iter().map(|d| d.id.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&some.diagnoses), ids(&all.diagnoses));
}
