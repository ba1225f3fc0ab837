//! The parts of an X.509 certificate a report needs: names, serial, validity and key identifier.
//!
//! Only complete certificates get here, and bcder decodes them in BER mode (constructed strings
//! and indefinite lengths included). The decoding closures descend a fixed number of levels and
//! everything else is skipped iteratively ([`ber::skip_rest`]), so deep nesting cannot exhaust
//! the stack.

use bcder::decode::{Constructed, DecodeError, Source};
use bcder::{Mode, OctetString, Oid, Tag};
use scepwatch_proto::time::civil_to_us;

use super::ber;
use super::oid;

/// What the report keeps of one certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// Subject as an RFC 4514 string.
    pub subject: String,
    /// Issuer as an RFC 4514 string.
    pub issuer: String,
    /// Content octets of the serial number INTEGER.
    pub serial: Vec<u8>,
    /// notBefore in µs since the epoch, 0 if unreadable.
    pub not_before_us: i64,
    /// notAfter in µs since the epoch, 0 if unreadable.
    pub not_after_us: i64,
    /// The subjectKeyIdentifier extension's key identifier, if any.
    pub subject_key_id: Option<Vec<u8>>,
}

/// Decodes one whole encoded certificate.
pub(crate) fn decode(raw: &[u8]) -> Option<Certificate> {
    Mode::Ber
        .decode(raw, |cons| {
            cons.take_sequence(|cons| {
                let cert = cons.take_sequence(take_tbs)?;
                ber::skip_rest(cons)?;
                Ok(cert)
            })
        })
        .ok()
}

/// Decodes a complete `IssuerAndSerialNumber` (a SignerInfo's sid): issuer as RFC 4514 text
/// and the serial number's content octets.
pub(crate) fn decode_issuer_and_serial(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    Mode::Ber
        .decode(raw, |cons| {
            cons.take_sequence(|cons| {
                let issuer = take_name(cons)?;
                let serial = cons.take_primitive_if(Tag::INTEGER, |p| p.take_all())?;
                Ok((issuer, serial.to_vec()))
            })
        })
        .ok()
}

fn take_tbs<S: Source>(cons: &mut Constructed<S>) -> Result<Certificate, DecodeError<S::Error>> {
    cons.take_opt_constructed_if(Tag::CTX_0, ber::skip_rest)?;
    let serial = cons.take_primitive_if(Tag::INTEGER, |p| p.take_all())?;
    cons.take_sequence(ber::skip_rest)?;
    let issuer = take_name(cons)?;
    let (not_before_us, not_after_us) =
        cons.take_sequence(|c| Ok((take_time(c)?, take_time(c)?)))?;
    let subject = take_name(cons)?;
    cons.take_sequence(ber::skip_rest)?;
    let mut subject_key_id = None;
    // issuerUniqueID [1], subjectUniqueID [2], extensions [3].
    while let Some(ski) = cons.take_opt_value(|tag, content| {
        if tag == Tag::CTX_3 {
            content.as_constructed()?.take_sequence(take_subject_key_id)
        } else {
            ber::skip_content(content).map(|()| None)
        }
    })? {
        subject_key_id = subject_key_id.or(ski);
    }
    Ok(Certificate {
        subject,
        issuer,
        serial: serial.to_vec(),
        not_before_us: not_before_us.unwrap_or(0),
        not_after_us: not_after_us.unwrap_or(0),
        subject_key_id,
    })
}

fn take_subject_key_id<S: Source>(
    cons: &mut Constructed<S>,
) -> Result<Option<Vec<u8>>, DecodeError<S::Error>> {
    let mut found = None;
    while let Some(ski) = cons.take_opt_sequence(|ext| {
        let id = Oid::take_from(ext)?;
        ext.take_opt_bool()?;
        let value = OctetString::take_from(ext)?;
        if id.as_ref() != oid::SUBJECT_KEY_IDENTIFIER {
            return Ok(None);
        }
        // extnValue wraps the DER of `KeyIdentifier ::= OCTET STRING`.
        let inner = value.to_bytes();
        Ok(Mode::Ber
            .decode(inner.as_ref(), OctetString::take_from)
            .ok()
            .map(|k| k.to_bytes().to_vec()))
    })? {
        found = found.or(ski);
    }
    Ok(found)
}

/// A Name as RFC 4514 prints it: last RDN first, `,` between RDNs, `+` inside one.
fn take_name<S: Source>(cons: &mut Constructed<S>) -> Result<String, DecodeError<S::Error>> {
    cons.take_sequence(|cons| {
        let mut rdns = Vec::new();
        while let Some(rdn) = cons.take_opt_set(|set| {
            let mut parts = Vec::new();
            while let Some(part) = set.take_opt_sequence(|atv| {
                let kind = Oid::take_from(atv)?;
                let text = atv.take_value(|tag, content| {
                    let bytes = OctetString::from_content(content)?.to_bytes();
                    Ok(directory_string(tag, &bytes))
                })?;
                let mut out = match oid::name_attribute(kind.as_ref()) {
                    Some(short) => short.to_owned(),
                    None => oid::dotted(kind.as_ref()),
                };
                out.push('=');
                escape_value(&text, &mut out);
                Ok(out)
            })? {
                parts.push(part);
            }
            Ok(parts.join("+"))
        })? {
            rdns.push(rdn);
        }
        rdns.reverse();
        Ok(rdns.join(","))
    })
}

