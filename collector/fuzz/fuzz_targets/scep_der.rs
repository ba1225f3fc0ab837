//! Any bytes as a pkiMessage body: never a panic, the byte counts are the input's, a complete
//! message has no problem beyond absent attributes, and the base64 transport gives the same
//! answer as the raw bytes.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use scepwatch_collector::scep::{decode_base64, decode_der};

fuzz_target!(|data: &[u8]| {
    let info = decode_der(data);
    assert_eq!(info.bytes_available as usize, data.len());
    if info.complete {
        assert!(
            info.problem.is_empty()
                || info.problem.starts_with("signed attributes lack")
                || info.problem == "no signed attributes",
            "{}",
            info.problem
        );
    } else {
        assert!(!info.problem.is_empty());
    }
    if !data.is_empty() {
        let text = base64::engine::general_purpose::STANDARD.encode(data);
        assert_eq!(decode_base64(text.as_bytes()), info);
    }
});
