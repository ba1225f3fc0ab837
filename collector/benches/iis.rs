//! Criterion benchmarks of the IIS W3C parser: `parse_record` (bytes to a borrowed typed
//! record) and `to_event` (record to the owned `scepwatch.v1` event), measured apart because
//! the first is the hot path every line pays and the second allocates; `write_event_reused`
//! builds the same events into recycled ones; `line_parser` is both, as a file is read.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scepwatch_collector::parse::iis::{IisParser, IisRecord};
use scepwatch_collector::parse::{LineParser, ParseStats, SourceContext};
use scepwatch_proto::v1::{Event, SourceId, SourceKind};

mod iis_corpus;

// Event building is mostly allocation: measure it with the allocator the `scepwatch` binary
// uses, so the figures are those of a diagnose run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LINES: usize = 20_000;

fn corpus() -> Vec<u8> {
    let mut buf = Vec::new();
    iis_corpus::write(&mut buf, LINES, 0x5CE9);
    buf
}

fn ctx() -> SourceContext {
    SourceContext::new(
        SourceId {
            collector: "bench".into(),
            host: "ndes01".into(),
            kind: SourceKind::Iis as i32,
            path: r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex261120.log".into(),
            stream: String::new(),
        },
        0,
    )
}

fn bench(c: &mut Criterion) {
    let data = corpus();
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut group = c.benchmark_group("iis");
    group.throughput(Throughput::Elements(lines.len() as u64));

    group.bench_function("parse_record", |b| {
        b.iter(|| {
            let mut parser = IisParser::default();
            let mut statuses = 0u64;
            for line in &lines {
                if let Ok(Some(r)) = parser.parse_record(black_box(line)) {
                    statuses += u64::from(r.status);
                }
            }
            statuses
        })
    });

    let mut parser = IisParser::default();
    let records: Vec<(usize, IisRecord<'_>)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| parser.parse_record(l).ok().flatten().map(|r| (i, r)))
        .collect();
    let context = ctx();
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("to_event", |b| {
        b.iter(|| {
            for (i, r) in &records {
                black_box(r.to_event(&context, *i as u64, lines[*i]));
            }
        })
    });

    // The same events built into recycled ones, as a driver that hands consumed events back
    // to its parser would: the strings keep their memory, so nothing is allocated.
    let mut recycled: Vec<Event> = records
        .iter()
        .map(|(i, r)| r.to_event(&context, *i as u64, lines[*i]))
        .collect();
    group.bench_function("write_event_reused", |b| {
        b.iter(|| {
            for ((i, r), event) in records.iter().zip(recycled.iter_mut()) {
                r.write_event(&context, *i as u64, lines[*i], event);
                black_box(&*event);
            }
        })
    });

    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("line_parser", |b| {
        b.iter(|| {
            let mut parser = IisParser::default();
            let mut stats = ParseStats::default();
            for (i, line) in lines.iter().enumerate() {
                parser.line(&context, line, i as u64, &mut stats, &mut |e| {
                    black_box(e);
                });
            }
            stats.events
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
