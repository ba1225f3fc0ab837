//! One segment as the spool knows it in memory: its file, its first sequence and the offset of
//! each record (4 bytes a record: a spool of 1 GiB in 64 KiB batches indexes in 64 KiB).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::format::{encode_segment_header, segment_file_name, LOST, SEGMENT_HEADER_LEN};
use super::{sync_dir, Fsync};

/// A segment file and its index.
#[derive(Debug)]
pub(super) struct Segment {
    /// The file.
    pub path: PathBuf,
    /// Sequence of its first record.
    pub first_seq: u64,
    /// Offset of record `first_seq + i` at index `i`; [`LOST`] for a record found damaged.
    pub offsets: Vec<u32>,
    /// Sorted indexes of the [`LOST`] entries of `offsets`.
    pub lost: Vec<u32>,
    /// End of the last record.
    pub end: u64,
    /// Bytes of the file on disk (more than `end` when damage ends a sealed segment).
    pub disk_len: u64,
}

impl Segment {
    /// A segment with no records yet.
    pub fn empty(path: PathBuf, first_seq: u64) -> Segment {
        Segment {
            path,
            first_seq,
            offsets: Vec::new(),
            lost: Vec::new(),
            end: SEGMENT_HEADER_LEN,
            disk_len: SEGMENT_HEADER_LEN,
        }
    }

    /// The sequence after its last record.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.offsets.len() as u64
    }

    /// Index of the first record after `acked`.
    fn first_unacked(&self, acked: Option<u64>) -> usize {
        match acked {
            Some(acked) if acked >= self.first_seq => {
                usize::try_from(acked - self.first_seq + 1).unwrap_or(usize::MAX)
            }
            _ => 0,
        }
        .min(self.offsets.len())
    }

    /// Whether nothing in it remains to be read: every record is acknowledged (or it has none).
    pub fn fully_acked(&self, acked: Option<u64>) -> bool {
        self.first_unacked(acked) == self.offsets.len()
    }

    /// Record bytes (headers included) and records after `acked`.
    pub fn unacked(&self, acked: Option<u64>) -> (u64, u64) {
        let from = self.first_unacked(acked);
        let records = (self.offsets.len() - from) as u64
            - (self.lost.len() - self.lost.partition_point(|&i| (i as usize) < from)) as u64;
        let bytes = self.offsets[from..]
            .iter()
            .find(|&&offset| offset != LOST)
            .map_or(0, |&offset| self.end - u64::from(offset));
        (bytes, records)
    }

    /// The offset of record `seq`, if this segment holds it intact as far as it knows.
    pub fn offset_of(&self, seq: u64) -> Option<u64> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        match *self.offsets.get(index)? {
            LOST => None,
            offset => Some(u64::from(offset)),
        }
    }

    /// Where record `seq` must end by: the next intact record's offset, or the segment's end.
    pub fn end_bound(&self, seq: u64) -> u64 {
        let Some(index) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return self.end;
        };
        self.offsets
            .get(index + 1..)
            .and_then(|rest| rest.iter().find(|&&offset| offset != LOST))
            .map_or(self.end, |&offset| u64::from(offset))
    }

    /// Marks record `seq` as damaged; returns whether it was intact until now.
    pub fn mark_lost(&mut self, seq: u64) -> bool {
        let Some(index) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| u32::try_from(i).ok())
        else {
            return false;
        };
        match self.offsets.get_mut(index as usize) {
            Some(offset) if *offset != LOST => {
                *offset = LOST;
                let at = self.lost.partition_point(|&i| i < index);
                self.lost.insert(at, index);
                true
            }
            _ => false,
        }
    }
}

/// Creates the segment file for `first_seq` in `dir` with its header (synced with the directory
/// entry under [`Fsync::Always`]), open for writing at its end.
pub(super) fn create_segment_file(
    dir: &Path,
    first_seq: u64,
    fsync: Fsync,
) -> io::Result<(File, PathBuf)> {
    let path = dir.join(segment_file_name(first_seq));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    file.write_all(&encode_segment_header(first_seq))?;
    if fsync == Fsync::Always {
        file.sync_all()?;
        sync_dir(dir)?;
    }
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first_seq: u64, lens: &[u32]) -> Segment {
        let mut segment = Segment::empty(PathBuf::from("x.seg"), first_seq);
        for len in lens {
            segment.offsets.push(segment.end as u32);
            segment.end += 16 + u64::from(*len);
        }
        segment.disk_len = segment.end;
        segment
    }

    #[test]
    fn unacked_counts_records_and_bytes_after_the_head() {
        let seg = segment(10, &[4, 8, 16]);
        assert_eq!(seg.unacked(None), (20 + 24 + 32, 3));
        assert_eq!(seg.unacked(Some(9)), (76, 3));
        assert_eq!(seg.unacked(Some(10)), (56, 2));
        assert_eq!(seg.unacked(Some(12)), (0, 0));
        assert_eq!(seg.unacked(Some(500)), (0, 0));
        assert!(!seg.fully_acked(Some(11)));
        assert!(seg.fully_acked(Some(12)));
        assert!(Segment::empty(PathBuf::new(), 5).fully_acked(None));
    }

    #[test]
    fn lost_records_are_not_counted_nor_read() {
        let mut seg = segment(0, &[4, 8, 16]);
        assert!(seg.mark_lost(1));
        assert!(!seg.mark_lost(1));
        assert_eq!(seg.offset_of(1), None);
        assert_eq!(seg.end_bound(0), 24 + 20 + 24);
        assert_eq!(seg.unacked(None), (20 + 24 + 32, 2));
        assert_eq!(seg.unacked(Some(0)), (32, 1));
        assert!(seg.mark_lost(2));
        assert_eq!(seg.unacked(Some(0)), (0, 0));
        assert!(seg.fully_acked(Some(2)));
    }
}
