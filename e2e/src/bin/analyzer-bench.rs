//! `analyzer-bench`: the analyzer service alone (Kafka in, ClickHouse out) against its raw
//! floor measured in the same run: the same topic read by `kcat -C`, and the rows the analyzer
//! stored inserted again by `clickhouse-client` from files.
//!
//! ```text
//! scripts/kafka.sh start; scripts/clickhouse.sh start    # once per machine
//! cargo build --release -p scepwatch-analyzer --features service -p scepwatch-e2e
//! target/release/analyzer-bench            # --help for the knobs
//! ```
//!
//! Once per invocation, on a broker of its own (Tansu with its SQLite engine, see
//! `scepwatch_e2e::load`; `--bootstrap` uses a running one), a topic of `--partitions`
//! partitions is filled with `--events` events of seeded fleet traffic (`scepwatch_e2e::traffic`:
//! attempts, failures, health facts, watermarks, as the ingestor writes them). Then, per run, in
//! an order that alternates from run to run:
//!
//! - **analyzer**: `scepwatch-analyzer serve` (the release build) in a consumer group of its
//!   own, writing a fresh database of the test ClickHouse server (`scripts/clickhouse.sh`, or
//!   `SCEPWATCH_CLICKHOUSE_URL`). Start-up (migrations, until `/readyz` answers) and the group
//!   join (until the first events are read) are timed apart; the clock of the figure starts at
//!   readiness and stops when `scepwatch_analyzer_rows_stored_total{table="events"}` reaches the
//!   topic's event count (every event read, correlated, and stored together with the attempts,
//!   diagnoses and incidents concluded by then). Scraped every 50 ms.
//! - **kcat**: `kcat -C -e -o beginning` on the same topic, its output to `/dev/null`, timed
//!   from start to exit (kcat exits at the end of every partition).
//! - **clickhouse-client**: after the analyzer phase, every table the analyzer wrote is
//!   exported (`SELECT * FROM db.t FORMAT Native`, not timed); a second database is migrated
//!   by `scepwatch-analyzer migrate`, and `clickhouse-client --query "INSERT INTO db2.t FORMAT
//!   Native" < file` is timed for each table, one after the other; the sum is the insert floor.
//!
//! Printed per run and summarised as min / median / max: events/s of each, the ratios, CPU
//! seconds of the analyzer (by thread), of the ClickHouse server and of the broker, the time the
//! analyzer spent storing (`scepwatch_analyzer_insert_seconds`) and the machine's load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scepwatch_e2e::analyzer::{Analyzer, AnalyzerOptions};
use scepwatch_e2e::binaries::Program;
use scepwatch_e2e::clickhouse::{self, ClickHouse};
use scepwatch_e2e::load::{
    self, children_cpu_time, cpu_time, thousands, Broker, Kcat, Machine, MachineCpu, Spread,
};
use scepwatch_e2e::traffic::{fill_topic, Spike, Traffic, TrafficPlan};

/// The tables the analyzer writes (the per-minute aggregates are filled by materialized views).
const TABLES: [&str; 7] = [
    "events",
    "watermarks",
    "rejects",
    "health_facts",
    "attempts",
    "diagnoses",
    "incidents",
];

