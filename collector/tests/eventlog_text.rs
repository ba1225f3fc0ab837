//! Event Viewer text fixtures (testdata/eventlog) through `parse::parse_stream`.

use std::path::PathBuf;

use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{Capi2Kind, Event, SourceId};

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(dir)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ctx(date_hint: Option<(i64, u32, u32)>, utc_offset_secs: i32) -> SourceContext {
    let source = SourceId {
        collector: "diagnose".into(),
        host: "NDES01".into(),
        kind: Format::EventText.source_kind() as i32,
        path: "events.txt".into(),
        stream: String::new(),
    };
    let mut c = SourceContext::new(source, 1);
    c.date_hint = date_hint;
    c.utc_offset_secs = utc_offset_secs;
    c
}

fn run(bytes: &[u8], c: &SourceContext) -> (Vec<Event>, ParseStats) {
    let mut events = Vec::new();
    let stats = parse::parse_stream(Format::EventText, c, bytes, &mut |e| events.push(e)).unwrap();
    (events, stats)
}

#[test]
fn pasted_copies_of_four_events() {
    let (events, stats) = run(
        &fixture("eventlog", "eventviewer_copy.txt"),
        &ctx(Some((2026, 11, 20)), 3600),
    );
    assert_eq!(stats.records, 4);
    assert_eq!(stats.ignored, 1);
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(events.len(), 3);

    let Some(Payload::AppCrash(c)) = &events[0].payload else {
        panic!()
    };
    assert_eq!(c.application, "w3wp.exe");
    assert_eq!(c.process_id, 0x1a2c);
    assert_eq!(to_rfc3339(events[0].event_time_us), "2026-11-20T09:15:02Z");
    assert_eq!(events[0].position, 0, "no record ID: byte offset");

    let Some(Payload::Capi2(k)) = &events[1].payload else {
        panic!()
    };
    assert_eq!(k.kind, Capi2Kind::TimeValidity as i32);
    assert_eq!(
        events[1].position, 1204,
        "record ID from the Event Xml section"
    );
    assert_eq!(
        to_rfc3339(events[1].event_time_us),
        "2026-11-20T09:15:01.987451Z",
        "the XML's UTC time wins over the local Date line"
    );

    let Some(Payload::WindowsScep(w)) = &events[2].payload else {
        panic!()
    };
    assert_eq!(w.ksp_setting, "0x2");
    assert_eq!(
        to_rfc3339(events[2].event_time_us),
        "2026-11-19T23:00:00Z",
        "no Date line: the hint's local midnight"
    );
}

#[test]
fn utf16_copies_from_the_detect_fixtures() {
    for name in ["event_text_utf16le.txt", "event_text_utf16be.txt"] {
        let (events, stats) = run(&fixture("detect", name), &ctx(Some((2026, 11, 20)), 0));
        assert_eq!(stats.error_count(), 0, "{name}: {stats:?}");
        assert!(
            matches!(
                events.first().and_then(|e| e.payload.as_ref()),
                Some(Payload::AppCrash(_))
            ),
            "{name}: {events:?}"
        );
    }
}

#[test]
fn guide_event36_needs_a_date() {
    let (events, stats) = run(&fixture("detect", "event36_text.txt"), &ctx(None, 0));
    assert!(events.is_empty());
    assert_eq!(stats.errors.get("eventtext.no_time"), Some(&1));
}
