//! The RFC 8894 pkiMessage decoder: transactionID, messageType, nonces, pkiStatus, failInfo and
//! the signer's certificate from a CMS SignedData, even when it is BER-encoded and cut short.
//!
//! Entry points: [`decode_der`] for a POST body, [`decode_base64`] for an iOS console line,
//! [`decode_url_param`] for the `message=` value of a GET PKIOperation ([`message_param`] finds
//! it in a query string). All of them are total: any bytes give a [`ScepMessageInfo`] whose
//! `complete`, `bytes_available`/`bytes_declared`, `missing` and `problem` say how far decoding
//! got.
//!
//! # Why two decoders
//!
//! The SCEP attributes sit in the SignerInfo, the last field of the message, and log lines are
//! often cut inside the encrypted envelope before it. bcder (in `Mode::Ber`, which reads the
//! indefinite lengths and constructed strings iOS, jscep and Windows send) only decodes a value
//! whose every byte is present and, when one is missing, returns an error without the fields it
//! had already passed. So:
//!
//! - `ber.rs` is a small tolerant header walker that follows the spine ContentInfo → SignedData →
//!   certificates → SignerInfo → signedAttrs (`cms.rs`). It reads headers only, knows a cut
//!   input from a contradictory one, delimits indefinite values by walking to their
//!   end-of-contents octets, and bounds nesting to 32 levels.
//! - bcder decodes every complete sub-value the walker delimits: each certificate
//!   (`certificate.rs`: names, serial, validity, key identifier), the signer's
//!   IssuerAndSerialNumber and each signed attribute (`attributes.rs`). Its decoding closures
//!   descend a fixed number of levels and it skips the rest with an explicit stack, so no input
//!   can exhaust the stack; one bcder 0.7.7 bug (`skip_all` on indefinite-length content) is
//!   worked around in `ber::skip_rest`.
//!
//! A cut message thus reports everything whose bytes are present, and the strict parts come
//! from a maintained decoder. `transport.rs` undoes percent-encoding and base64 first.
//!
//! Cost (BENCHMARKS.md, "SCEP decode"): about 8 µs for a 2.5 KB DER PKCSReq, of which the walk
//! is under 1 µs and bcder with its allocations most of the rest; bcder is the bottleneck, at
//! over 100,000 messages/s per core, far beyond one PKIOperation per enrollment.

mod attributes;
mod ber;
mod certificate;
mod cms;
mod oid;
mod transport;

use scepwatch_proto::v1::{ScepMessageInfo, ScepMessageType, ScepPkiStatus};

use cms::{Outcome, SignerId, Walk};
use oid::ScepAttribute;

/// Decode a DER/BER pkiMessage (a POST body), possibly cut short.
pub fn decode_der(der: &[u8]) -> ScepMessageInfo {
    let mut info = ScepMessageInfo {
        fail_info: -1,
        bytes_available: saturate(der.len()),
        ..ScepMessageInfo::default()
    };
    if der.is_empty() {
        info.problem = "empty message".to_owned();
        return info;
    }
    report(der.len(), cms::walk(der), &mut info);
    info
}

/// Decode base64 text of a pkiMessage (an iOS log line), possibly cut short.
pub fn decode_base64(text: &[u8]) -> ScepMessageInfo {
    finish(transport::from_base64(text), text.is_empty())
}

/// Decode the value of a `message=` query parameter (percent-encoded base64).
pub fn decode_url_param(value: &[u8]) -> ScepMessageInfo {
    finish(transport::from_url_param(value), value.is_empty())
}

/// The raw value of the `message` parameter of a query string (`a=b&message=...`), if any.
pub fn message_param(query: &[u8]) -> Option<&[u8]> {
    query
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"message=".as_slice()))
}