/// The analyzer alone (Kafka in, ClickHouse out) against kcat -C and clickhouse-client.
#[derive(Parser, Debug)]
#[command(name = "analyzer-bench")]
struct Args {
    /// Events on the topic.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Runs.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds to wait before each timed ClickHouse phase (the analyzer, clickhouse-client).
    /// On an ext4 file system without a journal (this project's CI machines), creating a file
    /// skips every inode deleted in the last 30 s (5.5 minutes while its inode table block is
    /// not written back), and the files of a dropped database or of merged parts made the next
    /// phase's ClickHouse spend up to twice the CPU (`recently_deleted` in `perf`). Waiting lets
    /// the previous phase's deletions age out; 0 measures back to back.
    #[arg(long, default_value_t = 45)]
    settle_secs: u64,
    /// SCEP endpoints of the traffic (the topic's keys).
    #[arg(long, default_value_t = 24)]
    endpoints: u32,
    /// Events per second of event time in the traffic (as in the kill test: 1,000,000 events
    /// span 8.3 minutes in about 7,000 records). A lower rate makes smaller records, which the
    /// test broker serves far more slowly (at 200/s, 71,078 records: it answered no fetch in 6
    /// minutes). Attempts are concluded once the servers' context logs (Application event log,
    /// health facts) have been read past them or are an hour behind their IIS log, so within
    /// such a run almost nothing is concluded: the figure is reading, correlating and storing.
    #[arg(long, default_value_t = 2000.0)]
    event_rate: f64,
    /// Seed of the traffic.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Use this running broker instead of starting one.
    #[arg(long)]
    bootstrap: Option<String>,
    /// Storage engine of the broker the bench starts: `memory` (about 1 CPU-second per million
    /// events read) or `sqlite` (the development broker's, 50-120: the broker then takes most
    /// of the 2 cores; docs/kafka.md).
    #[arg(long, default_value = "memory")]
    broker_storage: load::Storage,
    /// A librdkafka property `key=value` for both consumers, the analyzer and kcat (repeat for
    /// more). The default, `fetch.wait.max.ms=10`, is because the test broker answers a fetch
    /// only once that wait has passed (docs/kafka.md, gaps); give `fetch.wait.max.ms=500`
    /// (librdkafka's default) to see it.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", default_values_t = ["fetch.wait.max.ms=10".to_string()])]
    kafka_properties: Vec<String>,
    /// ClickHouse's native port, for clickhouse-client (the HTTP URL comes from
    /// SCEPWATCH_CLICKHOUSE_URL, default http://127.0.0.1:8123).
    #[arg(long, default_value_t = 9000)]
    clickhouse_port: u16,
    /// The ClickHouse server's pid file, for its CPU time.
    #[arg(
        long,
        default_value = "/var/tmp/scepwatch/clickhouse/clickhouse-server.pid"
    )]
    clickhouse_pid_file: PathBuf,
    /// `service.flush_events` of the analyzer (its default when not given).
    #[arg(long)]
    flush_events: Option<u64>,
    /// `service.flush_interval_ms` of the analyzer (its default when not given).
    #[arg(long)]
    flush_interval_ms: Option<u64>,
    /// `service.busy_flush_interval_ms` of the analyzer (its default when not given): how long
    /// flushes wait while ClickHouse takes longer than the flush interval to store one.
    #[arg(long)]
    busy_flush_interval_ms: Option<u64>,
    /// `RUST_LOG` of the analyzer.
    #[arg(long, default_value = "info")]
    log: String,
    /// Skip the kcat and clickhouse-client phases.
    #[arg(long)]
    analyzer_only: bool,
    /// Folder for the broker, the analyzer's folders and the exports (default: the system's
    /// temporary folder). Removed at the end unless --keep.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work folder and the databases.
    #[arg(long)]
    keep: bool,
}

struct AnalyzerRun {
    db: String,
    startup: f64,
    join: f64,
    seconds: f64,
    cpu: f64,
    threads: String,
    cpu_clickhouse: Option<f64>,
    cpu_broker: Option<f64>,
    insert_seconds: f64,
    flushes: f64,
    rows: Vec<(String, f64)>,
    attempts: f64,
    diagnoses: f64,
    hwm_kib: u64,
    machine: MachineCpu,
    per_second: Vec<f64>,
}

struct InsertRun {
    seconds: f64,
    rows: u64,
    bytes: u64,
    per_table: Vec<(String, u64, f64)>,
    cpu_client: f64,
    cpu_clickhouse: Option<f64>,
    machine: MachineCpu,
}

struct KcatRun {
    seconds: f64,
    cpu_kcat: f64,
    cpu_broker: Option<f64>,
    machine: MachineCpu,
}

