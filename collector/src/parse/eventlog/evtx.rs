//! Binary Windows event logs (`.evtx`), through the `evtx` crate.
//!
//! Each record is rendered to XML and read by the same code as an exported record
//! ([`super::xml::parse_event_xml`]), so the two shapes cannot drift apart. A chunk or record
//! the crate cannot read is counted (`evtx.bad_chunk`, `evtx.bad_record`) and the rest of the
//! file is still read; a file without an EVTX header is one `evtx.bad_header` error. Records
//! without `TimeCreated` take the time from their record header. Memory is one 64 KiB chunk at
//! a time.

use std::io::{Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};

use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};

use super::record::{self, Mapped, RecordProblem};
use super::timestamp::RecordTime;
use super::xml::parse_event_xml;
use crate::parse::{Emit, ParseStats, SourceContext};

/// Read every record of an `.evtx` stream and emit the events of interest. Only I/O errors of
/// `reader` itself are returned; anything wrong with the bytes is counted in the stats.
pub fn parse<R: Read + Seek>(
    ctx: &SourceContext,
    mut reader: R,
    emit: &mut Emit<'_>,
) -> std::io::Result<ParseStats> {
    let mut stats = ParseStats::default();
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    stats.bytes = len;
    let settings = ParserSettings::new()
        .indent(false)
        .validate_checksums(false);
    let mut parser = match EvtxParser::from_read_seek(reader) {
        Ok(p) => p.with_configuration(settings),
        Err(EvtxError::IoError(e)) => return Err(e),
        Err(_) => {
            stats.error("evtx.bad_header");
            return Ok(stats);
        }
    };
    let mut records = parser.records();
    loop {
        // The crate is a binary parser of untrusted input: if it ever panics, that file is
        // counted as broken instead of taking the collector down.
        let next = match catch_unwind(AssertUnwindSafe(|| records.next())) {
            Ok(next) => next,
            Err(_) => {
                stats.records += 1;
                stats.error("evtx.parser_panic");
                break;
            }
        };
        let Some(item) = next else { break };
        stats.records += 1;
        let rec = match item {
            Ok(rec) => rec,
            Err(EvtxError::IoError(e)) => return Err(e),
            Err(EvtxError::FailedToParseChunk { .. }) => {
                stats.error("evtx.bad_chunk");
                continue;
            }
            Err(_) => {
                stats.error("evtx.bad_record");
                continue;
            }
        };
        let xml = rec.data.as_bytes();
        let mut event_record = match parse_event_xml(xml) {
            Ok(r) => r,
            Err(_) => {
                stats.error("evtx.bad_xml");
                continue;
            }
        };
        event_record.record_id = event_record.record_id.or(Some(rec.event_record_id));
        let header_time = RecordTime::Utc(rec.timestamp.as_microsecond());
        match record::to_event(
            ctx,
            &event_record,
            rec.event_record_id,
            xml,
            Some(header_time),
        ) {
            Mapped::Event(e) => {
                stats.saw_event(e.event_time_us);
                emit(*e);
            }
            Mapped::Ignored => stats.ignored += 1,
            Mapped::Failed(RecordProblem::NoTime) => stats.error("evtx.no_time"),
            Mapped::Failed(RecordProblem::NoEventId) => stats.error("evtx.no_event_id"),
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::v1::{SourceId, SourceKind};
    use std::io::Cursor;

    fn ctx() -> SourceContext {
        SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "device".into(),
                kind: SourceKind::EventLog as i32,
                path: "Admin.evtx".into(),
                stream: String::new(),
            },
            0,
        )
    }

    fn run(bytes: Vec<u8>) -> ParseStats {
        parse(&ctx(), Cursor::new(bytes), &mut |_| {}).expect("in-memory reads do not fail")
    }

    #[test]
    fn garbage_is_one_header_error() {
        let stats = run(b"this is not an event log".to_vec());
        assert_eq!(stats.errors.get("evtx.bad_header"), Some(&1));
        assert_eq!(stats.events, 0);
        let stats = run(Vec::new());
        assert_eq!(stats.error_count(), 1);
    }

    #[test]
    fn header_without_chunks_reads_nothing() {
        let mut bytes = vec![0u8; 4096];
        bytes[..8].copy_from_slice(b"ElfFile\0");
        bytes[32..36].copy_from_slice(&128u32.to_le_bytes());
        bytes[36..38].copy_from_slice(&1u16.to_le_bytes());
        bytes[38..40].copy_from_slice(&3u16.to_le_bytes());
        bytes[40..42].copy_from_slice(&4096u16.to_le_bytes());
        let stats = run(bytes.clone());
        assert_eq!(stats.events, 0);
        // A chunk of noise after it: counted, not fatal.
        bytes.extend((0..65536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let stats = run(bytes);
        assert_eq!(stats.events, 0);
        assert!(stats.error_count() >= 1, "{stats:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_bytes_no_panic(input in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let stats = run(input);
            prop_assert_eq!(stats.events, 0);
        }

        #[test]
        fn evtx_header_then_any_bytes_no_panic(tail in proptest::collection::vec(any::<u8>(), 0..70000)) {
            let mut bytes = vec![0u8; 4096];
            bytes[..8].copy_from_slice(b"ElfFile\0");
            bytes[32..36].copy_from_slice(&128u32.to_le_bytes());
            bytes[38..40].copy_from_slice(&3u16.to_le_bytes());
            bytes[40..42].copy_from_slice(&4096u16.to_le_bytes());
            bytes.extend_from_slice(b"ElfChnk\0");
            bytes.extend(tail);
            let _ = run(bytes);
        }
    }
}
