//! Opening a spool directory: what a crash, a torn write or damage left, made whole again.
//!
//! 1. `ack.log` gives the acknowledged head (its last good entry); the first segment on disk
//!    bounds it from below too, since a segment is deleted only after its acknowledgement is
//!    on disk.
//! 2. Segments, in sequence order: a damaged header removes the file (reported); every
//!    segment's record headers are walked, the last segment's payloads checked too; a torn
//!    or corrupt tail is truncated at the last good record; sequences missing between
//!    segments are reported.
//! 3. The next sequence continues after the last record, the acknowledged head and any
//!    segment name seen; appends go on in the last segment if it can take it, else in a new
//!    one.
//! 4. `ack.log` is rewritten with the head, then fully acknowledged segments are deleted.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::ack_log::{self, AckLog, ACK_LOG};
use super::format::{
    decode_segment_header, parse_segment_file_name, walk_segment, SegmentHeader, SEGMENT_HEADER_LEN,
};
use super::segment::{create_segment_file, Segment};
use super::{
    open_tail, remove_files, CorruptRecords, Fsync, Recovery, SpoolError, SpoolOptions, Truncation,
    Writer,
};

/// A recovered spool, ready to run.
pub(super) struct Recovered {
    pub segments: VecDeque<Segment>,
    pub writer: Writer,
    pub ack_log: AckLog,
    pub report: Recovery,
}

