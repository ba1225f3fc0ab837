//! Criterion benchmarks of the durable spool on the disk of the build directory
//! (`CARGO_TARGET_TMPDIR`, not a tmpfs): append throughput for 256 KiB records (the size of a
//! shipped batch) with an fsync per append and without, small records without fsync, an
//! append acknowledged at once (the shipper keeping up), and reading back.
//!
//! Appends are acknowledged every 64 records so the spool stays small and segments are
//! deleted as they would be in service; that cost (one ack-log fsync per 64 appends, a
//! segment created and one deleted every 256 records of 256 KiB) is in the figures.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::RngCore;
use rand::SeedableRng;
use scepwatch_collector::spool::{Fsync, Spool, SpoolOptions};

const ACK_EVERY: u64 = 64;

fn bench_dir() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).expect("target tmp dir");
    tempfile::tempdir_in(base).expect("bench dir")
}

fn record(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand_chacha::ChaCha8Rng::seed_from_u64(7).fill_bytes(&mut bytes);
    bytes
}

fn open(dir: &tempfile::TempDir, fsync: Fsync) -> Spool {
    let opts = SpoolOptions {
        max_bytes: 1 << 30,
        segment_bytes: 64 << 20,
        fsync,
    };
    Spool::open(dir.path(), opts).expect("open spool").0
}

fn append_bench(c: &mut Criterion, name: &str, len: usize, fsync: Fsync, ack_every: u64) {
    let dir = bench_dir();
    let spool = open(&dir, fsync);
    let payload = record(len);
    let mut g = c.benchmark_group("spool_append");
    g.throughput(Throughput::Bytes(len as u64));
    if fsync == Fsync::Always {
        g.sample_size(20);
        g.measurement_time(std::time::Duration::from_secs(15));
    }
    g.bench_function(name, |b| {
        b.iter(|| {
            let seq = spool.append(black_box(&payload)).expect("append");
            if (seq + 1).is_multiple_of(ack_every) {
                spool.ack(seq).expect("ack");
            }
        })
    });
    g.finish();
}

fn appends(c: &mut Criterion) {
    append_bench(
        c,
        "fsync_always/256KiB",
        256 << 10,
        Fsync::Always,
        ACK_EVERY,
    );
    append_bench(c, "fsync_never/256KiB", 256 << 10, Fsync::Never, ACK_EVERY);
    append_bench(c, "fsync_never/1KiB", 1 << 10, Fsync::Never, ACK_EVERY);
    append_bench(
        c,
        "fsync_always/256KiB_ack_each",
        256 << 10,
        Fsync::Always,
        1,
    );
}

fn reads(c: &mut Criterion) {
    let dir = bench_dir();
    let spool = open(&dir, Fsync::Never);
    let payload = record(256 << 10);
    const RECORDS: u64 = 256;
    for _ in 0..RECORDS {
        spool.append(&payload).expect("append");
    }
    let mut g = c.benchmark_group("spool_read");
    g.throughput(Throughput::Bytes(16 * payload.len() as u64));
    let mut from = 0;
    g.bench_function("16x256KiB", |b| {
        b.iter(|| {
            let got = spool.read(from, 16, 16 << 20).expect("read");
            from = (from + 16) % RECORDS;
            black_box(got)
        })
    });
    g.finish();
}

criterion_group!(benches, appends, reads);
criterion_main!(benches);
