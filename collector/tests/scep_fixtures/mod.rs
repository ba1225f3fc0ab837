//! Loading the SCEP fixtures of `testdata/scep` and deriving the other transport forms from them
//! (see testdata/scep/README.md for where each file comes from).
#![allow(dead_code)]

use std::path::PathBuf;

/// The captured peer messages, requests and responses.
pub const PEER_MESSAGES: &[&str] = &[
    "pkcsreq.der",
    "certrep-success.der",
    "pkcsreq-bad-challenge.der",
    "certrep-failure.der",
    "renewalreq.der",
    "certrep-renewal-failure.der",
];

/// Bytes of `testdata/scep/<name>`.
pub fn load(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/scep")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The message as a GET PKIOperation carries it: base64 with `+`, `/` and `=` percent-encoded.
pub fn url_form(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(der)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// Standard base64 of `der`.
pub fn base64_form(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Re-encodes DER the way iOS and jscep send BER: every constructed value with an indefinite
/// length, and (with `split_strings`) every OCTET STRING, PrintableString and UTF8String longer
/// than `chunk` bytes as a constructed string of OCTET STRING segments.
pub fn reencode_indefinite(der: &[u8], split_strings: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(der.len() * 2);
    let mut pos = 0;
    while pos < der.len() {
        pos = reencode_one(der, pos, split_strings, &mut out);
    }
    out
}

fn reencode_one(der: &[u8], pos: usize, split: Option<usize>, out: &mut Vec<u8>) -> usize {
    let id = der[pos];
    assert_ne!(
        id & 0x1f,
        0x1f,
        "high tag numbers do not occur in the fixtures"
    );
    let (len, hl) = match der[pos + 1] {
        n @ 0..=0x7f => (usize::from(n), 2),
        0x80 => panic!("input must be DER"),
        n => {
            let k = usize::from(n & 0x7f);
            let len = der[pos + 2..pos + 2 + k]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (len, 2 + k)
        }
    };
    let start = pos + hl;
    let end = start + len;
    if id & 0x20 != 0 {
        out.extend_from_slice(&[id, 0x80]);
        let mut p = start;
        while p < end {
            p = reencode_one(der, p, split, out);
        }
        out.extend_from_slice(&[0, 0]);
    } else if matches!(id, 0x04 | 0x13 | 0x0c) && split.is_some_and(|c| len > c) {
        let chunk = split.unwrap_or(len);
        out.extend_from_slice(&[id | 0x20, 0x80]);
        for piece in der[start..end].chunks(chunk) {
            out.push(0x04);
            push_length(piece.len(), out);
            out.extend_from_slice(piece);
        }
        out.extend_from_slice(&[0, 0]);
    } else {
        out.extend_from_slice(&der[pos..end]);
    }
    end
}

fn push_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Offset just past the transactionID Attribute (SEQUENCE { OID 2.16.840.1.113733.1.9.7, SET })
/// in a DER or BER message: once a prefix covers it, the decoder must report the ID.
pub fn transaction_id_end(msg: &[u8]) -> usize {
    const OID: [u8; 12] = [
        0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x45, 0x01, 0x09, 0x07,
    ];
    let at = msg
        .windows(OID.len())
        .position(|w| w == OID)
        .expect("message carries a transactionID");
    let set = at + OID.len();
    match msg[set + 1] {
        0x80 => {
            // BER: walk to the end-of-contents octets of the SET, then of the SEQUENCE.
            let mut p = set + 2;
            let mut depth = 1usize;
            while depth > 0 {
                if msg[p] == 0 && msg[p + 1] == 0 {
                    depth -= 1;
                    p += 2;
                } else if msg[p + 1] == 0x80 {
                    depth += 1;
                    p += 2;
                } else {
                    assert!(msg[p + 1] < 0x80, "short lengths only inside the attribute");
                    p += 2 + usize::from(msg[p + 1]);
                }
            }
            p + 2
        }
        n if n < 0x80 => set + 2 + usize::from(n),
        _ => panic!("transactionID SET longer than 127 bytes"),
    }
}
