//! IIS parse throughput against the tools an administrator would reach for.
//!
//! Writes a deterministic IIS W3C log of N lines (default 2,000,000; set
//! `SCEPWATCH_BENCH_LINES`) to a temporary directory, then times, best of 3 each:
//! - scepwatch: the whole file read into memory once, split with memchr and parsed to typed
//!   records on one thread, counting statuses;
//! - the same, building every `scepwatch.v1` event (allocation included);
//! - `mawk '{c[$11]++} END{...}'`: splitting each line into fields and counting statuses;
//! - `wc -l`: the floor, reading the bytes and counting newlines.
//!
//! `SCEPWATCH_BENCH_PARSE_ONLY=1` stops after the first measurement (for profiling).
//! The spawned tools read the file from the page cache (it was just written and read).
//! Run: `cargo bench -p scepwatch-collector --bench iis_vs_awk`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use scepwatch_collector::parse::iis::IisParser;
use scepwatch_collector::parse::SourceContext;
use scepwatch_proto::v1::{SourceId, SourceKind};

mod iis_corpus;

const RUNS: usize = 3;
const AWK_PROGRAM: &str = "{c[$11]++} END{for(k in c) print k, c[k]}";

/// Best (least) wall-clock and CPU time over [`RUNS`] runs. CPU time is what the machine's
/// other load cannot inflate; on an idle machine the two agree.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
}

fn best_of<T>(cpu_clock: fn() -> Option<Duration>, mut f: impl FnMut() -> T) -> (Timing, T) {
    let mut best: Option<(Timing, T)> = None;
    for _ in 0..RUNS {
        let (cpu0, start) = (cpu_clock(), Instant::now());
        let out = f();
        let wall = start.elapsed();
        let cpu = cpu_clock().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
        best = Some(match best {
            None => (Timing { wall, cpu }, out),
            Some((t, prev)) => {
                let cpu = match (t.cpu, cpu) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    _ => None,
                };
                if wall < t.wall {
                    (Timing { wall, cpu }, out)
                } else {
                    (Timing { wall: t.wall, cpu }, prev)
                }
            }
        });
    }
    best.expect("RUNS > 0")
}

/// CPU time of this thread (Linux: `/proc/thread-self/schedstat`, nanoseconds on CPU).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

/// User + system CPU time of this process's waited-for children (Linux: `/proc/self/stat`
/// cutime and cstime, in clock ticks of 10 ms).
fn children_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn for_each_line(data: &[u8], mut f: impl FnMut(&[u8], u64)) {
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'\n', data) {
        f(&data[start..end], start as u64);
        start = end + 1;
    }
    if start < data.len() {
        f(&data[start..], start as u64);
    }
}

/// Status counts (and lines that were not requests) from our parser.
fn parse_counts(data: &[u8]) -> (BTreeMap<u32, u64>, u64) {
    let mut parser = IisParser::default();
    let mut counts = [0u64; 1000];
    let mut over = BTreeMap::new();
    let mut other = 0u64;
    for_each_line(data, |line, _| match parser.parse_record(line) {
        Ok(Some(r)) => match counts.get_mut(r.status as usize) {
            Some(c) => *c += 1,
            None => *over.entry(r.status).or_insert(0) += 1,
        },
        _ => other += 1,
    });
    for (status, &n) in counts.iter().enumerate() {
        if n > 0 {
            over.insert(status as u32, n);
        }
    }
    (over, other)
}

fn events(data: &[u8], ctx: &SourceContext) -> u64 {
    let mut parser = IisParser::default();
    let mut n = 0u64;
    for_each_line(data, |line, offset| {
        if let Ok(Some(r)) = parser.parse_record(line) {
            black_box(r.to_event(ctx, offset, line));
            n += 1;
        }
    });
    n
}

