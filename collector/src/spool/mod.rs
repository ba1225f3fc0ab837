//! The durable spool: a bounded on-disk FIFO of opaque records between the file sources, which
//! append, and the shipper, which reads, sends and acknowledges.
//!
//! [`Spool::append`] returns once the record is on disk (under [`Fsync::Always`]) with its
//! sequence number: dense, increasing, continued across restarts. [`Spool::read`] returns
//! records from a sequence on; [`Spool::ack`] says everything up to a sequence is delivered,
//! which frees its room and deletes the segment files it emptied. When the un-acknowledged
//! records reach [`SpoolOptions::max_bytes`], `append` blocks (backpressure, never a drop)
//! until an acknowledgement frees room or [`Spool::close`] is called; [`SpoolStats`] says so
//! (`currently_full`, `full_waits`, `full_wait_time`).
//!
//! # Storage: segment files, not an embedded store
//!
//! The access pattern is a queue: append at the tail, read forward, delete from the head as
//! soon as the ingestor acknowledges, with a hard bound on bytes and one fsync per append. The
//! two well-kept embedded stores of the Rust ecosystem were weighed against it:
//!
//! - **redb** (copy-on-write B-tree): pages freed by deletes are reused, but the file only
//!   shrinks when the free pages are at its end, so after an outage the spool would keep its
//!   high-water mark on disk; allocations are rounded up to a power of two of pages, so a
//!   256 KiB batch plus its leaf header takes 512 KiB; every commit writes the pages from the
//!   leaf to the root and a commit slot, then fsyncs.
//! - **fjall** (LSM tree): each record is written to the journal, again when the memtable is
//!   flushed, and again by compactions; a delete is a tombstone that gives space back only
//!   when a compaction drops it, and a queue (reads from a head of tombstones) is the LSM
//!   worst case. It also brings flush and compaction threads and block caches to a process
//!   meant to idle in a few megabytes.
//! - **Segment files** (this module): each record is written once, with one `fdatasync`; a
//!   segment is deleted whole once every record in it is acknowledged (space back at once, no
//!   compaction, no write amplification); the bound on un-acknowledged bytes is exact; startup
//!   walks record headers and checks one file's payloads. The price is owning the format and
//!   its recovery, which the tests exercise (a torn write at every byte of the last record,
//!   flipped bytes, a model-based property test of append/read/ack/reopen/crash).
//!
//! # On disk
//!
//! A directory holds segment files named after their first sequence (`{first:020}.seg`, the
//! format is in `format.rs`: a header with magic and version, then records of length, CRC-32
//! over length + sequence + payload, sequence, payload) and `ack.log`, the acknowledged head
//! as an append-only log of checksummed entries (`ack_log.rs`). Appends go to the last
//! segment (the tail) until it would pass [`SpoolOptions::segment_bytes`]; then a new one
//! starts. Disk use is at most `max_bytes` of un-acknowledged records, plus the acknowledged
//! part of the head segment and at most one segment's worth in the tail.
//!
//! # Recovery
//!
//! [`Spool::open`] walks every segment's record headers (lengths and sequences) and checks
//! the tail segment's payloads too: a torn, partial or corrupt tail is truncated at the last
//! good record. A damaged record elsewhere is skipped and reported in [`Recovery::corrupt`]
//! (segment, offset, sequences, count); payload damage in a sealed segment is found when the
//! record is read, skipped, and counted in [`SpoolStats::corrupt_records`]. A segment is
//! deleted only after the acknowledgement covering it is on disk, so the first remaining
//! segment also bounds the acknowledged head if `ack.log` is lost.
//!
//! # Threads
//!
//! `Spool` is cheap to clone and `Send + Sync`. Appends are serialized; a read or an
//! acknowledgement never waits for an append's fsync. Every method does blocking file I/O:
//! from async code, call them on a blocking thread.
//!
//! One process owns a spool directory at a time.

mod ack_log;
mod format;
mod recovery;
mod segment;

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ack_log::AckLog;
use format::{encode_record_header, SegmentReader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use segment::{create_segment_file, Segment};

/// When the spool calls `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every append and acknowledgement, and around every file creation and rename:
    /// what `append` returned survives a power cut.
    Always,
    /// Never: survives a crash of the process, not of the machine. For tests and benchmarks.
    Never,
}

