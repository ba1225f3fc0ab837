//! The durable spool: round trips across restarts, torn writes at every byte, flipped bytes,
//! acknowledgements that survive restarts and give disk space back, backpressure when full,
//! and a model-based property test of random append/read/ack/reopen/crash sequences.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use scepwatch_collector::spool::{Fsync, Spool, SpoolError, SpoolOptions};

const RECORD_HEADER: u64 = 16;
const SEGMENT_HEADER: u64 = 24;

fn opts(max_bytes: u64, segment_bytes: u64) -> SpoolOptions {
    SpoolOptions {
        max_bytes,
        segment_bytes,
        fsync: Fsync::Never,
    }
}

/// A record the way the agent spools them: an encoded batch of IIS lines (here the lines
/// themselves, as IIS writes them, make the payload).
fn batch(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n % 7 + 1 {
        out.extend_from_slice(
            format!(
                "2024-03-05 08:{:02}:{:02} 10.0.0.5 GET /certsrv/mscep/mscep.dll \
                 operation=PKIOperation&message=MIIK{n}x{i} 443 - 10.1.{}.{} \
                 Mozilla/5.0 - 200 0 0 {}\r\n",
                n % 60,
                i % 60,
                n % 250,
                i % 250,
                n * 7 + i
            )
            .as_bytes(),
        );
    }
    out
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Bytes of the segment files in `dir` (a file deleted while listing counts for nothing).
fn disk_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn read_all(spool: &Spool, from: u64) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut from = from;
    loop {
        let got = spool.read(from, 7, 1000).unwrap();
        let Some(last) = got.last() else { break };
        from = last.0 + 1;
        out.extend(got);
    }
    out
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x10;
    fs::write(path, bytes).unwrap();
}

#[test]
fn records_round_trip_across_reopen_and_sequences_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 4096)).unwrap();
    assert!(recovery.is_clean());
    assert_eq!(
        (recovery.next_seq, recovery.acked, recovery.records),
        (0, None, 0)
    );
    let records: Vec<Vec<u8>> = (0..40).map(batch).chain([Vec::new()]).collect();
    for (i, record) in records.iter().enumerate() {
        assert_eq!(spool.append(record).unwrap(), i as u64);
    }
    assert!(spool.stats().segments > 3, "{:?}", spool.stats());
    drop(spool);

    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 4096)).unwrap();
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(recovery.records, records.len() as u64);
    assert_eq!(recovery.next_seq, records.len() as u64);
    let expected_bytes: u64 = records.iter().map(|r| RECORD_HEADER + r.len() as u64).sum();
    assert_eq!(recovery.bytes, expected_bytes);
    let read = read_all(&spool, 0);
    assert_eq!(read.len(), records.len());
    for (i, (seq, payload)) in read.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert_eq!(payload, &records[i]);
    }
    assert_eq!(spool.append(b"after reopen").unwrap(), records.len() as u64);
}

#[test]
fn read_respects_limits_but_returns_at_least_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 4096)).unwrap();
    for i in 0..10u8 {
        spool.append(&[i; 100]).unwrap();
    }
    assert_eq!(spool.read(0, 3, 1 << 20).unwrap().len(), 3);
    assert_eq!(spool.read(0, 100, 250).unwrap().len(), 2);
    let one = spool.read(4, 100, 10).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0], (4, vec![4u8; 100]));
    assert!(spool.read(10, 100, 1 << 20).unwrap().is_empty());
    assert!(spool.read(0, 0, 1 << 20).unwrap().is_empty());
}

/// A crash in the middle of writing the last record, at every byte of it: reopening keeps
/// exactly the complete records, and appends continue with the torn record's sequence.
#[test]
fn torn_last_record_at_every_cut_keeps_exactly_the_complete_records() {
    let records: Vec<Vec<u8>> = (0..6).map(batch).collect();
    let last_len = RECORD_HEADER + records[5].len() as u64;
    for cut in 0..last_len {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
        for record in &records {
            spool.append(record).unwrap();
        }
        drop(spool);
        let tail = segment_files(dir.path()).pop().unwrap();
        let full = fs::metadata(&tail).unwrap().len();
        set_len(&tail, full - last_len + cut);

        let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
        assert_eq!(recovery.records, 5, "cut {cut}");
        assert_eq!(recovery.next_seq, 5, "cut {cut}");
        assert!(recovery.corrupt.is_empty(), "cut {cut}: {recovery:?}");
        match &recovery.truncated {
            None => assert_eq!(cut, 0),
            Some(t) => {
                assert_eq!((t.offset, t.bytes), (full - last_len, cut), "cut {cut}");
                assert_eq!(t.segment, tail);
            }
        }
        let read = read_all(&spool, 0);
        assert_eq!(
            read.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
            records[..5].to_vec()
        );
        assert_eq!(spool.append(b"next").unwrap(), 5, "cut {cut}");
        drop(spool);
        let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
        assert!(recovery.is_clean(), "cut {cut}: {recovery:?}");
        assert_eq!(read_all(&spool, 5), vec![(5, b"next".to_vec())]);
    }
}