/// Waits `--settle-secs` (see there).
fn settle(args: &Args) {
    if args.settle_secs > 0 {
        println!(
            "  (waiting {} s for ClickHouse's deleted files to age out)",
            args.settle_secs
        );
        std::thread::sleep(Duration::from_secs(args.settle_secs));
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.events == 0 {
        bail!("--runs and --events must be at least 1");
    }
    let machine = Machine::describe();
    println!("analyzer-bench: Kafka -> scepwatch-analyzer -> ClickHouse, against kcat -C and clickhouse-client");
    println!("{machine}");
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let ch = ClickHouse::at(&clickhouse::url())?;
    if !ch.answers() {
        bail!("no ClickHouse at {}: scripts/clickhouse.sh start", ch.url());
    }
    println!("clickhouse: {} at {}", ch.version()?, ch.url());
    let kcat = if args.analyzer_only {
        None
    } else {
        let k = Kcat::prepare()?;
        println!("kcat: {}", k.version);
        Some(k)
    };
    let analyzer_bin = Program::Analyzer.path()?;
    println!("analyzer: {}", analyzer_bin.display());

    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::Builder::new()
                .prefix("analyzer-bench-")
                .tempdir_in(d)?
        }
        None => tempfile::Builder::new()
            .prefix("analyzer-bench-")
            .tempdir()?,
    };
    let root = work.path().to_path_buf();
    println!("work folder: {}", root.display());

    let mut broker = match &args.bootstrap {
        Some(b) => Broker::external(b),
        None => Broker::private_with(&root, args.broker_storage)?,
    };
    println!(
        "broker: {}; consumers' properties: {}",
        match &args.bootstrap {
            Some(b) => format!("external at {b}"),
            None => format!(
                "Tansu {} ({} engine), its own, at {}",
                load::TANSU_VERSION,
                args.broker_storage.name(),
                broker.bootstrap()
            ),
        },
        args.kafka_properties.join(" ")
    );
    let topic = format!("analyzer-bench-{}", std::process::id());
    let mut plan = TrafficPlan::new(args.seed, args.endpoints, args.events);
    plan.events_per_second = args.event_rate;
    plan.spikes = vec![
        Spike::new(0, 0, 503, 240_000_000, 180_000_000),
        Spike::new(5, 0, 500, 360_000_000, 120_000_000),
    ];
    let fill = fill_topic(
        broker.bootstrap(),
        &topic,
        args.partitions,
        Traffic::new(plan),
    )?;
    println!(
        "input: {fill}; {} partitions, load average {}",
        args.partitions,
        load::load_average()
    );
    let events = fill.events;

    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    let mut ratio_kcat = Vec::new();
    let mut ratio_insert = Vec::new();
    let mut ratio_floor = Vec::new();
    let mut databases = Vec::new();
    for run in 1..=args.runs {
        let run_dir = root.join(format!("run{run}"));
        std::fs::create_dir_all(&run_dir)?;
        println!("\nrun {run}, load average {}", load::load_average());
        let kcat_first = run % 2 == 0;
        let mut k = None;
        if kcat_first {
            if let Some(kc) = &kcat {
                k = Some(kcat_run(kc, &args, &mut broker, &topic, &run_dir)?);
            }
        }
        settle(&args);
        let a = analyzer_run(&args, &ch, &mut broker, &topic, &run_dir, run, events)?;
        print_analyzer(&a, events);
        let mut i = None;
        if kcat.is_some() {
            settle(&args);
            i = Some(insert_run(&args, &ch, &a.db, &run_dir, &analyzer_bin)?);
        }
        if !kcat_first {
            if let Some(kc) = &kcat {
                k = Some(kcat_run(kc, &args, &mut broker, &topic, &run_dir)?);
            }
        }
        let a_rate = events as f64 / a.seconds;
        rates[0].push(a_rate);
        if let Some(k) = &k {
            let rate = events as f64 / k.seconds;
            println!(
                "  kcat -C -e -o beginning > /dev/null: {:.2} s = {} events/s; CPU s: kcat {:.2}, \
                 broker {}",
                k.seconds,
                thousands(rate, 0),
                k.cpu_kcat,
                opt(k.cpu_broker)
            );
            println!(
                "            {}",
                machine_line(&k.machine, k.cpu_kcat + k.cpu_broker.unwrap_or(0.0))
            );
            rates[1].push(rate);
            ratio_kcat.push(a_rate / rate);
        }
        if let Some(i) = &i {
            let rate = events as f64 / i.seconds;
            println!(
                "  clickhouse-client INSERT ... FORMAT Native, {} rows ({} bytes) from files: \
                 {:.2} s = {} events/s; CPU s: clickhouse-client {:.2}, server {}",
                thousands(i.rows as f64, 0),
                thousands(i.bytes as f64, 0),
                i.seconds,
                thousands(rate, 0),
                i.cpu_client,
                opt(i.cpu_clickhouse)
            );
            println!(
                "            per table: {}",
                i.per_table
                    .iter()
                    .map(|(t, r, s)| format!("{t} {} rows {s:.2} s", thousands(*r as f64, 0)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "            {}",
                machine_line(&i.machine, i.cpu_client + i.cpu_clickhouse.unwrap_or(0.0))
            );
            rates[2].push(rate);
            ratio_insert.push(a_rate / rate);
        }
        if let (Some(k), Some(i)) = (&k, &i) {
            // Reading then inserting, one after the other: the floor of a program that does
            // nothing but both.
            let floor = events as f64 / (k.seconds + i.seconds);
            ratio_floor.push(a_rate / floor);
            println!(
                "  ratios: analyzer / kcat {:.2}, analyzer / clickhouse-client {:.2}, analyzer / \
                 (kcat then clickhouse-client: {} events/s) {:.2}",
                a_rate / (events as f64 / k.seconds),
                a_rate / (events as f64 / i.seconds),
                thousands(floor, 0),
                a_rate / floor
            );
        }
        // Dropped after the last run: a dropped database's thousands of files would slow the
        // next run's ClickHouse down (see `--settle-secs`).
        databases.extend([a.db.clone(), format!("{}_floor", a.db)]);
        if !args.keep {
            let _ = std::fs::remove_dir_all(&run_dir);
        }
    }
    if !args.keep {
        for db in &databases {
            let _ = ch.execute(&format!("DROP DATABASE IF EXISTS {db}"));
        }
    }

    println!("\nsummary over {} runs (min / median / max):", args.runs);
    let spread = |v: &[f64], decimals: usize| {
        Spread::of(v).map_or("n/a".to_owned(), |s| {
            format!(
                "{} / {} / {}",
                thousands(s.min, decimals),
                thousands(s.median, decimals),
                thousands(s.max, decimals)
            )
        })
    };
    println!("  analyzer events/s: {}", spread(&rates[0], 0));
    println!("  kcat -C events/s: {}", spread(&rates[1], 0));
    println!(
        "  clickhouse-client insert events/s: {}",
        spread(&rates[2], 0)
    );
    println!("  analyzer / kcat: {}", spread(&ratio_kcat, 2));
    println!(
        "  analyzer / clickhouse-client: {}",
        spread(&ratio_insert, 2)
    );
    println!(
        "  analyzer / (kcat then clickhouse-client): {}",
        spread(&ratio_floor, 2)
    );
    if let Some(s) = Spread::of(&rates[0]) {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "  target >= 100,000 events/s: {} at the median, {} in every run",
            verdict(s.median >= 100_000.0),
            verdict(s.min >= 100_000.0)
        );
    }
    broker.stop()?;
    if args.keep {
        println!("kept {}", work.keep().display());
    }
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".to_owned(), |c| format!("{c:.2}"))
}

