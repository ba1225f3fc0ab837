//! Any bytes through the event-log XML reader (wevtutil, ConvertTo-Xml): never a panic, every
//! record accounted for, every byte read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::parse::{parse_stream, Format, SourceContext};
use scepwatch_proto::v1::SourceId;

fuzz_target!(|data: &[u8]| {
    let source = SourceId {
        collector: "fuzz".into(),
        kind: Format::EventXml.source_kind() as i32,
        ..SourceId::default()
    };
    let mut ctx = SourceContext::new(source, 0);
    ctx.utc_offset_secs = 3600;
    let mut events = 0u64;
    let stats = parse_stream(Format::EventXml, &ctx, data, &mut |_| events += 1)
        .expect("reading a byte slice cannot fail");
    assert_eq!(stats.events, events);
    assert_eq!(
        stats.events + stats.ignored + stats.error_count(),
        stats.records
    );
    // One record is parsed on its own too: the path `.evtx` and text copies take.
    let _ = scepwatch_collector::parse::eventlog::xml::parse_event_xml(data);
});
