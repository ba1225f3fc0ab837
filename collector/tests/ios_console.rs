//! The iOS console fixtures through `parse::parse_stream`.

use std::path::PathBuf;

use proptest::prelude::*;
use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::{event::Payload, Event, IosScep, IosStep, ScepOperation, SourceId};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/ios")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(bytes: &[u8], date_hint: Option<(i64, u32, u32)>) -> (Vec<Event>, ParseStats) {
    let source = SourceId {
        collector: "diagnose".into(),
        host: "iphone-15".into(),
        kind: Format::IosConsole.source_kind() as i32,
        path: "profiled.log".into(),
        stream: String::new(),
    };
    let mut ctx = SourceContext::new(source, 1);
    ctx.date_hint = date_hint;
    let mut events = Vec::new();
    let stats =
        parse::parse_stream(Format::IosConsole, &ctx, bytes, &mut |e| events.push(e)).unwrap();
    (events, stats)
}

fn ios(e: &Event) -> &IosScep {
    match &e.payload {
        Some(Payload::Ios(i)) => i,
        other => panic!("not an iOS event: {other:?}"),
    }
}

fn steps(events: &[Event]) -> Vec<IosStep> {
    events
        .iter()
        .map(|e| IosStep::try_from(ios(e).step).unwrap())
        .collect()
}

const HINT: Option<(i64, u32, u32)> = Some((2026, 11, 20));

#[test]
fn guide_enrollment_over_get() {
    use IosStep::*;
    let (events, stats) = run(&fixture("profiled_guide.log"), HINT);
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(stats.ignored, 3, "install/installed lines and SpringBoard");
    assert_eq!(
        steps(&events),
        [
            UrlRequest,
            UrlRequest,
            RetrieveIssued,
            SendingCsrGet,
            UrlRequest
        ]
    );
    let ops: Vec<i32> = events.iter().map(|e| ios(e).operation).collect();
    assert_eq!(
        ops[..2],
        [
            ScepOperation::GetCaCert as i32,
            ScepOperation::GetCaCaps as i32
        ]
    );
    let pki = ios(&events[4]);
    assert_eq!(pki.operation, ScepOperation::PkiOperation as i32);
    assert!(
        pki.scep.is_some(),
        "the message= value goes to the SCEP decoder"
    );
    assert_eq!(
        events[4].endpoint_id,
        "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
    );
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-20T23:30:53.691033Z"
    );
    // The stray backslash of the web copy is not part of the URL.
    assert!(ios(&events[0]).url.ends_with("message=SCEP%20Authority"));
}

#[test]
fn dateless_log_without_hint_counts_no_date() {
    let (events, stats) = run(&fixture("profiled_guide.log"), None);
    assert!(events.is_empty());
    assert_eq!(stats.errors.get("ios.no_date"), Some(&5));
}

#[test]
fn console_copy_post_500_across_midnight() {
    use IosStep::*;
    let (events, stats) = run(&fixture("console_copy_post_500.log"), HINT);
    assert_eq!(stats.error_count(), 0);
    assert_eq!(
        steps(&events),
        [
            UrlRequest,
            UrlRequest,
            RetrieveIssued,
            SendingCsrPost,
            UrlRequest,
            Error,
            Error,
            RetrieveIssued,
            SendingCsrPost,
            Error
        ]
    );
    assert_eq!(ios(&events[5]).http_status_code, 500);
    assert_eq!(ios(&events[6]).http_status_code, 0);
    assert!(ios(&events[6]).error.contains("invalid response"));
    assert_eq!(
        to_rfc3339(events[9].event_time_us),
        "2026-11-21T05:03:13.090033Z"
    );
    assert!(events
        .windows(2)
        .all(|w| w[0].event_time_us <= w[1].event_time_us));
}

#[test]
fn log_show_failures() {
    let (events, stats) = run(&fixture("log_show_failures.log"), None);
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    let errors: Vec<&IosScep> = events
        .iter()
        .map(ios)
        .filter(|i| i.step == IosStep::Error as i32)
        .collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].error.contains("Code=-1001"));
    assert_eq!(errors[0].operation, ScepOperation::GetCaCert as i32);
    assert!(errors[2].error.contains("Code=-1004"));
    assert!(errors[3].error.contains("Code=-1200"));
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-20T22:02:11.309910Z"
    );
    assert!(events.iter().all(|e| ios(e).process == "profiled"));
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (_, stats) = run(&bytes, HINT);
        prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
    }

    #[test]
    fn cut_fixtures_never_panic(cut in 0usize..3000, which in 0usize..3) {
        let name = ["profiled_guide.log", "console_copy_post_500.log", "log_show_failures.log"][which];
        let bytes = fixture(name);
        let (_, stats) = run(&bytes[..cut.min(bytes.len())], HINT);
        prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
    }
}
