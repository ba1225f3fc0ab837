//! Object identifiers the decoder recognises, as their encoded content octets, and the names
//! reports print for algorithms.

/// id-signedData (1.2.840.113549.1.7.2).
pub(crate) const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// 2.16.840.1.113733.1.9: the prefix of the SCEP attribute identifiers (RFC 8894 section 3.2.1).
const SCEP_ATTRIBUTE_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x45, 0x01, 0x09];

/// The SCEP signed attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScepAttribute {
    /// messageType (…9.2), PrintableString decimal number.
    MessageType,
    /// pkiStatus (…9.3), PrintableString decimal number.
    PkiStatus,
    /// failInfo (…9.4), PrintableString decimal number.
    FailInfo,
    /// senderNonce (…9.5), OCTET STRING.
    SenderNonce,
    /// recipientNonce (…9.6), OCTET STRING.
    RecipientNonce,
    /// transactionID (…9.7), PrintableString.
    TransactionId,
}

impl ScepAttribute {
    /// The attribute an OID names, if it is a SCEP one.
    pub fn from_oid(oid: &[u8]) -> Option<Self> {
        match oid.strip_prefix(SCEP_ATTRIBUTE_PREFIX)? {
            [2] => Some(Self::MessageType),
            [3] => Some(Self::PkiStatus),
            [4] => Some(Self::FailInfo),
            [5] => Some(Self::SenderNonce),
            [6] => Some(Self::RecipientNonce),
            [7] => Some(Self::TransactionId),
            _ => None,
        }
    }

    /// The name RFC 8894 gives it (what `missing` lists).
    pub fn name(self) -> &'static str {
        match self {
            Self::MessageType => "messageType",
            Self::PkiStatus => "pkiStatus",
            Self::FailInfo => "failInfo",
            Self::SenderNonce => "senderNonce",
            Self::RecipientNonce => "recipientNonce",
            Self::TransactionId => "transactionID",
        }
    }
}

/// subjectKeyIdentifier extension (2.5.29.14).
pub(crate) const SUBJECT_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1d, 0x0e];

const ALGORITHMS: &[(&[u8], &str)] = &[
    (&[0x2b, 0x0e, 0x03, 0x02, 0x1a], "sha1"),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
        "sha256",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
        "sha384",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
        "sha512",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04],
        "sha224",
    ),
    (&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05], "md5"),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
        "rsaEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        "md5WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        "sha1WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
        "rsassa-pss",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        "sha256WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        "sha384WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        "sha512WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0e],
        "sha224WithRSAEncryption",
    ),
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01], "ecPublicKey"),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        "ecdsa-with-SHA1",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        "ecdsa-with-SHA256",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
        "ecdsa-with-SHA384",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
        "ecdsa-with-SHA512",
    ),
    (&[0x2b, 0x65, 0x70], "Ed25519"),
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "dsa"),
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03], "dsa-with-sha1"),
];

/// Attribute types of distinguished names with the short names RFC 4514 (and common practice
/// for the last three) prints.
const NAME_ATTRIBUTES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "STREET"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
    (&[0x55, 0x04, 0x05], "SERIALNUMBER"),
    (&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01], "E"),
    (&[0x55, 0x04, 0x2a], "G"),
];

/// The conventional name of an algorithm, or its dotted OID.
pub(crate) fn algorithm_name(oid: &[u8]) -> String {
    lookup(ALGORITHMS, oid).map_or_else(|| dotted(oid), str::to_owned)
}

/// The short name of a distinguished-name attribute type, if it has one.
pub(crate) fn name_attribute(oid: &[u8]) -> Option<&'static str> {
    lookup(NAME_ATTRIBUTES, oid)
}

/// Dotted-decimal form of an OID's content octets; `invalid OID [<hex>]` when they do not encode
/// one. (bcder's `Display` for `Oid` panics on such octets, and these come from the input.)
pub(crate) fn dotted(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut value: u64 = 0;
    let mut first = true;
    for &b in oid {
        value = match value.checked_mul(128) {
            Some(v) if !(value == 0 && b == 0x80) => v | u64::from(b & 0x7f),
            _ => return invalid(oid),
        };
        if b & 0x80 != 0 {
            continue;
        }
        if first {
            let (arc0, arc1) = match value {
                0..=39 => (0, value),
                40..=79 => (1, value - 40),
                _ => (2, value - 80),
            };
            out.push_str(&format!("{arc0}.{arc1}"));
            first = false;
        } else {
            out.push_str(&format!(".{value}"));
        }
        value = 0;
    }
    if first || oid.last().is_some_and(|b| b & 0x80 != 0) {
        return invalid(oid);
    }
    out
}

fn invalid(oid: &[u8]) -> String {
    let hex: String = oid.iter().map(|b| format!("{b:02x}")).collect();
    format!("invalid OID [{hex}]")
}

fn lookup(table: &[(&[u8], &'static str)], oid: &[u8]) -> Option<&'static str> {
    table.iter().find(|(o, _)| *o == oid).map(|&(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dotted_fallback() {
        assert_eq!(algorithm_name(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]), "sha1");
        assert_eq!(
            algorithm_name(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
            "ecdsa-with-SHA256"
        );
        assert_eq!(algorithm_name(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(dotted(SIGNED_DATA), "1.2.840.113549.1.7.2");
        assert_eq!(name_attribute(&[0x55, 0x04, 0x0b]), Some("OU"));
    }

    #[test]
    fn dotted_is_total() {
        assert_eq!(dotted(&[0x2b, 0x65, 0x70]), "1.3.101.112");
        assert_eq!(dotted(&[0x88, 0x37, 0x01]), "2.999.1");
        assert_eq!(dotted(&[0x2b, 0x86]), "invalid OID [2b86]");
        assert_eq!(dotted(&[]), "invalid OID []");
        assert_eq!(dotted(&[0x2b, 0x80, 0x01]), "invalid OID [2b8001]");
        assert!(dotted(&[0xff; 12]).starts_with("invalid OID"));
    }

    #[test]
    fn scep_attributes() {
        let mut oid = SCEP_ATTRIBUTE_PREFIX.to_vec();
        oid.push(7);
        assert_eq!(
            ScepAttribute::from_oid(&oid),
            Some(ScepAttribute::TransactionId)
        );
        oid.push(1);
        assert_eq!(ScepAttribute::from_oid(&oid), None);
    }
}
