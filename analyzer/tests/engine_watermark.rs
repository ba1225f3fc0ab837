//! When the engine emits: watermarks, implicit progress, coverage for row 2, late events,
//! stalls, and bounded state while streaming.

mod support;

use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_analyzer::model::JoinMethod;
use scepwatch_proto::v1::{AndroidScep, AndroidStep, ScepOperation};
use support::*;

fn explicit(hosts: &[&str]) -> EngineConfig {
    EngineConfig {
        implicit_watermarks: false,
        ..config_for(hosts)
    }
}

fn device_call(dev: &mut Src, time: i64) -> Vec<scepwatch_proto::v1::Event> {
    vec![
        dev.android_step(
            time,
            AndroidScep {
                step: AndroidStep::RequestsPending as i32,
                request_count: 1,
                ..Default::default()
            },
            "There are 1 requests",
        ),
        dev.android_step(
            time + S,
            AndroidScep {
                step: AndroidStep::Sending as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: URL_CACAPS.into(),
                ..Default::default()
            },
            "Sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca",
        ),
    ]
}

#[test]
fn nothing_is_emitted_before_the_server_log_is_read_past() {
    let mut iis = Src::iis("ndes01");
    let mut e = Engine::new(explicit(&["ndes01"]));
    for ev in iis_enrollment(&mut iis, t(10, 0, 0), "10.0.0.5", UA_ANDROID, "") {
        e.push(&ev);
    }
    let mut sink = CollectSink::default();
    e.advance(&mut sink);
    assert!(sink.attempts.is_empty());
    assert_eq!(e.stats().open_sessions, 1);
    // Read up to just before last request + gap: still open.
    e.watermark(&iis.watermark(t(9, 0, 0), t(10, 5, 16)));
    e.advance(&mut sink);
    assert!(sink.attempts.is_empty());
    // Past the gap and the crash window: closed and released.
    e.watermark(&iis.watermark(t(9, 0, 0), t(10, 30, 0)));
    e.advance(&mut sink);
    assert_eq!(sink.attempts.len(), 1);
    let st = e.stats();
    assert_eq!((st.open_sessions, st.pending_sessions), (0, 0));
    assert_eq!(st.attempts_emitted, 1);
}

#[test]
fn device_attempt_waits_for_every_server_of_its_endpoint() {
    let mut dev = Src::android("pixel-7");
    let mut dev_events = device_call(&mut dev, t(10, 0, 0));
    let mut e = Engine::new(explicit(&["ndes01", "ndes02"]));
    for ev in &dev_events {
        e.push(ev);
    }
    e.watermark(&dev.watermark(t(10, 0, 0), t(11, 0, 0)));
    let (n1, n2) = (Src::iis("ndes01"), Src::iis("ndes02"));
    e.watermark(&n1.watermark(t(9, 0, 0), t(12, 0, 0)));
    let mut sink = CollectSink::default();
    e.advance(&mut sink);
    assert!(
        sink.attempts.is_empty(),
        "ndes02 has not been read: must wait"
    );
    e.watermark(&n2.watermark(t(9, 0, 0), t(12, 0, 0)));
    e.advance(&mut sink);
    assert_eq!(sink.attempts.len(), 1);
    assert_eq!(sink.attempts[0].join, JoinMethod::DeviceOnly);
    let d = attempt_diag(&sink, "network.blocked_before_ndes");
    assert!(
        d.explanation.contains("ndes01, ndes02"),
        "{}",
        d.explanation
    );
    dev_events.clear();
}

#[test]
fn row_2_needs_every_server_to_cover_the_window() {
    let mut dev = Src::android("pixel-7");
    let events = device_call(&mut dev, t(10, 0, 0));
    let (n1, n2) = (Src::iis("ndes01"), Src::iis("ndes02"));
    // ndes02's log starts after the attempt: the window is not fully read.
    let sink = run(
        explicit(&["ndes01", "ndes02"]),
        &events,
        &[
            n1.watermark(t(9, 0, 0), t(12, 0, 0)),
            n2.watermark(t(10, 30, 0), t(12, 0, 0)),
        ],
    );
    let d = attempt_diag(&sink, "attempt.server_not_observed");
    assert!(
        d.explanation.contains("ndes02 (2026-11-20T09:58:00Z"),
        "{}",
        d.explanation
    );
    assert!(of(&sink, "network.blocked_before_ndes").is_empty());
    assert!(d.fix.contains("IIS logs"));
}

#[test]
fn implicit_coverage_comes_from_the_events_read() {
    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let mut events = device_call(&mut dev, t(10, 0, 0));
    // The server log has other traffic before and after the attempt, none from this device.
    events.push(iis.mscep(
        t(9, 0, 0),
        ScepOperation::GetCaCaps,
        200,
        0,
        0,
        "10.0.0.9",
        UA_WINDOWS,
    ));
    events.push(iis.mscep(
        t(11, 0, 0),
        ScepOperation::GetCaCaps,
        200,
        0,
        0,
        "10.0.0.9",
        UA_WINDOWS,
    ));
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    attempt_diag(&sink, "network.blocked_before_ndes");
    // A log that ends before the attempt does not cover it.
    let mut iis = Src::iis("ndes01");
    let mut events = device_call(&mut dev, t(10, 0, 0));
    events.push(iis.mscep(
        t(9, 0, 0),
        ScepOperation::GetCaCaps,
        200,
        0,
        0,
        "10.0.0.9",
        UA_WINDOWS,
    ));
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    attempt_diag(&sink, "attempt.server_not_observed");
}