fn finish(decoded: transport::Decoded, empty: bool) -> ScepMessageInfo {
    if decoded.bytes.is_empty() {
        return ScepMessageInfo {
            fail_info: -1,
            problem: if empty { "empty message" } else { "not base64" }.to_owned(),
            ..ScepMessageInfo::default()
        };
    }
    let mut info = decode_der(&decoded.bytes);
    if let Some(at) = decoded.stopped_at {
        if !info.complete {
            info.problem.push_str(&format!(
                "; base64 text ends at an invalid character at offset {}",
                thousands(at)
            ));
        }
    }
    info
}

fn report(available: usize, walk: Walk, info: &mut ScepMessageInfo) {
    let declared = walk.outer.filter(|t| !t.indefinite).map_or(0, |t| t.end);
    info.bytes_declared = saturate(declared);

    if let Outcome::NotSignedData(why) = &walk.outcome {
        info.problem = format!("not a CMS SignedData ({why})");
        return;
    }

    let attrs = &walk.attributes;
    if let Some(id) = &attrs.transaction_id {
        info.transaction_id.clone_from(id);
    }
    if let Some(t) = attrs.message_type {
        info.message_type = ScepMessageType::try_from(t).map_or(0, |m| m as i32);
    }
    if let Some(s) = attrs.pki_status {
        info.pki_status = match s {
            0 => ScepPkiStatus::Success,
            2 => ScepPkiStatus::Failure,
            3 => ScepPkiStatus::Pending,
            _ => ScepPkiStatus::Unspecified,
        } as i32;
    }
    info.fail_info = attrs.fail_info.unwrap_or(-1);
    if let Some(n) = &attrs.sender_nonce {
        info.sender_nonce.clone_from(n);
    }
    if let Some(n) = &attrs.recipient_nonce {
        info.recipient_nonce.clone_from(n);
    }
    info.digest_algorithm = walk
        .signer_digest
        .clone()
        .or_else(|| walk.digest_algorithms.clone())
        .unwrap_or_default();
    info.signature_algorithm = walk.signer_signature.clone().unwrap_or_default();
    if let Some(cert) = signer_certificate(&walk) {
        info.signer_subject.clone_from(&cert.subject);
        info.signer_issuer.clone_from(&cert.issuer);
        info.signer_not_before_us = cert.not_before_us;
        info.signer_not_after_us = cert.not_after_us;
    }

    let missing = missing_attributes(&walk);
    info.missing = missing.iter().map(|a| a.name().to_owned()).collect();
    info.complete = walk.outcome == Outcome::Complete;

    info.problem = match walk.outcome {
        Outcome::Complete if !missing.is_empty() => {
            let names = info.missing.join(", ");
            let unreadable: Vec<&str> = missing
                .iter()
                .filter(|a| attrs.unreadable.contains(&a.name()))
                .map(|a| a.name())
                .collect();
            if !walk.attributes_reached {
                "no signed attributes".to_owned()
            } else if unreadable.is_empty() {
                format!("signed attributes lack {names}")
            } else {
                format!(
                    "signed attributes lack {names} ({} unreadable)",
                    unreadable.join(", ")
                )
            }
        }
        Outcome::Complete => String::new(),
        Outcome::Truncated { inside } => {
            let head = match walk.outer {
                Some(outer) if outer.indefinite => format!(
                    "truncated after {} bytes of an indefinite-length message",
                    thousands(available)
                ),
                Some(_) => format!(
                    "truncated after {} of {} bytes",
                    thousands(available),
                    thousands(declared)
                ),
                None if available == 1 => "truncated after 1 byte".to_owned(),
                None => format!("truncated after {} bytes", thousands(available)),
            };
            if !walk.attributes_reached {
                format!("{head}; signer attributes not reached (cut inside {inside})")
            } else if missing.is_empty() {
                format!("{head}; SCEP attributes present (cut inside {inside})")
            } else {
                format!("{head}; {} not present", info.missing.join(", "))
            }
        }
        Outcome::Malformed { at, what, inside } => {
            format!(
                "malformed BER at byte {} inside {inside}: {what}",
                thousands(at)
            )
        }
        Outcome::NotSignedData(_) => String::new(),
    };
}

