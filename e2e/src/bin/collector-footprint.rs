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
//! waits until it has every line acknowledged. Then, after a few seconds of settling:
//!
//! - **idle**: `--window` seconds with nothing new; CPU time over the window, RSS sampled every
//!   second (its largest value and the one at the end).
//! - **load**: `--window` seconds of `--rate` lines/s appended to a second site's file in 20 ms
//!   steps (as IIS flushes its buffer); CPU time over those seconds, RSS sampled every second.
//!   Afterwards the collector must have every line acknowledged (it kept up).
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
use scepwatch_e2e::load::{self, cpu_time, memory_kib, thousands, Broker, Machine, Spread};
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
}

/// CPU and memory over one window.
#[derive(Debug, Clone, Copy)]
struct Window {
    seconds: f64,
    cpu: f64,
    rss_end_kib: u64,
    rss_max_kib: u64,
    hwm_kib: u64,
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

    let mut idle_rss = Vec::new();
    let mut idle_cpu = Vec::new();
    let mut load_rss = Vec::new();
    let mut load_cpu = Vec::new();
    for run in 1..=args.runs {
        println!("\nrun {run}, load average {}", load::load_average());
        let (idle, busy, lines, written_in) = one_run(&args, run == 1)?;
        println!(
            "  idle {:.0} s: CPU {:.2} s = {:.2} % of one core; RSS {} KiB at the end, {} KiB at \
             most (VmHWM {} KiB)",
            idle.seconds,
            idle.cpu,
            idle.percent(),
            thousands(idle.rss_end_kib as f64, 0),
            thousands(idle.rss_max_kib as f64, 0),
            thousands(idle.hwm_kib as f64, 0),
        );
        println!(
            "  load {:.0} s: {} lines at {} lines/s; CPU {:.2} s = {:.2} % of one core; RSS {} \
             KiB at the end, {} KiB at most (VmHWM {} KiB)",
            busy.seconds,
            thousands(lines as f64, 0),
            thousands(lines as f64 / written_in, 0),
            busy.cpu,
            busy.percent(),
            thousands(busy.rss_end_kib as f64, 0),
            thousands(busy.rss_max_kib as f64, 0),
            thousands(busy.hwm_kib as f64, 0),
        );
        idle_rss.push(idle.rss_max_kib as f64);
        idle_cpu.push(idle.percent());
        load_rss.push(busy.rss_max_kib as f64);
        load_cpu.push(busy.percent());
    }

    println!("\nsummary over {} runs (min / median / max):", args.runs);
    let show = |name: &str, v: &[f64], unit: &str, decimals: usize| -> Option<Spread> {
        let s = Spread::of(v)?;
        println!(
            "  {name}: {} / {} / {} {unit}",
            thousands(s.min, decimals),
            thousands(s.median, decimals),
            thousands(s.max, decimals)
        );
        Some(s)
    };
    let ir = show("idle RSS (largest sample)", &idle_rss, "KiB", 0);
    let ic = show("idle CPU", &idle_cpu, "% of one core", 2);
    let lc = show(
        &format!("CPU at {} lines/s", thousands(args.rate as f64, 0)),
        &load_cpu,
        "% of one core",
        2,
    );
    show(
        &format!(
            "RSS at {} lines/s (largest sample)",
            thousands(args.rate as f64, 0)
        ),
        &load_rss,
        "KiB",
        0,
    );
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    // 10 MB = 10,000,000 bytes.
    let ten_mb_kib = 10_000_000.0 / 1024.0;
    if let (Some(ir), Some(ic), Some(lc)) = (ir, ic, lc) {
        println!(
            "  target idle RSS < 10 MB: {} (largest of all runs {} KiB)",
            verdict(ir.max < ten_mb_kib),
            thousands(ir.max, 0)
        );
        println!(
            "  target idle CPU < 1 %: {} (largest {:.2} %)",
            verdict(ic.max < 1.0),
            ic.max
        );
        println!(
            "  target CPU < 5 % at {} lines/s: {} (largest {:.2} %)",
            thousands(args.rate as f64, 0),
            verdict(lc.max < 5.0),
            lc.max
        );
    }
    Ok(())
}

fn token_sha256() -> String {
    Sha256::digest(TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The example configuration's settings, with this run's folders and addresses.
fn collector_toml(dir: &Path, logs: &Path, ingestor: SocketAddr, metrics: SocketAddr) -> String {
    format!(
        "[collector]\nname = \"{COLLECTOR}\"\nhost = \"NDES01\"\nendpoint = \"{ENDPOINT}\"\n\
         state_dir = '{state}'\n\n\
         [ingestor]\nurl = \"http://{ingestor}\"\ntoken = \"{TOKEN}\"\n\n\
         [shipper]\nbatch_max_events = 5000\nbatch_max_bytes = \"1MiB\"\nbatch_max_delay = \"1s\"\n\
         max_in_flight = 8\ncompress = true\n\n\
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
        Ok(Window {
            seconds,
            cpu,
            rss_end_kib: rss,
            rss_max_kib: self.max_kib.max(rss),
            hwm_kib: hwm,
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
fn load_window(
    args: &Args,
    pid: u32,
    logs: &Path,
    metrics: SocketAddr,
) -> anyhow::Result<(Window, u64, f64)> {
    let mut rss = RssSampler::new(pid);
    let mut plan = AppendPlan::steady(args.rate * args.window, args.rate);
    plan.site = "W3SVC2".to_owned();
    let cpu0 = cpu_time(pid)?;
    let appender = Appender::spawn(logs, plan);
    let deadline = Instant::now() + Duration::from_secs(args.window * 3 + 30);
    while !appender.is_finished() {
        rss.tick()?;
        if Instant::now() > deadline {
            appender.stop();
            bail!("the appender did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ledger = appender.join().context("appending")?;
    let caught_up = wait_acked(
        metrics,
        (args.preload + ledger.lines) as f64,
        Duration::from_secs(60),
    )?;
    let cpu = (cpu_time(pid)? - cpu0).as_secs_f64();
    println!(
        "  every line acknowledged {:.1} s after the last was written",
        caught_up.as_secs_f64()
    );
    let written_in = ledger.elapsed.as_secs_f64();
    Ok((rss.finish(written_in, cpu)?, ledger.lines, written_in))
}

fn one_run(args: &Args, print_config: bool) -> anyhow::Result<(Window, Window, u64, f64)> {
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
    let ctoml = collector_toml(&cdir, &logs, grpc, metrics);
    if print_config {
        println!("--- collector.toml\n{ctoml}---");
    }
    let mut collector = load::start_collector(&cdir, &ctoml)?;
    let pid = collector.process.pid().context("collector not running")?;
    wait_acked(metrics, args.preload as f64, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_secs(args.settle));

    let idle = idle_window(pid, args.window)?;
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
    Ok((idle, busy, lines, written_in))
}
