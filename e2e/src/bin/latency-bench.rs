//! `latency-bench`: how long after a line is appended to an IIS log its event, and the diagnosis
//! of the attempt it belongs to, can be read in ClickHouse, through the whole pipeline.
//!
//! ```text
//! scripts/kafka.sh start && scripts/clickhouse.sh start   # once per machine
//! cargo build --release -p scepwatch-collector -p scepwatch-ingestor -p scepwatch-e2e
//! cargo build --release -p scepwatch-analyzer --features service --bin scepwatch-analyzer
//! target/release/latency-bench                            # --help for the knobs
//! ```
//!
//! Each run starts a broker of its own (Tansu with its SQLite engine, as `scripts/kafka.sh`
//! runs it; `--bootstrap` uses a running one), a fresh topic (the ingestor creates it), a fresh
//! ClickHouse database on the test server (`SCEPWATCH_CLICKHOUSE_URL`, dropped afterwards), and
//! the three release programs: `scepwatch-ingestor`, `scepwatch-analyzer serve` and
//! `scepwatch-collector` tailing `W3SVC1/u_ex*.log`. Once all three are ready, a writer appends
//! IIS request lines at a steady rate (10,000 lines/s by default, in 20 ms steps, each step one
//! `write`, as IIS flushes its buffer) for `--seconds`. Every line is stamped with the wall
//! clock (UTC, to the second, as IIS does) at which it is written, so event time = append time.
//!
//! The lines are enrollment attempts as NDES logs them: each attempt is one device (its own
//! client address; Android, iOS or Windows user agents of several versions) asking GetCACaps,
//! GetCACert and PKIOperation within 2.5 s; most are answered 200, some fail: PKIOperation
//! answered 500 twice (`ndes.internal_error`), 500 with Win32 status 1346
//! (`iis.impersonation_right_missing`), or 503 (`iis.app_pool_unavailable`). The analyzer
//! turns each into a server-only attempt; the failing ones carry attempt-scope diagnoses.
//!
//! A poller queries ClickHouse every `--poll-ms` (100 ms) for rows whose `version` (the
//! analyzer's write time, which only grows) is past the last one it saw, in `events`,
//! `attempts` and attempt-scope `diagnoses`, and stamps each new row with the wall time at
//! which that query was sent: a row was visible by then, and was not yet at the previous poll.
//! The figures are therefore late by up to one poll cycle (plus the query's own time).
//!
//! - **Raw event latency**: stamp of a line's `events` row − the wall time its line was
//!   appended.
//! - **Diagnosis latency**: the engine concludes an attempt in event time. A server-only
//!   attempt is concluded once its server's IIS log has been read up to its last request +
//!   W, where W = max(`engine.attempt_gap_secs`, `engine.crash_window_secs`) (a later request
//!   of the same client could still join it, and a w3wp crash within the crash window could
//!   still explain it). So it cannot be seen before a line stamped end + W is written. The
//!   latency is: the later of the stamps of its `attempts` row and of each of its attempt-scope
//!   `diagnoses` rows − the wall time at which the first line stamped end + W was appended
//!   (the information that concludes it). The bench sets the crash window to the attempt gap
//!   (both `--attempt-gap`, 3 s by default), so W is the gap.
//!
//! Lines and attempts of the first `--warmup` seconds are left out of the figures. Where the
//! time goes is split with the rows' own times: `observed_time` (when the collector read the
//! line) and `version` (when the analyzer built the row: an event's as it read its record, an
//! attempt's when it concluded it).

use std::collections::{BinaryHeap, HashMap};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scepwatch_e2e::analyzer::AnalyzerOptions;
use scepwatch_e2e::binaries::Program;
use scepwatch_e2e::clickhouse::{ClickHouse, TestDatabase};
use scepwatch_e2e::collector::ENDPOINT;
use scepwatch_e2e::free_port;
use scepwatch_e2e::iis::{header, Day, Time};
use scepwatch_e2e::ingestor::{COLLECTOR, TOKEN};
use scepwatch_e2e::load::{self, cpu_time, thousands, Broker, Machine, MachineCpu};
use scepwatch_e2e::metrics::{http_get, Metrics};
use scepwatch_e2e::process::Process;
use sha2::{Digest, Sha256};

/// Line → ClickHouse latency of the whole pipeline, raw events and diagnoses.
#[derive(Parser, Debug, Clone)]
#[command(name = "latency-bench")]
struct Args {
    /// IIS request lines appended per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds of appending per run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Lines and attempts of the first seconds of a run are left out of the figures.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Runs, each on a fresh broker, topic and database.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Seed of the traffic (attempt mix, user agents, timings).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Analyzer `engine.attempt_gap_secs`; `engine.crash_window_secs` is set to it too unless
    /// --crash-window says otherwise.
    #[arg(long, default_value_t = 3)]
    attempt_gap: u64,
    /// Analyzer `engine.crash_window_secs` (default: the attempt gap).
    #[arg(long)]
    crash_window: Option<u64>,
    /// Analyzer `service.flush_interval_ms` (the service's default, 500, when absent).
    #[arg(long)]
    flush_interval_ms: Option<u64>,
    /// Analyzer consumer `fetch.wait.max.ms` (the service's default, 100, when absent).
    #[arg(long)]
    fetch_wait_ms: Option<u64>,
    /// Another librdkafka property `name=value` for the analyzer's consumer; repeatable.
    #[arg(long = "analyzer-kafka-property")]
    analyzer_properties: Vec<String>,
    /// Collector `tail.poll_interval`, ms (the shipped example's 250 by default).
    #[arg(long, default_value_t = 250)]
    collector_poll_ms: u64,
    /// Ingestor `linger.ms` (the ingestor's default, 50, when absent).
    #[arg(long)]
    ingestor_linger_ms: Option<u64>,
    /// How often ClickHouse is polled for new rows, ms.
    #[arg(long, default_value_t = 100)]
    poll_ms: u64,
    /// After the last line, wait at most this long for every event to be stored, s.
    #[arg(long, default_value_t = 60)]
    drain: u64,
    /// Use this running broker instead of starting one per run.
    #[arg(long)]
    bootstrap: Option<String>,
    /// ClickHouse HTTP URL (default: SCEPWATCH_CLICKHOUSE_URL or http://127.0.0.1:8123).
    #[arg(long)]
    clickhouse: Option<String>,
    /// Folder for the logs, the programs' folders and the brokers (default: the system's
    /// temporary folder). Removed at the end unless --keep.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work folder and the ClickHouse databases.
    #[arg(long)]
    keep: bool,
}