/// A crash right after a new segment file was created, before its header was complete.
#[test]
fn torn_segment_header_is_removed_and_the_sequence_continues() {
    for cut in 0..SEGMENT_HEADER {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 256)).unwrap();
        let mut seq = 0;
        while spool.stats().segments < 2 {
            seq = spool.append(&[7u8; 100]).unwrap();
        }
        // The new tail holds record `seq`; cut it inside its header.
        drop(spool);
        let tail = segment_files(dir.path()).pop().unwrap();
        set_len(&tail, cut);
        let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 256)).unwrap();
        let truncated = recovery.truncated.clone().unwrap();
        assert_eq!((truncated.offset, truncated.bytes), (0, cut));
        assert_eq!(recovery.records, seq, "cut {cut}");
        assert_eq!(spool.append(b"again").unwrap(), seq, "cut {cut}");
        assert_eq!(read_all(&spool, 0).len() as u64, seq + 1);
    }
}

#[test]
fn flipped_payload_byte_in_the_tail_is_caught_by_the_crc_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    let records: Vec<Vec<u8>> = (0..5).map(batch).collect();
    for record in &records {
        spool.append(record).unwrap();
    }
    drop(spool);
    let tail = segment_files(dir.path()).pop().unwrap();
    let third = SEGMENT_HEADER
        + records[..2]
            .iter()
            .map(|r| RECORD_HEADER + r.len() as u64)
            .sum::<u64>();
    flip(&tail, third + RECORD_HEADER + 10);

    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    assert_eq!(recovery.truncated, None);
    assert_eq!(recovery.corrupt.len(), 1, "{recovery:?}");
    let damage = &recovery.corrupt[0];
    assert_eq!(
        (
            damage.segment.clone(),
            damage.offset,
            damage.first_seq,
            damage.records
        ),
        (tail.clone(), third, 2, 1)
    );
    assert_eq!(recovery.records, 4);
    let read = read_all(&spool, 0);
    assert_eq!(
        read.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![0, 1, 3, 4]
    );
    assert_eq!(read[2].1, records[3]);
    assert_eq!(spool.append(b"x").unwrap(), 5);
}

#[test]
fn flipped_byte_in_the_last_record_truncates_it() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    for i in 0..3 {
        spool.append(&batch(i)).unwrap();
    }
    drop(spool);
    let tail = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&tail).unwrap().len();
    flip(&tail, len - 1);
    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    assert_eq!(recovery.records, 2);
    assert!(recovery.truncated.is_some());
    assert_eq!(spool.next_seq(), 2);
}

#[test]
fn flipped_payload_byte_in_a_sealed_segment_is_skipped_when_read_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 512)).unwrap();
    for i in 0..12u8 {
        spool.append(&[i; 100]).unwrap();
    }
    drop(spool);
    let first = segment_files(dir.path())[0].clone();
    // Second record of the first segment, a payload byte.
    flip(
        &first,
        SEGMENT_HEADER + RECORD_HEADER + 100 + RECORD_HEADER + 50,
    );

    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 512)).unwrap();
    assert!(
        recovery.is_clean(),
        "payloads of sealed segments are checked when read"
    );
    assert_eq!(recovery.records, 12);
    let read = read_all(&spool, 0);
    assert_eq!(read.len(), 11);
    assert!(read
        .iter()
        .all(|(seq, payload)| *seq != 1 && payload == &[*seq as u8; 100]));
    let stats = spool.stats();
    assert_eq!(stats.corrupt_records, 1);
    assert_eq!(stats.records, 11);
    // Read again: still skipped, counted once.
    assert_eq!(read_all(&spool, 0).len(), 11);
    assert_eq!(spool.stats().corrupt_records, 1);
}