fn print_analyzer(a: &AnalyzerRun, events: u64) {
    println!(
        "  analyzer: {} events in {:.2} s = {} events/s (start-up {:.2} s, then {:.2} s to the \
         first events read; from the first events: {} events/s)",
        thousands(events as f64, 0),
        a.seconds,
        thousands(events as f64 / a.seconds, 0),
        a.startup,
        a.join,
        thousands(events as f64 / (a.seconds - a.join).max(1e-3), 0),
    );
    println!(
        "            stored: {}; {} attempts, {} diagnoses produced",
        a.rows
            .iter()
            .map(|(t, n)| format!("{t} {}", thousands(*n, 0)))
            .collect::<Vec<_>>()
            .join(", "),
        thousands(a.attempts, 0),
        thousands(a.diagnoses, 0)
    );
    println!(
        "            storing: {:.2} s in {} flushes ({:.0} % of the time); CPU s: analyzer {:.2} \
         ({}), ClickHouse server {}, broker {}; analyzer peak RSS {} MiB",
        a.insert_seconds,
        a.flushes,
        100.0 * a.insert_seconds / a.seconds,
        a.cpu,
        a.threads,
        opt(a.cpu_clickhouse),
        opt(a.cpu_broker),
        a.hwm_kib / 1024
    );
    let ours = a.cpu + a.cpu_clickhouse.unwrap_or(0.0) + a.cpu_broker.unwrap_or(0.0);
    println!("            {}", machine_line(&a.machine, ours));
    println!(
        "            events stored per second: {}",
        a.per_second
            .iter()
            .map(|v| format!("{:.0}k", v / 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// The machine's CPU over a phase: how much of it the measured processes used, how much
/// everything else did.
fn machine_line(m: &MachineCpu, ours: f64) -> String {
    let busy = m.busy.as_secs_f64();
    format!(
        "machine CPU: {:.1} of {:.1} core-s busy ({:.1} measured processes, {:.1} everything \
         else), iowait {:.1} core-s",
        busy,
        m.total.as_secs_f64(),
        ours,
        (busy - ours).max(0.0),
        m.iowait.as_secs_f64()
    )
}

fn clickhouse_pid(path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

fn analyzer_run(
    args: &Args,
    ch: &ClickHouse,
    broker: &mut Broker,
    topic: &str,
    run_dir: &Path,
    run: usize,
    events: u64,
) -> anyhow::Result<AnalyzerRun> {
    let db = format!("scepwatch_bench_{}_{run}", std::process::id());
    ch.execute(&format!("DROP DATABASE IF EXISTS {db}"))?;
    let mut o = AnalyzerOptions::new(broker.bootstrap(), topic, ch.url(), &db);
    o.group_id = format!("{topic}-run{run}");
    o.kafka_properties.extend(kafka_properties(args)?);
    o.flush_events = args.flush_events;
    o.flush_interval_ms = args.flush_interval_ms;
    o.busy_flush_interval_ms = args.busy_flush_interval_ms;
    o.log_filter = args.log.clone();
    let ch_pid = clickhouse_pid(&args.clickhouse_pid_file);
    let broker_pid = broker.pid();
    let cpu_ch0 = ch_pid.map(cpu_time).transpose()?;
    let cpu_b0 = broker_pid.map(cpu_time).transpose()?;
    let machine0 = MachineCpu::read()?;
    let started = Instant::now();
    let mut a = Analyzer::spawn(&run_dir.join("analyzer"), &o)?;
    let pid = a.process().pid().context("analyzer not running")?;
    let deadline = started + Duration::from_secs(900);
    while !a.ready() {
        if let Some(status) = a.process().exited()? {
            bail!(a.process().exited_error(status));
        }
        if Instant::now() > deadline {
            bail!("the analyzer was not ready within 900 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let ready = Instant::now();
    let startup = (ready - started).as_secs_f64();
    let mut first: Option<f64> = None;
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let target = events as f64;
    let mut hwm = 0;
    let last = loop {
        let m = a.metrics().ok();
        let t = ready.elapsed().as_secs_f64();
        if let Some(m) = &m {
            if first.is_none() && m.get("scepwatch_analyzer_events_total") > 0.0 {
                first = Some(t);
            }
            let stored = m.get("scepwatch_analyzer_rows_stored_total{table=\"events\"}")
                + m.get("scepwatch_analyzer_rejects_total");
            samples.push((t, stored));
            if stored >= target {
                break m.clone();
            }
        }
        if let Some(status) = a.process().exited()? {
            bail!(a.process().exited_error(status));
        }
        if Instant::now() > deadline {
            bail!("the analyzer did not store {events} events within 900 s");
        }
        if let Ok((_, h)) = load::memory_kib(pid) {
            hwm = hwm.max(h);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let seconds = ready.elapsed().as_secs_f64();
    let machine = MachineCpu::read()?.since(&machine0);
    let cpu = cpu_time(pid)?.as_secs_f64();
    let threads = load::thread_summary(&load::thread_cpu(pid)?);
    let cpu_clickhouse = match (ch_pid, cpu_ch0) {
        (Some(p), Some(c0)) => Some((cpu_time(p)? - c0).as_secs_f64()),
        _ => None,
    };
    let cpu_broker = match (broker_pid, cpu_b0) {
        (Some(p), Some(c0)) => Some((cpu_time(p)? - c0).as_secs_f64()),
        _ => None,
    };
    let (_, h) = load::memory_kib(pid)?;
    hwm = hwm.max(h);
    a.stop().context("stopping the analyzer")?;
    let rows = TABLES
        .iter()
        .map(|t| {
            (
                (*t).to_owned(),
                last.get(&format!(
                    "scepwatch_analyzer_rows_stored_total{{table=\"{t}\"}}"
                )),
            )
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    let mut per_second = Vec::new();
    let mut prev = 0.0;
    for s in 1..=(seconds.floor() as usize) {
        let at = samples
            .iter()
            .take_while(|(t, _)| *t <= s as f64)
            .last()
            .map_or(0.0, |(_, n)| *n);
        per_second.push(at - prev);
        prev = at;
    }
    Ok(AnalyzerRun {
        db,
        startup,
        join: first.unwrap_or(0.0),
        seconds,
        cpu,
        threads,
        cpu_clickhouse,
        cpu_broker,
        insert_seconds: last.get("scepwatch_analyzer_insert_seconds_sum"),
        flushes: last.get("scepwatch_analyzer_insert_seconds_count"),
        rows,
        attempts: last.get("scepwatch_analyzer_attempts_total"),
        diagnoses: last.sum("scepwatch_analyzer_diagnoses_total"),
        hwm_kib: hwm,
        machine,
        per_second,
    })
}

fn clickhouse_client(port: u16) -> Command {
    let mut c = Command::new("clickhouse-client");
    c.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
    c
}

/// Exports what the analyzer stored, migrates a second database and times clickhouse-client
/// inserting the files into it.
fn insert_run(
    args: &Args,
    ch: &ClickHouse,
    db: &str,
    run_dir: &Path,
    analyzer_bin: &Path,
) -> anyhow::Result<InsertRun> {
    let db2 = format!("{db}_floor");
    let dir = run_dir.join("export");
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for t in TABLES {
        let rows = ch.count(&format!("SELECT count() FROM {db}.{t}"))?;
        if rows == 0 {
            continue;
        }
        let path = dir.join(format!("{t}.native"));
        let out = std::fs::File::create(&path)?;
        let status = clickhouse_client(args.clickhouse_port)
            .args(["--query", &format!("SELECT * FROM {db}.{t} FORMAT Native")])
            .stdout(out)
            .status()
            .context("running clickhouse-client")?;
        if !status.success() {
            bail!("exporting {db}.{t} failed ({status})");
        }
        files.push((t, rows, path));
    }
    // The second database, migrated by the analyzer itself.
    ch.execute(&format!("DROP DATABASE IF EXISTS {db2}"))?;
    let o = AnalyzerOptions::new("127.0.0.1:1", "unused", ch.url(), &db2);
    let config = dir.join("migrate.toml");
    std::fs::write(&config, o.to_toml(scepwatch_e2e::free_port()?))?;
    let out = Command::new(analyzer_bin)
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .context("running scepwatch-analyzer migrate")?;
    if !out.status.success() {
        bail!(
            "scepwatch-analyzer migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ch_pid = clickhouse_pid(&args.clickhouse_pid_file);
    let cpu_ch0 = ch_pid.map(cpu_time).transpose()?;
    let cpu_c0 = children_cpu_time()?;
    let machine0 = MachineCpu::read()?;
    let mut per_table = Vec::new();
    let mut seconds = 0.0;
    let mut rows = 0;
    let mut bytes = 0;
    for (t, n, path) in &files {
        let input = std::fs::File::open(path)?;
        bytes += input.metadata()?.len();
        let started = Instant::now();
        let status = clickhouse_client(args.clickhouse_port)
            .args(["--query", &format!("INSERT INTO {db2}.{t} FORMAT Native")])
            .stdin(input)
            .stdout(Stdio::null())
            .status()
            .context("running clickhouse-client")?;
        let s = started.elapsed().as_secs_f64();
        if !status.success() {
            bail!("inserting {path:?} into {db2}.{t} failed ({status})");
        }
        seconds += s;
        rows += n;
        per_table.push(((*t).to_owned(), *n, s));
    }
    let machine = MachineCpu::read()?.since(&machine0);
    let cpu_client = (children_cpu_time()? - cpu_c0).as_secs_f64();
    let cpu_clickhouse = match (ch_pid, cpu_ch0) {
        (Some(p), Some(c0)) => Some((cpu_time(p)? - c0).as_secs_f64()),
        _ => None,
    };
    for (t, n, _) in &files {
        let got = ch.count(&format!("SELECT count() FROM {db2}.{t}"))?;
        if got != *n {
            bail!("{db2}.{t} holds {got} rows after the insert, not {n}");
        }
    }
    Ok(InsertRun {
        seconds,
        rows,
        bytes,
        per_table,
        cpu_client,
        cpu_clickhouse,
        machine,
    })
}

/// `--kafka-property` as (key, value) pairs.
fn kafka_properties(args: &Args) -> anyhow::Result<Vec<(String, String)>> {
    args.kafka_properties
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("--kafka-property {p}: expected KEY=VALUE"),
        })
        .collect()
}

fn kcat_run(
    kcat: &Kcat,
    bench: &Args,
    broker: &mut Broker,
    topic: &str,
    run_dir: &Path,
) -> anyhow::Result<KcatRun> {
    let mut args: Vec<String> = vec![
        "-C".into(),
        "-b".into(),
        broker.bootstrap().into(),
        "-t".into(),
        topic.into(),
        "-e".into(),
        "-o".into(),
        "beginning".into(),
        "-q".into(),
    ];
    for (k, v) in kafka_properties(bench)? {
        args.push("-X".into());
        args.push(format!("{k}={v}"));
    }
    let log = run_dir.join("kcat.log");
    let stderr = std::fs::File::create(&log)?;
    let broker_pid = broker.pid();
    let cpu_b0 = broker_pid.map(cpu_time).transpose()?;
    let cpu_c0 = children_cpu_time()?;
    let machine0 = MachineCpu::read()?;
    let started = Instant::now();
    let status = kcat
        .command(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .context("running kcat")?;
    let seconds = started.elapsed().as_secs_f64();
    let machine = MachineCpu::read()?.since(&machine0);
    let cpu_kcat = (children_cpu_time()? - cpu_c0).as_secs_f64();
    let cpu_broker = match (broker_pid, cpu_b0) {
        (Some(p), Some(c0)) => Some((cpu_time(p)? - c0).as_secs_f64()),
        _ => None,
    };
    if !status.success() {
        bail!(
            "kcat failed ({status}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(KcatRun {
        seconds,
        cpu_kcat,
        cpu_broker,
        machine,
    })
}
