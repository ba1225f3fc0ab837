//! Any bytes as a query string or a `message=` value: never a panic, and the decoded message
//! is never longer than its base64 text allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scepwatch_collector::scep::{decode_base64, decode_url_param, message_param};

fuzz_target!(|data: &[u8]| {
    let from_url = decode_url_param(data);
    assert!(from_url.bytes_available as usize <= data.len() / 4 * 3 + 2);
    let from_text = decode_base64(data);
    assert!(from_text.bytes_available as usize <= data.len() / 4 * 3 + 2);
    if let Some(value) = message_param(data) {
        let info = decode_url_param(value);
        assert!(info.bytes_available as usize <= value.len() / 4 * 3 + 2);
    }
});