/// Limits and durability of a spool.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// Bytes of un-acknowledged records (payloads plus their 16-byte headers) the spool holds;
    /// `append` blocks beyond it. Also the largest record it takes.
    pub max_bytes: u64,
    /// Size at which a segment file is sealed and a new one started (at most `u32::MAX`). A
    /// record must fit one segment with its headers (40 bytes).
    pub segment_bytes: u64,
    /// When to fsync.
    pub fsync: Fsync,
}

impl Default for SpoolOptions {
    /// 1 GiB in segments of 64 MiB, fsync always.
    fn default() -> Self {
        SpoolOptions {
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            fsync: Fsync::Always,
        }
    }
}

impl SpoolOptions {
    fn validate(&self) -> Result<(), SpoolError> {
        let smallest_segment = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1;
        if self.segment_bytes < smallest_segment || self.segment_bytes > u64::from(u32::MAX) {
            return Err(SpoolError::Options(format!(
                "segment_bytes must be between {smallest_segment} and {} (is {})",
                u32::MAX,
                self.segment_bytes
            )));
        }
        if self.max_bytes <= RECORD_HEADER_LEN {
            return Err(SpoolError::Options(format!(
                "max_bytes must be more than {RECORD_HEADER_LEN} (is {})",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// The largest payload an append takes.
    pub fn max_record(&self) -> u64 {
        (self.max_bytes - RECORD_HEADER_LEN)
            .min(self.segment_bytes - SEGMENT_HEADER_LEN - RECORD_HEADER_LEN)
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The options cannot work.
    #[error("invalid spool options: {0}")]
    Options(String),
    /// A record larger than the spool can ever take (it would never fit: an error, not a wait).
    #[error("record of {len} bytes is larger than the spool takes ({limit} bytes)")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The largest payload the spool takes ([`SpoolOptions::max_record`]).
        limit: u64,
    },
    /// [`Spool::close`] was called.
    #[error("the spool is closed")]
    Closed,
    /// An acknowledgement of a sequence never appended.
    #[error("acknowledged sequence {seq}, but the next sequence to append is {next}")]
    AckBeyondEnd {
        /// The sequence acknowledged.
        seq: u64,
        /// The spool's next sequence.
        next: u64,
    },
    /// A segment written by another version of the format (left alone).
    #[error("spool segment {path} has format version {version}, this build reads version 1")]
    OtherVersion {
        /// The segment.
        path: PathBuf,
        /// Its version.
        version: u32,
    },
    /// The segments on disk contradict each other (overlapping sequences).
    #[error("spool directory {dir} is inconsistent: {detail}")]
    Inconsistent {
        /// The spool directory.
        dir: PathBuf,
        /// What contradicts what.
        detail: String,
    },
    /// An earlier append failed and its partial record could not be removed; reopen the spool.
    #[error("an earlier append to {path} failed and could not be undone; reopen the spool")]
    WriterFailed {
        /// The tail segment.
        path: PathBuf,
    },
}

impl SpoolError {
    fn io(path: &Path, source: io::Error) -> SpoolError {
        SpoolError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A torn or corrupt tail cut off at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The tail segment.
    pub segment: PathBuf,
    /// Where it was cut: the end of the last good record (0: the file was removed, its header
    /// was torn).
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
}

/// Damaged records skipped (found at open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecords {
    /// The segment (for records missing between two segments: the later one).
    pub segment: PathBuf,
    /// Offset of the first damaged byte (0: the segment's header is damaged, the file was
    /// removed).
    pub offset: u64,
    /// Sequence of the first record lost.
    pub first_seq: u64,
    /// Records lost.
    pub records: u64,
    /// Bytes the damage covers.
    pub bytes: u64,
}

/// What [`Spool::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Un-acknowledged records kept.
    pub records: u64,
    /// Their bytes (headers included).
    pub bytes: u64,
    /// Segment files in use.
    pub segments: usize,
    /// The acknowledged head.
    pub acked: Option<u64>,
    /// The sequence the next append gets.
    pub next_seq: u64,
    /// A torn or corrupt tail cut off.
    pub truncated: Option<Truncation>,
    /// Damaged records skipped.
    pub corrupt: Vec<CorruptRecords>,
    /// Fully acknowledged segments deleted (left by a stop between an acknowledgement and the
    /// deletion).
    pub removed_segments: usize,
    /// `ack.log` had a torn or damaged entry (the last good one was used).
    pub ack_log_damaged: bool,
}

impl Recovery {
    /// Whether nothing was cut, skipped or damaged.
    pub fn is_clean(&self) -> bool {
        self.truncated.is_none() && self.corrupt.is_empty() && !self.ack_log_damaged
    }
}

/// Counters and gauges of a spool (for metrics and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes of un-acknowledged records (headers included), bounded by `max_bytes`.
    pub bytes: u64,
    /// Bytes of segment files on disk.
    pub disk_bytes: u64,
    /// Un-acknowledged records.
    pub records: u64,
    /// Segment files.
    pub segments: usize,
    /// The acknowledged head.
    pub acked: Option<u64>,
    /// The sequence the next append gets.
    pub next_seq: u64,
    /// Appends since open.
    pub appends: u64,
    /// Payload bytes appended since open.
    pub appended_bytes: u64,
    /// Appends that had to wait for room (the sources were blocked).
    pub full_waits: u64,
    /// Total time appends waited for room.
    pub full_wait_time: Duration,
    /// An append is waiting for room now: the sources are blocked.
    pub currently_full: bool,
    /// `try_append` calls refused for want of room.
    pub full_rejections: u64,
    /// Damaged records found while reading (skipped).
    pub corrupt_records: u64,
    /// Segment files that could not be deleted (they are deleted at the next open).
    pub delete_failures: u64,
}

/// The durable spool. See the [module documentation](self).
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

type OnAppend = Arc<dyn Fn() + Send + Sync>;

struct Inner {
    dir: PathBuf,
    opts: SpoolOptions,
    /// The tail segment's file; held for a whole append (appends are serialized).
    writer: Mutex<Writer>,
    /// The acknowledged head's log; held for a whole acknowledgement.
    acks: Mutex<AckLog>,
    /// What readers, acknowledgements and appends share; held briefly, never across an fsync
    /// of a record.
    state: Mutex<State>,
    /// Signalled when room is freed or the spool is closed.
    room: Condvar,
    on_append: Mutex<Option<OnAppend>>,
}

struct Writer {
    file: File,
    path: PathBuf,
    /// Bytes of the tail segment (where the next record goes).
    len: u64,
    /// Its first sequence.
    first_seq: u64,
    /// Sequence of the next record.
    next_seq: u64,
    /// A failed append left bytes that could not be removed.
    failed: bool,
}

struct State {
    segments: VecDeque<Segment>,
    next_seq: u64,
    acked: Option<u64>,
    unacked_bytes: u64,
    unacked_records: u64,
    closed: bool,
    waiting: usize,
    stats: SpoolStats,
}

impl State {
    /// Recomputes the un-acknowledged totals from the segments.
    fn recount(&mut self) {
        let (bytes, records) = self
            .segments
            .iter()
            .map(|seg| seg.unacked(self.acked))
            .fold((0, 0), |(b, r), (sb, sr)| (b + sb, r + sr));
        self.unacked_bytes = bytes;
        self.unacked_records = records;
    }

    /// Removes the fully acknowledged segments at the head (never the tail) and returns their
    /// files to delete.
    fn pop_acked(&mut self) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|seg| seg.fully_acked(self.acked))
        {
            if let Some(seg) = self.segments.pop_front() {
                removed.push(seg.path);
            }
        }
        removed
    }

    /// The index of the segment holding `seq`, or of the first after it.
    fn segment_from(&self, seq: u64) -> usize {
        let after = self.segments.partition_point(|seg| seg.first_seq <= seq);
        match after.checked_sub(1) {
            Some(at) if self.segments[at].next_seq() > seq => at,
            _ => after,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes a directory's entries (created, renamed files) durable. Windows has no handle to
/// sync a directory through; NTFS journals its metadata.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A planned read of one record.
struct Planned {
    seq: u64,
    offset: u64,
    end_bound: u64,
    segment: usize,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, recovering what a crash left.
    pub fn open(dir: &Path, opts: SpoolOptions) -> Result<(Spool, Recovery), SpoolError> {
        opts.validate()?;
        let recovered = recovery::recover(dir, &opts)?;
        let state = State {
            segments: recovered.segments,
            next_seq: recovered.report.next_seq,
            acked: recovered.report.acked,
            unacked_bytes: recovered.report.bytes,
            unacked_records: recovered.report.records,
            closed: false,
            waiting: 0,
            stats: SpoolStats::default(),
        };
        let spool = Spool {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                opts,
                writer: Mutex::new(recovered.writer),
                acks: Mutex::new(recovered.ack_log),
                state: Mutex::new(state),
                room: Condvar::new(),
                on_append: Mutex::new(None),
            }),
        };
        Ok((spool, recovered.report))
    }

    /// Appends one record (opaque bytes) and returns its sequence number once it is durable
    /// (per [`SpoolOptions::fsync`]). Blocks while the spool is full, until acknowledgements
    /// free room; fails with [`SpoolError::Closed`] if the spool is closed meanwhile, and with
    /// [`SpoolError::TooLarge`] for a record that could never fit.
    pub fn append(&self, record: &[u8]) -> Result<u64, SpoolError> {
        match self.append_inner(record, true)? {
            Some(seq) => Ok(seq),
            None => Err(SpoolError::Closed),
        }
    }

    /// Like [`append`](Self::append), but returns `None` instead of waiting when the spool is
    /// full.
    pub fn try_append(&self, record: &[u8]) -> Result<Option<u64>, SpoolError> {
        self.append_inner(record, false)
    }

    fn append_inner(&self, record: &[u8], wait: bool) -> Result<Option<u64>, SpoolError> {
        let inner = &*self.inner;
        let limit = inner.opts.max_record();
        if record.len() as u64 > limit {
            return Err(SpoolError::TooLarge {
                len: record.len(),
                limit,
            });
        }
        let size = RECORD_HEADER_LEN + record.len() as u64;
        let mut writer = lock(&inner.writer);
        if !self.wait_for_room(size, wait)? {
            return Ok(None);
        }
        if writer.failed {
            return Err(SpoolError::WriterFailed {
                path: writer.path.clone(),
            });
        }
        if writer.len + size > inner.opts.segment_bytes && writer.next_seq > writer.first_seq {
            self.rotate(&mut writer)?;
        }

        let seq = writer.next_seq;
        let offset = writer.len;
        if let Err(err) = write_record(&mut writer.file, seq, record, inner.opts.fsync) {
            // Remove what part of the record reached the file, so the next append starts on a
            // record boundary; if that fails too, refuse appends until a reopen recovers.
            let undone = writer.file.set_len(offset).is_ok()
                && writer.file.seek(SeekFrom::Start(offset)).is_ok();
            writer.failed = !undone;
            return Err(SpoolError::io(&writer.path, err));
        }
        writer.len = offset + size;
        writer.next_seq = seq + 1;

        {
            let mut st = lock(&inner.state);
            if let Some(tail) = st.segments.back_mut() {
                // Offsets fit: the segment is bounded by `segment_bytes <= u32::MAX`.
                tail.offsets.push(offset as u32);
                tail.end = offset + size;
                tail.disk_len = offset + size;
            }
            st.next_seq = seq + 1;
            st.unacked_bytes += size;
            st.unacked_records += 1;
            st.stats.appends += 1;
            st.stats.appended_bytes += record.len() as u64;
        }
        drop(writer);

        let callback = lock(&inner.on_append).clone();
        if let Some(callback) = callback {
            callback();
        }
        Ok(Some(seq))
    }

    /// Waits until `size` more bytes fit (or returns `false` at once when `wait` is off).
    fn wait_for_room(&self, size: u64, wait: bool) -> Result<bool, SpoolError> {
        let inner = &*self.inner;
        let max = inner.opts.max_bytes;
        let mut st = lock(&inner.state);
        if st.closed {
            return Err(SpoolError::Closed);
        }
        if st.unacked_bytes + size <= max {
            return Ok(true);
        }
        if !wait {
            st.stats.full_rejections += 1;
            return Ok(false);
        }
        st.stats.full_waits += 1;
        st.waiting += 1;
        let started = Instant::now();
        while !st.closed && st.unacked_bytes + size > max {
            st = inner.room.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.waiting -= 1;
        st.stats.full_wait_time += started.elapsed();
        if st.closed {
            return Err(SpoolError::Closed);
        }
        Ok(true)
    }

    /// Seals the tail and starts a new segment at the next sequence.
    fn rotate(&self, writer: &mut Writer) -> Result<(), SpoolError> {
        let inner = &*self.inner;
        let first_seq = writer.next_seq;
        let (file, path) = create_segment_file(&inner.dir, first_seq, inner.opts.fsync)
            .map_err(|err| SpoolError::io(&inner.dir, err))?;
        // The old tail's handle closes here, before the segment may be deleted below.
        writer.file = file;
        writer.path = path.clone();
        writer.len = SEGMENT_HEADER_LEN;
        writer.first_seq = first_seq;
        let removed = {
            let mut st = lock(&inner.state);
            st.segments.push_back(Segment::empty(path, first_seq));
            st.pop_acked()
        };
        let failures = remove_files(&removed).len() as u64;
        if failures > 0 {
            lock(&inner.state).stats.delete_failures += failures;
        }
        Ok(())
    }

    /// Up to `max_records` records with sequence `>= from` (and after the acknowledged head),
    /// up to `max_bytes` of payload but at least one if any exists.
    ///
    /// A record found damaged is skipped (its sequence is missing from the result) and counted
    /// in [`SpoolStats::corrupt_records`].
    pub fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let inner = &*self.inner;
        let mut out = Vec::new();
        if max_records == 0 {
            return Ok(out);
        }
        let (plan, paths) = {
            let st = lock(&inner.state);
            let start = st.acked.map_or(from, |acked| from.max(acked + 1));
            let mut plan = Vec::new();
            let mut paths = Vec::new();
            let mut planned_bytes = 0u64;
            let mut at = st.segment_from(start);
            let mut seq = start;
            'segments: while let Some(seg) = st.segments.get(at) {
                seq = seq.max(seg.first_seq);
                while seq < seg.next_seq() {
                    if let Some(offset) = seg.offset_of(seq) {
                        let end_bound = seg.end_bound(seq);
                        let estimate = end_bound.saturating_sub(offset + RECORD_HEADER_LEN);
                        if !plan.is_empty()
                            && (plan.len() >= max_records
                                || planned_bytes + estimate > max_bytes as u64)
                        {
                            break 'segments;
                        }
                        if paths.last().map(|(i, _): &(usize, PathBuf)| *i) != Some(at) {
                            paths.push((at, seg.path.clone()));
                        }
                        planned_bytes += estimate;
                        plan.push(Planned {
                            seq,
                            offset,
                            end_bound,
                            segment: at,
                        });
                    }
                    seq += 1;
                }
                at += 1;
            }
            (plan, paths)
        };

        let mut damaged = Vec::new();
        let mut next = 0;
        'groups: while let Some(first) = plan.get(next) {
            let at = first.segment;
            let group_len = plan[next..]
                .iter()
                .take_while(|planned| planned.segment == at)
                .count();
            let group = &plan[next..next + group_len];
            next += group_len;
            let Some((_, path)) = paths.iter().find(|(i, _)| *i == at) else {
                break;
            };
            let (file, len) =
                match File::open(path).and_then(|file| Ok((file.metadata()?.len(), file))) {
                    Ok((len, file)) => (file, len),
                    // Deleted meanwhile: an acknowledgement covered it, and what follows.
                    Err(_) if !self.holds_segment(path) => break 'groups,
                    Err(err) => return Err(SpoolError::io(path, err)),
                };
            let mut reader =
                SegmentReader::new(&file, len).map_err(|err| SpoolError::io(path, err))?;
            for planned in group {
                match reader
                    .read_record(planned.offset, planned.seq, planned.end_bound)
                    .map_err(|err| SpoolError::io(path, err))?
                {
                    Some(payload) => out.push((planned.seq, payload)),
                    None => damaged.push(planned.seq),
                }
            }
        }

        if !damaged.is_empty() {
            let mut st = lock(&inner.state);
            for seq in damaged {
                let at = st.segment_from(seq);
                if st
                    .segments
                    .get_mut(at)
                    .is_some_and(|seg| seg.mark_lost(seq))
                {
                    st.stats.corrupt_records += 1;
                }
            }
            st.recount();
        }
        Ok(out)
    }