#[test]
fn damaged_length_in_a_sealed_segment_reports_the_records_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 512)).unwrap();
    for i in 0..12u8 {
        spool.append(&[i; 100]).unwrap();
    }
    drop(spool);
    let files = segment_files(dir.path());
    let per_segment = (512 - SEGMENT_HEADER) / (RECORD_HEADER + 100);
    // The length of the second record of the first segment.
    let second = SEGMENT_HEADER + RECORD_HEADER + 100;
    flip(&files[0], second + 1);

    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 512)).unwrap();
    assert_eq!(recovery.corrupt.len(), 1, "{recovery:?}");
    let damage = &recovery.corrupt[0];
    assert_eq!(
        (
            damage.segment.clone(),
            damage.offset,
            damage.first_seq,
            damage.records
        ),
        (files[0].clone(), second, 1, per_segment - 1)
    );
    let read = read_all(&spool, 0);
    assert_eq!(read.len() as u64, 12 - (per_segment - 1));
    assert_eq!(read[1].0, per_segment);
}

#[test]
fn acknowledgements_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    for i in 0..10 {
        spool.append(&batch(i)).unwrap();
    }
    spool.ack(3).unwrap();
    spool.ack(6).unwrap();
    spool.ack(2).unwrap(); // behind the head: nothing changes
    assert_eq!(spool.acked(), Some(6));
    assert!(matches!(
        spool.ack(10),
        Err(SpoolError::AckBeyondEnd { seq: 10, next: 10 })
    ));
    drop(spool);

    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    assert_eq!(recovery.acked, Some(6));
    assert_eq!(recovery.records, 3);
    assert_eq!(spool.first_seq(), 7);
    let read = read_all(&spool, 0);
    assert_eq!(
        read.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    assert_eq!(read[0].1, batch(7));
}

#[test]
fn acknowledged_segments_are_deleted_and_disk_bytes_go_down() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 4096)).unwrap();
    let mut last = 0;
    for i in 0..100 {
        last = spool.append(&batch(i)).unwrap();
    }
    let before = disk_bytes(dir.path());
    let segments_before = segment_files(dir.path()).len();
    assert_eq!(spool.stats().disk_bytes, before);
    assert!(segments_before > 5, "{segments_before}");

    spool.ack(last / 2).unwrap();
    let middle = disk_bytes(dir.path());
    assert!(middle < before * 6 / 10, "{middle} of {before}");
    assert_eq!(spool.stats().disk_bytes, middle);
    assert!(segment_files(dir.path()).len() < segments_before);

    spool.ack(last).unwrap();
    let stats = spool.stats();
    assert_eq!((stats.bytes, stats.records), (0, 0));
    // The tail is kept (it takes the next appends), everything before it is gone.
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert!(disk_bytes(dir.path()) <= 4096);
    drop(spool);

    // Sequences continue after a restart, even without the acknowledgement log.
    fs::remove_file(dir.path().join("ack.log")).unwrap();
    let (spool, recovery) = Spool::open(dir.path(), opts(1 << 20, 4096)).unwrap();
    assert_eq!(recovery.next_seq, last + 1);
    assert!(recovery.acked.is_some_and(|a| a >= last.saturating_sub(10)));
    // The tail's records are sent again: their acknowledgement was in the lost log.
    let first = recovery.acked.unwrap() + 1;
    assert_eq!(spool.first_seq(), first);
    assert_eq!(spool.append(b"more").unwrap(), last + 1);
    assert_eq!(read_all(&spool, 0).first().unwrap().0, first);
}

#[test]
fn a_record_larger_than_the_spool_is_an_error_not_a_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1000, 4096)).unwrap();
    assert!(matches!(
        spool.append(&[0; 985]),
        Err(SpoolError::TooLarge {
            len: 985,
            limit: 984
        })
    ));
    assert_eq!(spool.append(&[0; 984]).unwrap(), 0);
    let small = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(small.path(), opts(1 << 20, 200)).unwrap();
    assert!(matches!(
        spool.try_append(&[0; 161]),
        Err(SpoolError::TooLarge { limit: 160, .. })
    ));
    assert!(matches!(
        Spool::open(dir.path(), opts(1 << 20, 30)),
        Err(SpoolError::Options(_))
    ));
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_full_spool_blocks_append_until_an_ack_from_another_thread_frees_room() {
    let dir = tempfile::tempdir().unwrap();
    let max = 4 * (RECORD_HEADER + 100);
    let (spool, _) = Spool::open(dir.path(), opts(max, 1024)).unwrap();
    for i in 0..4u8 {
        spool.append(&[i; 100]).unwrap();
    }
    assert_eq!(spool.try_append(&[9; 100]).unwrap(), None);
    assert_eq!(spool.stats().full_rejections, 1);
    assert!(!spool.stats().currently_full);

    let (done_tx, done_rx) = mpsc::channel();
    let appender = {
        let spool = spool.clone();
        thread::spawn(move || {
            let seq = spool.append(&[4; 100]);
            done_tx.send(()).unwrap();
            seq
        })
    };
    wait_until("the appender blocks", || spool.stats().currently_full);
    assert!(done_rx.try_recv().is_err(), "append returned while full");
    assert_eq!(spool.stats().bytes, max);

    spool.ack(0).unwrap();
    assert_eq!(appender.join().unwrap().unwrap(), 4);
    let stats = spool.stats();
    assert!(!stats.currently_full);
    assert_eq!(stats.full_waits, 1);
    assert!(stats.full_wait_time > Duration::ZERO);
    assert_eq!(stats.bytes, max);
    let read = read_all(&spool, 0);
    assert_eq!(
        read.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(read[3].1, vec![4; 100]);
}

#[test]
fn close_releases_a_blocked_appender() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(RECORD_HEADER + 10, 1024)).unwrap();
    spool.append(&[1; 10]).unwrap();
    let appender = {
        let spool = spool.clone();
        thread::spawn(move || spool.append(&[2; 10]))
    };
    wait_until("the appender blocks", || spool.stats().currently_full);
    spool.close();
    assert!(matches!(appender.join().unwrap(), Err(SpoolError::Closed)));
    assert!(matches!(spool.append(b"late"), Err(SpoolError::Closed)));
    // What was spooled can still be read and acknowledged.
    assert_eq!(read_all(&spool, 0), vec![(0, vec![1; 10])]);
    spool.ack(0).unwrap();
}

