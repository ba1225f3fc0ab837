//! Any bytes through the SetupMsi.log reader: never a panic, every line accounted for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::parse::{parse_stream, Format, SourceContext};
use scepwatch_proto::v1::SourceId;

fuzz_target!(|data: &[u8]| {
    let source = SourceId {
        collector: "fuzz".into(),
        kind: Format::SetupMsi.source_kind() as i32,
        ..SourceId::default()
    };
    let mut ctx = SourceContext::new(source, 0);
    ctx.date_hint = Some((2026, 11, 20));
    let mut events = 0u64;
    let stats = parse_stream(Format::SetupMsi, &ctx, data, &mut |_| events += 1)
        .expect("reading a byte slice cannot fail");
    assert_eq!(stats.events, events);
    assert_eq!(
        stats.events + stats.ignored + stats.error_count(),
        stats.records
    );
});
