//! `collector-footprint`: what the collector costs an NDES server, idle and at a steady
//! 5,000 IIS lines/s, read from `/proc/<pid>/stat` (user + system CPU of all its threads) and
//! `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
//!
//! ```text
//! cargo build --release -p scepwatch-collector -p scepwatch-ingestor -p scepwatch-e2e
//! target/release/collector-footprint        # --help for the knobs
//! ```
//!
//! Each run starts a fresh broker (see `scepwatch_e2e::load`) and an ingestor with its default
//! limits, writes `--preload` lines to a first IIS file, starts a collector with the settings
//! of `collector.example.toml` (spool fsync on, zstd on the wire, 250 ms poll, metrics on) and
//! waits until it has every line acknowledged. Then, each window after a few seconds of
//! settling:
//!
//! - **idle after catching up**: `--window` seconds with nothing new; CPU time over the
//!   window, RSS sampled every second (its largest value and the one at the end).
//! - **idle after a restart**: the collector is stopped and started again on the same state;
//!   every file is behind its checkpoint and nothing is read. Measured as above.
//! - **load**: `--window` seconds of `--rate` lines/s appended to the next day's file in 20 ms
//!   steps (as IIS flushes its buffer); CPU time from the first line to the acknowledgement of
//!   the last (all the work they caused) divided by the seconds of writing, RSS sampled every
//!   second. The collector must have every line acknowledged within a minute (it kept up).
//!
//! The collector's metrics are not scraped during a window (that would cost it CPU).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scepwatch_e2e::collector::ENDPOINT;
use scepwatch_e2e::free_port;
use scepwatch_e2e::iis::{AppendPlan, Appender};
use scepwatch_e2e::ingestor::{COLLECTOR, TOKEN};
use scepwatch_e2e::load::{
    self, cpu_time, memory_kib, rss_split_kib, thousands, Broker, Machine, Spread,
};
use scepwatch_e2e::metrics::Metrics;
use sha2::{Digest, Sha256};

/// The collector's CPU and memory, idle and at a steady line rate.
#[derive(Parser, Debug)]
#[command(name = "collector-footprint")]
struct Args {
    /// Runs (each with a fresh broker, ingestor and collector).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds of each window (idle, then load).
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// IIS lines per second during the load window.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    /// Lines written (and shipped) before the windows.
    #[arg(long, default_value_t = 10_000)]
    preload: u64,
    /// Seconds between the last acknowledgement and the idle window.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Use this running broker instead of starting one per run.
    #[arg(long)]
    bootstrap: Option<String>,
    /// Collector `shipper.compress` (zstd on the wire).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    compress: bool,
    /// An environment variable `NAME=VALUE` for the collector (`MALLOC_ARENA_MAX=2`, say);
    /// repeatable.
    #[arg(long = "collector-env")]
    collector_env: Vec<String>,
}

/// CPU and memory over one window.
#[derive(Debug, Clone, Copy)]
struct Window {
    seconds: f64,
    cpu: f64,
    rss_end_kib: u64,
    rss_max_kib: u64,
    hwm_kib: u64,
    /// `RssAnon` and `RssFile` at the end.
    anon_end_kib: u64,
    file_end_kib: u64,
}

