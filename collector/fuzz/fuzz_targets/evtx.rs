//! Any bytes as an `.evtx` file: never a panic, every record accounted for. Seed the corpus
//! with `testdata/eventlog/*.evtx` so mutations reach the chunk and record parsers.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::parse::eventlog::evtx;
use scepwatch_collector::parse::{Format, SourceContext};
use scepwatch_proto::v1::SourceId;

fuzz_target!(|data: &[u8]| {
    let source = SourceId {
        collector: "fuzz".into(),
        kind: Format::Evtx.source_kind() as i32,
        ..SourceId::default()
    };
    let ctx = SourceContext::new(source, 0);
    let mut events = 0u64;
    let stats = evtx::parse(&ctx, Cursor::new(data), &mut |_| events += 1)
        .expect("reading a byte slice cannot fail");
    assert_eq!(stats.events, events);
    assert_eq!(stats.bytes, data.len() as u64);
});
