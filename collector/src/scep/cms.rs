//! The walk down a pkiMessage: ContentInfo → SignedData → certificates and the first
//! SignerInfo's signed attributes (RFC 5652 section 5, RFC 8894 section 3).
//!
//! The walk descends with the tolerant [`ber`](super::ber) reader and remembers the field it was
//! in, so a cut message is reported as "cut inside encapContentInfo" rather than just "short".
//! The encrypted pkcsPKIEnvelope inside encapContentInfo is skipped, never decrypted.

use super::attributes::ScepAttributes;
use super::ber::{Reader, Stop, Tlv, CTX0, CTX1, INTEGER, OID, SEQUENCE, SET};
use super::certificate::{self, Certificate};
use super::oid;

/// Certificates kept from one message; SCEP messages carry one to three.
const MAX_CERTIFICATES: usize = 16;

/// How a SignerInfo names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignerId {
    /// issuerAndSerialNumber: issuer as RFC 4514 text, serial content octets.
    IssuerSerial(String, Vec<u8>),
    /// subjectKeyIdentifier.
    KeyId(Vec<u8>),
}

/// How the walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every byte of the message was present and the walk reached its end.
    Complete,
    /// The input ended inside the named field.
    Truncated {
        /// RFC 5652 name of the field the cut fell in.
        inside: &'static str,
    },
    /// The encoding is invalid.
    Malformed {
        /// Offset of the offending header.
        at: usize,
        /// What is wrong.
        what: &'static str,
        /// RFC 5652 name of the field it is in.
        inside: &'static str,
    },
    /// The bytes are not a ContentInfo holding SignedData.
    NotSignedData(String),
}

/// Everything the walk found.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    /// How the walk ended.
    pub outcome: Outcome,
    /// The outermost header, once read.
    pub outer: Option<Tlv>,
    /// Name of the first of SignedData's digestAlgorithms.
    pub digest_algorithms: Option<String>,
    /// Certificates of the certificates field that were complete.
    pub certificates: Vec<Certificate>,
    /// Whether the whole certificates field was read.
    pub certificates_complete: bool,
    /// The first SignerInfo's sid.
    pub signer_id: Option<SignerId>,
    /// The first SignerInfo's digestAlgorithm name.
    pub signer_digest: Option<String>,
    /// The first SignerInfo's signatureAlgorithm name.
    pub signer_signature: Option<String>,
    /// Whether the walk got to the signed attributes.
    pub attributes_reached: bool,
    /// SCEP attributes of the complete signed attributes.
    pub attributes: ScepAttributes,
}

/// Walks `data` as far as it goes.
pub(crate) fn walk(data: &[u8]) -> Walk {
    let mut w = Walker {
        data,
        place: "ContentInfo",
        walk: Walk {
            outcome: Outcome::Complete,
            outer: None,
            digest_algorithms: None,
            certificates: Vec::new(),
            certificates_complete: false,
            signer_id: None,
            signer_digest: None,
            signer_signature: None,
            attributes_reached: false,
            attributes: ScepAttributes::default(),
        },
    };
    let outcome = match w.content_info() {
        Ok(()) => Outcome::Complete,
        Err(Failure::Stop(Stop::Truncated)) => Outcome::Truncated { inside: w.place },
        Err(Failure::Stop(Stop::Malformed { at, what })) => Outcome::Malformed {
            at,
            what,
            inside: w.place,
        },
        Err(Failure::NotSignedData(why)) => Outcome::NotSignedData(why),
    };
    w.walk.outcome = outcome;
    w.walk
}

enum Failure {
    Stop(Stop),
    NotSignedData(String),
}

impl From<Stop> for Failure {
    fn from(s: Stop) -> Self {
        Failure::Stop(s)
    }
}

struct Walker<'a> {
    data: &'a [u8],
    /// RFC 5652 name of the field being read.
    place: &'static str,
    walk: Walk,
}

