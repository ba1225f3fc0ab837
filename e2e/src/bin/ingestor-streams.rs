//! `ingestor-streams`: the ingestor holding many concurrent collector streams, driven by the
//! ingestor's load generator (`scepwatch-loadgen`), with its memory and CPU read from `/proc`.
//!
//! ```text
//! cargo build --release -p scepwatch-ingestor -p scepwatch-e2e
//! target/release/ingestor-streams           # --help for the knobs
//! ```
//!
//! Each run starts a fresh broker (see `scepwatch_e2e::load`) and an ingestor with default
//! limits and the loadgen's collectors (`scepwatch-loadgen collectors --streams N`), then runs
//! `scepwatch-loadgen run --streams N …` (each stream its own collector and connection, a
//! window of 4 unacknowledged batches, as a collector) and prints what the loadgen reports
//! (acks, errors, latency percentiles) beside what was read from the ingestor meanwhile: its
//! `VmRSS` every second, `VmHWM`, CPU time, and the `scepwatch_ingestor_streams` gauge.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scepwatch_e2e::binaries::Program;
use scepwatch_e2e::free_port;
use scepwatch_e2e::load::{self, cpu_time, memory_kib, thousands, Broker, Machine, Spread};
use scepwatch_e2e::metrics::Metrics;

/// Many concurrent collector streams against one ingestor.
#[derive(Parser, Debug)]
#[command(name = "ingestor-streams")]
struct Args {
    /// Runs (each with a fresh broker and ingestor).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Concurrent collector streams.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Events in each batch.
    #[arg(long, default_value_t = 50)]
    events_per_batch: usize,
    /// Batches per second of each stream.
    #[arg(long, default_value_t = 1.0)]
    batches_per_second: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Use this running broker instead of starting one per run.
    #[arg(long)]
    bootstrap: Option<String>,
    /// A librdkafka producer property `name=value` for the ingestor's `[kafka.properties]`;
    /// repeatable.
    #[arg(long = "kafka-property")]
    kafka_properties: Vec<String>,
}