impl Window {
    fn percent(&self) -> f64 {
        100.0 * self.cpu / self.seconds
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.window == 0 {
        bail!("--runs and --window must be at least 1");
    }
    println!("collector-footprint: the collector's CPU and memory, idle and at a steady line rate");
    println!("{}", Machine::describe());
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("clock ticks/s of /proc/<pid>/stat: {}", load::clock_ticks());

    // Per window kind: RSS (largest sample) and CPU %.
    let mut rss: [Vec<f64>; 3] = Default::default();
    let mut cpu: [Vec<f64>; 3] = Default::default();
    let names = [
        format!(
            "idle after catching up {} lines",
            thousands(args.preload as f64, 0)
        ),
        "idle after a restart (nothing to read)".to_owned(),
        format!("{} lines/s", thousands(args.rate as f64, 0)),
    ];
    for run in 1..=args.runs {
        println!("\nrun {run}, load average {}", load::load_average());
        let windows = one_run(&args, run == 1)?;
        for (i, (w, lines)) in windows.iter().enumerate() {
            let what = match lines {
                Some((n, secs)) => format!(
                    "{} ({} lines at {} lines/s)",
                    names[i],
                    thousands(*n as f64, 0),
                    thousands(*n as f64 / secs, 0)
                ),
                None => names[i].clone(),
            };
            println!(
                "  {what}, {:.0} s: CPU {:.2} s = {:.2} % of one core; RSS {} KiB at the end \
                 ({} KiB private, {} KiB mapped program and libraries), {} KiB at most (VmHWM {} \
                 KiB)",
                w.seconds,
                w.cpu,
                w.percent(),
                thousands(w.rss_end_kib as f64, 0),
                thousands(w.anon_end_kib as f64, 0),
                thousands(w.file_end_kib as f64, 0),
                thousands(w.rss_max_kib as f64, 0),
                thousands(w.hwm_kib as f64, 0),
            );
            rss[i].push(w.rss_max_kib as f64);
            cpu[i].push(w.percent());
        }
    }

    println!("\nsummary over {} runs (min / median / max):", args.runs);
    let mut worst_rss = [0.0; 3];
    let mut worst_cpu = [0.0; 3];
    for i in 0..3 {
        let (Some(r), Some(c)) = (Spread::of(&rss[i]), Spread::of(&cpu[i])) else {
            continue;
        };
        println!(
            "  {}: RSS {} / {} / {} KiB; CPU {:.2} / {:.2} / {:.2} % of one core",
            names[i],
            thousands(r.min, 0),
            thousands(r.median, 0),
            thousands(r.max, 0),
            c.min,
            c.median,
            c.max
        );
        worst_rss[i] = r.max;
        worst_cpu[i] = c.max;
    }
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    // 10 MB = 10,000,000 bytes.
    let ten_mb_kib = 10_000_000.0 / 1024.0;
    for i in 0..2 {
        println!(
            "  target idle RSS < 10 MB, {}: {} (largest {} KiB)",
            names[i],
            verdict(worst_rss[i] < ten_mb_kib),
            thousands(worst_rss[i], 0)
        );
        println!(
            "  target idle CPU < 1 %, {}: {} (largest {:.2} %)",
            names[i],
            verdict(worst_cpu[i] < 1.0),
            worst_cpu[i]
        );
    }
    println!(
        "  target CPU < 5 % at {}: {} (largest {:.2} %)",
        names[2],
        verdict(worst_cpu[2] < 5.0),
        worst_cpu[2]
    );
    Ok(())
}

fn token_sha256() -> String {
    Sha256::digest(TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The example configuration's settings, with this run's folders and addresses.
fn collector_toml(
    dir: &Path,
    logs: &Path,
    ingestor: SocketAddr,
    metrics: SocketAddr,
    compress: bool,
) -> String {
    format!(
        "[collector]\nname = \"{COLLECTOR}\"\nhost = \"NDES01\"\nendpoint = \"{ENDPOINT}\"\n\
         state_dir = '{state}'\n\n\
         [ingestor]\nurl = \"http://{ingestor}\"\ntoken = \"{TOKEN}\"\n\n\
         [shipper]\nbatch_max_events = 5000\nbatch_max_bytes = \"1MiB\"\nbatch_max_delay = \"1s\"\n\
         max_in_flight = 8\ncompress = {compress}\n\n\
         [spool]\ndir = '{spool}'\nmax_bytes = \"1GiB\"\nsegment_bytes = \"64MiB\"\nfsync = true\n\n\
         [tail]\npoll_interval = \"250ms\"\nread_chunk = \"256KiB\"\nidle_close = \"60s\"\n\n\
         [metrics]\nlisten = \"{metrics}\"\n\n\
         [[source]]\nname = \"iis\"\nformat = \"iis\"\nroot = '{logs}'\ninclude = [\"W3SVC*/u_ex*.log\"]\n",
        state = dir.join("state").display(),
        spool = dir.join("spool").display(),
        logs = logs.display(),
    )
}

fn acked(metrics: SocketAddr) -> f64 {
    Metrics::scrape(metrics)
        .map(|m| m.get("scepwatch_collector_acked_events_total"))
        .unwrap_or(0.0)
}

fn wait_acked(metrics: SocketAddr, n: f64, within: Duration) -> anyhow::Result<Duration> {
    let t = Instant::now();
    loop {
        let a = acked(metrics);
        if a >= n {
            return Ok(t.elapsed());
        }
        if t.elapsed() > within {
            bail!("the collector has {a} of {n} events acknowledged after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// RSS samples of a process, one a second.
struct RssSampler {
    pid: u32,
    max_kib: u64,
    last: Option<Instant>,
}

impl RssSampler {
    fn new(pid: u32) -> RssSampler {
        RssSampler {
            pid,
            max_kib: 0,
            last: None,
        }
    }

    /// Samples when a second has passed since the last sample.
    fn tick(&mut self) -> anyhow::Result<()> {
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            let (rss, _) = memory_kib(self.pid)?;
            self.max_kib = self.max_kib.max(rss);
            self.last = Some(Instant::now());
        }
        Ok(())
    }

    /// The window's figures: `cpu` over `seconds`, memory now and at most.
    fn finish(&mut self, seconds: f64, cpu: f64) -> anyhow::Result<Window> {
        let (rss, hwm) = memory_kib(self.pid)?;
        let (anon, file) = rss_split_kib(self.pid)?;
        Ok(Window {
            seconds,
            cpu,
            rss_end_kib: rss,
            rss_max_kib: self.max_kib.max(rss),
            hwm_kib: hwm,
            anon_end_kib: anon,
            file_end_kib: file,
        })
    }
}

/// `seconds` with nothing to read.
fn idle_window(pid: u32, seconds: u64) -> anyhow::Result<Window> {
    let mut rss = RssSampler::new(pid);
    let cpu0 = cpu_time(pid)?;
    let t0 = Instant::now();
    let window = Duration::from_secs(seconds);
    while t0.elapsed() < window {
        rss.tick()?;
        std::thread::sleep(Duration::from_millis(50).min(window.saturating_sub(t0.elapsed())));
    }
    let cpu = (cpu_time(pid)? - cpu0).as_secs_f64();
    rss.finish(t0.elapsed().as_secs_f64(), cpu)
}

/// Appends `rate` lines/s for `seconds` and waits until the collector has all of them
/// acknowledged. The CPU time counted runs from the first line to the last acknowledgement
/// (all the work those lines caused) and is divided by the time the lines took to write: a
/// conservative CPU share at that rate. Returns the window and the lines written.
/// Appends `lines` IIS request lines to `path` (a new file, header first) at `rate` lines/s,
/// in 20 ms steps, each step one write as IIS flushes its buffer, on a thread; returns the
/// lines written and the time it took. The lines are dated 2026-11-28 and numbered from a
/// million, so they differ from the first file's from the first one (the collector knows a
/// file by its content past the header: identical first lines would make it the same stream).
fn spawn_writer(
    path: std::path::PathBuf,
    lines: u64,
    rate: u64,
) -> std::thread::JoinHandle<anyhow::Result<(u64, f64)>> {
    std::thread::spawn(move || {
        use std::fmt::Write as _;
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(
            b"#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n\
              #Date: 2026-11-28 00:00:00\r\n#Fields: date time s-ip cs-method cs-uri-stem \
              cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status \
              sc-substatus sc-win32-status time-taken\r\n",
        )?;
        let started = Instant::now();
        let mut n = 0u64;
        let mut buf = String::new();
        while n < lines {
            let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).clamp(n + 1, lines);
            while n < due {
                let i = 1_000_000 + n;
                let (h, m, sec) = (
                    (n / rate / 3600) % 24,
                    (n / rate / 60) % 60,
                    (n / rate) % 60,
                );
                let (op, method) = match i % 3 {
                    0 => ("operation=GetCACaps&message=default", "GET"),
                    1 => ("operation=GetCACert&message=default", "GET"),
                    _ => ("operation=PKIOperation", "POST"),
                };
                let _ = write!(
                    buf,
                    "2026-11-28 {h:02}:{m:02}:{sec:02} 10.0.0.5 {method} /certsrv/mscep/mscep.dll \
                     {op} 443 - 10.{}.{}.{} \
                     Dalvik/2.1.0+(Linux;+U;+Android+14;+Pixel+7+Build/AP2A.240805.005) - 200 0 0 \
                     {}\r\n",
                    (i >> 16) & 255,
                    (i >> 8) & 255,
                    i & 255,
                    1 + i % 97
                );
                n += 1;
            }
            file.write_all(buf.as_bytes())?;
            buf.clear();
            if n < lines {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok((n, started.elapsed().as_secs_f64()))
    })
}

/// Appends `rate` lines/s for `window` seconds to the next day's file (a new file, as IIS
/// starts one each day) and waits until the collector has all of them acknowledged. The CPU
/// time counted runs from the first line to the last acknowledgement (all the work those
/// lines caused) and is divided by the time the lines took to write: a conservative CPU share
/// at that rate. Returns the window and the lines written.
fn load_window(
    args: &Args,
    pid: u32,
    logs: &Path,
    metrics: SocketAddr,
) -> anyhow::Result<(Window, u64, f64)> {
    let mut rss = RssSampler::new(pid);
    let path = logs.join("W3SVC1/u_ex261128.log");
    let cpu0 = cpu_time(pid)?;
    let writer = spawn_writer(path, args.rate * args.window, args.rate);
    let deadline = Instant::now() + Duration::from_secs(args.window * 3 + 30);
    while !writer.is_finished() {
        rss.tick()?;
        if Instant::now() > deadline {
            bail!("the writer did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (lines, written_in) = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    // The restarted collector's counter starts from zero.
    let caught_up = wait_acked(metrics, lines as f64, Duration::from_secs(60))?;
    let cpu = (cpu_time(pid)? - cpu0).as_secs_f64();
    println!(
        "  every line acknowledged {:.1} s after the last was written",
        caught_up.as_secs_f64()
    );
    Ok((rss.finish(written_in, cpu)?, lines, written_in))
}

/// One run's windows: idle after catching up, idle after a restart, and under load (with the
/// lines written and the seconds they took).
type Windows = [(Window, Option<(u64, f64)>); 3];

fn one_run(args: &Args, print_config: bool) -> anyhow::Result<Windows> {
    let env: Vec<(String, String)> = args
        .collector_env
        .iter()
        .map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--collector-env {e}: expected NAME=VALUE"))
        })
        .collect::<anyhow::Result<_>>()?;
    let work = tempfile::Builder::new()
        .prefix("collector-footprint-")
        .tempdir()?;
    let root = work.path();
    let broker = match &args.bootstrap {
        Some(b) => Broker::external(b),
        None => Broker::private(root)?,
    };
    let topic = format!(
        "bench-footprint-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let (grpc, http, metrics) = (free_port()?, free_port()?, free_port()?);
    let itoml = format!(
        "listen = \"{grpc}\"\nhttp_listen = \"{http}\"\nplaintext = true\n\n\
         [[collectors]]\nname = \"{COLLECTOR}\"\ntoken_sha256 = \"{}\"\n\n\
         [kafka]\nbootstrap_servers = \"{}\"\ntopic = \"{topic}\"\n",
        token_sha256(),
        broker.bootstrap()
    );
    let mut ingestor = load::start_ingestor(&root.join("ingestor"), &itoml, http)?;

    let logs = root.join("logs");
    Appender::spawn(&logs, AppendPlan::steady(args.preload, 0))
        .join()
        .context("writing the first log")?;
    let cdir = root.join("collector");
    let ctoml = collector_toml(&cdir, &logs, grpc, metrics, args.compress);
    if print_config {
        println!("--- collector.toml\n{ctoml}---");
        if !env.is_empty() {
            println!("collector environment: {env:?}");
        }
    }

    // Idle after having read, spooled and shipped the first file.
    let mut collector = load::start_collector(&cdir, &ctoml, &env)?;
    let pid = collector.process.pid().context("collector not running")?;
    wait_acked(metrics, args.preload as f64, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_secs(args.settle));
    let caught_up = idle_window(pid, args.window)?;

    // Idle after a restart: every file is behind its checkpoint, nothing to read.
    collector
        .process
        .terminate(Duration::from_secs(30))
        .context("stopping the collector")?;
    let mut collector = load::start_collector(&cdir, &ctoml, &env)?;
    let pid = collector.process.pid().context("collector not running")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Metrics::scrape(metrics).is_err() {
        if Instant::now() > deadline {
            bail!("the restarted collector serves no metrics");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(args.settle));
    let restarted = idle_window(pid, args.window)?;

    let (busy, lines, written_in) = load_window(args, pid, &logs, metrics)?;

    collector
        .process
        .terminate(Duration::from_secs(30))
        .context("stopping the collector")?;
    ingestor
        .process
        .terminate(Duration::from_secs(30))
        .context("stopping the ingestor")?;
    broker.stop()?;
    Ok([
        (caught_up, None),
        (restarted, None),
        (busy, Some((lines, written_in))),
    ])
}