fn max_seq(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The segment files of `dir`, in sequence order.
fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(first_seq) = name.to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

pub(super) fn recover(dir: &Path, opts: &SpoolOptions) -> Result<Recovered, SpoolError> {
    let dir_error = |err| SpoolError::io(dir, err);
    fs::create_dir_all(dir).map_err(dir_error)?;
    let loaded = ack_log::load(dir).map_err(|err| SpoolError::io(&dir.join(ACK_LOG), err))?;
    let names = list_segments(dir).map_err(dir_error)?;

    let mut report = Recovery {
        ack_log_damaged: loaded.damaged,
        ..Recovery::default()
    };
    let floor = names.first().and_then(|(first, _)| first.checked_sub(1));
    let acked = max_seq(loaded.acked, floor);
    let mut segments: VecDeque<Segment> = VecDeque::new();
    // The sequence the next segment should start at (losses before it already reported).
    let mut covered: Option<u64> = None;
    // The last segment was walked as the tail and kept.
    let mut tail_kept = false;
    let mut highest_name = 0;

    for (k, (first_seq, path)) in names.iter().enumerate() {
        let first_seq = *first_seq;
        let is_last = k + 1 == names.len();
        let next_first = names.get(k + 1).map(|(first, _)| *first);
        highest_name = highest_name.max(first_seq);
        let io_error = |err| SpoolError::io(path, err);

        if let Some(expected) = covered {
            if first_seq < expected {
                return Err(SpoolError::Inconsistent {
                    dir: dir.to_path_buf(),
                    detail: format!(
                        "segment {} starts at sequence {first_seq}, but the segment before it \
                         holds records up to {}",
                        path.display(),
                        expected - 1
                    ),
                });
            }
            if first_seq > expected {
                report.corrupt.push(CorruptRecords {
                    segment: path.clone(),
                    offset: 0,
                    first_seq: expected,
                    records: first_seq - expected,
                    bytes: 0,
                });
            }
        }

        let file = if is_last {
            OpenOptions::new().read(true).write(true).open(path)
        } else {
            File::open(path)
        }
        .map_err(io_error)?;
        let file_len = file.metadata().map_err(io_error)?.len();
        let mut head = Vec::with_capacity(SEGMENT_HEADER_LEN as usize);
        (&file)
            .take(SEGMENT_HEADER_LEN)
            .read_to_end(&mut head)
            .map_err(io_error)?;
        match decode_segment_header(&head) {
            SegmentHeader::OtherVersion(version) => {
                return Err(SpoolError::OtherVersion {
                    path: path.clone(),
                    version,
                })
            }
            SegmentHeader::Valid { first_seq: stated } if stated == first_seq => {}
            SegmentHeader::Valid { .. } | SegmentHeader::Damaged => {
                // A tail torn while being created, or a damaged header: nothing in the file can
                // be trusted to be what its name says.
                drop(file);
                fs::remove_file(path).map_err(io_error)?;
                if is_last {
                    report.truncated = Some(Truncation {
                        segment: path.clone(),
                        offset: 0,
                        bytes: file_len,
                    });
                } else {
                    let next = next_first.unwrap_or(first_seq);
                    report.corrupt.push(CorruptRecords {
                        segment: path.clone(),
                        offset: 0,
                        first_seq,
                        records: next.saturating_sub(first_seq),
                        bytes: file_len,
                    });
                    covered = Some(next);
                }
                continue;
            }
        }

        let walk =
            walk_segment(&file, file_len, first_seq, is_last, next_first).map_err(io_error)?;
        report
            .corrupt
            .extend(walk.skipped.iter().map(|damage| CorruptRecords {
                segment: path.clone(),
                offset: damage.offset,
                first_seq: damage.first_seq,
                records: damage.records,
                bytes: damage.bytes,
            }));
        let mut segment = Segment {
            path: path.clone(),
            first_seq,
            offsets: walk.offsets,
            lost: walk.lost,
            end: walk.end,
            disk_len: file_len,
        };
        covered = Some(segment.next_seq());
        if let Some(stop) = walk.stopped_at {
            if is_last {
                file.set_len(stop).map_err(io_error)?;
                if opts.fsync == Fsync::Always {
                    file.sync_all().map_err(io_error)?;
                }
                report.truncated = Some(Truncation {
                    segment: path.clone(),
                    offset: stop,
                    bytes: file_len - stop,
                });
                segment.end = stop;
                segment.disk_len = stop;
            } else {
                let next = next_first.unwrap_or(segment.next_seq());
                report.corrupt.push(CorruptRecords {
                    segment: path.clone(),
                    offset: stop,
                    first_seq: segment.next_seq(),
                    records: next.saturating_sub(segment.next_seq()),
                    bytes: file_len - stop,
                });
                covered = Some(next.max(segment.next_seq()));
            }
        }
        tail_kept = is_last;
        segments.push_back(segment);
    }

    let next_seq = segments
        .back()
        .map_or(0, Segment::next_seq)
        .max(highest_name)
        .max(acked.map_or(0, |acked| acked + 1));

    let reuse_tail = tail_kept
        && segments
            .back()
            .is_some_and(|tail| tail.next_seq() == next_seq);
    let writer = if reuse_tail {
        let tail = segments.back().ok_or_else(|| SpoolError::Inconsistent {
            dir: dir.to_path_buf(),
            detail: "no tail segment".into(),
        })?;
        let file =
            open_tail(&tail.path, tail.end).map_err(|err| SpoolError::io(&tail.path, err))?;
        Writer {
            file,
            path: tail.path.clone(),
            len: tail.end,
            first_seq: tail.first_seq,
            next_seq,
            failed: false,
        }
    } else {
        // A tail with no records that cannot take the next sequence is replaced.
        if tail_kept && segments.back().is_some_and(|tail| tail.offsets.is_empty()) {
            if let Some(tail) = segments.pop_back() {
                fs::remove_file(&tail.path).map_err(|err| SpoolError::io(&tail.path, err))?;
            }
        }
        let (file, path) = create_segment_file(dir, next_seq, opts.fsync).map_err(dir_error)?;
        segments.push_back(Segment::empty(path.clone(), next_seq));
        Writer {
            file,
            path,
            len: SEGMENT_HEADER_LEN,
            first_seq: next_seq,
            next_seq,
            failed: false,
        }
    };

    let ack_log = AckLog::create(dir, acked, opts.fsync)
        .map_err(|err| SpoolError::io(&dir.join(ACK_LOG), err))?;

    let mut removed = Vec::new();
    while segments.len() > 1 && segments.front().is_some_and(|seg| seg.fully_acked(acked)) {
        if let Some(seg) = segments.pop_front() {
            removed.push(seg.path);
        }
    }
    if let Some((path, err)) = remove_files(&removed).into_iter().next() {
        return Err(SpoolError::io(&path, err));
    }
    report.removed_segments = removed.len();

    let (bytes, records) = segments
        .iter()
        .map(|seg| seg.unacked(acked))
        .fold((0, 0), |(b, r), (sb, sr)| (b + sb, r + sr));
    report.records = records;
    report.bytes = bytes;
    report.segments = segments.len();
    report.acked = acked;
    report.next_seq = next_seq;

    Ok(Recovered {
        segments,
        writer,
        ack_log,
        report,
    })
}