    fn holds_segment(&self, path: &Path) -> bool {
        lock(&self.inner.state)
            .segments
            .iter()
            .any(|seg| seg.path == path)
    }

    /// Acknowledges every record up to `seq`: it is delivered and will not be read again. The
    /// head is persisted before any segment it empties is deleted; blocked appends wake.
    pub fn ack(&self, seq: u64) -> Result<(), SpoolError> {
        let inner = &*self.inner;
        let mut log = lock(&inner.acks);
        {
            let st = lock(&inner.state);
            if seq >= st.next_seq {
                return Err(SpoolError::AckBeyondEnd {
                    seq,
                    next: st.next_seq,
                });
            }
            if st.acked.is_some_and(|acked| acked >= seq) {
                return Ok(());
            }
        }
        log.record(seq)
            .map_err(|err| SpoolError::io(&log.path(), err))?;
        let removed = {
            let mut st = lock(&inner.state);
            st.acked = Some(seq);
            st.recount();
            inner.room.notify_all();
            st.pop_acked()
        };
        drop(log);
        let failures = remove_files(&removed);
        if let Some((path, err)) = failures.into_iter().next() {
            lock(&inner.state).stats.delete_failures += 1;
            return Err(SpoolError::io(&path, err));
        }
        Ok(())
    }

