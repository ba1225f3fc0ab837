//! The Android OMADM fixtures through `parse::parse_stream`, as the collector and `diagnose` run
//! them.

use std::path::PathBuf;

use proptest::prelude::*;
use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::{
    event::Payload, AndroidScep, AndroidStep, Event, ScepOperation, SourceId,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/android")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ctx(utc_offset_secs: i32) -> SourceContext {
    let source = SourceId {
        collector: "diagnose".into(),
        host: "pixel-7".into(),
        kind: Format::AndroidOmadm.source_kind() as i32,
        path: "omadmlog.log".into(),
        stream: String::new(),
    };
    let mut c = SourceContext::new(source, 1);
    c.utc_offset_secs = utc_offset_secs;
    c
}

fn run(bytes: &[u8], offset: i32) -> (Vec<Event>, ParseStats) {
    let mut events = Vec::new();
    let stats = parse::parse_stream(Format::AndroidOmadm, &ctx(offset), bytes, &mut |e| {
        events.push(e)
    })
    .unwrap();
    (events, stats)
}

fn android(e: &Event) -> &AndroidScep {
    match &e.payload {
        Some(Payload::Android(a)) => a,
        other => panic!("not an Android event: {other:?}"),
    }
}

fn steps(events: &[Event]) -> Vec<AndroidStep> {
    events
        .iter()
        .map(|e| AndroidStep::try_from(android(e).step).unwrap())
        .collect()
}

#[test]
fn success_walks_every_step_of_the_guide() {
    use AndroidStep::*;
    let (events, stats) = run(&fixture("omadm_success.log"), 0);
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(stats.records, 14);
    assert_eq!(
        steps(&events),
        [
            RequestsPending,
            EnrollStart,
            Sending,
            Received,
            Sending,
            Received,
            Encoding,
            Signing,
            SendingPkiMessage,
            Sending,
            Received,
            RequestsPending
        ]
    );
    let enc = android(&events[6]);
    assert_eq!(
        enc.transaction_id,
        "251E592A777C82996C7CF96F3AAADCF996FC31FF"
    );
    assert_eq!(enc.sender_nonce, "D447AE9955E624A56A09D64E2B3AE76E");
    assert_eq!(android(&events[7]).signer_dn, "CN=adele.vance");
    let post = android(&events[10]);
    assert_eq!(post.operation, ScepOperation::PkiOperation as i32);
    assert_eq!(post.http_status_code, 200);
    assert!(post.error.is_empty());
    assert!(events[2..6]
        .iter()
        .chain(&events[9..11])
        .all(|e| e.endpoint_id == "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"));
    assert_eq!(android(&events[1]).model_name, "AC_51bad41f-3854-4eb5-a2f2-0f7a94034ee8%2FLogicalName_39907e78_e61b_4730_b9fa_d44a53e4111c");
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-20T09:14:02.481000Z"
    );
}

#[test]
fn device_offset_moves_times_to_utc() {
    let (events, _) = run(&fixture("omadm_success.log"), 3600);
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-20T08:14:02.481000Z"
    );
}

#[test]
fn gateway_timeout_is_received_with_504_then_an_error() {
    use AndroidStep::*;
    let (events, stats) = run(&fixture("omadm_gateway_timeout.log"), 0);
    assert_eq!(stats.error_count(), 0);
    assert_eq!(stats.ignored, 4, "stack trace lines");
    assert_eq!(
        steps(&events),
        [
            RequestsPending,
            EnrollStart,
            Sending,
            Received,
            Error,
            RequestsPending,
            EnrollStart,
            Sending,
            Received,
            Error
        ]
    );
    for i in [3, 8] {
        let r = android(&events[i]);
        assert_eq!(
            (r.http_status.as_str(), r.http_status_code),
            ("504 Gateway Timeout", 504)
        );
        assert_eq!(r.error, "HTTP 504 Gateway Timeout");
    }
    assert_eq!(android(&events[4]).http_status_code, 504);
}

#[test]
fn network_failures_are_errors_and_telemetry_is_not() {
    let (events, stats) = run(&fixture("omadm_network_failures.log"), 0);
    assert_eq!(stats.error_count(), 0);
    let errors: Vec<&AndroidScep> = events
        .iter()
        .map(android)
        .filter(|a| a.step == AndroidStep::Error as i32)
        .collect();
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(errors[0].error.starts_with("java.net.UnknownHostException"));
    assert!(errors[2].error.contains("SSLHandshakeException"));
    assert_eq!(errors[3].http_status_code, 500);
    assert_eq!(errors[4].operation, ScepOperation::GetCaCert as i32);
    assert!(!events
        .iter()
        .any(|e| android(e).component.contains("Telemetry")));
    let forbidden = events
        .iter()
        .map(android)
        .find(|a| a.http_status_code == 403)
        .unwrap();
    assert_eq!(forbidden.step, AndroidStep::Received as i32);
    assert_eq!(forbidden.error, "HTTP 403 Forbidden");
}

#[test]
fn ids_are_deterministic_and_distinct() {
    let bytes = fixture("omadm_success.log");
    let (a, _) = run(&bytes, 0);
    let (b, _) = run(&bytes, 0);
    assert_eq!(a, b);
    let mut ids: Vec<_> = a.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), a.len());
}

#[test]
fn crlf_and_utf16_copies_parse_the_same() {
    let bytes = fixture("omadm_success.log");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let crlf = text.replace('\n', "\r\n");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let payloads = |b: &[u8]| {
        run(b, 0)
            .0
            .into_iter()
            .map(|e| e.payload)
            .collect::<Vec<_>>()
    };
    assert_eq!(payloads(crlf.as_bytes()), payloads(&bytes));
    assert_eq!(payloads(&utf16), payloads(&bytes));
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (_, stats) = run(&bytes, 0);
        prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
    }

    #[test]
    fn cut_fixtures_never_panic(cut in 0usize..4000, offset in -50_000i32..50_000) {
        let bytes = fixture("omadm_network_failures.log");
        let (_, stats) = run(&bytes[..cut.min(bytes.len())], offset);
        prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
    }
}
