//! Any bytes through the IIS W3C parser: never a panic, every line accounted for, the
//! typed-record path agrees with the event path, and an event rebuilt in a recycled one
//! (`write_event`) equals the fresh one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::parse::iis::IisParser;
use scepwatch_collector::parse::{parse_stream, Format, SourceContext};
use scepwatch_proto::v1::{Event, SourceId};

fuzz_target!(|data: &[u8]| {
    let source = SourceId {
        collector: "fuzz".into(),
        kind: Format::Iis.source_kind() as i32,
        ..SourceId::default()
    };
    let ctx = SourceContext::new(source, 0);
    let mut events = 0u64;
    let stats = parse_stream(Format::Iis, &ctx, data, &mut |_| events += 1)
        .expect("reading a byte slice cannot fail");
    assert_eq!(stats.events, events);
    assert_eq!(
        stats.events + stats.ignored + stats.error_count(),
        stats.records
    );

    // The zero-copy path, line by line, including lines with a stray '\r'.
    let mut parser = IisParser::default();
    let mut records = 0u64;
    let mut recycled = Event::default();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        if let Ok(Some(record)) = parser.parse_record(line) {
            let event = record.to_event(&ctx, i as u64, line);
            assert_eq!(event.event_time_us, record.time_us);
            record.write_event(&ctx, i as u64, line, &mut recycled);
            assert_eq!(recycled, event);
            records += 1;
        }
    }
    assert!(records <= data.len() as u64 + 1);
});
