//! The pkiMessage template: a real PKCSReq whose transactionID and senderNonce are patched
//! in place for each iOS attempt.

use super::*;

pub(crate) struct Template {
    pub(crate) der: Vec<u8>,
    /// Where the transactionID's PrintableString value sits, and its length (28: base64 of
    /// 20 bytes).
    pub(crate) txn_at: usize,
    pub(crate) txn_len: usize,
    pub(crate) nonce_at: usize,
    pub(crate) nonce_len: usize,
    /// Scratch buffers, reused for every message.
    pub(crate) scratch: Vec<u8>,
    pub(crate) b64: String,
}

impl Template {
    pub(crate) fn new(der: &[u8]) -> Result<Template, String> {
        // attribute: OID, SET { value }: SET tag 0x31 and a short length, then the value's
        // tag and short length.
        let value_of = |oid: &[u8], tag: u8| -> Option<(usize, usize)> {
            let at = der.windows(oid.len()).position(|w| w == oid)? + oid.len();
            let set = der.get(at..at + 4)?;
            (set[0] == 0x31 && set[2] == tag).then_some((at + 4, usize::from(set[3])))
        };
        let (txn_at, txn_len) = value_of(OID_TRANSACTION_ID, 0x13)
            .ok_or("the pkiMessage template has no transactionID attribute")?;
        let (nonce_at, nonce_len) = value_of(OID_SENDER_NONCE, 0x04)
            .ok_or("the pkiMessage template has no senderNonce attribute")?;
        if txn_len != 28 || der.len() < txn_at + txn_len || der.len() < nonce_at + nonce_len {
            return Err("the pkiMessage template's transactionID is not 28 characters".into());
        }
        Ok(Template {
            der: der.to_vec(),
            txn_at,
            txn_len,
            nonce_at,
            nonce_len,
            scratch: Vec::with_capacity(der.len()),
            b64: String::with_capacity(der.len() * 4 / 3 + 4),
        })
    }

    /// Base64 of the template carrying `txn` (as base64 text) and a nonce derived from it.
    pub(crate) fn message_base64(&mut self, txn: &[u8; 20]) -> &str {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.der);
        let mut printable = [0u8; 28];
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(txn, &mut printable);
        if let Some(slot) = self
            .scratch
            .get_mut(self.txn_at..self.txn_at + self.txn_len)
        {
            slot.copy_from_slice(&printable);
        }
        if let Some(slot) = self
            .scratch
            .get_mut(self.nonce_at..self.nonce_at + self.nonce_len)
        {
            for (i, b) in slot.iter_mut().enumerate() {
                *b = txn.get(i % 20).copied().unwrap_or(0) ^ 0x5a;
            }
        }
        self.b64.clear();
        base64::engine::general_purpose::STANDARD.encode_string(&self.scratch, &mut self.b64);
        &self.b64
    }
}

/// Appends base64 text with `+`, `/`, `=` percent-encoded, as it travels in a query string.
pub(crate) fn push_url_b64(buf: &mut Vec<u8>, b64: &str) {
    for &b in b64.as_bytes() {
        match b {
            b'+' => buf.extend_from_slice(b"%2B"),
            b'/' => buf.extend_from_slice(b"%2F"),
            b'=' => buf.extend_from_slice(b"%3D"),
            _ => buf.push(b),
        }
    }
}