fn spawn(cmd: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(cmd)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(out.status.success(), "{cmd} failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rate(lines: usize, d: Duration) -> f64 {
    let d = d.max(Duration::from_nanos(1));
    lines as f64 / d.as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("SCEPWATCH_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("scepwatch-iis-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("u_ex261120.log");
    let mut data = Vec::with_capacity(n * 180 + 512);
    iis_corpus::write(&mut data, n, 0x5CE9);
    std::fs::write(&file, &data).expect("write log");
    drop(data);

    // Read once, outside the timing: the parse is measured, not the disk.
    let data = std::fs::read(&file).expect("read log");
    let lines = memchr::memchr_iter(b'\n', &data).count();
    let header_lines = iis_corpus::HEADER.lines().count();
    let request_lines = lines - header_lines;
    println!(
        "file: {} lines, {} bytes, {:.1} bytes/request line",
        lines,
        data.len(),
        (data.len() - iis_corpus::HEADER.len()) as f64 / request_lines as f64
    );

    let (ours, (statuses, non_requests)) = best_of(thread_cpu, || parse_counts(black_box(&data)));
    assert_eq!(
        non_requests as usize, header_lines,
        "every request line parses"
    );
    let ctx = SourceContext::new(
        SourceId {
            collector: "bench".into(),
            host: "ndes01".into(),
            kind: SourceKind::Iis as i32,
            path: file.display().to_string(),
            stream: String::new(),
        },
        0,
    );
    if std::env::var_os("SCEPWATCH_BENCH_PARSE_ONLY").is_some() {
        // For profiling the parser alone: `perf record` this run.
        println!(
            "scepwatch parse_record: {ours:?}, {:.0} lines/s",
            rate(lines, ours.wall)
        );
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let (ours_events, emitted) = best_of(thread_cpu, || events(black_box(&data), &ctx));
    assert_eq!(emitted as usize, request_lines);

    let (awk, awk_out) = best_of(children_cpu, || spawn("mawk", &[AWK_PROGRAM], &file));
    let (wc, wc_out) = best_of(children_cpu, || spawn("wc", &["-l"], &file));

    // The awk counts must agree with ours (its "#Fields:" line lands in column 11 too).
    let mut awk_counts: BTreeMap<u32, u64> = BTreeMap::new();
    for l in awk_out.lines() {
        let mut it = l.split_whitespace();
        if let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let (Ok(k), Ok(v)) = (k.parse(), v.parse()) {
                awk_counts.insert(k, v);
            }
        }
    }
    assert_eq!(
        awk_counts, statuses,
        "mawk and scepwatch disagree on status counts"
    );
    assert_eq!(
        wc_out.split_whitespace().next(),
        Some(lines.to_string().as_str())
    );

    let mb = data.len() as f64 / 1e6;
    println!("statuses: {statuses:?}");
    println!(
        "{:<34} {:>9} {:>13} {:>8} {:>9} {:>13}",
        "best of 3", "wall s", "lines/s", "MB/s", "cpu s", "lines/cpu-s"
    );
    let rows = [
        ("scepwatch parse_record", ours),
        ("scepwatch parse_record + to_event", ours_events),
        ("mawk '{c[$11]++}'", awk),
        ("wc -l", wc),
    ];
    for (name, t) in rows {
        let cpu = t
            .cpu
            .map_or("n/a".to_string(), |c| format!("{:.3}", c.as_secs_f64()));
        let cpu_rate = t
            .cpu
            .filter(|c| !c.is_zero())
            .map_or("n/a".to_string(), |c| format!("{:.0}", rate(lines, c)));
        println!(
            "{name:<34} {:>9.3} {:>13.0} {:>8.0} {cpu:>9} {cpu_rate:>13}",
            t.wall.as_secs_f64(),
            rate(lines, t.wall),
            mb / t.wall.as_secs_f64(),
        );
    }
    let ratio = |a: Timing, b: Timing| {
        let cpu = match (a.cpu, b.cpu) {
            (Some(x), Some(y)) if !x.is_zero() => {
                format!("{:.2}x", y.as_secs_f64() / x.as_secs_f64())
            }
            _ => "n/a".to_string(),
        };
        format!(
            "{:.2}x wall, {cpu} cpu",
            b.wall.as_secs_f64() / a.wall.as_secs_f64()
        )
    };
    println!("parse_record vs mawk: {}", ratio(ours, awk));
    println!("parse_record vs wc -l: {}", ratio(ours, wc));
    println!(
        "parse_record + to_event vs mawk: {}",
        ratio(ours_events, awk)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