#[test]
fn on_append_is_called_after_each_append() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = {
        let calls = calls.clone();
        let probe = spool.clone();
        move || {
            // The record is readable when the callback runs.
            assert!(!probe.read(0, 100, 1 << 20).unwrap().is_empty());
            calls.fetch_add(1, Ordering::SeqCst);
        }
    };
    spool.set_on_append(Box::new(seen));
    for i in 0..5 {
        spool.append(&batch(i)).unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

/// One thread appends through a small spool while another reads, "sends" and acknowledges:
/// every record arrives once, in order, and the spool never holds more than its bound.
#[test]
fn an_appender_and_a_shipper_on_two_threads_lose_nothing_and_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let max = 8 * 1024;
    let (spool, _) = Spool::open(dir.path(), opts(max, 2048)).unwrap();
    const N: usize = 2000;
    let appender = {
        let spool = spool.clone();
        thread::spawn(move || {
            for i in 0..N {
                assert_eq!(spool.append(&batch(i)).unwrap(), i as u64);
                assert!(spool.stats().bytes <= max);
            }
        })
    };
    let mut received = 0usize;
    let mut from = 0;
    while received < N {
        let got = spool.read(from, 5, 4096).unwrap();
        for (seq, payload) in &got {
            assert_eq!(*seq, received as u64);
            assert_eq!(payload, &batch(received));
            received += 1;
        }
        if let Some((last, _)) = got.last() {
            from = last + 1;
            spool.ack(*last).unwrap();
        } else {
            thread::yield_now();
        }
        assert!(disk_bytes(dir.path()) <= max + 2 * 2048);
    }
    appender.join().unwrap();
    assert!(spool.stats().full_waits > 0, "the spool was never full");
    assert_eq!(spool.stats().records, 0);
}

#[test]
fn a_segment_of_another_format_version_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), opts(1 << 20, 1 << 16)).unwrap();
    spool.append(b"one").unwrap();
    drop(spool);
    let tail = segment_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&tail).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    fs::write(&tail, &bytes).unwrap();
    assert!(matches!(
        Spool::open(dir.path(), opts(1 << 20, 1 << 16)),
        Err(SpoolError::OtherVersion { version: 2, .. })
    ));
    assert_eq!(fs::read(&tail).unwrap(), bytes);
}

// ---- Model-based property test ----

#[derive(Debug, Clone)]
enum Op {
    /// Append a record of this length (try_append: the model says whether it fits).
    Append(usize),
    /// Read up to n records from the shipper's cursor.
    Read(usize),
    /// Acknowledge the k-th un-acknowledged record (modulo how many there are).
    Ack(usize),
    /// Close and reopen.
    Reopen,
    /// Crash while appending a record of this length: only `cut` of its bytes (modulo its
    /// size) reach the file.
    Crash(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..120).prop_map(Op::Append),
        3 => (1usize..6).prop_map(Op::Read),
        2 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
        1 => ((0usize..120), any::<usize>()).prop_map(|(len, cut)| Op::Crash(len, cut)),
    ]
}

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

struct Model {
    /// Un-acknowledged records, oldest first.
    records: VecDeque<(u64, Vec<u8>)>,
    next_seq: u64,
    acked: Option<u64>,
    /// The shipper's read cursor.
    cursor: u64,
}

