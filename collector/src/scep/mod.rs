//! SCAFFOLD: the RFC 8894 pkiMessage decoder; replaced by the real one.
use scepwatch_proto::v1::ScepMessageInfo;

/// SCAFFOLD. Decode a DER/BER pkiMessage (a POST body).
pub fn decode_der(_der: &[u8]) -> ScepMessageInfo {
    ScepMessageInfo::default()
}

/// SCAFFOLD. Decode base64 text of a pkiMessage (an iOS log line), possibly cut short.
pub fn decode_base64(_text: &[u8]) -> ScepMessageInfo {
    ScepMessageInfo::default()
}

/// SCAFFOLD. Decode the value of a `message=` query parameter (percent-encoded base64).
pub fn decode_url_param(_value: &[u8]) -> ScepMessageInfo {
    ScepMessageInfo::default()
}

/// The raw value of the `message` parameter of a query string (`a=b&message=...`), if any.
pub fn message_param(query: &[u8]) -> Option<&[u8]> {
    query
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"message=".as_slice()))
}