impl Args {
    fn crash_window(&self) -> u64 {
        self.crash_window.unwrap_or(self.attempt_gap)
    }

    /// W: how far past an attempt's end its server's log must be read for it to conclude.
    fn conclude_after(&self) -> u64 {
        self.attempt_gap.max(self.crash_window())
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.rate == 0 || args.seconds <= args.warmup {
        bail!("--runs and --rate must be at least 1, --seconds above --warmup");
    }
    if args.attempt_gap < 2 {
        bail!("--attempt-gap must be at least 2 s: an attempt's requests span up to 1.5 s apart");
    }
    let ch_url = args
        .clickhouse
        .clone()
        .unwrap_or_else(scepwatch_e2e::clickhouse::url);
    let ch = ClickHouse::at(&ch_url)?;
    if !ch.answers() {
        bail!("no ClickHouse at {ch_url}: start it with scripts/clickhouse.sh start");
    }
    println!("latency-bench: IIS lines appended -> collector -> ingestor -> Kafka -> analyzer -> ClickHouse");
    println!("{}", Machine::describe());
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("ClickHouse {} at {ch_url}", ch.version()?);
    println!(
        "broker: {}",
        match &args.bootstrap {
            Some(b) => format!("external at {b}"),
            None => format!(
                "Tansu {} (SQLite engine), a fresh one per run",
                load::TANSU_VERSION
            ),
        }
    );
    // Built (or found) before anything is timed.
    for p in [Program::Collector, Program::Ingestor, Program::Analyzer] {
        println!("program: {}", p.path()?.display());
    }
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::Builder::new()
                .prefix("latency-bench-")
                .tempdir_in(d)?
        }
        None => tempfile::Builder::new()
            .prefix("latency-bench-")
            .tempdir()?,
    };
    println!("work folder: {}", work.path().display());
    print_definitions(&args);

    let mut summaries = Vec::new();
    for run in 1..=args.runs {
        let r = run_once(&args, &ch, work.path(), run)?;
        summaries.push(r);
    }
    if args.runs > 1 {
        println!("\nsummary over {} runs (p50 / p99 of each run):", args.runs);
        for (i, s) in summaries.iter().enumerate() {
            println!("  run {}: {s}", i + 1);
        }
    }
    if args.keep {
        println!("kept {}", work.keep().display());
    }
    Ok(())
}

fn print_definitions(args: &Args) {
    println!(
        "definitions:\n  raw event latency = when its `events` row was first seen - when its line \
         was appended\n  diagnosis latency = when the attempt row and all its attempt-scope \
         diagnosis rows were seen - when the first line stamped (attempt end + W) was appended, \
         W = max(attempt gap {} s, crash window {} s) = {} s: the engine cannot conclude the \
         attempt before its server's log is read that far\n  seen = the wall time at which the \
         ClickHouse query that first returned the row was sent; polls every {} ms, so each \
         figure is late by up to one poll cycle",
        args.attempt_gap,
        args.crash_window(),
        args.conclude_after(),
        args.poll_ms
    );
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

// ---------------------------------------------------------------------------------------------
// Traffic: enrollment attempts as IIS logs them.

/// How an attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every request answered 200.
    Enrolled,
    /// PKIOperation answered 500 (Win32 status 0), retried once: `ndes.internal_error`.
    InternalError,
    /// 500 with Win32 status 1346 on GetCACaps, retried: `iis.impersonation_right_missing`.
    Impersonation,
    /// 503 on GetCACaps, retried: `iis.app_pool_unavailable`.
    Unavailable,
}

impl Outcome {
    fn pick(rng: &mut ChaCha8Rng) -> Outcome {
        match rng.random_range(0..100) {
            0..82 => Outcome::Enrolled,
            82..92 => Outcome::InternalError,
            92..95 => Outcome::Impersonation,
            _ => Outcome::Unavailable,
        }
    }

    fn fails(self) -> bool {
        self != Outcome::Enrolled
    }
}

/// One request of an attempt.
#[derive(Debug, Clone, Copy)]
struct Request {
    method: &'static str,
    query: &'static str,
    status: u16,
    win32: u32,
    time_taken_ms: u32,
}

const CACAPS: &str = "operation=GetCACaps&message=default";
const CACERT: &str = "operation=GetCACert&message=default";
const PKIOP: &str = "operation=PKIOperation";

fn request(method: &'static str, query: &'static str, status: u16, win32: u32, ms: u32) -> Request {
    Request {
        method,
        query,
        status,
        win32,
        time_taken_ms: ms,
    }
}

/// An attempt's requests with their delays after the first one, in ms (none further apart than
/// 1.5 s, so that an attempt gap of 2 s or more keeps them one session).
fn plan_attempt(outcome: Outcome, rng: &mut ChaCha8Rng) -> Vec<(u64, Request)> {
    let mut at = 0u64;
    let mut next = |rng: &mut ChaCha8Rng, lo: u64, hi: u64| {
        at += rng.random_range(lo..hi);
        at
    };
    let quick = |rng: &mut ChaCha8Rng| rng.random_range(3..60);
    match outcome {
        Outcome::Enrolled => vec![
            (0, request("GET", CACAPS, 200, 0, quick(rng))),
            (
                next(rng, 50, 400),
                request("GET", CACERT, 200, 0, quick(rng)),
            ),
            (
                next(rng, 200, 1500),
                request("POST", PKIOP, 200, 0, rng.random_range(150..900)),
            ),
        ],
        Outcome::InternalError => vec![
            (0, request("GET", CACAPS, 200, 0, quick(rng))),
            (
                next(rng, 50, 400),
                request("GET", CACERT, 200, 0, quick(rng)),
            ),
            (
                next(rng, 200, 800),
                request("POST", PKIOP, 500, 0, rng.random_range(100..600)),
            ),
            (
                next(rng, 300, 900),
                request("POST", PKIOP, 500, 0, rng.random_range(100..600)),
            ),
        ],
        Outcome::Impersonation => vec![
            (0, request("GET", CACAPS, 500, 1346, quick(rng))),
            (
                next(rng, 300, 1500),
                request("GET", CACAPS, 500, 1346, quick(rng)),
            ),
        ],
        Outcome::Unavailable => vec![
            (0, request("GET", CACAPS, 503, 0, quick(rng))),
            (
                next(rng, 300, 1500),
                request("GET", CACAPS, 503, 0, quick(rng)),
            ),
        ],
    }
}