    /// The acknowledged head: every record up to it is delivered.
    pub fn acked(&self) -> Option<u64> {
        lock(&self.inner.state).acked
    }

    /// The sequence the next append gets.
    pub fn next_seq(&self) -> u64 {
        lock(&self.inner.state).next_seq
    }

    /// The sequence of the oldest record not yet acknowledged (`next_seq` when there is none):
    /// where a reader starts.
    pub fn first_seq(&self) -> u64 {
        let st = lock(&self.inner.state);
        let after_acked = st.acked.map_or(0, |acked| acked + 1);
        st.segments
            .front()
            .map_or(after_acked, |seg| seg.first_seq.max(after_acked))
            .min(st.next_seq)
    }

    /// Sets the function called (on the appending thread) after each append; the agent wakes
    /// the shipper with it.
    pub fn set_on_append(&self, f: Box<dyn Fn() + Send + Sync>) {
        *lock(&self.inner.on_append) = Some(Arc::from(f));
    }

    /// Closes the spool for appends: blocked and later appends fail with
    /// [`SpoolError::Closed`]. Reads and acknowledgements go on working.
    pub fn close(&self) {
        let mut st = lock(&self.inner.state);
        st.closed = true;
        self.inner.room.notify_all();
    }

    /// Counters and gauges.
    pub fn stats(&self) -> SpoolStats {
        let st = lock(&self.inner.state);
        SpoolStats {
            bytes: st.unacked_bytes,
            disk_bytes: st.segments.iter().map(|seg| seg.disk_len).sum(),
            records: st.unacked_records,
            segments: st.segments.len(),
            acked: st.acked,
            next_seq: st.next_seq,
            currently_full: st.waiting > 0,
            ..st.stats.clone()
        }
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

/// Writes one record at the file's position and syncs it per `fsync`.
fn write_record(file: &mut File, seq: u64, payload: &[u8], fsync: Fsync) -> io::Result<()> {
    file.write_all(&encode_record_header(seq, payload))?;
    file.write_all(payload)?;
    if fsync == Fsync::Always {
        file.sync_data()?;
    }
    Ok(())
}

/// Deletes `paths` (already gone is fine); returns the failures.
fn remove_files(paths: &[PathBuf]) -> Vec<(PathBuf, io::Error)> {
    paths
        .iter()
        .filter_map(|path| match std::fs::remove_file(path) {
            Ok(()) => None,
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => Some((path.clone(), err)),
        })
        .collect()
}

/// Opens an existing segment file for appending at `len`.
fn open_tail(path: &Path, len: u64) -> io::Result<File> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.seek(SeekFrom::Start(len))?;
    Ok(file)
}
