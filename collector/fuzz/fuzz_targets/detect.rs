//! Any bytes through format detection, then through the parser of the format found: never a
//! panic, and appending bytes after a recognised head never changes the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::parse::detect::{detect, detect_with_reason, HEAD_LEN};
use scepwatch_collector::parse::{parse_stream, Format, SourceContext};
use scepwatch_proto::v1::SourceId;

fuzz_target!(|data: &[u8]| {
    let found = detect_with_reason(data);
    assert_eq!(found.ok(), detect(data));
    let Ok(format) = found else { return };
    // Only for UTF-8 text whose last line is complete: in UTF-16 a trailing `\n` byte may be
    // half of another character, and then the appended bytes extend the last line.
    let complete_utf8 = std::str::from_utf8(data).is_ok() && !data.contains(&0);
    if complete_utf8 && data.len() + 16 < HEAD_LEN && data.ends_with(b"\n") {
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"\x00\xff garbage\n");
        assert_eq!(detect(&longer), Some(format));
    }
    if format == Format::Evtx {
        return;
    }
    let source = SourceId {
        collector: "fuzz".into(),
        kind: format.source_kind() as i32,
        ..SourceId::default()
    };
    let ctx = SourceContext::new(source, 0);
    let _ = parse_stream(format, &ctx, data, &mut |_| {});
});