/// The SCEP attributes this message should carry and does not (RFC 8894 section 3.2.1): every
/// message has transactionID, messageType and senderNonce; a CertRep also pkiStatus and
/// recipientNonce, and failInfo when it reports FAILURE.
fn missing_attributes(walk: &Walk) -> Vec<ScepAttribute> {
    let attrs = &walk.attributes;
    let mut expected = vec![
        ScepAttribute::TransactionId,
        ScepAttribute::MessageType,
        ScepAttribute::SenderNonce,
    ];
    if attrs.message_type == Some(ScepMessageType::CertRep as i32) {
        expected.extend([ScepAttribute::PkiStatus, ScepAttribute::RecipientNonce]);
        if attrs.pki_status == Some(2) {
            expected.push(ScepAttribute::FailInfo);
        }
    }
    expected.retain(|&a| !attrs.has(a));
    expected
}

/// The certificate the SignerInfo names; without a usable sid, the only certificate of a
/// complete certificates field (self-signed request signers and lone RA certificates).
fn signer_certificate(walk: &Walk) -> Option<&certificate::Certificate> {
    let certs = &walk.certificates;
    let named = match &walk.signer_id {
        Some(SignerId::IssuerSerial(issuer, serial)) => certs.iter().find(|c| {
            &c.issuer == issuer && strip_sign_octets(&c.serial) == strip_sign_octets(serial)
        }),
        Some(SignerId::KeyId(id)) => certs
            .iter()
            .find(|c| c.subject_key_id.as_deref() == Some(id.as_slice())),
        None => None,
    };
    let only = match certs.as_slice() {
        [only] if walk.certificates_complete => Some(only),
        _ => None,
    };
    named.or(only)
}

/// A positive INTEGER's octets without the leading zeros some encoders add.
fn strip_sign_octets(serial: &[u8]) -> &[u8] {
    let zeros = serial.iter().take_while(|&&b| b == 0).count();
    serial.get(zeros..).unwrap_or_default()
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `n` with commas between groups of three digits: 2734 → "2,734".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1850), "1,850");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn garbage_is_named() {
        assert_eq!(decode_der(b"").problem, "empty message");
        assert_eq!(decode_base64(b"").problem, "empty message");
        assert_eq!(decode_base64(b"%%%").problem, "not base64");
        let info = decode_der(b"\x04\x01A");
        assert_eq!(
            info.problem,
            "not a CMS SignedData (starts with 0x04, not a SEQUENCE)"
        );
        assert_eq!(info.fail_info, -1);
        assert!(!info.complete && info.missing.is_empty());
        // A ContentInfo of envelopedData.
        let env = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0,
            0x00,
        ];
        assert_eq!(
            decode_der(&env).problem,
            "not a CMS SignedData (content type 1.2.840.113549.1.7.3)"
        );
    }

    #[test]
    fn a_cut_header_is_truncation() {
        let info = decode_der(&[0x30, 0x82, 0x0a]);
        assert_eq!(
            info.problem,
            "truncated after 3 bytes; signer attributes not reached (cut inside ContentInfo)"
        );
        let info = decode_der(&[0x30, 0x82, 0x0a, 0xae, 0x06, 0x09, 0x2a]);
        assert_eq!(info.bytes_declared, 2738);
        assert_eq!(
            info.problem,
            "truncated after 7 of 2,738 bytes; signer attributes not reached (cut inside contentType)"
        );
        assert_eq!(
            info.missing,
            ["transactionID", "messageType", "senderNonce"]
        );
    }

    #[test]
    fn message_param_finds_the_value() {
        assert_eq!(
            message_param(b"operation=PKIOperation&message=MIAG"),
            Some(b"MIAG".as_slice())
        );
        assert_eq!(message_param(b"operation=GetCACaps"), None);
    }
}