/// A user agent as IIS logs it (`+` for spaces): Android, iOS and Windows NDES clients of
/// several versions.
fn user_agent(rng: &mut ChaCha8Rng) -> String {
    const ANDROID: [(&str, &str); 5] = [
        ("14", "Pixel+7+Build/AP2A.240805.005"),
        ("13", "SM-G991B+Build/TP1A.220624.014"),
        ("14", "SM-S918B+Build/UP1A.231005.007"),
        ("12", "moto+g(60)+Build/S2RIS32.32-20-7"),
        ("15", "Pixel+8+Build/AP3A.241005.015"),
    ];
    const IOS: [&str; 4] = [
        "MDM-iOS/1.0+CFNetwork/1496.0.7+Darwin/23.5.0",
        "MDM-iOS/1.0+CFNetwork/1568.100.1+Darwin/24.0.0",
        "MDM-iOS/1.0+CFNetwork/1410.0.3+Darwin/22.6.0",
        "MDM-iOS/1.0+CFNetwork/3826.400.120+Darwin/24.3.0",
    ];
    const WINDOWS: [&str; 3] = [
        "Mozilla/4.0+(compatible;+Win32;+NDES+client+10.0.22621.1/ni_release)",
        "Mozilla/4.0+(compatible;+Win32;+NDES+client+10.0.19041.1/vb_release)",
        "Mozilla/4.0+(compatible;+Win32;+NDES+client+10.0.26100.1/ge_release)",
    ];
    match rng.random_range(0..100) {
        0..50 => {
            let (v, m) = ANDROID[rng.random_range(0..ANDROID.len())];
            format!("Dalvik/2.1.0+(Linux;+U;+Android+{v};+{m})")
        }
        50..85 => IOS[rng.random_range(0..IOS.len())].to_owned(),
        _ => WINDOWS[rng.random_range(0..WINDOWS.len())].to_owned(),
    }
}

/// The client address of attempt `n` (one device each).
fn client_ip(n: u32) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

fn attempt_of_ip(ip: &str) -> Option<u32> {
    let mut parts = ip.split('.');
    if parts.next()? != "10" {
        return None;
    }
    let mut n = 0u32;
    for _ in 0..3 {
        n = (n << 8) | parts.next()?.parse::<u8>().ok()? as u32;
    }
    Some(n)
}

/// One IIS line, CRLF included, with the `#Fields` of [`scepwatch_e2e::iis::FIELDS`].
fn iis_line(out: &mut String, at: Time, r: &Request, ip: &str, agent: &str) {
    let _ = write!(
        out,
        "{at} 10.0.0.5 {} /certsrv/mscep/mscep.dll {} 443 - {ip} {agent} - {} 0 {} {}\r\n",
        r.method, r.query, r.status, r.win32, r.time_taken_ms
    );
}

/// What the writer appended, for the figures.
#[derive(Default)]
struct Ledger {
    /// Every line, in the order written.
    lines: Vec<Line>,
    /// (file, offset) → index in `lines`.
    by_position: HashMap<(u16, u64), u32>,
    /// File names (`u_exYYMMDD.log`) by index.
    files: Vec<String>,
    /// Stamp second → (wall µs of the first line stamped with it, its index in `lines`).
    first_of_second: HashMap<i64, (i64, u32)>,
    /// Every attempt, by number (its client address).
    attempts: Vec<AttemptRecord>,
    /// Wall µs of the first line.
    started_us: i64,
    /// Last second stamped.
    last_second: i64,
}

#[derive(Debug, Clone, Copy)]
struct Line {
    /// Wall µs just after the write that appended it.
    appended_us: i64,
}

#[derive(Debug, Clone, Copy)]
struct AttemptRecord {
    outcome: Outcome,
    /// Stamp second of its last request written.
    end_second: i64,
    /// Requests not written yet.
    left: u8,
    /// Wall µs of its first line.
    first_us: i64,
}

/// A request due later, in a min-heap by due time.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at_us: std::cmp::Reverse<i64>,
    attempt: u32,
    step: u8,
}

