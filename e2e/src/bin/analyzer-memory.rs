//! `analyzer-memory`: the analyzer service's memory while it holds N open attempts (default
//! 100,000), through the real process: Kafka in, ClickHouse out.
//!
//! ```text
//! scripts/kafka.sh start; scripts/clickhouse.sh start    # once per machine
//! cargo build --release -p scepwatch-analyzer --features service -p scepwatch-e2e
//! target/release/analyzer-memory            # --help for the knobs
//! ```
//!
//! For each size N of `--devices`: a fresh topic of `--partitions` partitions on a broker of
//! the bench's own (Tansu with its SQLite engine; `--bootstrap` uses a running one), and a
//! release `scepwatch-analyzer serve` reading it into a fresh database, with
//! `engine.idle_finish_secs` long enough that nothing is concluded for being idle. 5 s after it
//! is ready (it has joined its group by then, nothing read yet), its memory is read (the
//! baseline). Then N devices start an
//! enrollment each, spread over `--endpoints` endpoints of `--servers` NDES servers and over
//! `--window-secs` seconds of event time (less than the 300 s attempt gap): each sends the first
//! two requests of an enrollment, GetCACaps then GetCACert 300 ms later, from an address of its
//! own (Android, iOS and Windows user agents in turn), as IIS logs them. The records are what
//! the servers' collectors would ship every 5 s of event time, with their IIS watermarks. None
//! of those sessions can close (their servers have not been read a gap past them) and no
//! device log exists: the engine holds N open server sessions, the N attempts in progress.
//!
//! When every event is read and stored, and after 6 s of settling (the gauges are refreshed
//! every 5 s), it prints the sums over the partitions of `scepwatch_analyzer_open_attempts` and
//! `scepwatch_analyzer_state_bytes` (the engine's and the spike detector's estimate), the
//! process's `VmRSS`, `RssAnon` and `VmHWM` (`/proc/<pid>/status`), the same against the
//! baseline, and bytes per open attempt; with two sizes or more, also the increase per open
//! attempt from the smallest to the largest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scepwatch_e2e::analyzer::{Analyzer, AnalyzerOptions};
use scepwatch_e2e::clickhouse::{self, ClickHouse};
use scepwatch_e2e::load::{self, thousands, Broker, Machine};
use scepwatch_e2e::process::status_kib;
use scepwatch_e2e::traffic::{create_topic, TopicWriter};
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{
    EndpointEvents, Event, IisRequest, IisTarget, ScepOperation, SourceId, SourceKind, Watermark,
};
use scepwatch_proto::SourceKey;

const S: i64 = 1_000_000;
const MS: i64 = 1_000;
/// 2026-11-20 08:00:00 UTC.
const START_US: i64 = 1_795_161_600 * S;
const STEM: &str = "/certsrv/mscep/mscep.dll";
/// Length of the W3C header IIS writes at the top of a daily file: the first line's position.
const IIS_HEADER_BYTES: u64 = 261;
/// What each collector ships at once, in event time.
const BATCH_US: i64 = 5 * S;

/// The analyzer's memory with N open attempts.
#[derive(Parser, Debug)]
#[command(name = "analyzer-memory")]
struct Args {
    /// Open attempts to hold (devices with an enrollment in progress); a comma-separated list
    /// measures each size with a fresh analyzer.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    devices: Vec<u64>,
    /// SCEP endpoints (the topic's keys).
    #[arg(long, default_value_t = 24)]
    endpoints: u32,
    /// NDES servers per endpoint.
    #[arg(long, default_value_t = 2)]
    servers: u32,
    /// Event time over which the enrollments start (below the 300 s attempt gap).
    #[arg(long, default_value_t = 120)]
    window_secs: i64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Use this running broker instead of starting one.
    #[arg(long)]
    bootstrap: Option<String>,
    /// `service.flush_events` of the analyzer (its default, 50,000, when not given): the rows
    /// of up to that many events are built before a flush stores them, and their buffers are
    /// kept for the next.
    #[arg(long)]
    flush_events: Option<u64>,
    /// `RUST_LOG` of the analyzer.
    #[arg(long, default_value = "info")]
    log: String,
    /// Folder for the broker and the analyzer's folder (default: the system's temporary
    /// folder). Removed at the end unless --keep.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work folder and the databases.
    #[arg(long)]
    keep: bool,
}

