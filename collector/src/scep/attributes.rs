//! The SCEP signed attributes (RFC 8894 section 3.2.1) of one SignerInfo.
//!
//! Each complete `Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }` is decoded by
//! bcder in BER mode, so values sent as constructed strings are reassembled. The strings SCEP
//! defines as PrintableString are accepted in any string type: what matters is the text.

use bcder::decode::{Constructed, DecodeError, Source};
use bcder::{Mode, OctetString, Oid};

use super::ber;
use super::oid::ScepAttribute;

/// The SCEP attributes found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScepAttributes {
    /// transactionID text.
    pub transaction_id: Option<String>,
    /// messageType number.
    pub message_type: Option<i32>,
    /// pkiStatus number (0 SUCCESS, 2 FAILURE, 3 PENDING).
    pub pki_status: Option<i32>,
    /// failInfo number.
    pub fail_info: Option<i32>,
    /// senderNonce octets.
    pub sender_nonce: Option<Vec<u8>>,
    /// recipientNonce octets.
    pub recipient_nonce: Option<Vec<u8>>,
    /// SCEP attributes whose value did not decode.
    pub unreadable: Vec<&'static str>,
}

impl ScepAttributes {
    /// Whether `attr` was found.
    pub fn has(&self, attr: ScepAttribute) -> bool {
        match attr {
            ScepAttribute::TransactionId => self.transaction_id.is_some(),
            ScepAttribute::MessageType => self.message_type.is_some(),
            ScepAttribute::PkiStatus => self.pki_status.is_some(),
            ScepAttribute::FailInfo => self.fail_info.is_some(),
            ScepAttribute::SenderNonce => self.sender_nonce.is_some(),
            ScepAttribute::RecipientNonce => self.recipient_nonce.is_some(),
        }
    }

    /// Decodes one whole encoded Attribute and keeps it if it is a SCEP one.
    pub fn add(&mut self, raw: &[u8]) {
        let decoded = Mode::Ber.decode(raw, |cons| cons.take_sequence(take_attribute));
        let Ok(Some((attr, value))) = decoded else {
            return;
        };
        let Some(value) = value else {
            self.unreadable.push(attr.name());
            return;
        };
        match attr {
            ScepAttribute::TransactionId => {
                self.transaction_id = Some(String::from_utf8_lossy(&value).into_owned());
            }
            ScepAttribute::SenderNonce => self.sender_nonce = Some(value),
            ScepAttribute::RecipientNonce => self.recipient_nonce = Some(value),
            ScepAttribute::MessageType | ScepAttribute::PkiStatus | ScepAttribute::FailInfo => {
                let Some(n) = number(&value) else {
                    self.unreadable.push(attr.name());
                    return;
                };
                match attr {
                    ScepAttribute::MessageType => self.message_type = Some(n),
                    ScepAttribute::PkiStatus => self.pki_status = Some(n),
                    _ => self.fail_info = Some(n),
                }
            }
        }
    }
}

/// `(attribute, octets of its first value)` for a SCEP attribute, `None` for any other. The
/// value is `None` when it is not a string.
type Decoded = Option<(ScepAttribute, Option<Vec<u8>>)>;

fn take_attribute<S: Source>(cons: &mut Constructed<S>) -> Result<Decoded, DecodeError<S::Error>> {
    let kind = Oid::take_from(cons)?;
    let Some(attr) = ScepAttribute::from_oid(kind.as_ref()) else {
        ber::skip_rest(cons)?;
        return Ok(None);
    };
    let value = cons.take_set(|set| {
        let first = set.take_opt_value(|_, content| {
            Ok(OctetString::from_content(content)
                .ok()
                .map(|s| s.to_bytes().to_vec()))
        })?;
        ber::skip_rest(set)?;
        Ok(first.flatten())
    })?;
    Ok(Some((attr, value)))
}

/// A decimal number as SCEP prints it, surrounding spaces tolerated.
fn number(text: &[u8]) -> Option<i32> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(bytes: &[u8]) -> ScepAttributes {
        let mut a = ScepAttributes::default();
        a.add(bytes);
        a
    }

    const TXID_OID: [u8; 12] = [
        0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x45, 0x01, 0x09, 0x07,
    ];

    #[test]
    fn primitive_and_constructed_strings() {
        let mut der = vec![0x30, 0x13];
        der.extend_from_slice(&TXID_OID);
        der.extend_from_slice(&[0x31, 0x05, 0x13, 0x03, b'a', b'b', b'c']);
        assert_eq!(add(&der).transaction_id.as_deref(), Some("abc"));

        // The same value as BER: indefinite SEQUENCE and SET, a constructed PrintableString.
        let mut ber = vec![0x30, 0x80];
        ber.extend_from_slice(&TXID_OID);
        ber.extend_from_slice(&[
            0x31, 0x80, 0x33, 0x80, 0x04, 0x01, b'a', 0x04, 0x02, b'b', b'c',
        ]);
        ber.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        assert_eq!(add(&ber).transaction_id.as_deref(), Some("abc"));
    }

    #[test]
    fn numbers_and_unreadable_values() {
        let mut der = vec![0x30, 0x12];
        der.extend_from_slice(&TXID_OID[..11]);
        der.push(0x02); // messageType
        der.extend_from_slice(&[0x31, 0x04, 0x13, 0x02, b'1', b'9']);
        assert_eq!(add(&der).message_type, Some(19));
        let n = der.len();
        der[n - 1] = b'x';
        assert_eq!(add(&der).unreadable, vec!["messageType"]);
    }

    /// Wraps `inner` in a definite-length value with a four-octet length.
    fn wrap(id: u8, inner: &[u8]) -> Vec<u8> {
        let mut v = vec![id, 0x84];
        v.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        v.extend_from_slice(inner);
        v
    }

    #[test]
    fn deeply_nested_constructed_value_does_not_exhaust_the_stack() {
        let mut value = vec![0x04, 0x01, b'a'];
        for _ in 0..100_000 {
            value = wrap(0x24, &value);
        }
        let mut content = TXID_OID.to_vec();
        content.extend_from_slice(&wrap(0x31, &value));
        assert_eq!(
            add(&wrap(0x30, &content)).transaction_id.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn other_attributes_are_ignored() {
        // contentType attribute.
        let der = [
            0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03, 0x31,
            0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
        ];
        assert_eq!(add(&der), ScepAttributes::default());
    }
}