#[test]
fn announced_source_covers_nothing_but_is_expected() {
    let mut dev = Src::android("pixel-7");
    let events = device_call(&mut dev, t(10, 0, 0));
    let n1 = Src::iis("ndes01");
    let mut e = Engine::new(EngineConfig {
        implicit_watermarks: false,
        ..Default::default()
    });
    // Announce ndes01 as a server of the endpoint, without coverage.
    let mut announce = n1.watermark(t(8, 0, 0), t(8, 0, 0) - 1);
    announce.endpoint_id = ENDPOINT.into();
    e.watermark(&announce);
    for ev in &events {
        e.push(ev);
    }
    e.watermark(&dev.watermark(t(10, 0, 0), t(11, 0, 0)));
    let mut sink = CollectSink::default();
    e.advance(&mut sink);
    assert!(sink.attempts.is_empty());
    e.finish(&mut sink);
    let d = attempt_diag(&sink, "attempt.server_not_observed");
    assert!(d.explanation.contains("ndes01"), "{}", d.explanation);
}

#[test]
fn late_events_are_counted() {
    let mut iis = Src::iis("ndes01");
    let mut e = Engine::new(config_for(&["ndes01"]));
    e.push(&iis.mscep(
        t(12, 0, 0),
        ScepOperation::GetCaCaps,
        200,
        0,
        0,
        "10.0.0.5",
        UA_WINDOWS,
    ));
    e.push(&iis.mscep(
        t(10, 0, 0),
        ScepOperation::GetCaCaps,
        200,
        0,
        0,
        "10.0.0.5",
        UA_WINDOWS,
    ));
    assert_eq!(e.stats().late_events, 1);
    assert_eq!(e.stats().events_by_kind.get("iis"), Some(&2));
}

#[test]
fn stall_timeout_releases_a_device_attempt_of_a_silent_server() {
    let mut dev = Src::android("pixel-7");
    let events = device_call(&mut dev, t(10, 0, 0));
    let mut cfg = explicit(&["ndes01", "ndes02"]);
    cfg.stall_timeout_us = Some(60 * MIN);
    let mut e = Engine::new(cfg);
    for ev in &events {
        e.push(ev);
    }
    e.watermark(&dev.watermark(t(10, 0, 0), t(11, 0, 0)));
    let n1 = Src::iis("ndes01");
    e.watermark(&n1.watermark(t(9, 0, 0), t(10, 30, 0)));
    let mut sink = CollectSink::default();
    e.advance(&mut sink);
    assert!(sink.attempts.is_empty());
    e.watermark(&n1.watermark(t(9, 0, 0), t(11, 30, 0)));
    e.advance(&mut sink);
    assert_eq!(
        sink.attempts.len(),
        1,
        "ndes02 stayed silent an hour: released anyway"
    );
    attempt_diag(&sink, "attempt.server_not_observed");
}

/// A day of traffic from many clients, read in order with `advance` as it goes: sessions close
/// and are emitted, and the state stays small.
#[test]
fn streaming_keeps_state_bounded() {
    let mut iis = Src::iis("ndes01");
    let mut e = Engine::new(config_for(&["ndes01"]));
    let mut sink = CollectSink::default();
    let mut max_open = 0;
    let mut max_bytes = 0;
    let ops = [
        ScepOperation::GetCaCaps,
        ScepOperation::GetCaCert,
        ScepOperation::PkiOperation,
    ];
    for i in 0..60_000i64 {
        let time = t(0, 0, 0) + i * 1_400_000; // one request every 1.4 s for a day
        let client = format!("10.1.{}.{}", (i / 3 / 250) % 250, (i / 3) % 250);
        let ev = iis.mscep(time, ops[(i % 3) as usize], 200, 0, 0, &client, UA_ANDROID);
        e.push(&ev);
        if i % 1000 == 0 {
            e.advance(&mut sink);
            let st = e.stats();
            max_open = max_open.max(st.open_sessions + st.pending_sessions);
            max_bytes = max_bytes.max(st.state_bytes);
        }
    }
    e.finish(&mut sink);
    assert_eq!(sink.attempts.len(), 20_000);
    assert!(max_open < 1_000, "open sessions grew to {max_open}");
    assert!(max_bytes < 8 << 20, "state grew to {max_bytes} bytes");
    // One server-scope diagnosis per symptom and hour at most: none here (all 200).
    assert!(sink
        .diagnoses
        .iter()
        .all(|d| d.code == "ndes.reached" || d.code == "ndes.request_submitted"));
}

/// Files read one after another: a server's context must survive another server's log being
/// read days ahead (regression: pruning by the newest progress of any server).
#[test]
fn context_survives_another_servers_log_read_days_ahead() {
    let mut app_b = Src::application("ndes02");
    let mut iis_a = Src::iis("ndes01");
    let mut iis_b = Src::iis("ndes02");
    let mut e = Engine::new(config_for(&["ndes01", "ndes02"]));
    let mut sink = CollectSink::default();
    e.push(&app_b.w3wp_crash(t(10, 0, 30)));
    for i in 0..720i64 {
        let time = t(0, 0, 0) + i * 10 * MIN;
        e.push(&iis_a.mscep(
            time,
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.9",
            UA_WINDOWS,
        ));
        e.advance(&mut sink);
    }
    e.push(&iis_b.mscep(
        t(10, 0, 0),
        ScepOperation::GetCaCaps,
        503,
        0,
        0,
        "10.0.0.5",
        UA_ANDROID,
    ));
    e.advance(&mut sink);
    e.finish(&mut sink);
    server_diag(&sink, "iis.app_pool_crashing");
    assert!(
        of(&sink, "iis.app_pool_unavailable").is_empty(),
        "{:?}",
        codes(&sink)
    );
}