/// What one run measured.
#[derive(Debug, Default)]
struct Run {
    /// Loadgen lines: totals, rates, latency.
    report: Vec<String>,
    events_per_second: f64,
    errors: u64,
    p99_ms: f64,
    hwm_kib: u64,
    rss_max_kib: u64,
    streams_max: f64,
    cpu: f64,
    seconds: f64,
    published: f64,
    rejected: f64,
    refused: f64,
    threads: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.streams == 0 {
        bail!("--runs and --streams must be at least 1");
    }
    println!("ingestor-streams: concurrent collector streams against one ingestor");
    println!("{}", Machine::describe());
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let loadgen = Program::Ingestor
        .path()?
        .with_file_name("scepwatch-loadgen");
    if !loadgen.is_file() {
        bail!(
            "{} is missing: cargo build --release -p scepwatch-ingestor",
            loadgen.display()
        );
    }
    let mut hwm = Vec::new();
    let mut rates = Vec::new();
    let mut p99 = Vec::new();
    let mut all_clean = true;
    for run in 1..=args.runs {
        println!("\nrun {run}, load average {}", load::load_average());
        let r = one_run(&args, &loadgen, run == 1)?;
        for line in &r.report {
            println!("  loadgen: {line}");
        }
        println!(
            "  ingestor: VmHWM {} KiB, VmRSS at most {} KiB (sampled each second); streams \
             gauge at most {}; CPU {:.1} s over {:.0} s = {:.0} % of one core",
            thousands(r.hwm_kib as f64, 0),
            thousands(r.rss_max_kib as f64, 0),
            r.streams_max,
            r.cpu,
            r.seconds,
            100.0 * r.cpu / r.seconds
        );
        println!("  ingestor threads (CPU since start): {}", r.threads);
        println!(
            "  ingestor metrics: published {} events, rejected {} batches, refused {} streams",
            thousands(r.published, 0),
            r.rejected,
            r.refused
        );
        let clean = r.errors == 0
            && r.rejected == 0.0
            && r.refused == 0.0
            && r.streams_max >= args.streams as f64;
        all_clean &= clean;
        hwm.push(r.hwm_kib as f64 / 1024.0);
        rates.push(r.events_per_second);
        p99.push(r.p99_ms);
    }
    println!("\nsummary over {} runs (min / median / max):", args.runs);
    if let (Some(h), Some(e), Some(p)) = (Spread::of(&hwm), Spread::of(&rates), Spread::of(&p99)) {
        println!(
            "  ingestor VmHWM: {:.0} / {:.0} / {:.0} MiB",
            h.min, h.median, h.max
        );
        println!(
            "  events/s acknowledged: {} / {} / {}",
            thousands(e.min, 0),
            thousands(e.median, 0),
            thousands(e.max, 0)
        );
        println!(
            "  ack latency p99: {:.0} / {:.0} / {:.0} ms",
            p.min, p.median, p.max
        );
    }
    println!(
        "  target: {} concurrent streams without errors: {}",
        thousands(args.streams as f64, 0),
        if all_clean {
            "met in every run"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// The number after `label` in `text` (`"p99 "` in `"p50 1.0  p99 2.5"` → 2.5).
fn number_after(text: &str, label: &str) -> Option<f64> {
    let rest = &text[text.find(label)? + label.len()..];
    rest.split_whitespace()
        .next()?
        .trim_end_matches(',')
        .parse()
        .ok()
}

fn one_run(args: &Args, loadgen: &std::path::Path, print_command: bool) -> anyhow::Result<Run> {
    let work = tempfile::Builder::new()
        .prefix("ingestor-streams-")
        .tempdir()?;
    let root = work.path();
    let broker = match &args.bootstrap {
        Some(b) => Broker::external(b),
        None => Broker::private(root)?,
    };
    let topic = format!(
        "bench-streams-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let (grpc, http) = (free_port()?, free_port()?);
    let collectors = Command::new(loadgen)
        .args(["collectors", "--streams", &args.streams.to_string()])
        .output()
        .context("running scepwatch-loadgen collectors")?;
    if !collectors.status.success() {
        bail!(
            "scepwatch-loadgen collectors failed ({})",
            collectors.status
        );
    }
    let mut properties = String::new();
    for p in &args.kafka_properties {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--kafka-property {p}: expected name=value"))?;
        properties.push_str(&format!("\"{}\" = \"{}\"\n", k.trim(), v.trim()));
    }
    if !properties.is_empty() {
        properties.insert_str(0, "[kafka.properties]\n");
    }
    let toml = format!(
        "listen = \"{grpc}\"\nhttp_listen = \"{http}\"\nplaintext = true\n\n{}\n\
         [kafka]\nbootstrap_servers = \"{}\"\ntopic = \"{topic}\"\n\n{properties}",
        String::from_utf8_lossy(&collectors.stdout),
        broker.bootstrap(),
    );
    let mut ingestor = load::start_ingestor(&root.join("ingestor"), &toml, http)?;
    let pid = ingestor.process.pid().context("ingestor not running")?;

    let run_args: Vec<String> = vec![
        "run".into(),
        "--target".into(),
        format!("http://{grpc}"),
        "--streams".into(),
        args.streams.to_string(),
        "--events-per-batch".into(),
        args.events_per_batch.to_string(),
        "--batches-per-second".into(),
        args.batches_per_second.to_string(),
        "--seconds".into(),
        args.seconds.to_string(),
        "--ingestor-pid".into(),
        pid.to_string(),
    ];
    if print_command {
        println!("  (each run: scepwatch-loadgen {})", run_args.join(" "));
    }
    let out_path = root.join("loadgen.out");
    let out = std::fs::File::create(&out_path)?;
    let cpu0 = cpu_time(pid)?;
    let t0 = Instant::now();
    let mut child = Command::new(loadgen)
        .args(&run_args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting scepwatch-loadgen run")?;
    let mut run = Run::default();
    let deadline = t0 + Duration::from_secs(args.seconds * 3 + 300);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(status) = ingestor.process.exited()? {
            let _ = child.kill();
            bail!(ingestor.process.exited_error(status));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("scepwatch-loadgen did not finish");
        }
        let (rss, _) = memory_kib(pid)?;
        run.rss_max_kib = run.rss_max_kib.max(rss);
        if let Ok(m) = Metrics::scrape(http) {
            run.streams_max = run.streams_max.max(m.get("scepwatch_ingestor_streams"));
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    run.seconds = t0.elapsed().as_secs_f64();
    run.cpu = (cpu_time(pid)? - cpu0).as_secs_f64();
    let (rss, hwm) = memory_kib(pid)?;
    run.rss_max_kib = run.rss_max_kib.max(rss);
    run.hwm_kib = hwm;
    let m = Metrics::scrape(http)?;
    run.published = m.sum("scepwatch_ingestor_published_events_total");
    // `+ 0.0`: an empty sum is -0.
    run.rejected = m.sum("scepwatch_ingestor_rejected_batches_total") + 0.0;
    run.refused = m.sum("scepwatch_ingestor_refused_streams_total") + 0.0;
    run.threads = load::thread_summary(&load::thread_cpu(pid)?);
    ingestor
        .process
        .terminate(Duration::from_secs(60))
        .context("stopping the ingestor")?;
    broker.stop()?;

    let mut text = String::new();
    std::fs::File::open(&out_path)?.read_to_string(&mut text)?;
    for line in text.lines() {
        if line.starts_with("t=") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("batches sent") {
            run.errors = ["retry ", "rejected ", "stream errors ", "connect errors "]
                .iter()
                .filter_map(|l| number_after(rest, l))
                .sum::<f64>() as u64;
        }
        if line.starts_with("acks/s") {
            run.events_per_second = number_after(line, "events/s ").unwrap_or(0.0);
        }
        if line.starts_with("ack latency") {
            run.p99_ms = number_after(line, "p99 ").unwrap_or(f64::NAN);
        }
        run.report.push(line.to_owned());
    }
    if !status.success() {
        println!("  scepwatch-loadgen exited with {status} (it does when any batch failed)");
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::number_after;

    #[test]
    fn numbers_of_the_loadgen_report() {
        let l = "ack latency ms: p50 27.1  p90 80.0  p99 241.5  max 900.2";
        assert_eq!(number_after(l, "p99 "), Some(241.5));
        let l = "batches sent 60000  accepted 60000  retry 0  rejected 2  stream errors 0  connect errors 1";
        assert_eq!(number_after(l, "rejected "), Some(2.0));
        assert_eq!(number_after(l, "missing "), None);
    }
}
