//! The segment file format, and the walk over a segment's records that recovery and reads use.
//!
//! A segment file is a header followed by records back to back:
//!
//! ```text
//! header (24 bytes): magic "SCWSPOOL" | version u32 | first sequence u64 | CRC-32 of the 20 bytes before it
//! record:            length u32 | CRC-32 u32 | sequence u64 | payload (length bytes)
//! ```
//!
//! All integers are little-endian. A record's CRC-32 covers its length, its sequence and its
//! payload, so a torn write, a flipped bit or a record read at the wrong offset all fail it.
//! The file is named after its first sequence (`{first:020}.seg`), so a directory listing sorts
//! segments in order.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

/// Magic bytes that open every segment file.
pub(super) const SEGMENT_MAGIC: [u8; 8] = *b"SCWSPOOL";
/// Version of the segment format written by this code.
pub(super) const SEGMENT_VERSION: u32 = 1;
/// Length of the segment header.
pub(super) const SEGMENT_HEADER_LEN: u64 = 24;
/// Length of a record's header (length, CRC, sequence).
pub(super) const RECORD_HEADER_LEN: u64 = 16;
/// Extension of segment files.
pub(super) const SEGMENT_EXT: &str = "seg";
/// Offset stored in a segment's index for a record found damaged (nothing to read there).
pub(super) const LOST: u32 = u32::MAX;

/// Buffer of the reader that walks a segment.
const WALK_BUFFER: usize = 64 * 1024;

/// The file name of the segment whose first record has sequence `first_seq`.
pub(super) fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.{SEGMENT_EXT}")
}

/// The first sequence a segment file name stands for, if `name` is one.
pub(super) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_EXT)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The header of a new segment whose first record will have sequence `first_seq`.
pub(super) fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32fast::hash(&header[..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

/// What a segment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SegmentHeader {
    /// A valid header of this version.
    Valid {
        /// Sequence of the segment's first record.
        first_seq: u64,
    },
    /// A valid header written by another version of the format.
    OtherVersion(u32),
    /// Too short, wrong magic or failed checksum: a file torn while being created, or damage.
    Damaged,
}

/// Decodes a segment header from the first bytes of a file (`bytes` may be shorter than a
/// header: a torn creation).
pub(super) fn decode_segment_header(bytes: &[u8]) -> SegmentHeader {
    let Some(header) = bytes.get(..SEGMENT_HEADER_LEN as usize) else {
        return SegmentHeader::Damaged;
    };
    if header[..8] != SEGMENT_MAGIC {
        return SegmentHeader::Damaged;
    }
    let crc = u32::from_le_bytes([header[20], header[21], header[22], header[23]]);
    if crc32fast::hash(&header[..20]) != crc {
        return SegmentHeader::Damaged;
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != SEGMENT_VERSION {
        return SegmentHeader::OtherVersion(version);
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[12..20]);
    SegmentHeader::Valid {
        first_seq: u64::from_le_bytes(seq),
    }
}

/// The CRC-32 of a record: over its length, its sequence and its payload.
pub(super) fn record_crc(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The header of the record `seq` carrying `payload` (whose length the caller has bounded to
/// fit a `u32`).
pub(super) fn encode_record_header(seq: u64, payload: &[u8]) -> [u8; RECORD_HEADER_LEN as usize] {
    let mut header = [0u8; RECORD_HEADER_LEN as usize];
    header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&record_crc(seq, payload).to_le_bytes());
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    header
}

/// A decoded record header (not yet checked against anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordHeader {
    /// Payload length.
    pub len: u32,
    /// CRC-32 over length, sequence and payload.
    pub crc: u32,
    /// The record's sequence number.
    pub seq: u64,
}

impl RecordHeader {
    fn decode(bytes: &[u8; RECORD_HEADER_LEN as usize]) -> RecordHeader {
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[8..16]);
        RecordHeader {
            len: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            crc: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            seq: u64::from_le_bytes(seq),
        }
    }

    /// Offset just past this record when it starts at `offset`.
    pub fn end(&self, offset: u64) -> u64 {
        offset + RECORD_HEADER_LEN + u64::from(self.len)
    }
}

/// A buffered reader over one segment file that knows its position, so walking forward
/// (header, skip payload, next header) keeps its buffer instead of seeking the file each time.
pub(super) struct SegmentReader<'a> {
    reader: BufReader<&'a File>,
    pos: u64,
    len: u64,
}

