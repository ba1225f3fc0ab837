//! `pipeline-bench`: IIS log files → `scepwatch-collector` → `scepwatch-ingestor` → Kafka,
//! against `kcat -P` sending the same Kafka records to the same broker, in the same run.
//!
//! ```text
//! cargo build --release -p scepwatch-collector -p scepwatch-ingestor -p scepwatch-e2e
//! target/release/pipeline-bench            # --help for the knobs
//! ```
//!
//! It writes N IIS request lines (default 2,000,000) into daily `u_ex*.log` files, once. Then,
//! for each run, on a fresh broker of its own (Tansu with its SQLite engine, see
//! `scepwatch_e2e::load`), all on this machine:
//!
//! - **pipeline**: an ingestor is started and ready (topic created), then the clock starts with
//!   a collector that has never seen the files; it stops when the ingestor's
//!   `scepwatch_ingestor_published_events_total` reaches N, i.e. when Kafka has acknowledged
//!   every event. Events/s = N / that time. The ingestor is scraped every 100 ms; the rate
//!   between 10 % and 90 % of the events is printed as the steady rate.
//! - **kcat**: the records the pipeline wrote (same keys, same values, same schema header),
//!   dumped from its topic once, in the first run, are sent to a new topic of the same broker
//!   by `kcat -P -l`, twice: with the ingestor's producer guarantees (`enable.idempotence`,
//!   `acks=all`) and with librdkafka's defaults (no idempotence), both with the ingestor's
//!   partitioner (`murmur2_random`) and the same extra properties. Timed from start to exit
//!   (kcat exits once every record is acknowledged).
//!
//! The first run dumps the topic and checks that it holds exactly N events with N distinct
//! IDs. Later runs rotate the order of the three phases on their fresh broker. CPU seconds of
//! each process (`/proc/<pid>/stat`) show where the time went.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scepwatch_e2e::collector::ENDPOINT;
use scepwatch_e2e::free_port;
use scepwatch_e2e::iis::{AppendPlan, Appender};
use scepwatch_e2e::ingestor::{COLLECTOR, TOKEN};
use scepwatch_e2e::load::{
    self, children_cpu_time, cpu_time, kcat_escape, memory_kib, thousands, Broker, Dump, Kcat,
    Machine, MachineCpu, Spread, KEY_DELIMITER, RECORD_DELIMITER,
};
use scepwatch_e2e::metrics::Metrics;
use sha2::{Digest, Sha256};

/// Files → collector → ingestor → Kafka, against kcat -P with the same records.
#[derive(Parser, Debug)]
#[command(name = "pipeline-bench")]
struct Args {
    /// IIS request lines (= events).
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Runs (each on a fresh broker).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Daily log files the lines are spread over.
    #[arg(long, default_value_t = 4)]
    days: u64,
    /// Use this running broker instead of starting one per run.
    #[arg(long)]
    bootstrap: Option<String>,
    /// Partitions of the topics.
    #[arg(long, default_value_t = 12)]
    partitions: u32,
    /// Collector `shipper.batch_max_events`.
    #[arg(long, default_value_t = 5000)]
    batch_max_events: u64,
    /// Collector `shipper.batch_max_bytes`.
    #[arg(long, default_value = "1MiB")]
    batch_max_bytes: String,
    /// Collector `shipper.batch_max_delay`.
    #[arg(long, default_value = "1s")]
    batch_max_delay: String,
    /// Collector `shipper.max_in_flight`.
    #[arg(long, default_value_t = 8)]
    max_in_flight: u64,
    /// Collector `shipper.compress` (zstd on the wire).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    compress: bool,
    /// Collector `spool.fsync`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fsync: bool,
    /// Collector `tail.read_chunk`.
    #[arg(long, default_value = "256KiB")]
    read_chunk: String,
    /// Ingestor `kafka.max_record_bytes`.
    #[arg(long, default_value_t = 921_600)]
    max_record_bytes: u64,
    /// Ingestor `limits.max_in_flight_batches`.
    #[arg(long, default_value_t = 64)]
    ingestor_in_flight: u64,
    /// A librdkafka producer property `name=value` for the ingestor's `[kafka.properties]`,
    /// given to kcat too (`-X`); repeatable.
    #[arg(long = "kafka-property")]
    kafka_properties: Vec<String>,
    /// Folder for the logs, the programs' folders, the dump and the brokers (default: the
    /// system's temporary folder). Removed at the end unless --keep.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work folder.
    #[arg(long)]
    keep: bool,
}

