//! The `scepwatch.v1` schema: the contract between collectors, the ingestor and the analyzer.
//!
//! - [`v1::Event`] is one typed observation (an IIS request, a crash, a device log line, ...)
//!   wrapped in an envelope with a deterministic [`event_id`].
//! - [`v1::Watermark`] says how far a source has been read, so "the server never saw it" is only
//!   said about windows that were actually read.
//! - [`v1::Batch`] / [`v1::BatchAck`] travel on the `Ingest` service (feature `grpc`).
//!
//! [`endpoint`] normalises SCEP URLs into endpoint IDs; [`time`] converts between the schema's
//! microsecond timestamps and calendar values.
#![deny(missing_docs)]

pub mod endpoint;
pub mod time;

/// Generated types of package `scepwatch.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/scepwatch.v1.rs"));
}

#[cfg(all(test, feature = "grpc"))]
mod grpc_tests {
    /// The service is generated under its protobuf name, with client and server.
    #[test]
    fn ingest_service_is_generated() {
        use super::v1::ingest_client::IngestClient;
        use super::v1::ingest_server::SERVICE_NAME;
        assert_eq!(SERVICE_NAME, "scepwatch.v1.Ingest");
        let _ = std::any::type_name::<IngestClient<()>>();
    }
}

use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Length of an event ID in bytes.
pub const EVENT_ID_LEN: usize = 16;

/// Largest excerpt an event carries, in bytes.
pub const MAX_EXCERPT: usize = 2048;

/// A stable 128-bit digest of a source's identity; compute it once per source and derive each
/// event's ID from it with [`SourceKey::event_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey(pub u128);

impl SourceKey {
    /// Digest of the identity fields of `source` (collector, host, kind, path, stream).
    pub fn of(source: &v1::SourceId) -> Self {
        let mut h = Xxh3::new();
        for part in [
            source.collector.as_bytes(),
            source.host.as_bytes(),
            &source.kind.to_le_bytes(),
            source.path.as_bytes(),
            source.stream.as_bytes(),
        ] {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        SourceKey(h.digest128())
    }

    /// The deterministic ID of the record at `position` in this source.
    pub fn event_id(self, position: u64) -> [u8; EVENT_ID_LEN] {
        let mut buf = [0u8; 24];
        buf[..16].copy_from_slice(&self.0.to_le_bytes());
        buf[16..].copy_from_slice(&position.to_le_bytes());
        xxh3_128(&buf).to_le_bytes()
    }
}

/// The deterministic ID of the record at `position` in `source`: reading the same bytes of the
/// same source again always gives the same ID, so every stage may deliver at least once.
pub fn event_id(source: &v1::SourceId, position: u64) -> [u8; EVENT_ID_LEN] {
    SourceKey::of(source).event_id(position)
}

/// Lower-case hex of an event ID (the form reports and ClickHouse use).
pub fn event_id_hex(id: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(id.len() * 2);
    for b in id {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// `bytes` as a string of at most [`MAX_EXCERPT`] bytes, invalid UTF-8 replaced, cut on a
/// character boundary.
pub fn excerpt(bytes: &[u8]) -> String {
    let cut = bytes.get(..MAX_EXCERPT).unwrap_or(bytes);
    // Logs are nearly always valid UTF-8: one validation and one copy. The lossy conversion
    // walks the text in chunks and is several times slower even when it replaces nothing.
    if let Ok(s) = std::str::from_utf8(cut) {
        return s.to_owned();
    }
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if s.len() > MAX_EXCERPT {
        let mut end = MAX_EXCERPT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(path: &str) -> v1::SourceId {
        v1::SourceId {
            collector: "c1".into(),
            host: "ndes01".into(),
            kind: v1::SourceKind::Iis as i32,
            path: path.into(),
            stream: String::new(),
        }
    }

    #[test]
    fn event_id_is_deterministic_and_position_sensitive() {
        let a = src("u_ex261120.log");
        assert_eq!(event_id(&a, 10), event_id(&a, 10));
        assert_ne!(event_id(&a, 10), event_id(&a, 11));
        assert_ne!(event_id(&a, 10), event_id(&src("u_ex261121.log"), 10));
    }

    #[test]
    fn identity_parts_are_length_prefixed() {
        let mut a = src("x");
        a.host = "ab".into();
        a.collector = "c".into();
        let mut b = src("x");
        b.host = "b".into();
        b.collector = "ca".into();
        assert_ne!(SourceKey::of(&a), SourceKey::of(&b));
    }

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        let long = "é".repeat(MAX_EXCERPT);
        let e = excerpt(long.as_bytes());
        assert!(e.len() <= MAX_EXCERPT);
        assert!(e.chars().all(|c| c == 'é'));
        assert_eq!(excerpt(b"\xffok"), "\u{fffd}ok");
    }

    #[test]
    fn excerpt_of_valid_text_is_the_text_or_its_lossy_cut() {
        assert_eq!(
            excerpt(b"GET /certsrv/mscep/mscep.dll 200"),
            "GET /certsrv/mscep/mscep.dll 200"
        );
        // Three bytes of a four-byte character before the cut: the lossy conversion of the
        // cut bytes ends in one replacement character, and that still fits.
        let mut text = "a".repeat(MAX_EXCERPT - 3);
        text.push('🔒');
        let e = excerpt(text.as_bytes());
        assert_eq!(e.len(), MAX_EXCERPT);
        assert!(e.ends_with('\u{fffd}'));
        // One byte of it: the replacement does not fit and is cut off.
        let mut text = "a".repeat(MAX_EXCERPT - 1);
        text.push('🔒');
        assert_eq!(excerpt(text.as_bytes()), "a".repeat(MAX_EXCERPT - 1));
    }
}