impl<'a> SegmentReader<'a> {
    /// A reader over `file`, whose readable length is `len`.
    pub fn new(file: &'a File, len: u64) -> io::Result<SegmentReader<'a>> {
        let mut reader = BufReader::with_capacity(WALK_BUFFER, file);
        reader.seek(SeekFrom::Start(0))?;
        Ok(SegmentReader {
            reader,
            pos: 0,
            len,
        })
    }

    fn goto(&mut self, offset: u64) -> io::Result<()> {
        if offset != self.pos {
            // Both fit an i64: segment files are bounded by `u32::MAX` bytes.
            self.reader.seek_relative(offset as i64 - self.pos as i64)?;
            self.pos = offset;
        }
        Ok(())
    }

    /// The record header at `offset`, or `None` when fewer than a header's bytes remain.
    pub fn header_at(&mut self, offset: u64) -> io::Result<Option<RecordHeader>> {
        if offset + RECORD_HEADER_LEN > self.len {
            return Ok(None);
        }
        self.goto(offset)?;
        let mut bytes = [0u8; RECORD_HEADER_LEN as usize];
        self.reader.read_exact(&mut bytes)?;
        self.pos += RECORD_HEADER_LEN;
        Ok(Some(RecordHeader::decode(&bytes)))
    }

    /// Whether the payload of the record whose header `header` was read at `offset` matches
    /// its CRC (the caller has checked that it lies within the file). Reads in chunks: a large
    /// record costs no allocation.
    pub fn payload_matches(&mut self, offset: u64, header: &RecordHeader) -> io::Result<bool> {
        self.goto(offset + RECORD_HEADER_LEN)?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header.len.to_le_bytes());
        hasher.update(&header.seq.to_le_bytes());
        let mut remaining = u64::from(header.len);
        while remaining > 0 {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            let taken = chunk
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            hasher.update(&chunk[..taken]);
            self.reader.consume(taken);
            self.pos += taken as u64;
            remaining -= taken as u64;
        }
        Ok(hasher.finalize() == header.crc)
    }

    /// The payload of the record `seq` at `offset` if it is intact and ends by `end_bound`;
    /// `None` when the bytes there are not that record (damage).
    pub fn read_record(
        &mut self,
        offset: u64,
        seq: u64,
        end_bound: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        let Some(header) = self.header_at(offset)? else {
            return Ok(None);
        };
        if header.seq != seq || header.end(offset) > end_bound.min(self.len) {
            return Ok(None);
        }
        let mut payload = vec![0u8; header.len as usize];
        self.reader.read_exact(&mut payload)?;
        self.pos += u64::from(header.len);
        if record_crc(seq, &payload) != header.crc {
            return Ok(None);
        }
        Ok(Some(payload))
    }
}

/// A run of records found damaged while walking a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WalkDamage {
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Sequence of the first record lost.
    pub first_seq: u64,
    /// Records lost (known when the walk resynchronised or the next segment's first sequence
    /// is known; 0 when unknown).
    pub records: u64,
    /// Bytes the damage covers.
    pub bytes: u64,
}

/// What walking a segment's records found.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// Offset of each record, by sequence from the segment's first; [`LOST`] for a damaged
    /// record skipped in place.
    pub offsets: Vec<u32>,
    /// Indexes (into `offsets`) of the records skipped in place.
    pub lost: Vec<u32>,
    /// Damaged records skipped in place.
    pub skipped: Vec<WalkDamage>,
    /// End of the last good record.
    pub end: u64,
    /// Offset where the walk met bytes it could not read as the next record and could not
    /// resynchronise past (a torn tail, or damage that ends the segment's readable part).
    pub stopped_at: Option<u64>,
}