/// How kcat's producer is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// The ingestor's guarantees: `enable.idempotence=true`, `acks=all`.
    Ingestor = 0,
    /// librdkafka's defaults (no idempotence; `acks` is already `all` by default).
    Plain = 1,
}

impl Setting {
    fn label(self) -> &'static str {
        match self {
            Setting::Ingestor => "idempotent, acks=all, as the ingestor",
            Setting::Plain => "librdkafka defaults",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Setting::Ingestor => "idempotent",
            Setting::Plain => "defaults",
        }
    }
}

/// One timed part of a run.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Pipeline,
    Kcat(Setting),
}

impl Phase {
    fn name(&self) -> String {
        match self {
            Phase::Pipeline => "pipeline".to_owned(),
            Phase::Kcat(s) => format!("kcat -P ({})", s.label()),
        }
    }
}

struct PipelineRun {
    seconds: f64,
    steady: f64,
    records: i64,
    per_second: Vec<f64>,
    cpu_collector: f64,
    cpu_ingestor: f64,
    cpu_broker: Option<f64>,
    hwm_collector_kib: u64,
    hwm_ingestor_kib: u64,
    collector_acked: f64,
    machine: MachineCpu,
    threads_collector: String,
    threads_ingestor: String,
}

struct KcatRun {
    seconds: f64,
    records: i64,
    cpu_kcat: f64,
    cpu_broker: Option<f64>,
    machine: MachineCpu,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.events == 0 {
        bail!("--runs and --events must be at least 1");
    }
    let properties: Vec<(String, String)> = args
        .kafka_properties
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--kafka-property {p}: expected name=value"))
        })
        .collect::<anyhow::Result<_>>()?;

    let machine = Machine::describe();
    println!("pipeline-bench: files -> collector -> ingestor -> Kafka, against kcat -P");
    println!("{machine}");
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let kcat = Kcat::prepare()?;
    println!("kcat: {}", kcat.version);
    println!(
        "broker: {}",
        match &args.bootstrap {
            Some(b) => format!("external at {b}"),
            None => format!(
                "Tansu {} (SQLite engine), a fresh one per run: {}",
                load::TANSU_VERSION,
                load::tansu_binary().display()
            ),
        }
    );

    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::Builder::new()
                .prefix("pipeline-bench-")
                .tempdir_in(d)?
        }
        None => tempfile::Builder::new()
            .prefix("pipeline-bench-")
            .tempdir()?,
    };
    let root = work.path().to_path_buf();
    println!("work folder: {}", root.display());

    // The logs, once.
    let logs = root.join("logs");
    let t = Instant::now();
    let ledger = Appender::spawn(&logs, AppendPlan::rotating(args.events, 0, args.days, 0))
        .join()
        .context("writing the IIS logs")?;
    let log_bytes: u64 = ledger
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f.path()).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "input: {} request lines in {} files, {} bytes ({:.1} bytes/line), written in {:.1} s",
        thousands(ledger.lines as f64, 0),
        ledger.files.len(),
        thousands(log_bytes as f64, 0),
        log_bytes as f64 / ledger.lines as f64,
        t.elapsed().as_secs_f64()
    );

    let dump_path = root.join("records.dump");
    let mut dump: Option<Dump> = None;
    let mut pipeline_rates = Vec::new();
    let mut kcat_rates = [Vec::new(), Vec::new()];
    let mut ratios = [Vec::new(), Vec::new()];
    let mut printed_configs = false;

    for run in 1..=args.runs {
        let run_dir = root.join(format!("run{run}"));
        std::fs::create_dir_all(&run_dir)?;
        let mut broker = match &args.bootstrap {
            Some(b) => Broker::external(b),
            None => Broker::private(&root)?,
        };
        // The first run starts with the pipeline (its topic is dumped for kcat); the others
        // rotate the order, so that no phase always meets a fuller broker.
        let mut order = [
            Phase::Pipeline,
            Phase::Kcat(Setting::Ingestor),
            Phase::Kcat(Setting::Plain),
        ];
        order.rotate_left((run - 1) % 3);
        println!(
            "\nrun {run} (order: {}), load average {}",
            order.iter().map(Phase::name).collect::<Vec<_>>().join(", "),
            load::load_average()
        );
        let mut p_rate = None;
        let mut k_rate = [None, None];
        for phase in order {
            match phase {
                Phase::Pipeline => {
                    let topic = format!("bench-pipeline-{run}");
                    let r = pipeline(
                        &args,
                        &properties,
                        &mut broker,
                        &run_dir,
                        &logs,
                        &topic,
                        !printed_configs,
                    )?;
                    printed_configs = true;
                    print_pipeline(&r, args.events);
                    if dump.is_none() {
                        dump = Some(dump_and_check(&broker, &topic, &dump_path, args.events)?);
                    }
                    p_rate = Some(args.events as f64 / r.seconds);
                }
                Phase::Kcat(setting) => {
                    let d = dump.as_ref().context("no dump yet")?;
                    let topic = format!("bench-kcat-{}-{run}", setting.slug());
                    let r = kcat_run(
                        &kcat,
                        setting,
                        &properties,
                        &mut broker,
                        &run_dir,
                        &topic,
                        args.partitions,
                        &dump_path,
                        d,
                    )?;
                    println!(
                        "  {}: {} records, {} events in {:.2} s = {} events/s; CPU s: kcat \
                         {:.2}, broker {}",
                        phase.name(),
                        thousands(r.records as f64, 0),
                        thousands(d.events as f64, 0),
                        r.seconds,
                        thousands(d.events as f64 / r.seconds, 0),
                        r.cpu_kcat,
                        r.cpu_broker.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
                    );
                    let ours = r.cpu_kcat + r.cpu_broker.unwrap_or(0.0);
                    println!("            {}", machine_line(&r.machine, ours));
                    k_rate[setting as usize] = Some(d.events as f64 / r.seconds);
                }
            }
        }
        if broker.pid().is_some() {
            println!(
                "  broker data: {} bytes",
                thousands(broker.data_bytes() as f64, 0)
            );
        }
        broker.stop()?;
        let (Some(p), [Some(ki), Some(kp)]) = (p_rate, k_rate) else {
            bail!("run {run} is incomplete");
        };
        println!(
            "  ratio pipeline / kcat: {:.2} ({}), {:.2} ({})",
            p / ki,
            Setting::Ingestor.label(),
            p / kp,
            Setting::Plain.label()
        );
        pipeline_rates.push(p);
        for (i, k) in [ki, kp].into_iter().enumerate() {
            kcat_rates[i].push(k);
            ratios[i].push(p / k);
        }
        if !args.keep {
            let _ = std::fs::remove_dir_all(&run_dir);
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
    println!("  pipeline events/s: {}", spread(&pipeline_rates, 0));
    for s in [Setting::Ingestor, Setting::Plain] {
        println!(
            "  kcat -P ({}) events/s: {}",
            s.label(),
            spread(&kcat_rates[s as usize], 0)
        );
        println!(
            "  pipeline / kcat -P ({}): {}",
            s.label(),
            spread(&ratios[s as usize], 2)
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    if let Some(p) = Spread::of(&pipeline_rates) {
        println!(
            "  target >= 100,000 events/s: {} at the median, {} in every run",
            verdict(p.median >= 100_000.0),
            verdict(p.min >= 100_000.0)
        );
    }
    for s in [Setting::Ingestor, Setting::Plain] {
        if let Some(r) = Spread::of(&ratios[s as usize]) {
            println!(
                "  target >= 50 % of kcat -P ({}): {} at the median, {} in every run",
                s.label(),
                verdict(r.median >= 0.5),
                verdict(r.min >= 0.5)
            );
        }
    }
    if args.keep {
        println!("kept {}", work.keep().display());
    }
    Ok(())
}

fn print_pipeline(r: &PipelineRun, events: u64) {
    println!(
        "  pipeline: {} events in {:.2} s = {} events/s (steady 10-90 %: {}/s); {} records; \
         collector acked {}",
        thousands(events as f64, 0),
        r.seconds,
        thousands(events as f64 / r.seconds, 0),
        thousands(r.steady, 0),
        thousands(r.records as f64, 0),
        thousands(r.collector_acked, 0),
    );
    println!(
        "            CPU s: collector {:.2}, ingestor {:.2}, broker {}; peak RSS: collector {} \
         MiB, ingestor {} MiB",
        r.cpu_collector,
        r.cpu_ingestor,
        r.cpu_broker.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
        r.hwm_collector_kib / 1024,
        r.hwm_ingestor_kib / 1024,
    );
    let ours = r.cpu_collector + r.cpu_ingestor + r.cpu_broker.unwrap_or(0.0);
    println!("            {}", machine_line(&r.machine, ours));
    println!(
        "            threads: collector {}; ingestor {}",
        r.threads_collector, r.threads_ingestor
    );
    println!(
        "            events/s per second: {}",
        r.per_second
            .iter()
            .map(|v| format!("{:.0}k", v / 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Dumps the pipeline's topic for kcat and checks that it holds every event exactly once.
fn dump_and_check(broker: &Broker, topic: &str, path: &Path, events: u64) -> anyhow::Result<Dump> {
    let t = Instant::now();
    let d = load::dump_topic(broker.bootstrap(), topic, path)?;
    println!(
        "  check: topic {topic} holds {} records, {} events, {} distinct event IDs, {} key(s), \
         {} bytes (read back in {:.0} s)",
        thousands(d.records as f64, 0),
        thousands(d.events as f64, 0),
        thousands(d.distinct_ids as f64, 0),
        d.keys,
        thousands(d.bytes as f64, 0),
        t.elapsed().as_secs_f64()
    );
    if d.events != events || d.distinct_ids != events {
        bail!(
            "the topic holds {} events ({} distinct IDs), not {events}",
            d.events,
            d.distinct_ids
        );
    }
    Ok(d)
}

/// The machine's CPU over a phase: how much of it the measured processes used, how much
/// everything else did, and how long the CPUs waited for the disk.
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

fn token_sha256() -> String {
    Sha256::digest(TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ingestor_toml(
    args: &Args,
    properties: &[(String, String)],
    bootstrap: &str,
    topic: &str,
    grpc: SocketAddr,
    http: SocketAddr,
) -> String {
    let mut t = format!(
        "listen = \"{grpc}\"\nhttp_listen = \"{http}\"\nplaintext = true\n\n\
         [[collectors]]\nname = \"{COLLECTOR}\"\ntoken_sha256 = \"{}\"\n\n\
         [limits]\n\
         # One collector sends as fast as it can: the per-collector rate limit (default\n\
         # 50,000 events/s) is lifted, everything else is the default.\n\
         events_per_second = 100000000\nburst_events = 100000000\n\
         max_in_flight_batches = {}\n\n\
         [kafka]\nbootstrap_servers = \"{bootstrap}\"\ntopic = \"{topic}\"\npartitions = {}\n\
         max_record_bytes = {}\n",
        token_sha256(),
        args.ingestor_in_flight,
        args.partitions,
        args.max_record_bytes,
    );
    if !properties.is_empty() {
        t.push_str("\n[kafka.properties]\n");
        for (k, v) in properties {
            let _ = writeln!(t, "\"{k}\" = \"{v}\"");
        }
    }
    t
}

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
         [shipper]\nbatch_max_events = {}\nbatch_max_bytes = \"{}\"\nbatch_max_delay = \"{}\"\n\
         max_in_flight = {}\ncompress = {}\n\n\
         [spool]\ndir = '{spool}'\nmax_bytes = \"1GiB\"\nsegment_bytes = \"64MiB\"\nfsync = {}\n\n\
         [tail]\npoll_interval = \"250ms\"\nread_chunk = \"{}\"\n\n\
         [metrics]\nlisten = \"{metrics}\"\n\n\
         [[source]]\nname = \"iis\"\nformat = \"iis\"\nroot = '{logs}'\ninclude = [\"W3SVC*/u_ex*.log\"]\n",
        args.batch_max_events,
        args.batch_max_bytes,
        args.batch_max_delay,
        args.max_in_flight,
        args.compress,
        args.fsync,
        args.read_chunk,
        state = dir.join("state").display(),
        spool = dir.join("spool").display(),
        logs = logs.display(),
    )
}

fn published(http: SocketAddr) -> f64 {
    Metrics::scrape(http)
        .map(|m| m.sum("scepwatch_ingestor_published_events_total"))
        .unwrap_or(0.0)
}

fn pipeline(
    args: &Args,
    properties: &[(String, String)],
    broker: &mut Broker,
    run_dir: &Path,
    logs: &Path,
    topic: &str,
    print_configs: bool,
) -> anyhow::Result<PipelineRun> {
    let (grpc, http, metrics) = (free_port()?, free_port()?, free_port()?);
    let itoml = ingestor_toml(args, properties, broker.bootstrap(), topic, grpc, http);
    let mut ingestor = load::start_ingestor(&run_dir.join("ingestor"), &itoml, http)?;
    let cdir = run_dir.join("collector");
    let ctoml = collector_toml(args, &cdir, logs, grpc, metrics);
    if print_configs {
        println!(
            "--- ingestor.toml\n{}--- collector.toml\n{}---",
            itoml, ctoml
        );
    }
    let ingestor_pid = ingestor.process.pid().context("ingestor not running")?;
    let broker_pid = broker.pid();
    let cpu_i0 = cpu_time(ingestor_pid)?;
    let cpu_b0 = broker_pid.map(cpu_time).transpose()?;

    let machine0 = MachineCpu::read()?;
    let started = Instant::now();
    let mut collector = load::start_collector(&cdir, &ctoml, &[])?;
    let collector_pid = collector.process.pid().context("collector not running")?;
    let target = args.events as f64;
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let deadline = started + Duration::from_secs(900);
    let mut hwm_c = 0;
    loop {
        let n = published(http);
        let t = started.elapsed().as_secs_f64();
        samples.push((t, n));
        if n >= target {
            break;
        }
        if let Some(status) = collector.process.exited()? {
            bail!(collector.process.exited_error(status));
        }
        if let Some(status) = ingestor.process.exited()? {
            bail!(ingestor.process.exited_error(status));
        }
        if Instant::now() > deadline {
            bail!("only {n} of {target} events published within 900 s");
        }
        if let Ok((_, h)) = memory_kib(collector_pid) {
            hwm_c = hwm_c.max(h);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs_f64();
    let machine = MachineCpu::read()?.since(&machine0);
    let cpu_collector = cpu_time(collector_pid)?.as_secs_f64();
    let cpu_ingestor = (cpu_time(ingestor_pid)? - cpu_i0).as_secs_f64();
    let cpu_broker = match (broker_pid, cpu_b0) {
        (Some(pid), Some(c0)) => Some((cpu_time(pid)? - c0).as_secs_f64()),
        _ => None,
    };
    let (_, h) = memory_kib(collector_pid)?;
    hwm_c = hwm_c.max(h);
    let (_, hwm_i) = memory_kib(ingestor_pid)?;
    let threads_collector = load::thread_summary(&load::thread_cpu(collector_pid)?);
    let threads_ingestor = load::thread_summary(&load::thread_cpu(ingestor_pid)?);

    // The collector hears the last acks a moment after Kafka has them.
    let mut collector_acked = 0.0;
    let wait = Instant::now();
    while wait.elapsed() < Duration::from_secs(10) {
        if let Ok(m) = Metrics::scrape(metrics) {
            collector_acked = m.get("scepwatch_collector_acked_events_total");
        }
        if collector_acked >= target {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    collector
        .process
        .terminate(Duration::from_secs(30))
        .context("stopping the collector")?;
    ingestor
        .process
        .terminate(Duration::from_secs(30))
        .context("stopping the ingestor")?;
    let records = load::records_in(broker.bootstrap(), topic)?;

    // Rates: steady between 10 % and 90 % of the events, and per whole second.
    let cross = |frac: f64| {
        samples
            .iter()
            .find(|(_, n)| *n >= target * frac)
            .map(|(t, _)| *t)
    };
    let steady = match (cross(0.1), cross(0.9)) {
        (Some(a), Some(b)) if b > a => 0.8 * target / (b - a),
        _ => f64::NAN,
    };
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
    Ok(PipelineRun {
        seconds,
        steady,
        records,
        per_second,
        cpu_collector,
        cpu_ingestor,
        cpu_broker,
        hwm_collector_kib: hwm_c,
        hwm_ingestor_kib: hwm_i,
        collector_acked,
        machine,
        threads_collector,
        threads_ingestor,
    })
}

#[allow(clippy::too_many_arguments)]
fn kcat_run(
    kcat: &Kcat,
    setting: Setting,
    properties: &[(String, String)],
    broker: &mut Broker,
    run_dir: &Path,
    topic: &str,
    partitions: u32,
    dump_path: &Path,
    dump: &Dump,
) -> anyhow::Result<KcatRun> {
    load::create_topic(run_dir, broker.bootstrap(), topic, partitions)?;
    let mut kargs: Vec<String> = vec![
        "-P".into(),
        "-b".into(),
        broker.bootstrap().into(),
        "-t".into(),
        topic.into(),
        "-K".into(),
        kcat_escape(KEY_DELIMITER),
        "-D".into(),
        kcat_escape(RECORD_DELIMITER),
        "-H".into(),
        "scepwatch.schema=scepwatch.v1.EndpointEvents".into(),
        // The ingestor's partitioner: the endpoint's records land in the same partition.
        "-X".into(),
        "partitioner=murmur2_random".into(),
    ];
    if setting == Setting::Ingestor {
        for p in ["enable.idempotence=true", "acks=all"] {
            kargs.push("-X".into());
            kargs.push(p.into());
        }
    }
    for (k, v) in properties {
        kargs.push("-X".into());
        kargs.push(format!("{k}={v}"));
    }
    kargs.push("-l".into());
    kargs.push(dump_path.display().to_string());
    let log = run_dir.join(format!("{topic}.log"));
    let stderr = std::fs::File::create(&log)?;
    let broker_pid = broker.pid();
    let cpu_b0 = broker_pid.map(cpu_time).transpose()?;
    let cpu_c0 = children_cpu_time()?;
    let machine0 = MachineCpu::read()?;
    let started = Instant::now();
    let status = kcat
        .command(&kargs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .context("running kcat")?;
    let seconds = started.elapsed().as_secs_f64();
    let machine = MachineCpu::read()?.since(&machine0);
    let cpu_kcat = (children_cpu_time()? - cpu_c0).as_secs_f64();
    let cpu_broker = match (broker_pid, cpu_b0) {
        (Some(pid), Some(c0)) => Some((cpu_time(pid)? - c0).as_secs_f64()),
        _ => None,
    };
    if !status.success() {
        bail!(
            "kcat failed ({status}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let records = load::records_in(broker.bootstrap(), topic)?;
    if records != dump.records as i64 {
        bail!(
            "kcat left {records} records in {topic}, the dump holds {}",
            dump.records
        );
    }
    Ok(KcatRun {
        seconds,
        records,
        cpu_kcat,
        cpu_broker,
        machine,
    })
}