impl Walker<'_> {
    /// The next child of `r`, which must exist and carry identifier `id`.
    fn expect(
        &self,
        r: &mut Reader,
        depth: usize,
        id: u8,
        what: &'static str,
    ) -> Result<Tlv, Failure> {
        let at = r.pos();
        match r.next(self.data, depth)? {
            Some(t) if t.id == id => Ok(t),
            _ => Err(Stop::Malformed { at, what }.into()),
        }
    }

    fn content_info(&mut self) -> Result<(), Failure> {
        let outer = Reader::top().next(self.data, 0)?.ok_or(Stop::Truncated)?;
        if outer.id != SEQUENCE {
            return Err(Failure::NotSignedData(format!(
                "starts with 0x{:02X}, not a SEQUENCE",
                outer.id
            )));
        }
        self.walk.outer = Some(outer);
        let mut ci = outer.children();
        self.place = "contentType";
        let content_type = match ci.next(self.data, 1)? {
            Some(t) if t.id == OID => t,
            _ => {
                return Err(Failure::NotSignedData(
                    "the SEQUENCE does not start with a content type".to_owned(),
                ))
            }
        };
        if !content_type.complete {
            return Err(Stop::Truncated.into());
        }
        let ct = content_type.content(self.data);
        if ct != oid::SIGNED_DATA {
            return Err(Failure::NotSignedData(format!(
                "content type {}",
                oid::dotted(ct)
            )));
        }
        self.place = "SignedData";
        let explicit = self.expect(&mut ci, 1, CTX0, "ContentInfo without [0] content")?;
        let mut ex = explicit.children();
        let signed_data = self.expect(&mut ex, 2, SEQUENCE, "SignedData is not a SEQUENCE")?;
        self.signed_data(&signed_data)?;
        self.place = "end-of-contents octets";
        if !outer.complete {
            return Err(Stop::Truncated.into());
        }
        Ok(())
    }

    fn signed_data(&mut self, sd: &Tlv) -> Result<(), Failure> {
        const D: usize = 3;
        let mut r = sd.children();
        self.place = "version";
        self.expect(&mut r, D, INTEGER, "SignedData version is not an INTEGER")?;

        self.place = "digestAlgorithms";
        let algs = self.expect(&mut r, D, SET, "digestAlgorithms is not a SET")?;
        let mut a = algs.children();
        while let Some(alg) = a.next(self.data, D + 1)? {
            if self.walk.digest_algorithms.is_none() {
                self.walk.digest_algorithms = self.algorithm(&alg, D + 1)?;
            }
        }

        self.place = "encapContentInfo";
        let eci = self.expect(&mut r, D, SEQUENCE, "encapContentInfo is not a SEQUENCE")?;
        if !eci.complete {
            return Err(Stop::Truncated.into());
        }

        // Cut exactly here, the input most likely stopped before the certificates.
        self.place = "certificates";
        let mut next = r.next(self.data, D)?;
        if let Some(certs) = next.filter(|t| t.id == CTX0) {
            self.place = "certificates";
            let mut c = certs.children();
            while let Some(cert) = c.next(self.data, D + 1)? {
                if !cert.complete {
                    return Err(Stop::Truncated.into());
                }
                if cert.id == SEQUENCE && self.walk.certificates.len() < MAX_CERTIFICATES {
                    if let Some(parsed) = cert.raw(self.data).and_then(certificate::decode) {
                        self.walk.certificates.push(parsed);
                    }
                }
            }
            self.walk.certificates_complete = true;
            self.place = "signerInfos";
            next = r.next(self.data, D)?;
        }
        if let Some(crls) = next.filter(|t| t.id == CTX1) {
            self.place = "crls";
            if !crls.complete {
                return Err(Stop::Truncated.into());
            }
            self.place = "signerInfos";
            next = r.next(self.data, D)?;
        }

        self.place = "signerInfos";
        let infos = match next {
            Some(t) if t.id == SET => t,
            _ => {
                return Err(Stop::Malformed {
                    at: r.pos(),
                    what: "SignedData without signerInfos",
                }
                .into())
            }
        };
        let mut s = infos.children();
        self.place = "SignerInfo";
        let info = self.expect(
            &mut s,
            D + 1,
            SEQUENCE,
            "no SignerInfo (a certs-only SignedData, not a pkiMessage)",
        )?;
        self.signer_info(&info, D + 2)?;
        self.place = "signerInfos";
        s.skip_all(self.data, D + 1)?;
        self.place = "SignedData";
        r.skip_all(self.data, D)?;
        Ok(())
    }

    fn signer_info(&mut self, info: &Tlv, d: usize) -> Result<(), Failure> {
        let mut r = info.children();
        self.expect(&mut r, d, INTEGER, "SignerInfo version is not an INTEGER")?;

        self.place = "sid";
        let at = r.pos();
        let sid = r.next(self.data, d)?.ok_or(Stop::Malformed {
            at,
            what: "SignerInfo without sid",
        })?;
        if !sid.complete {
            return Err(Stop::Truncated.into());
        }
        self.walk.signer_id = match sid.id {
            SEQUENCE => sid
                .raw(self.data)
                .and_then(certificate::decode_issuer_and_serial)
                .map(|(issuer, serial)| SignerId::IssuerSerial(issuer, serial)),
            0x80 => Some(SignerId::KeyId(sid.content(self.data).to_vec())),
            _ => None,
        };

        self.place = "digestAlgorithm";
        let alg = self.expect(&mut r, d, SEQUENCE, "digestAlgorithm is not a SEQUENCE")?;
        self.walk.signer_digest = self.algorithm(&alg, d)?;

        self.place = "signedAttrs";
        let at = r.pos();
        let mut next = r.next(self.data, d)?;
        self.walk.attributes_reached = true;
        if let Some(attrs) = next.filter(|t| t.id == CTX0) {
            let mut a = attrs.children();
            while let Some(attr) = a.next(self.data, d + 1)? {
                if !attr.complete {
                    return Err(Stop::Truncated.into());
                }
                if let Some(raw) = attr.raw(self.data) {
                    self.walk.attributes.add(raw);
                }
            }
            self.place = "signatureAlgorithm";
            next = r.next(self.data, d)?;
        }

        self.place = "signatureAlgorithm";
        let alg = match next {
            Some(t) if t.id == SEQUENCE => t,
            _ => {
                return Err(Stop::Malformed {
                    at,
                    what: "SignerInfo without signatureAlgorithm",
                }
                .into())
            }
        };
        self.walk.signer_signature = self.algorithm(&alg, d)?;

        self.place = "signature";
        let at = r.pos();
        match r.next(self.data, d)? {
            Some(sig) if sig.id & !0x20 == 0x04 => {
                if !sig.complete {
                    return Err(Stop::Truncated.into());
                }
            }
            _ => {
                return Err(Stop::Malformed {
                    at,
                    what: "SignerInfo without signature",
                }
                .into())
            }
        }
        self.place = "unsignedAttrs";
        r.skip_all(self.data, d)?;
        Ok(())
    }

    /// The algorithm name of an AlgorithmIdentifier, `None` if it is not one. A cut one stops
    /// the walk.
    fn algorithm(&self, alg: &Tlv, depth: usize) -> Result<Option<String>, Failure> {
        if !alg.complete {
            return Err(Stop::Truncated.into());
        }
        if alg.id != SEQUENCE {
            return Ok(None);
        }
        let mut r = alg.children();
        Ok(match r.next(self.data, depth + 1)? {
            Some(o) if o.id == OID => Some(oid::algorithm_name(o.content(self.data))),
            _ => None,
        })
    }
}