/// Walks the records of a segment file of `file_len` bytes whose header is valid and says
/// `first_seq`.
///
/// `verify` checks each payload's CRC (the tail segment, where a torn write can be); without it
/// only headers are walked (lengths and sequences), and payloads are checked when read.
/// `next_first` is the first sequence of the following segment, when there is one.
///
/// A record that fails is skipped in place (one record lost) when its length leads to a good
/// record with the next sequence, or, at the end of a sealed segment, to the file's end with
/// the next segment's first sequence; otherwise the walk stops there.
pub(super) fn walk_segment(
    file: &File,
    file_len: u64,
    first_seq: u64,
    verify: bool,
    next_first: Option<u64>,
) -> io::Result<Walk> {
    let mut reader = SegmentReader::new(file, file_len)?;
    let mut walk = Walk {
        end: SEGMENT_HEADER_LEN,
        ..Walk::default()
    };
    let mut offset = SEGMENT_HEADER_LEN;
    let mut seq = first_seq;
    while offset < file_len {
        let Ok(offset32) = u32::try_from(offset) else {
            walk.stopped_at = Some(offset);
            break;
        };
        let Some(header) = reader.header_at(offset)? else {
            walk.stopped_at = Some(offset);
            break;
        };
        let end = header.end(offset);
        let fits = end <= file_len;
        if header.seq == seq && fits && (!verify || reader.payload_matches(offset, &header)?) {
            walk.offsets.push(offset32);
            walk.end = end;
            offset = end;
            seq += 1;
            continue;
        }
        // Damage: can the walk step over this one record?
        let resync = if !fits {
            false
        } else if end == file_len {
            next_first == Some(seq + 1)
        } else {
            match reader.header_at(end)? {
                Some(next) => {
                    next.seq == seq + 1
                        && next.end(end) <= file_len
                        && (!verify || reader.payload_matches(end, &next)?)
                }
                None => false,
            }
        };
        if !resync {
            walk.stopped_at = Some(offset);
            break;
        }
        walk.lost.push(walk.offsets.len() as u32);
        walk.offsets.push(LOST);
        walk.skipped.push(WalkDamage {
            offset,
            first_seq: seq,
            records: 1,
            bytes: end - offset,
        });
        walk.end = end;
        offset = end;
        seq += 1;
    }
    Ok(walk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn segment_with(first_seq: u64, payloads: &[&[u8]]) -> (tempfile::TempDir, File, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_file_name(first_seq));
        let mut file = File::create(&path).unwrap();
        file.write_all(&encode_segment_header(first_seq)).unwrap();
        for (i, payload) in payloads.iter().enumerate() {
            let seq = first_seq + i as u64;
            file.write_all(&encode_record_header(seq, payload)).unwrap();
            file.write_all(payload).unwrap();
        }
        drop(file);
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        (dir, file, len)
    }

    #[test]
    fn segment_names_sort_by_sequence_and_round_trip() {
        assert_eq!(segment_file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.seg"), None);
        assert_eq!(parse_segment_file_name("00000000000000000042.tmp"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let header = encode_segment_header(7);
        assert_eq!(
            decode_segment_header(&header),
            SegmentHeader::Valid { first_seq: 7 }
        );
        assert_eq!(decode_segment_header(&header[..10]), SegmentHeader::Damaged);
        let mut flipped = header;
        flipped[14] ^= 0x01;
        assert_eq!(decode_segment_header(&flipped), SegmentHeader::Damaged);
        let mut newer = header;
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&newer[..20]);
        newer[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_segment_header(&newer),
            SegmentHeader::OtherVersion(2)
        );
    }

    #[test]
    fn walk_indexes_every_record() {
        let (_dir, file, len) = segment_with(10, &[b"alpha", b"", b"gamma gamma"]);
        let walk = walk_segment(&file, len, 10, true, None).unwrap();
        assert_eq!(walk.offsets, vec![24, 24 + 16 + 5, 24 + 16 + 5 + 16]);
        assert_eq!(walk.end, len);
        assert_eq!(walk.stopped_at, None);
        assert!(walk.skipped.is_empty());
    }

    #[test]
    fn walk_skips_a_flipped_payload_byte_when_the_next_record_follows() {
        let (dir, _, _) = segment_with(0, &[b"one", b"two", b"three"]);
        let path = dir.path().join(segment_file_name(0));
        let mut bytes = std::fs::read(&path).unwrap();
        let second_payload = 24 + 16 + 3 + 16;
        bytes[second_payload] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let walk = walk_segment(&file, bytes.len() as u64, 0, true, None).unwrap();
        assert_eq!(walk.offsets, vec![24, LOST, 24 + 19 + 19]);
        assert_eq!(walk.lost, vec![1]);
        assert_eq!(walk.skipped.len(), 1);
        assert_eq!(walk.skipped[0].first_seq, 1);
        assert_eq!(walk.stopped_at, None);
        // Without payload checks the walk sees nothing wrong: reads catch it.
        let walk = walk_segment(&file, bytes.len() as u64, 0, false, None).unwrap();
        assert!(walk.skipped.is_empty());
        let mut reader = SegmentReader::new(&file, bytes.len() as u64).unwrap();
        assert_eq!(reader.read_record(24 + 19, 1, u64::MAX).unwrap(), None);
        assert_eq!(
            reader.read_record(24 + 38, 2, u64::MAX).unwrap(),
            Some(b"three".to_vec())
        );
    }

    #[test]
    fn walk_stops_at_a_torn_last_record() {
        let (dir, _, len) = segment_with(0, &[b"one", b"two"]);
        let path = dir.path().join(segment_file_name(0));
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 1).unwrap();
        let file = File::open(&path).unwrap();
        let walk = walk_segment(&file, len - 1, 0, true, None).unwrap();
        assert_eq!(walk.offsets, vec![24]);
        assert_eq!(walk.stopped_at, Some(24 + 19));
        assert_eq!(walk.end, 24 + 19);
    }
}