/// Appends the traffic to `root/W3SVC1/u_exYYMMDD.log` at `rate` lines/s until `stop`, with
/// each 20 ms step's lines written at once.
fn write_traffic(
    root: &Path,
    rate: u64,
    seconds: u64,
    seed: u64,
    ledger: &Mutex<Ledger>,
    written: &AtomicU64,
) -> anyhow::Result<()> {
    let site = root.join("W3SVC1");
    std::fs::create_dir_all(&site)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut plans: Vec<(Vec<(u64, Request)>, String)> = Vec::new();
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let mut file: Option<(File, Day, u64, u16)> = None;
    let mut buf = String::new();
    let mut pending: Vec<(u64, u32)> = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let step = Duration::from_millis(20);
    let mut owed = 0.0f64;
    let mut tick = Instant::now();
    let mut next_attempt: u32 = 1;
    let mut total = 0u64;
    while Instant::now() < end {
        let dt = tick.elapsed().min(Duration::from_millis(200));
        tick = Instant::now();
        owed += dt.as_secs_f64() * rate as f64;
        let now = now_us();
        let second = now.div_euclid(1_000_000);
        let at = Time {
            day: Day(second.div_euclid(86_400)),
            second: second.rem_euclid(86_400) as u32,
        };
        // A new day: IIS starts the next daily file with its header.
        if file.as_ref().is_none_or(|f| f.1 != at.day) {
            let name = format!("u_ex{}.log", at.day.yymmdd());
            let path = site.join(&name);
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            let head = header(at);
            f.write_all(head.as_bytes())?;
            let index = {
                let mut l = ledger
                    .lock()
                    .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
                l.files.push(name);
                (l.files.len() - 1) as u16
            };
            file = Some((f, at.day, head.len() as u64, index));
        }
        let Some((f, _, offset, file_index)) = file.as_mut() else {
            bail!("no file open");
        };
        buf.clear();
        pending.clear();
        let line =
            |buf: &mut String, pending: &mut Vec<(u64, u32)>, n: u32, r: &Request, agent: &str| {
                let start = buf.len();
                iis_line(buf, at, r, &client_ip(n), agent);
                pending.push((start as u64, n));
            };
        // Requests of attempts under way first, then new attempts for the rest of the quota.
        while heap.peek().is_some_and(|d| d.at_us.0 <= now) {
            let Some(d) = heap.pop() else { break };
            let (plan, agent) = &plans[d.attempt as usize - 1];
            line(
                &mut buf,
                &mut pending,
                d.attempt,
                &plan[d.step as usize].1,
                agent,
            );
        }
        while (pending.len() as f64) < owed {
            let outcome = Outcome::pick(&mut rng);
            let plan = plan_attempt(outcome, &mut rng);
            let agent = user_agent(&mut rng);
            let n = next_attempt;
            next_attempt += 1;
            line(&mut buf, &mut pending, n, &plan[0].1, &agent);
            for (i, (delay, _)) in plan.iter().enumerate().skip(1) {
                heap.push(Due {
                    at_us: std::cmp::Reverse(now + *delay as i64 * 1000),
                    attempt: n,
                    step: i as u8,
                });
            }
            {
                let mut l = ledger
                    .lock()
                    .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
                l.attempts.push(AttemptRecord {
                    outcome,
                    end_second: second,
                    left: plan.len() as u8,
                    first_us: now,
                });
            }
            plans.push((plan, agent));
        }
        owed -= pending.len() as f64;
        if !buf.is_empty() {
            f.write_all(buf.as_bytes())?;
        }
        let appended = now_us();
        {
            let mut l = ledger
                .lock()
                .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
            if l.started_us == 0 {
                l.started_us = appended;
            }
            for &(start, n) in &pending {
                let index = l.lines.len() as u32;
                let position = *offset + start;
                l.lines.push(Line {
                    appended_us: appended,
                });
                l.by_position.insert((*file_index, position), index);
                l.first_of_second.entry(second).or_insert((appended, index));
                if let Some(a) = l.attempts.get_mut(n as usize - 1) {
                    a.end_second = second;
                    a.left = a.left.saturating_sub(1);
                }
            }
            l.last_second = second;
        }
        *offset += buf.len() as u64;
        total += pending.len() as u64;
        written.store(total, Ordering::Relaxed);
        std::thread::sleep(step.saturating_sub(tick.elapsed()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Poller: new rows of ClickHouse, stamped with the time of the query that returned them.

/// An `events` row seen.
#[derive(Debug, Clone, Copy)]
struct EventSeen {
    event_second: i64,
    position: u64,
    observed_us: i64,
    version_us: i64,
    /// Kafka (partition, offset) of its record.
    record: (i32, i64),
    seen_us: i64,
}

/// An `attempts` row seen.
#[derive(Debug, Clone)]
struct AttemptSeen {
    client_ip: String,
    end_second: i64,
    codes: Vec<String>,
    retracted: bool,
    version_us: i64,
    seen_us: i64,
}

#[derive(Default)]
struct Seen {
    events: Vec<EventSeen>,
    event_keys: std::collections::HashSet<(i64, u64)>,
    attempts: HashMap<String, AttemptSeen>,
    /// (attempt ID, code) → first seen.
    diagnoses: HashMap<(String, String), i64>,
    polls: u64,
    poll_time: Duration,
    query_time: Duration,
    max_event_version: i64,
    max_event_second: i64,
    max_attempt_version: i64,
    max_attempt_end: i64,
    max_diagnosis_version: i64,
}

fn num(cell: Option<&String>) -> i64 {
    cell.and_then(|c| c.parse::<i64>().ok()).unwrap_or(0)
}

impl Seen {
    /// One round of the three queries; `full` reads every row (the final sweep).
    fn poll(&mut self, ch: &ClickHouse, db: &str, full: bool) -> anyhow::Result<()> {
        let round = Instant::now();
        let (ev_version, ev_bound, at_version, at_bound, dg_version) = if full {
            (0, 0, 0, 0, 0)
        } else {
            (
                self.max_event_version,
                // One source read in order and stored in order: once a second's events are
                // seen, the earlier seconds' are stored (the final sweep counts any miss).
                (self.max_event_second - 2).max(0),
                self.max_attempt_version,
                // Attempts span under 3 s and conclude in the order of their ends.
                (self.max_attempt_end - 30).max(0),
                self.max_diagnosis_version,
            )
        };
        let sent = now_us();
        let rows = ch.query_rows(&format!(
            "SELECT toUInt32(event_time), position, toUInt32(observed_time), \
             observed_time_micros, version, kafka_partition, kafka_offset FROM {db}.events \
             WHERE event_time >= toDateTime({ev_bound}) AND version > {ev_version}"
        ))?;
        for r in rows {
            let e = EventSeen {
                event_second: num(r.first()),
                position: num(r.get(1)) as u64,
                observed_us: num(r.get(2)) * 1_000_000 + num(r.get(3)),
                version_us: num(r.get(4)),
                record: (num(r.get(5)) as i32, num(r.get(6))),
                seen_us: sent,
            };
            self.max_event_version = self.max_event_version.max(e.version_us);
            self.max_event_second = self.max_event_second.max(e.event_second);
            if self
                .event_keys
                .insert((e.event_second.div_euclid(86_400), e.position))
            {
                self.events.push(e);
            }
        }
        let sent = now_us();
        let rows = ch.query_rows(&format!(
            "SELECT attempt_id, ifNull(client_ip, ''), toUInt32(end_time), \
             arrayStringConcat(diagnosis_codes, ','), retracted, version FROM {db}.attempts \
             WHERE start_time >= toDateTime({at_bound}) AND version > {at_version}"
        ))?;
        for r in rows {
            let version_us = num(r.get(5));
            self.max_attempt_version = self.max_attempt_version.max(version_us);
            self.max_attempt_end = self.max_attempt_end.max(num(r.get(2)));
            let id = r.first().cloned().unwrap_or_default();
            self.attempts.entry(id).or_insert_with(|| AttemptSeen {
                client_ip: r.get(1).cloned().unwrap_or_default(),
                end_second: num(r.get(2)),
                codes: r
                    .get(3)
                    .map(|c| {
                        c.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                retracted: num(r.get(4)) != 0,
                version_us,
                seen_us: sent,
            });
        }
        let sent = now_us();
        let rows = ch.query_rows(&format!(
            "SELECT scope_id, code, version FROM {db}.diagnoses \
             WHERE scope_kind = 'attempt' AND version > {dg_version}"
        ))?;
        for r in rows {
            self.max_diagnosis_version = self.max_diagnosis_version.max(num(r.get(2)));
            let key = (
                r.first().cloned().unwrap_or_default(),
                r.get(1).cloned().unwrap_or_default(),
            );
            self.diagnoses.entry(key).or_insert(sent);
        }
        if !full {
            self.polls += 1;
            self.query_time += round.elapsed();
        }
        Ok(())
    }
}

/// Polls every `every` until `stop`.
fn poll_loop(
    ch: &ClickHouse,
    db: &str,
    every: Duration,
    seen: &Mutex<Seen>,
    events_seen: &AtomicU64,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        {
            let mut s = seen
                .lock()
                .map_err(|_| anyhow::anyhow!("poller poisoned"))?;
            s.poll(ch, db, false)?;
            events_seen.store(s.events.len() as u64, Ordering::Relaxed);
        }
        std::thread::sleep(every.saturating_sub(t.elapsed()));
    }
    if let Ok(mut s) = seen.lock() {
        s.poll_time = started.elapsed();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The programs.

fn token_sha256() -> String {
    Sha256::digest(TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ingestor_toml(
    args: &Args,
    bootstrap: &str,
    topic: &str,
    grpc: SocketAddr,
    http: SocketAddr,
) -> String {
    let mut t = format!(
        "listen = \"{grpc}\"\nhttp_listen = \"{http}\"\nplaintext = true\n\n\
         [[collectors]]\nname = \"{COLLECTOR}\"\ntoken_sha256 = \"{}\"\n\n\
         [kafka]\nbootstrap_servers = \"{bootstrap}\"\ntopic = \"{topic}\"\n",
        token_sha256(),
    );
    if let Some(linger) = args.ingestor_linger_ms {
        let _ = write!(t, "\n[kafka.properties]\n\"linger.ms\" = \"{linger}\"\n");
    }
    t
}

/// The shipped example's settings (collector.example.toml), the poll interval aside.
fn collector_toml(
    args: &Args,
    dir: &Path,
    logs: &Path,
    ingestor: SocketAddr,
    metrics: SocketAddr,
) -> String {
    format!(
        "[collector]\nname = \"{COLLECTOR}\"\nhost = \"NDES01\"\nendpoint = \"{ENDPOINT}\"\n\
         state_dir = '{state}'\n\n\
         [ingestor]\nurl = \"http://{ingestor}\"\ntoken = \"{TOKEN}\"\n\n\
         [shipper]\nbatch_max_events = 5000\nbatch_max_bytes = \"1MiB\"\nbatch_max_delay = \"1s\"\n\
         max_in_flight = 8\ncompress = true\n\n\
         [spool]\ndir = '{spool}'\nmax_bytes = \"1GiB\"\nsegment_bytes = \"64MiB\"\nfsync = true\n\n\
         [tail]\npoll_interval = \"{}ms\"\n\n\
         [metrics]\nlisten = \"{metrics}\"\n\n\
         [[source]]\nname = \"iis\"\nformat = \"iis\"\nroot = '{logs}'\ninclude = [\"W3SVC*/u_ex*.log\"]\n",
        args.collector_poll_ms,
        state = dir.join("state").display(),
        spool = dir.join("spool").display(),
        logs = logs.display(),
    )
}

fn analyzer_toml(
    args: &Args,
    bootstrap: &str,
    topic: &str,
    ch: &str,
    db: &str,
    http: SocketAddr,
) -> anyhow::Result<String> {
    let mut o = AnalyzerOptions::new(bootstrap, topic, ch, db);
    o.attempt_gap_secs = Some(args.attempt_gap);
    o.flush_interval_ms = args.flush_interval_ms;
    if let Some(w) = args.fetch_wait_ms {
        o.kafka_properties
            .push(("fetch.wait.max.ms".to_owned(), w.to_string()));
    }
    for p in &args.analyzer_properties {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--analyzer-kafka-property {p}: expected name=value"))?;
        o.kafka_properties
            .push((k.trim().to_owned(), v.trim().to_owned()));
    }
    o.log_filter = "warn".to_owned();
    // The crash window is a key AnalyzerOptions does not name: it goes into [engine].
    let text = o.to_toml(http);
    let Some((head, tail)) = text.split_once("[engine]\n") else {
        bail!("the analyzer configuration has no [engine] section");
    };
    Ok(format!(
        "{head}[engine]\ncrash_window_secs = {}\n{tail}",
        args.crash_window()
    ))
}

fn start_analyzer(dir: &Path, toml: &str, http: SocketAddr) -> anyhow::Result<Process> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("analyzer.toml");
    std::fs::write(&config, toml)?;
    let args: Vec<OsString> = vec!["serve".into(), "--config".into(), config.into()];
    let env = vec![("RUST_LOG".into(), "warn".into())];
    let mut p = Process::start(
        "scepwatch-analyzer",
        &Program::Analyzer.path()?,
        &args,
        &env,
        &dir.join("analyzer.log"),
    )?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = p.exited()? {
            return Err(p.exited_error(status).into());
        }
        if matches!(http_get(http, "/readyz"), Ok((200, _))) {
            return Ok(p);
        }
        if Instant::now() > deadline {
            bail!(
                "the analyzer was not ready within 120 s:\n{}",
                p.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// One run.

/// Percentiles of a sample, in ms.
struct Dist {
    n: usize,
    sorted: Vec<f64>,
}

impl Dist {
    fn of(mut v: Vec<f64>) -> Dist {
        v.sort_by(f64::total_cmp);
        Dist {
            n: v.len(),
            sorted: v,
        }
    }

    /// Nearest rank.
    fn p(&self, q: f64) -> f64 {
        if self.sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((q / 100.0) * self.n as f64).ceil().max(1.0) as usize;
        self.sorted[rank.min(self.n) - 1]
    }

    fn line(&self) -> String {
        if self.n == 0 {
            return "no sample".to_owned();
        }
        format!(
            "p50 {:>6.0}  p90 {:>6.0}  p99 {:>6.0}  max {:>6.0}  min {:>6.0} ms  (n = {})",
            self.p(50.0),
            self.p(90.0),
            self.p(99.0),
            self.sorted[self.n - 1],
            self.sorted[0],
            thousands(self.n as f64, 0)
        )
    }
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

struct Cpu {
    pid: Option<u32>,
    at_start: f64,
}

impl Cpu {
    fn start(p: &mut Process) -> Cpu {
        let pid = p.pid();
        Cpu {
            pid,
            at_start: pid
                .and_then(|p| cpu_time(p).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }

    fn used(&self) -> f64 {
        self.pid
            .and_then(|p| cpu_time(p).ok())
            .map_or(0.0, |d| d.as_secs_f64() - self.at_start)
    }
}

fn run_once(args: &Args, ch: &ClickHouse, work: &Path, run: usize) -> anyhow::Result<String> {
    let dir = work.join(format!("run{run}"));
    std::fs::create_dir_all(&dir)?;
    let mut broker = match &args.bootstrap {
        Some(b) => Broker::external(b),
        None => Broker::private(work)?,
    };
    let topic = format!("latency-bench-{}-{run}", std::process::id());
    let db = TestDatabase::new(ch, "latency_bench");
    println!(
        "\nrun {run}: topic {topic}, database {}, load average {}",
        db.name(),
        load::load_average()
    );

    let (grpc, ihttp, ahttp, cmetrics) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let itoml = ingestor_toml(args, broker.bootstrap(), &topic, grpc, ihttp);
    let mut ingestor = load::start_ingestor(&dir.join("ingestor"), &itoml, ihttp)?;
    let atoml = analyzer_toml(args, broker.bootstrap(), &topic, ch.url(), db.name(), ahttp)?;
    let mut analyzer = start_analyzer(&dir.join("analyzer"), &atoml, ahttp)?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(logs.join("W3SVC1"))?;
    let cdir = dir.join("collector");
    let ctoml = collector_toml(args, &cdir, &logs, grpc, cmetrics);
    let mut collector = load::start_collector(&cdir, &ctoml, &[])?;
    scepwatch_e2e::wait_until("the collector's metrics", Duration::from_secs(30), || {
        Metrics::scrape(cmetrics).is_ok()
    })?;
    if run == 1 {
        println!(
            "settings:\n  collector (collector.example.toml but the poll):\n{}\n  ingestor:\n{}\n  analyzer:\n{}",
            indent(&ctoml),
            indent(&itoml),
            indent(&atoml)
        );
    }
    // The analyzer joins its group and is assigned the partitions before the first line.
    std::thread::sleep(Duration::from_secs(3));

    let cpu = [
        ("collector", Cpu::start(&mut collector.process)),
        ("ingestor", Cpu::start(&mut ingestor.process)),
        ("analyzer", Cpu::start(&mut analyzer)),
    ];
    let broker_cpu0 = broker
        .pid()
        .and_then(|p| cpu_time(p).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let ch_pid = listener_pid(ch.url());
    let ch_cpu0 = ch_pid
        .and_then(|p| cpu_time(p).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let machine0 = MachineCpu::read()?;
    let load_start = load::load_average();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let written = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let events_seen = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (seen, events_seen, stop) = (seen.clone(), events_seen.clone(), stop.clone());
        let every = Duration::from_millis(args.poll_ms);
        let db_name = db.name().to_owned();
        let ch = ch.clone();
        std::thread::Builder::new()
            .name("poller".to_owned())
            .spawn(move || -> anyhow::Result<()> {
                poll_loop(&ch, &db_name, every, &seen, &events_seen, &stop)
            })?
    };
    let writer = {
        let (ledger, written) = (ledger.clone(), written.clone());
        let (logs, rate, seconds, seed) = (
            logs.clone(),
            args.rate,
            args.seconds,
            args.seed + run as u64,
        );
        std::thread::Builder::new()
            .name("iis-writer".to_owned())
            .spawn(move || write_traffic(&logs, rate, seconds, seed, &ledger, &written))?
    };
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    let lines = written.load(Ordering::Relaxed);
    let write_end = Instant::now();
    let deadline = write_end + Duration::from_secs(args.drain);
    while events_seen.load(Ordering::Relaxed) < lines && Instant::now() < deadline {
        if poller.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The attempts concluded by the last lines are stored with them or one flush later.
    std::thread::sleep(Duration::from_secs(3));
    let drained = write_end.elapsed();
    stop.store(true, Ordering::Relaxed);
    poller
        .join()
        .map_err(|_| anyhow::anyhow!("the poller panicked"))??;

    let machine = MachineCpu::read()?.since(&machine0);
    let used: Vec<(&str, f64)> = cpu.iter().map(|(n, c)| (*n, c.used())).collect();
    let broker_cpu = broker
        .pid()
        .and_then(|p| cpu_time(p).ok())
        .map(|d| d.as_secs_f64() - broker_cpu0);
    let ch_cpu = ch_pid
        .and_then(|p| cpu_time(p).ok())
        .map(|d| d.as_secs_f64() - ch_cpu0);
    let load_end = load::load_average();

    // Final sweep: every row, to count what the polls missed.
    let mut sweep = Seen::default();
    sweep.poll(ch, db.name(), true)?;
    let inserts = Metrics::scrape(ahttp).ok().and_then(|m| insert_times(&m));
    let records = record_times(broker.bootstrap(), &topic).unwrap_or_else(|e| {
        println!("  (Kafka timestamps not read: {e})");
        HashMap::new()
    });

    let _ = collector.process.terminate(Duration::from_secs(30));
    let _ = analyzer.terminate(Duration::from_secs(40));
    let _ = ingestor.process.terminate(Duration::from_secs(30));
    let lines_total = lines;
    if broker.pid().is_some() {
        broker.stop()?;
    }
    let ledger = Arc::try_unwrap(ledger)
        .map_err(|_| anyhow::anyhow!("ledger still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
    let seen = Arc::try_unwrap(seen)
        .map_err(|_| anyhow::anyhow!("poller state still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poller state poisoned"))?;

    let summary = report(args, &ledger, &seen, &sweep, &records, lines_total);
    if let Some((flushes, mean, p99)) = inserts {
        println!(
            "  analyzer flushes: {} ({:.1}/s over the run), insert time of a flush (all tables): \
             mean {:.0} ms, p99 <= {:.0} ms (histogram bucket)",
            thousands(flushes, 0),
            flushes / (args.seconds as f64 + drained.as_secs_f64()),
            mean * 1000.0,
            p99 * 1000.0
        );
    }
    println!(
        "  appended {} lines in {} s ({} lines/s), {} attempts; drained {:.1} s after the last line",
        thousands(lines_total as f64, 0),
        args.seconds,
        thousands(lines_total as f64 / args.seconds as f64, 0),
        thousands(ledger.attempts.len() as f64, 0),
        drained.as_secs_f64()
    );
    let ours: f64 = used.iter().map(|(_, c)| c).sum::<f64>()
        + broker_cpu.unwrap_or(0.0)
        + ch_cpu.unwrap_or(0.0);
    println!(
        "  CPU s while appending and draining: {}, broker {}, ClickHouse {}; machine {:.1} of {:.1} \
         core-s busy ({:.1} everything else, the bench itself included); load average {load_start} \
         at the start, {load_end} at the end",
        used.iter()
            .map(|(n, c)| format!("{n} {c:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        broker_cpu.map_or("n/a".to_owned(), |c| format!("{c:.1}")),
        ch_cpu.map_or("n/a".to_owned(), |c| format!("{c:.1}")),
        machine.busy.as_secs_f64(),
        machine.total.as_secs_f64(),
        (machine.busy.as_secs_f64() - ours).max(0.0)
    );
    if args.keep {
        println!("  kept database {}", db.name());
        std::mem::forget(db);
    }
    Ok(summary)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pid of the process listening on `url`'s port on this machine (`ss -ltnp`), if any.
fn listener_pid(url: &str) -> Option<u32> {
    let port = url.rsplit(':').next()?.trim_end_matches('/');
    let out = std::process::Command::new("ss")
        .arg("-ltnpH")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| {
        l.split_whitespace()
            .nth(3)
            .is_some_and(|local| local.ends_with(&format!(":{port}")))
    })?;
    let pid = line.split("pid=").nth(1)?;
    pid.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The Kafka timestamp (ms) of every record of `topic`: when the ingestor's producer took it.
fn record_times(bootstrap: &str, topic: &str) -> anyhow::Result<HashMap<(i32, i64), i64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-times"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    let mut high = HashMap::new();
    for p in 0..partitions {
        let (lo, hi) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, Offset::Offset(lo))?;
            remaining += hi - lo;
            high.insert(p, hi);
        }
    }
    consumer.assign(&tpl)?;
    let mut times = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while remaining > 0 && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg?;
        if high
            .get(&msg.partition())
            .is_some_and(|h| msg.offset() < *h)
        {
            remaining -= 1;
            if let Some(ms) = msg.timestamp().to_millis() {
                times.insert((msg.partition(), msg.offset()), ms);
            }
        }
    }
    Ok(times)
}

/// Mean and 99th percentile (upper bucket bound) of the analyzer's `insert_seconds`
/// histogram, and the number of flushes, from its metrics text.
fn insert_times(m: &Metrics) -> Option<(f64, f64, f64)> {
    let count = m.value("scepwatch_analyzer_insert_seconds_count")?;
    let sum = m.value("scepwatch_analyzer_insert_seconds_sum")?;
    if count <= 0.0 {
        return None;
    }
    let mut buckets: Vec<(f64, f64)> = m
        .text()
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("scepwatch_analyzer_insert_seconds_bucket{le=\"")?;
            let (le, value) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, value.split(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let p99 = buckets
        .iter()
        .find(|(_, c)| *c >= 0.99 * count)
        .map_or(f64::NAN, |(le, _)| *le);
    Some((count, sum / count, p99))
}

fn report(
    args: &Args,
    ledger: &Ledger,
    seen: &Seen,
    sweep: &Seen,
    records: &HashMap<(i32, i64), i64>,
    lines: u64,
) -> String {
    let warm_us = ledger.started_us + args.warmup as i64 * 1_000_000;
    let poll_cycle = if seen.polls > 0 {
        seen.poll_time.as_secs_f64() * 1000.0 / seen.polls as f64
    } else {
        f64::NAN
    };
    let query = if seen.polls > 0 {
        seen.query_time.as_secs_f64() * 1000.0 / seen.polls as f64
    } else {
        f64::NAN
    };
    println!(
        "  polls: {} every {} ms (mean cycle {poll_cycle:.0} ms, of which the three queries \
         {query:.0} ms)",
        thousands(seen.polls as f64, 0),
        args.poll_ms
    );

    // (a) Raw events.
    let file_of_day: HashMap<i64, u16> = ledger
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let d = name.strip_prefix("u_ex")?.strip_suffix(".log")?;
            let (y, m, dd) = (d.get(0..2)?, d.get(2..4)?, d.get(4..6)?);
            let day = Day::from_ymd(
                2000 + y.parse::<i64>().ok()?,
                m.parse().ok()?,
                dd.parse().ok()?,
            );
            Some((day.0, i as u16))
        })
        .collect();
    let index_of = |e: &EventSeen| -> Option<u32> {
        let file = *file_of_day.get(&e.event_second.div_euclid(86_400))?;
        ledger.by_position.get(&(file, e.position)).copied()
    };
    let mut seen_at: Vec<Option<EventSeen>> = vec![None; ledger.lines.len()];
    let mut unknown = 0u64;
    for e in &seen.events {
        match index_of(e) {
            Some(i) => seen_at[i as usize] = Some(*e),
            None => unknown += 1,
        }
    }
    let (mut total, mut collector, mut transport, mut store) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut to_kafka, mut from_kafka) = (Vec::new(), Vec::new());
    let mut missing = 0u64;
    for (line, s) in ledger.lines.iter().zip(&seen_at) {
        if line.appended_us < warm_us {
            continue;
        }
        let Some(s) = s else {
            missing += 1;
            continue;
        };
        total.push(ms(s.seen_us - line.appended_us));
        collector.push(ms(s.observed_us - line.appended_us));
        transport.push(ms(s.version_us - s.observed_us));
        store.push(ms(s.seen_us - s.version_us));
        if let Some(t) = records.get(&s.record) {
            to_kafka.push(ms(t * 1000 - s.observed_us));
            from_kafka.push(ms(s.version_us - t * 1000));
        }
    }
    let stored = sweep.events.len();
    println!(
        "  events: {} lines appended, {} rows stored (final sweep), {} seen by the polls, {} \
         after the warm-up never seen, {} rows matching no line",
        thousands(lines as f64, 0),
        thousands(stored as f64, 0),
        thousands(seen.events.len() as f64, 0),
        missing,
        unknown
    );
    let raw = Dist::of(total);
    println!(
        "  (a) raw event latency, append -> row visible:  {}",
        raw.line()
    );
    println!(
        "      append -> collector read (observed_time):   {}",
        Dist::of(collector).line()
    );
    println!(
        "      collector read -> analyzer read (version):  {}",
        Dist::of(transport).line()
    );
    println!(
        "        of which collector read -> Kafka timestamp: {}",
        Dist::of(to_kafka).line()
    );
    println!(
        "        of which Kafka timestamp -> analyzer read:  {}",
        Dist::of(from_kafka).line()
    );
    println!(
        "      analyzer read -> visible (flush + insert):  {}",
        Dist::of(store).line()
    );

    // (b) Diagnoses.
    let w = args.conclude_after() as i64;
    let mut all = Vec::new();
    let mut failing = Vec::new();
    let (mut to_read, mut to_conclude, mut to_store) = (Vec::new(), Vec::new(), Vec::new());
    let mut expected = 0u64;
    let mut not_seen = 0u64;
    let mut incomplete = 0u64;
    let mut wrong_end = 0u64;
    let mut retracted = 0u64;
    let mut failing_without_diagnosis = 0u64;
    let mut concluding_seconds = std::collections::HashSet::new();
    let mut by_ip: HashMap<u32, (&String, &AttemptSeen)> = HashMap::new();
    for (id, a) in &seen.attempts {
        if a.retracted {
            retracted += 1;
        }
        if let Some(n) = attempt_of_ip(&a.client_ip) {
            by_ip.insert(n, (id, a));
        }
    }
    let mut codes_count: HashMap<String, u64> = HashMap::new();
    for (i, rec) in ledger.attempts.iter().enumerate() {
        let n = i as u32 + 1;
        if rec.left > 0 || rec.first_us < warm_us {
            continue;
        }
        let Some(&(concluded_us, concluding_line)) =
            ledger.first_of_second.get(&(rec.end_second + w))
        else {
            // Its concluding line was never written: the run ended first.
            continue;
        };
        expected += 1;
        let Some((id, a)) = by_ip.get(&n) else {
            not_seen += 1;
            continue;
        };
        if a.end_second != rec.end_second {
            wrong_end += 1;
        }
        let mut visible = a.seen_us;
        let mut complete = true;
        for c in &a.codes {
            *codes_count.entry(c.clone()).or_default() += 1;
            match seen.diagnoses.get(&((*id).clone(), c.clone())) {
                Some(t) => visible = visible.max(*t),
                None => complete = false,
            }
        }
        if !complete {
            incomplete += 1;
            continue;
        }
        let latency = ms(visible - concluded_us);
        all.push(latency);
        if rec.outcome.fails() {
            concluding_seconds.insert(rec.end_second);
            if a.codes.is_empty() {
                failing_without_diagnosis += 1;
            }
            failing.push(latency);
            // The concluding line's own event row: when the analyzer read it.
            if let Some(Some(e)) = seen_at.get(concluding_line as usize) {
                to_read.push(ms(e.version_us - concluded_us));
                to_conclude.push(ms(a.version_us - e.version_us));
                to_store.push(ms(visible - a.version_us));
            }
        }
    }
    let mut codes: Vec<_> = codes_count.into_iter().collect();
    codes.sort();
    println!(
        "  attempts: {} concluded within the run after the warm-up, {} never seen, {} with \
         diagnoses missing, {} with another end time, {} retracted rows, {} failing ones without \
         a diagnosis; {} attempt rows and {} attempt-scope diagnosis rows stored; codes: {}",
        thousands(expected as f64, 0),
        not_seen,
        incomplete,
        wrong_end,
        retracted,
        failing_without_diagnosis,
        thousands(sweep.attempts.len() as f64, 0),
        thousands(sweep.diagnoses.len() as f64, 0),
        codes
            .iter()
            .map(|(c, n)| format!("{c} {}", thousands(*n as f64, 0)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let diag = Dist::of(failing);
    println!(
        "  (b) diagnosis latency, failing attempts:        {}",
        diag.line()
    );
    println!(
        "      (the attempts that end in the same second are concluded by the same line: {} \
         concluding lines)",
        concluding_seconds.len()
    );
    println!(
        "      every attempt (the enrolled ones too):      {}",
        Dist::of(all).line()
    );
    println!(
        "      concluding line appended -> analyzer read:  {}",
        Dist::of(to_read).line()
    );
    println!(
        "      analyzer read -> attempt concluded:         {}",
        Dist::of(to_conclude).line()
    );
    println!(
        "      concluded -> attempt and diagnoses visible: {}",
        Dist::of(to_store).line()
    );
    let verdict = if diag.n > 0 && diag.p(99.0) < 2000.0 {
        "met"
    } else {
        "NOT met"
    };
    println!("  goal p99 < 2 s (diagnosis latency): {verdict}");
    format!(
        "events p50 {:.0} / p99 {:.0} ms; diagnoses p50 {:.0} / p99 {:.0} ms",
        raw.p(50.0),
        raw.p(99.0),
        diag.p(50.0),
        diag.p(99.0)
    )
}