/// One NDES server's IIS log as its collector reads it.
struct Server {
    endpoint: String,
    collector: String,
    ip: String,
    source: SourceId,
    key: SourceKey,
    position: u64,
    sequence: u64,
}

/// What the analyzer reported and the process held at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    open_attempts: f64,
    state_bytes: f64,
    attempts_emitted: f64,
    rss_kib: u64,
    anon_kib: u64,
    hwm_kib: u64,
}

fn user_agent(i: u64) -> &'static str {
    match i % 3 {
        0 => "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/UQ1A.240205.004)",
        1 => "profiled/1.0 CFNetwork/1568.100.1 Darwin/24.0.0",
        _ => "Mozilla/4.0 (compatible; Win32; NDES client)",
    }
}

/// An IIS W3C line with the default fields (spaces in the user agent as `+`).
fn iis_line(t: i64, r: &IisRequest) -> String {
    // START_US is 2026-11-20 08:00 UTC; the window stays within the day.
    let rest = t.div_euclid(S).rem_euclid(86_400);
    format!(
        "2026-11-20 {:02}:{:02}:{:02} {} {} {} {} {} - {} {} - {} {} {} {}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        r.server_ip,
        r.method,
        r.uri_stem,
        r.uri_query,
        r.server_port,
        r.client_ip,
        r.user_agent.replace(' ', "+"),
        r.status,
        r.substatus,
        r.win32_status,
        r.time_taken_ms
    )
}

/// The records of `devices` enrollments in progress, in the order the collectors would ship
/// them, and the number of events.
fn records(args: &Args, devices: u64) -> (Vec<(String, EndpointEvents)>, u64) {
    let mut servers = Vec::new();
    for e in 0..args.endpoints {
        let endpoint = format!("https://ndes{e:03}.contoso.com{STEM}");
        for s in 1..=args.servers {
            let host = format!("NDES-{e:03}-{s}");
            let source = SourceId {
                collector: host.to_ascii_lowercase(),
                host: host.clone(),
                kind: SourceKind::Iis as i32,
                path: "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log".to_owned(),
                stream: String::new(),
            };
            servers.push(Server {
                endpoint: endpoint.clone(),
                collector: host.to_ascii_lowercase(),
                ip: format!("10.{}.{}.{}", 1 + e / 250, e % 250, 10 + s),
                key: SourceKey::of(&source),
                source,
                position: IIS_HEADER_BYTES,
                sequence: 0,
            });
        }
    }
    let window = args.window_secs.max(1) * S;
    // (server, time, request), every server's in time order.
    let mut calls: Vec<Vec<(i64, IisRequest)>> = vec![Vec::new(); servers.len()];
    for i in 0..devices {
        let e = i % u64::from(args.endpoints);
        let s = (i / u64::from(args.endpoints)) % u64::from(args.servers);
        let server = (e * u64::from(args.servers) + s) as usize;
        let t = START_US + (i as i64).saturating_mul(window) / devices as i64;
        let client_ip = format!(
            "172.{}.{}.{}",
            16 + (i >> 16) % 16,
            (i >> 8) & 255,
            (i & 255).max(1)
        );
        for (k, (op, query)) in [
            (ScepOperation::GetCaCaps, "operation=GetCACaps&message=CA"),
            (ScepOperation::GetCaCert, "operation=GetCACert&message=CA"),
        ]
        .into_iter()
        .enumerate()
        {
            let req = IisRequest {
                server_ip: servers[server].ip.clone(),
                server_port: 443,
                method: "GET".into(),
                uri_stem: STEM.into(),
                uri_query: query.into(),
                client_ip: client_ip.clone(),
                user_agent: user_agent(i).into(),
                status: 200,
                time_taken_ms: 12 + (i % 40) as u32,
                target: IisTarget::Mscep as i32,
                operation: op as i32,
                query_length: query.len() as u32,
                ..Default::default()
            };
            calls[server].push((t + k as i64 * 300 * MS, req));
        }
    }
    let mut out: Vec<(i64, String, EndpointEvents)> = Vec::new();
    let mut events = 0u64;
    for (server, mut list) in servers.iter_mut().zip(calls) {
        list.sort_by_key(|(t, _)| *t);
        let mut batch: Vec<Event> = Vec::new();
        let mut batch_start = START_US;
        let mut first = None;
        let mut last = 0;
        let mut flush = |server: &mut Server,
                         batch: &mut Vec<Event>,
                         first: &mut Option<i64>,
                         last: i64,
                         at: i64| {
            if batch.is_empty() {
                return;
            }
            server.sequence += 1;
            let wm = Watermark {
                source: Some(server.source.clone()),
                endpoint_id: server.endpoint.clone(),
                read_from_us: first.unwrap_or(last),
                read_up_to_us: last,
                position: server.position,
            };
            out.push((
                at,
                server.endpoint.clone(),
                EndpointEvents {
                    endpoint_id: server.endpoint.clone(),
                    collector: server.collector.clone(),
                    batch_sequence: server.sequence,
                    events: std::mem::take(batch),
                    watermarks: vec![wm],
                },
            ));
            *first = None;
        };
        for (t, req) in list {
            while t >= batch_start + BATCH_US {
                flush(server, &mut batch, &mut first, last, batch_start);
                batch_start += BATCH_US;
            }
            let line = iis_line(t, &req);
            let position = server.position;
            server.position += line.len() as u64 + 2;
            first.get_or_insert(t);
            last = t;
            batch.push(Event {
                id: server.key.event_id(position).to_vec(),
                source: Some(server.source.clone()),
                position,
                event_time_us: t,
                observed_time_us: t + 900 * MS,
                endpoint_id: server.endpoint.clone(),
                excerpt: line,
                payload: Some(Payload::Iis(req)),
            });
            events += 1;
        }
        flush(server, &mut batch, &mut first, last, batch_start);
    }
    out.sort_by_key(|(at, _, _)| *at);
    (out.into_iter().map(|(_, k, r)| (k, r)).collect(), events)
}

