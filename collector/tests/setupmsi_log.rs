//! SetupMsi.log fixtures (testdata/setupmsi) through `parse::parse_stream`.

use std::path::PathBuf;

use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{ConnectorInstall, Event, SourceId};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/setupmsi")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(bytes: &[u8], utc_offset_secs: i32) -> (Vec<Event>, ParseStats) {
    let source = SourceId {
        collector: "diagnose".into(),
        host: "NDES01".into(),
        kind: Format::SetupMsi.source_kind() as i32,
        path: "SetupMsi.log".into(),
        stream: String::new(),
    };
    let mut c = SourceContext::new(source, 1);
    c.utc_offset_secs = utc_offset_secs;
    let mut events = Vec::new();
    let stats = parse::parse_stream(Format::SetupMsi, &c, bytes, &mut |e| events.push(e)).unwrap();
    (events, stats)
}

fn install(e: &Event) -> &ConnectorInstall {
    match &e.payload {
        Some(Payload::ConnectorInstall(c)) => c,
        other => panic!("not an install: {other:?}"),
    }
}

#[test]
fn successful_install_server_and_client_summaries() {
    let (events, stats) = run(&fixture("success.log"), 0);
    assert_eq!(stats.error_count(), 0);
    assert_eq!(
        events.len(),
        2,
        "the server and the client each log a summary"
    );
    for e in &events {
        let i = install(e);
        assert_eq!(i.status, 0);
        assert!(i.completed);
        assert_eq!(i.product_name, "Microsoft Intune Connector");
        assert_eq!(i.product_version, "6.1711.4.0");
        assert!(i.errors.is_empty());
    }
    assert_eq!(
        to_rfc3339(events[1].event_time_us),
        "2026-11-20T16:13:11.999000Z"
    );
}

#[test]
fn utf16_log_reads_like_the_utf8_one() {
    let (a, _) = run(&fixture("success.log"), 0);
    let (b, stats) = run(&fixture("success_utf16le.log"), 0);
    assert_eq!(stats.error_count(), 0);
    let payloads = |v: &[Event]| v.iter().map(|e| e.payload.clone()).collect::<Vec<_>>();
    let times = |v: &[Event]| v.iter().map(|e| e.event_time_us).collect::<Vec<_>>();
    assert_eq!(payloads(&a), payloads(&b));
    assert_eq!(times(&a), times(&b));
}

#[test]
fn failed_install_1603_with_its_causes() {
    let (events, _) = run(&fixture("failure_1920.log"), -5 * 3600);
    assert_eq!(events.len(), 1);
    let i = install(&events[0]);
    assert_eq!(i.status, 1603);
    assert!(!i.completed);
    assert!(i.errors[0].starts_with("Error 1920. Service 'Microsoft Intune Connector Service'"));
    assert!(i
        .errors
        .iter()
        .any(|e| e.contains("returned actual error code 1603")));
    assert!(i.errors.iter().any(|e| e.ends_with("Return value 3.")));
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-21T13:02:53.102000Z"
    );
}

#[test]
fn interrupted_install_after_midnight() {
    let (events, _) = run(&fixture("interrupted.log"), 0);
    assert_eq!(events.len(), 1);
    let i = install(&events[0]);
    assert_eq!(i.status, -1);
    assert_eq!(i.errors.len(), 1);
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-23T00:00:31.250000Z",
        "the error came after midnight"
    );
}

#[test]
fn detect_fixture_summary() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/detect/setupmsi.log");
    let bytes = std::fs::read(path).unwrap();
    let (events, _) = run(&bytes, 0);
    assert!(events.iter().all(|e| install(e).status >= -1));
}