/// The text of a DirectoryString (or any string-like value) whatever its string type.
fn directory_string(tag: Tag, bytes: &[u8]) -> String {
    if tag == Tag::BMP_STRING {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if tag == Tag::UNIVERSAL_STRING {
        bytes
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect()
    } else if tag == Tag::TELETEX_STRING {
        // In practice T.61 fields hold Latin-1.
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Appends `value` escaped as RFC 4514 section 2.4 asks.
fn escape_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            '\0'..='\x1f' | '\x7f' => {
                out.push_str(&format!("\\{:02X}", u32::from(c)));
            }
            _ => out.push(c),
        }
    }
}

/// A Time (UTCTime or GeneralizedTime) in µs since the epoch; `None` if it does not parse.
fn take_time<S: Source>(cons: &mut Constructed<S>) -> Result<Option<i64>, DecodeError<S::Error>> {
    cons.take_value(|tag, content| {
        let text = OctetString::from_content(content)?.to_bytes();
        Ok(if tag == Tag::UTC_TIME {
            parse_time(&text, false)
        } else if tag == Tag::GENERALIZED_TIME {
            parse_time(&text, true)
        } else {
            None
        })
    })
}

/// Parses `YYMMDDHHMM[SS](Z|±hhmm)` (UTCTime, years 50..99 are 19xx) or
/// `YYYYMMDDHH[MM[SS]][.f+](Z|±hhmm)?` (GeneralizedTime).
pub(crate) fn parse_time(text: &[u8], generalized: bool) -> Option<i64> {
    let mut p = Digits { text, pos: 0 };
    let year = if generalized {
        p.take(4)?
    } else {
        let yy = p.take(2)?;
        if yy < 50 {
            2000 + yy
        } else {
            1900 + yy
        }
    };
    let month = p.take(2)?;
    let day = p.take(2)?;
    let hour = p.take(2)?;
    let minute = p.take(2).unwrap_or(0);
    let second = p.take(2).unwrap_or(0);
    let mut micros = 0u32;
    if generalized && matches!(p.peek(), Some(b'.' | b',')) {
        p.pos += 1;
        let mut scale = 100_000;
        while let Some(d) = p.peek().filter(u8::is_ascii_digit) {
            micros += u32::from(d - b'0') * scale;
            scale /= 10;
            p.pos += 1;
        }
    }
    let offset_minutes: i64 = match p.peek() {
        Some(b'Z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            p.pos += 1;
            let h = i64::from(p.take(2)?);
            let m = i64::from(p.take(2)?);
            if sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        None if generalized => 0,
        _ => return None,
    };
    let local = civil_to_us(i64::from(year), month, day, hour, minute, second, micros)?;
    Some(local - offset_minutes * 60 * 1_000_000)
}

struct Digits<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Digits<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn take(&mut self, n: usize) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + n)?;
        let mut v = 0u32;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        self.pos += n;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_generalized_times() {
        // 2026-11-26T22:24:16Z
        let t = 1_795_731_856_000_000;
        assert_eq!(parse_time(b"261126222416Z", false), Some(t));
        assert_eq!(parse_time(b"20261126222416Z", true), Some(t));
        assert_eq!(parse_time(b"20261126222416.5Z", true), Some(t + 500_000));
        assert_eq!(parse_time(b"261126232416+0100", false), Some(t));
        assert_eq!(
            parse_time(b"500101000000Z", false),
            parse_time(b"19500101000000Z", true)
        );
        assert_eq!(parse_time(b"2611262224Z", false), Some(t - 16_000_000));
        assert_eq!(parse_time(b"26112622241", false), None);
        assert_eq!(parse_time(b"261326222416Z", false), None);
        assert_eq!(parse_time(b"", true), None);
    }

    #[test]
    fn rfc4514_escaping() {
        let mut s = String::new();
        escape_value(" a,b+c\"#\\ ", &mut s);
        assert_eq!(s, "\\ a\\,b\\+c\\\"#\\\\\\ ");
        let mut s = String::new();
        escape_value("#x\u{1}", &mut s);
        assert_eq!(s, "\\#x\\01");
    }

    #[test]
    fn ca_certificate() {
        let der = include_bytes!("../../testdata/scep/getcacert-reply.der");
        let cert = decode(der).expect("decodes");
        assert_eq!(cert.subject, "OU=SCEP CA,O=scepwatch test CA,C=US");
        assert_eq!(cert.issuer, cert.subject);
        assert_eq!(cert.serial, [1]);
        // 2026-11-26T22:24:07Z, ten years.
        assert_eq!(cert.not_before_us, 1_795_731_847_000_000);
        assert_eq!(cert.not_after_us, 2_111_351_047_000_000);
        assert!(cert.subject_key_id.as_ref().is_some_and(|k| k.len() == 20));
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        // Certificate { TBSCertificate { [0] { 100,000 nested SEQUENCEs } } }.
        let mut v = Vec::new();
        for _ in 0..100_000 {
            let mut w = vec![0x30, 0x84];
            w.extend_from_slice(&(v.len() as u32).to_be_bytes());
            w.extend_from_slice(&v);
            v = w;
        }
        for id in [0xa0, 0x30, 0x30] {
            let mut w = vec![id, 0x84];
            w.extend_from_slice(&(v.len() as u32).to_be_bytes());
            w.extend_from_slice(&v);
            v = w;
        }
        assert_eq!(decode(&v), None);
    }

    #[test]
    fn directory_string_types() {
        assert_eq!(directory_string(Tag::BMP_STRING, &[0, b'A', 0, b'b']), "Ab");
        assert_eq!(directory_string(Tag::TELETEX_STRING, &[0xe9]), "é");
        assert_eq!(directory_string(Tag::UTF8_STRING, "ç".as_bytes()), "ç");
    }
}
