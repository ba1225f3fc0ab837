//! The probe fixture through `parse::parse_stream`: one page of the guide per line.

use std::path::PathBuf;

use proptest::prelude::*;
use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::v1::{event::Payload, Event, ProbePage, ProbeResult, SourceId};

fn run(bytes: &[u8]) -> (Vec<Event>, ParseStats) {
    let source = SourceId {
        collector: "ndes01".into(),
        host: "ndes01".into(),
        kind: Format::Probe.source_kind() as i32,
        path: "probe".into(),
        stream: String::new(),
    };
    let ctx = SourceContext::new(source, 1);
    let mut events = Vec::new();
    let stats = parse::parse_stream(Format::Probe, &ctx, bytes, &mut |e| events.push(e)).unwrap();
    (events, stats)
}

fn probe(e: &Event) -> &ProbeResult {
    match &e.payload {
        Some(Payload::Probe(p)) => p,
        other => panic!("not a probe event: {other:?}"),
    }
}

#[test]
fn every_page_of_the_guide() {
    use ProbePage::*;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/probe/probe_results.jsonl");
    let (events, stats) = run(&std::fs::read(path).unwrap());
    let pages: Vec<ProbePage> = events
        .iter()
        .map(|e| ProbePage::try_from(probe(e).page).unwrap())
        .collect();
    assert_eq!(
        pages,
        [
            MscepForbidden,
            Other,
            NdesGeneralMessage,
            MscepForbidden,
            AppProxyCannotDisplay,
            GatewayTimeout,
            ServiceUnavailable,
            InternalServerError,
            UriTooLong,
            UriTooLong,
            NoResponse,
        ]
    );
    assert_eq!(stats.records, 14);
    assert_eq!(stats.ignored, 1);
    assert_eq!(stats.errors.get("probe.bad_json"), Some(&1));
    assert_eq!(stats.errors.get("probe.bad_field"), Some(&1));
    assert!(probe(&events[0]).via_app_proxy);
    assert!(!probe(&events[2]).via_app_proxy);
    assert_eq!(
        events[0].endpoint_id,
        "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
    );
    let dns = probe(&events[10]);
    assert_eq!(dns.status, 0);
    assert!(dns.error.starts_with("dns error"));
    assert_eq!(probe(&events[5]).elapsed_ms, 30012);
    assert_eq!(probe(&events[9]).substatus, 15);
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (_, stats) = run(&bytes);
        prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
    }

    #[test]
    fn well_formed_lines_always_parse(status in 0u32..600, sub in 0u32..100, body in "[ -~]{0,200}", ms in any::<u32>()) {
        let line = serde_json::json!({
            "time": "2026-11-20T09:00:00Z",
            "url": "https://ndes.contoso.com/certsrv/mscep/mscep.dll",
            "check": "browse", "status": status, "substatus": sub, "body": body,
            "error": null, "elapsed_ms": ms,
        });
        let (events, stats) = run(line.to_string().as_bytes());
        prop_assert_eq!(stats.events, 1);
        prop_assert_eq!(probe(&events[0]).status, status);
    }
}
