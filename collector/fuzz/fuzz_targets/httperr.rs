//! Any bytes through the HTTP.sys HTTPERR parser: never a panic, every line accounted for,
//! URLs kept within their bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::parse::httperr::{HttpErrParser, MAX_URL};
use scepwatch_collector::parse::{parse_stream, Format, SourceContext};
use scepwatch_proto::v1::SourceId;

fuzz_target!(|data: &[u8]| {
    let source = SourceId {
        collector: "fuzz".into(),
        kind: Format::HttpErr.source_kind() as i32,
        ..SourceId::default()
    };
    let ctx = SourceContext::new(source, 0);
    let mut events = 0u64;
    let stats = parse_stream(Format::HttpErr, &ctx, data, &mut |_| events += 1)
        .expect("reading a byte slice cannot fail");
    assert_eq!(stats.events, events);
    assert_eq!(
        stats.events + stats.ignored + stats.error_count(),
        stats.records
    );

    let mut parser = HttpErrParser::default();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(Some((_, record))) = parser.parse_record(line) {
            assert!(record.url.len() <= MAX_URL);
        }
    }
});