fn reading(a: &Analyzer, pid: u32) -> anyhow::Result<Reading> {
    let m = a.metrics()?;
    let [rss, anon, hwm] = status_kib(pid, ["VmRSS:", "RssAnon:", "VmHWM:"])?;
    Ok(Reading {
        open_attempts: m.sum("scepwatch_analyzer_open_attempts"),
        state_bytes: m.sum("scepwatch_analyzer_state_bytes"),
        attempts_emitted: m.get("scepwatch_analyzer_attempts_total"),
        rss_kib: rss,
        anon_kib: anon,
        hwm_kib: hwm,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.devices.is_empty() || args.endpoints == 0 || args.servers == 0 {
        bail!("--devices, --endpoints and --servers must not be empty or 0");
    }
    if args.window_secs >= 300 {
        bail!("--window-secs must stay below the 300 s attempt gap");
    }
    println!("analyzer-memory: the analyzer service holding open attempts");
    println!("{}", Machine::describe());
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let ch = ClickHouse::at(&clickhouse::url())?;
    if !ch.answers() {
        bail!("no ClickHouse at {}: scripts/clickhouse.sh start", ch.url());
    }
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::Builder::new()
                .prefix("analyzer-memory-")
                .tempdir_in(d)?
        }
        None => tempfile::Builder::new()
            .prefix("analyzer-memory-")
            .tempdir()?,
    };
    let root = work.path().to_path_buf();
    let broker = match &args.bootstrap {
        Some(b) => Broker::external(b),
        None => Broker::private(&root)?,
    };
    println!(
        "broker: {}; ClickHouse {} at {}",
        broker.bootstrap(),
        ch.version()?,
        ch.url()
    );

    let mut results: BTreeMap<u64, (u64, Reading, Reading)> = BTreeMap::new();
    for &n in &args.devices {
        let topic = format!("analyzer-memory-{}-{n}", std::process::id());
        create_topic(broker.bootstrap(), &topic, args.partitions)?;
        let db = format!("scepwatch_bench_memory_{}_{n}", std::process::id());
        ch.execute(&format!("DROP DATABASE IF EXISTS {db}"))?;
        let mut o = AnalyzerOptions::new(broker.bootstrap(), &topic, ch.url(), &db);
        o.idle_finish_secs = Some(3600);
        o.flush_events = args.flush_events;
        o.log_filter = args.log.clone();
        let mut a = Analyzer::start(&root.join(format!("analyzer-{n}")), &o)?;
        let pid = a.process().pid().context("analyzer not running")?;
        // The group join; the service notes its partitions when the first record arrives, so
        // the baseline is read after a fixed wait.
        std::thread::sleep(Duration::from_secs(5));
        let base = reading(&a, pid)?;

        let (recs, events) = records(&args, n);
        let mut w = TopicWriter::new(broker.bootstrap(), &topic)?;
        for (key, r) in &recs {
            w.send(key, r)?;
        }
        let fill = w.finish()?;
        println!(
            "\n{} devices: {fill}; load average {}",
            thousands(n as f64, 0),
            load::load_average()
        );
        let started = Instant::now();
        loop {
            let m = a.metrics()?;
            if m.get("scepwatch_analyzer_rows_stored_total{table=\"events\"}") >= events as f64 {
                break;
            }
            if let Some(status) = a.process().exited()? {
                bail!(a.process().exited_error(status));
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("the analyzer did not store {events} events within 600 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!(
            "  read and stored in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // The partition gauges are refreshed at most every 5 s.
        std::thread::sleep(Duration::from_secs(6));
        let held = reading(&a, pid)?;
        a.stop().context("stopping the analyzer")?;
        if !args.keep {
            let _ = ch.execute(&format!("DROP DATABASE IF EXISTS {db}"));
        }
        print_size(n, events, &base, &held);
        if held.attempts_emitted > 0.0 {
            println!(
                "  WARNING: {} attempts were concluded: not every enrollment was held open",
                held.attempts_emitted
            );
        }
        results.insert(n, (events, base, held));
    }
    if results.len() >= 2 {
        let (lo, hi) = (
            results.iter().next().map(|(n, r)| (*n, r.2)),
            results.iter().next_back().map(|(n, r)| (*n, r.2)),
        );
        if let (Some((n0, r0)), Some((n1, r1))) = (lo, hi) {
            let d = (r1.open_attempts - r0.open_attempts).max(1.0);
            println!(
                "\nmarginal, {} to {} open attempts: state_bytes {:.0} B, VmRSS {:.0} B, \
                 RssAnon {:.0} B per open attempt",
                thousands(n0 as f64, 0),
                thousands(n1 as f64, 0),
                (r1.state_bytes - r0.state_bytes) / d,
                (r1.rss_kib as f64 - r0.rss_kib as f64) * 1024.0 / d,
                (r1.anon_kib as f64 - r0.anon_kib as f64) * 1024.0 / d,
            );
        }
    }
    broker.stop()?;
    if args.keep {
        println!("kept {}", work.keep().display());
    }
    Ok(())
}

fn print_size(n: u64, events: u64, base: &Reading, held: &Reading) {
    let open = held.open_attempts.max(1.0);
    println!(
        "  {} devices, {} events: open_attempts {}, attempts concluded {}",
        thousands(n as f64, 0),
        thousands(events as f64, 0),
        thousands(held.open_attempts, 0),
        thousands(held.attempts_emitted, 0)
    );
    println!(
        "  state_bytes {} ({:.0} B per open attempt)",
        thousands(held.state_bytes, 0),
        held.state_bytes / open
    );
    println!(
        "  VmRSS {} KiB (baseline {} KiB, +{:.0} B per open attempt); RssAnon {} KiB (baseline \
         {} KiB, +{:.0} B per open attempt); VmHWM {} KiB",
        thousands(held.rss_kib as f64, 0),
        thousands(base.rss_kib as f64, 0),
        (held.rss_kib as f64 - base.rss_kib as f64) * 1024.0 / open,
        thousands(held.anon_kib as f64, 0),
        thousands(base.anon_kib as f64, 0),
        (held.anon_kib as f64 - base.anon_kib as f64) * 1024.0 / open,
        thousands(held.hwm_kib as f64, 0),
    );
}