impl Model {
    fn bytes(&self) -> u64 {
        self.records
            .iter()
            .map(|(_, p)| RECORD_HEADER + p.len() as u64)
            .sum()
    }
}

const MAX_BYTES: u64 = 700;
const SEGMENT_BYTES: u64 = 300;

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let options = || opts(MAX_BYTES, SEGMENT_BYTES);
    let (mut spool, _) = Spool::open(dir.path(), options()).unwrap();
    let mut model = Model {
        records: VecDeque::new(),
        next_seq: 0,
        acked: None,
        cursor: 0,
    };
    for op in ops {
        match op {
            Op::Append(len) => {
                let record = payload(model.next_seq, len);
                let fits = model.bytes() + RECORD_HEADER + len as u64 <= MAX_BYTES;
                let got = spool.try_append(&record).unwrap();
                if fits {
                    prop_assert_eq!(got, Some(model.next_seq));
                    model.records.push_back((model.next_seq, record));
                    model.next_seq += 1;
                } else {
                    prop_assert_eq!(got, None);
                }
            }
            Op::Read(n) => {
                let got = spool.read(model.cursor, n, 1 << 20).unwrap();
                let expected: Vec<(u64, Vec<u8>)> = model
                    .records
                    .iter()
                    .filter(|(seq, _)| *seq >= model.cursor)
                    .take(n)
                    .cloned()
                    .collect();
                prop_assert_eq!(&got, &expected);
                if let Some((last, _)) = got.last() {
                    model.cursor = last + 1;
                }
            }
            Op::Ack(k) => {
                if model.records.is_empty() {
                    continue;
                }
                let k = k % model.records.len();
                let seq = model.records[k].0;
                spool.ack(seq).unwrap();
                model.records.drain(..=k);
                model.acked = Some(seq);
                model.cursor = model.cursor.max(seq + 1);
            }
            Op::Reopen => {
                drop(spool);
                let (reopened, recovery) = Spool::open(dir.path(), options()).unwrap();
                spool = reopened;
                prop_assert!(recovery.is_clean(), "{:?}", recovery);
                prop_assert_eq!(recovery.next_seq, model.next_seq);
                prop_assert_eq!(recovery.acked, model.acked);
                prop_assert_eq!(recovery.records, model.records.len() as u64);
                prop_assert_eq!(recovery.bytes, model.bytes());
                // The shipper starts again after the acknowledged head.
                model.cursor = model.acked.map_or(0, |a| a + 1);
            }
            Op::Crash(len, cut) => {
                let record = payload(model.next_seq, len);
                if model.bytes() + RECORD_HEADER + len as u64 > MAX_BYTES {
                    continue;
                }
                let seq = spool.try_append(&record).unwrap();
                prop_assert_eq!(seq, Some(model.next_seq));
                drop(spool);
                let tail = segment_files(dir.path()).pop().unwrap();
                let full = fs::metadata(&tail).unwrap().len();
                let size = RECORD_HEADER + len as u64;
                let cut = cut as u64 % size;
                set_len(&tail, full - size + cut);
                let (reopened, recovery) = Spool::open(dir.path(), options()).unwrap();
                spool = reopened;
                prop_assert!(recovery.corrupt.is_empty(), "{:?}", recovery);
                prop_assert_eq!(recovery.truncated.is_some(), cut > 0);
                // The torn append never returned: the model does not have it.
                prop_assert_eq!(recovery.next_seq, model.next_seq);
                prop_assert_eq!(recovery.records, model.records.len() as u64);
                model.cursor = model.acked.map_or(0, |a| a + 1);
            }
        }
        let stats = spool.stats();
        prop_assert_eq!(stats.next_seq, model.next_seq);
        prop_assert_eq!(stats.acked, model.acked);
        prop_assert_eq!(stats.records, model.records.len() as u64);
        prop_assert_eq!(stats.bytes, model.bytes());
        prop_assert!(stats.bytes <= MAX_BYTES);
        // Disk: un-acknowledged bytes plus at most the acknowledged part of the head segment
        // and the tail segment.
        prop_assert!(disk_bytes(dir.path()) <= MAX_BYTES + 2 * SEGMENT_BYTES);
    }
    // Whatever happened, everything un-acknowledged is there, dense, once, in order.
    let from = model.acked.map_or(0, |a| a + 1);
    let all = read_all(&spool, 0);
    prop_assert_eq!(all.first().map(|(s, _)| *s).unwrap_or(from), from);
    prop_assert_eq!(all, model.records.iter().cloned().collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_append_read_ack_reopen_crash_sequences_match_a_queue_model(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        run(ops)?;
    }
}
