//! From log text to message bytes: percent-decoding of a query value and tolerant base64.
//!
//! Log lines cut a message anywhere, so base64 is decoded up to the first character that cannot
//! belong to it and every complete byte of a cut final quantum is kept. `+` stays a literal `+`:
//! base64 in a query string is normally percent-encoded (`%2B`), a client that leaves it bare
//! means base64's `+` (base64 has no spaces to form-encode), and IIS logs `cs-uri-query` as sent,
//! replacing spaces with `+` only in fields such as the user agent.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::borrow::Cow;

/// Standard alphabet, padding optional, stray low bits of a cut quantum accepted.
const TOLERANT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Result of undoing the transport encoding.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The message bytes recovered.
    pub bytes: Vec<u8>,
    /// Offset in the (percent-decoded) text of a character that ended the base64 early.
    pub stopped_at: Option<usize>,
}

/// Percent-decodes `value` (malformed escapes are kept as they are), then decodes base64.
pub(crate) fn from_url_param(value: &[u8]) -> Decoded {
    if memchr::memchr(b'%', value).is_none() {
        return from_base64(value);
    }
    let mut text = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = memchr::memchr(b'%', rest) {
        let (plain, escape) = rest.split_at(at);
        text.extend_from_slice(plain);
        let hi = escape.get(1).copied().and_then(hex_value);
        let lo = escape.get(2).copied().and_then(hex_value);
        if let (Some(hi), Some(lo)) = (hi, lo) {
            text.push(hi << 4 | lo);
            rest = escape.get(3..).unwrap_or_default();
        } else {
            text.push(b'%');
            rest = escape.get(1..).unwrap_or_default();
        }
    }
    text.extend_from_slice(rest);
    from_base64(&text)
}

/// What a byte is to base64 text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Symbol,
    Space,
    Pad,
    Other,
}

const CLASS: [Class; 256] = {
    let mut t = [Class::Other; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => Class::Symbol,
            b' ' | b'\t' | b'\r' | b'\n' => Class::Space,
            b'=' => Class::Pad,
            _ => Class::Other,
        };
        i += 1;
    }
    t
};

/// Decodes base64 text: whitespace is skipped, decoding stops at `=` or at any character outside
/// the standard alphabet, and a cut final quantum yields the bytes it completes.
pub(crate) fn from_base64(text: &[u8]) -> Decoded {
    let run = text
        .iter()
        .position(|&c| CLASS[usize::from(c)] != Class::Symbol)
        .unwrap_or(text.len());
    let prefix = text.get(..run).unwrap_or_default();
    let (symbols, stopped_at) = match text.get(run).map(|&c| CLASS[usize::from(c)]) {
        // One unbroken run of symbols (the usual case): decode it in place.
        None | Some(Class::Pad) => (Cow::Borrowed(prefix), None),
        Some(Class::Other) => (Cow::Borrowed(prefix), Some(run)),
        Some(Class::Space | Class::Symbol) => {
            let mut kept = Vec::with_capacity(text.len());
            let mut stopped_at = None;
            for (i, &c) in text.iter().enumerate() {
                match CLASS[usize::from(c)] {
                    Class::Symbol => kept.push(c),
                    Class::Space => {}
                    Class::Pad => break,
                    Class::Other => {
                        stopped_at = Some(i);
                        break;
                    }
                }
            }
            (Cow::Owned(kept), stopped_at)
        }
    };
    // One symbol carries six bits, less than a byte: it completes nothing.
    let whole = symbols.len() - usize::from(symbols.len() % 4 == 1);
    let bytes = TOLERANT
        .decode(symbols.get(..whole).unwrap_or_default())
        .unwrap_or_default();
    Decoded { bytes, stopped_at }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_and_literal_plus() {
        let d = from_url_param(b"MIAG%2Bq%2f%3D");
        assert_eq!(d.bytes, TOLERANT.decode("MIAG+q/=").unwrap());
        assert_eq!(from_url_param(b"ab+/").bytes, from_base64(b"ab+/").bytes);
    }

    #[test]
    fn malformed_escape_is_kept_and_stops_base64() {
        let d = from_url_param(b"QUJD%zz");
        assert_eq!(d.bytes, b"ABC");
        assert_eq!(d.stopped_at, Some(4));
    }

    #[test]
    fn cut_quanta_keep_complete_bytes() {
        assert_eq!(from_base64(b"QUJDRA").bytes, b"ABCD");
        assert_eq!(from_base64(b"QUJDRE").bytes, b"ABCD");
        assert_eq!(from_base64(b"QUJDREU").bytes, b"ABCDE");
        assert_eq!(from_base64(b"QUJDR").bytes, b"ABC");
        assert_eq!(from_base64(b"Q").bytes, b"");
    }

    #[test]
    fn whitespace_padding_and_garbage() {
        assert_eq!(from_base64(b"QU JD\r\nRA==").bytes, b"ABCD");
        assert_eq!(from_base64(b"QUJDRA==QUJD").bytes, b"ABCD");
        let d = from_base64(b"QUJD\\ trailing");
        assert_eq!(
            (d.bytes.as_slice(), d.stopped_at),
            (b"ABC".as_slice(), Some(4))
        );
        assert!(from_base64(b"<html>").bytes.is_empty());
    }
}
