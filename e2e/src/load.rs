//! What the benchmark programs (`src/bin/*`) share: a broker of their own, the pipeline's
//! programs started from a configuration text, CPU time and memory read from `/proc`, the
//! machine they ran on, a topic dumped to a file `kcat -P -l` can send again, and min / median
//! / max over repeated runs.
//!
//! A benchmark starts its own broker ([`Broker::private`]): Tansu 0.6, the binary
//! `scripts/kafka.sh` installs, with its SQLite engine ([`Storage::Sqlite`], as the
//! development broker) or its memory engine ([`Storage::Memory`]), on a free port with its data
//! in a fresh folder that is removed afterwards. Each repetition then starts from an empty
//! store, and the development broker's data (and the tests using it) are left alone.
//! [`Broker::external`] uses a broker that runs already instead.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scepwatch_proto::v1::EndpointEvents;
use sha2::Digest as _;

use crate::binaries::Program;
use crate::metrics::http_get;
use crate::process::{status_kib, Process};
use crate::{free_port, workspace_root, Error};

/// The Tansu version `scripts/kafka.sh` installs.
pub const TANSU_VERSION: &str = "0.6.0";

/// Where `scripts/kafka.sh` installs Tansu, built with its SQLite and memory engines:
/// `$SCEPWATCH_TOOLS/tansu-<version>-libsql-dynostore/bin/tansu` (`SCEPWATCH_TOOLS` defaults
/// to `~/.cache/scepwatch-tools`).
pub fn tansu_binary() -> PathBuf {
    let tools = std::env::var_os("SCEPWATCH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/scepwatch-tools")
        });
    tools.join(format!("tansu-{TANSU_VERSION}-libsql-dynostore/bin/tansu"))
}

/// The storage engine of a private broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// SQLite in the broker's folder, as the development broker: it survives a crash of the
    /// broker, and costs 50–120 CPU-seconds per million events read here (docs/kafka.md).
    Sqlite,
    /// Memory: lost with the broker, about 1 CPU-second per million events read. It answers a
    /// fetch only when `fetch.wait.max.ms` has passed, so its consumers set that low
    /// (docs/kafka.md, gaps).
    Memory,
}

impl Storage {
    /// The broker's `--storage-engine`.
    fn url(self) -> &'static str {
        match self {
            Storage::Sqlite => "sqlite://tansu.db",
            Storage::Memory => "memory://tansu/",
        }
    }

    /// As `--broker-storage` names it.
    pub fn name(self) -> &'static str {
        match self {
            Storage::Sqlite => "sqlite",
            Storage::Memory => "memory",
        }
    }
}

impl std::str::FromStr for Storage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sqlite" => Ok(Storage::Sqlite),
            "memory" => Ok(Storage::Memory),
            other => Err(format!("{other}: the broker storage is sqlite or memory")),
        }
    }
}

/// The broker a benchmark writes to.
pub struct Broker {
    bootstrap: String,
    process: Option<Process>,
    dir: Option<tempfile::TempDir>,
}

impl Broker {
    /// Starts a Tansu broker of its own (SQLite engine) on a free port of 127.0.0.1, with its
    /// data in a new folder under `parent`, and waits until it accepts connections.
    pub fn private(parent: &Path) -> Result<Broker, Error> {
        Broker::private_with(parent, Storage::Sqlite)
    }

    /// [`Broker::private`] with the storage engine `storage`.
    pub fn private_with(parent: &Path, storage: Storage) -> Result<Broker, Error> {
        let bin = tansu_binary();
        if !bin.is_file() {
            return Err(Error::Build(format!(
                "{} is missing: `scripts/kafka.sh start` installs it (once per machine)",
                bin.display()
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("broker-")
            .tempdir_in(parent)
            .map_err(|e| Error::io("creating the broker's folder", e))?;
        let addr = free_port()?;
        let url = format!("tcp://{addr}");
        // The SQLite engine resolves its path against the working directory (as in
        // scripts/kafka.sh): a shell enters the folder and becomes the broker (`exec`, same pid).
        let args: Vec<OsString> = vec![
            "-c".into(),
            "cd \"$0\" && exec \"$1\" broker --cluster-id scepwatch-bench --listener-url \"$2\" \
             --advertised-listener-url \"$2\" --storage-engine \"$3\""
                .into(),
            dir.path().into(),
            bin.into(),
            url.into(),
            storage.url().into(),
        ];
        let mut process = Process::start(
            "tansu",
            Path::new("/bin/sh"),
            &args,
            &[],
            &dir.path().join("tansu.log"),
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = process.exited()? {
                return Err(process.exited_error(status));
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "the broker does not accept connections on {addr} within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Broker {
            bootstrap: addr.to_string(),
            process: Some(process),
            dir: Some(dir),
        })
    }

    /// A broker that runs already (not started, stopped or measured here).
    pub fn external(bootstrap: &str) -> Broker {
        Broker {
            bootstrap: bootstrap.to_owned(),
            process: None,
            dir: None,
        }
    }

    /// The bootstrap address.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's process ID, when it is ours.
    pub fn pid(&mut self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// Bytes of the broker's data folder (0 for an external broker).
    pub fn data_bytes(&self) -> u64 {
        self.dir.as_ref().map_or(0, |d| dir_bytes(d.path()))
    }

    /// Stops our broker and removes its data.
    pub fn stop(mut self) -> Result<(), Error> {
        if let Some(mut p) = self.process.take() {
            if p.terminate(Duration::from_secs(20)).is_err() {
                p.kill()?;
            }
        }
        if let Some(d) = self.dir.take() {
            d.close()
                .map_err(|e| Error::io("removing the broker's data", e))?;
        }
        Ok(())
    }
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A program of the pipeline started with a configuration text of the benchmark's own.
pub struct Started {
    /// The process.
    pub process: Process,
    /// Where its configuration is.
    pub config: PathBuf,
}

/// Writes `dir/ingestor.toml` with `toml` and starts `scepwatch-ingestor serve` on it; waits
/// until `http` answers `/readyz` with 200 (the topic exists).
pub fn start_ingestor(dir: &Path, toml: &str, http: SocketAddr) -> Result<Started, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let config = dir.join("ingestor.toml");
    std::fs::write(&config, toml)
        .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
    let args: Vec<OsString> = vec!["serve".into(), "--config".into(), config.clone().into()];
    let env = vec![("RUST_LOG".into(), "warn".into())];
    let mut process = Process::start(
        "scepwatch-ingestor",
        &Program::Ingestor.path()?,
        &args,
        &env,
        &dir.join("ingestor.log"),
    )?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.exited()? {
            return Err(process.exited_error(status));
        }
        if matches!(http_get(http, "/readyz"), Ok((200, _))) {
            return Ok(Started { process, config });
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!(
                "the ingestor was not ready within 60 s; last lines of its log:\n{}",
                process.log_tail(20)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `dir/collector.toml` with `toml` and starts `scepwatch-collector run` on it, with
/// `env` added to its environment (it does not wait: the benchmark's clock starts here).
pub fn start_collector(dir: &Path, toml: &str, env: &[(String, String)]) -> Result<Started, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let config = dir.join("collector.toml");
    std::fs::write(&config, toml)
        .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
    let args: Vec<OsString> = vec!["run".into(), "--config".into(), config.clone().into()];
    let mut vars: Vec<(OsString, OsString)> = vec![("SCEPWATCH_LOG".into(), "warn".into())];
    vars.extend(env.iter().map(|(k, v)| (k.into(), v.into())));
    let process = Process::start(
        "scepwatch-collector",
        &Program::Collector.path()?,
        &args,
        &vars,
        &dir.join("collector.log"),
    )?;
    Ok(Started { process, config })
}

/// Creates `topic` with `partitions` through the ingestor's own `create-topics` command (the
/// way a deployment creates it), with a configuration written to `dir`.
pub fn create_topic(
    dir: &Path,
    bootstrap: &str,
    topic: &str,
    partitions: u32,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let config = dir.join(format!("create-{topic}.toml"));
    // The configuration must name a collector to be valid; this one never connects.
    let digest: String = sha2::Sha256::digest(b"topic-creator-never-connects")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        "listen = \"127.0.0.1:1\"\nhttp_listen = \"127.0.0.1:1\"\nplaintext = true\n\
         [[collectors]]\nname = \"topic-creator\"\ntoken_sha256 = \"{digest}\"\n\
         [kafka]\nbootstrap_servers = \"{bootstrap}\"\ntopic = \"{topic}\"\npartitions = {partitions}\n"
    );
    std::fs::write(&config, text)
        .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
    let out = Command::new(Program::Ingestor.path()?)
        .args(["create-topics", "--config"])
        .arg(&config)
        .output()
        .map_err(|e| Error::io("running scepwatch-ingestor create-topics", e))?;
    if !out.status.success() {
        return Err(Error::Process(format!(
            "scepwatch-ingestor create-topics failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Records in `topic` (sum over partitions of high − low watermark).
pub fn records_in(bootstrap: &str, topic: &str) -> Result<i64, Error> {
    crate::broker::records_in(bootstrap, topic)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 when unknown).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Fields 14 to 17 of `/proc/<pid>/stat`: utime, stime, cutime, cstime, in ticks.
fn stat_times(pid: &str) -> Result<[u64; 4], Error> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| Error::io(format!("reading /proc/{pid}/stat"), e))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| Error::Process(format!("/proc/{pid}/stat: no command field")))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is fields[n - 3].
    let field = |n: usize| -> Result<u64, Error> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Process(format!("/proc/{pid}/stat: field {n} unreadable")))
    };
    Ok([field(14)?, field(15)?, field(16)?, field(17)?])
}

/// CPU time (user + system, every thread) a process has used so far.
pub fn cpu_time(pid: u32) -> Result<Duration, Error> {
    let [u, s, _, _] = stat_times(&pid.to_string())?;
    Ok(ticks(u + s))
}

/// CPU time of a process's live threads, summed by thread name (`/proc/<pid>/task/*/stat`),
/// most first: where a process spends its time, without a profiler.
pub fn thread_cpu(pid: u32) -> Result<Vec<(String, Duration)>, Error> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(format!("reading {dir}"), e))?;
    let mut by_name: Vec<(String, u64)> = Vec::new();
    for e in entries.flatten() {
        let tid = e.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(format!("{dir}/{tid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
            continue;
        };
        let name = text[open + 1..close].to_owned();
        let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
        let t = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let ticks = t(14) + t(15);
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, sum)) => *sum += ticks,
            None => by_name.push((name, ticks)),
        }
    }
    by_name.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    Ok(by_name.into_iter().map(|(n, t)| (n, ticks(t))).collect())
}

/// `name 1.23 s, other 0.45 s` for the threads above 5 % of the total.
pub fn thread_summary(threads: &[(String, Duration)]) -> String {
    let total: f64 = threads.iter().map(|(_, d)| d.as_secs_f64()).sum();
    threads
        .iter()
        .filter(|(_, d)| d.as_secs_f64() >= 0.05 * total && !d.is_zero())
        .map(|(n, d)| format!("{n} {:.2} s", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU time of this process's waited-for children so far (`cutime + cstime` of
/// `/proc/self/stat`): a child's whole CPU time once it has been reaped.
pub fn children_cpu_time() -> Result<Duration, Error> {
    let [_, _, cu, cs] = stat_times("self")?;
    Ok(ticks(cu + cs))
}

fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / clock_ticks() as f64)
}

/// CPU time of the whole machine (all CPUs, every process) from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq + steal.
    pub busy: Duration,
    /// Idle while waiting for the disk.
    pub iowait: Duration,
    /// Everything, idle included.
    pub total: Duration,
}

impl MachineCpu {
    /// Now.
    pub fn read() -> Result<MachineCpu, Error> {
        let text = std::fs::read_to_string("/proc/stat")
            .map_err(|e| Error::io("reading /proc/stat", e))?;
        let line = text
            .lines()
            .find(|l| l.starts_with("cpu "))
            .ok_or_else(|| Error::Process("/proc/stat has no cpu line".to_owned()))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
        Ok(MachineCpu {
            busy: ticks(busy),
            iowait: ticks(at(4)),
            total: ticks(busy + at(3) + at(4)),
        })
    }

    /// What was spent between `earlier` and this reading.
    pub fn since(&self, earlier: &MachineCpu) -> MachineCpu {
        MachineCpu {
            busy: self.busy.saturating_sub(earlier.busy),
            iowait: self.iowait.saturating_sub(earlier.iowait),
            total: self.total.saturating_sub(earlier.total),
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Result<(u64, u64), Error> {
    let [rss, hwm] = status_kib(pid, ["VmRSS:", "VmHWM:"])?;
    Ok((rss, hwm))
}

/// `RssAnon` and `RssFile` of a process, in KiB: its private memory, and the pages of its
/// program and libraries (and other mapped files) that it has touched, which are clean and
/// shared with the page cache.
pub fn rss_split_kib(pid: u32) -> Result<(u64, u64), Error> {
    let [anon, file] = status_kib(pid, ["RssAnon:", "RssFile:"])?;
    Ok((anon, file))
}

/// The machine and the code a figure was measured with.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `nproc`.
    pub cpus: usize,
    /// `lscpu`'s model name.
    pub model: String,
    /// Kernel release.
    pub kernel: String,
    /// `git rev-parse --short HEAD` of the workspace, with `+changes` when the crates of the
    /// pipeline have uncommitted changes.
    pub commit: String,
}

impl Machine {
    /// Reads it.
    pub fn describe() -> Machine {
        let run = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .current_dir(workspace_root())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let cpus = run("nproc", &[])
            .trim()
            .parse()
            .unwrap_or_else(|_| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let model = run("lscpu", &[])
            .lines()
            .find_map(|l| l.strip_prefix("Model name:"))
            .map(|m| m.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let mut commit = run("git", &["rev-parse", "--short", "HEAD"])
            .trim()
            .to_owned();
        let dirty = run(
            "git",
            &[
                "status",
                "--porcelain",
                "--",
                "proto",
                "collector",
                "ingestor",
                "Cargo.toml",
                "Cargo.lock",
            ],
        );
        if !dirty.trim().is_empty() {
            commit.push_str("+changes");
        }
        Machine {
            cpus,
            model,
            kernel,
            commit,
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "machine: nproc {}, lscpu model name \"{}\", Linux {}; commit {}",
            self.cpus, self.model, self.kernel, self.commit
        )
    }
}

/// `/proc/loadavg`'s three averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Min, median and max of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The least.
    pub min: f64,
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The most.
    pub max: f64,
}

impl Spread {
    /// Of `values` (`None` when empty).
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            min: v[0],
            median,
            max: v[n - 1],
        })
    }
}

/// A number with thousands separators and `decimals` decimals (`1,234,567.8`).
pub fn thousands(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Separators of a dump: between key and value, and after each value. No NUL byte (kcat
/// takes them as C strings); written for kcat as `\xNN` escapes by [`kcat_escape`].
pub const KEY_DELIMITER: &[u8] = b"\x1f\xfeSWK\x1e\xff";
/// See [`KEY_DELIMITER`].
pub const RECORD_DELIMITER: &[u8] = b"\x1f\xfeSWD\x1e\xff";

/// `bytes` as kcat's `-K` / `-D` argument (`\xNN` for each byte).
pub fn kcat_escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// What a dump holds.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// Records written.
    pub records: u64,
    /// Events in them (decoded `EndpointEvents`).
    pub events: u64,
    /// Distinct event IDs among them.
    pub distinct_ids: u64,
    /// Bytes of keys and values (without separators).
    pub bytes: u64,
    /// Distinct record keys.
    pub keys: u64,
}

/// Reads every record of `topic` and writes them to `out` as `key KEY_DELIMITER value
/// RECORD_DELIMITER`, the input of `kcat -P -l -K … -D …`; counts their events and distinct
/// event IDs on the way. An error when a separator occurs in a key or value, or a record is
/// not an `EndpointEvents`.
pub fn dump_topic(bootstrap: &str, topic: &str, out: &Path) -> Result<Dump, Error> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-dump"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        // Many records per fetch: the test broker pays per fetch request.
        .set("max.partition.fetch.bytes", "67108864")
        .set("fetch.max.bytes", "134217728")
        .set("receive.message.max.bytes", "135000000")
        .create()?;
    let partitions = crate::broker::partitions_of(&consumer, topic)?;
    if partitions == 0 {
        return Err(Error::Process(format!("topic {topic} does not exist")));
    }
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    let mut high = Vec::new();
    for p in 0..partitions {
        let (lo, hi) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        high.push(hi);
        if hi > lo {
            tpl.add_partition_offset(topic, p, Offset::Offset(lo))?;
            remaining += hi - lo;
        }
    }
    consumer.assign(&tpl)?;
    let file = std::fs::File::create(out)
        .map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut dump = Dump::default();
    let mut ids: HashSet<[u8; 16]> = HashSet::new();
    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    let mut idle_since = Instant::now();
    while remaining > 0 {
        let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
            if idle_since.elapsed() > Duration::from_secs(120) {
                return Err(Error::Timeout(format!(
                    "dumping {topic}: no record for 120 s with {remaining} to go"
                )));
            }
            continue;
        };
        idle_since = Instant::now();
        let msg = msg?;
        if msg.offset() >= high[msg.partition() as usize] {
            continue;
        }
        remaining -= 1;
        let key = msg.key().unwrap_or_default();
        let value = msg.payload().unwrap_or_default();
        for (what, bytes) in [("key", key), ("value", value)] {
            if contains(bytes, KEY_DELIMITER) || contains(bytes, RECORD_DELIMITER) {
                return Err(Error::Process(format!(
                    "a record's {what} (partition {} offset {}) holds a dump separator",
                    msg.partition(),
                    msg.offset()
                )));
            }
        }
        let decoded = EndpointEvents::decode(value).map_err(|source| Error::Decode {
            partition: msg.partition(),
            offset: msg.offset(),
            source,
        })?;
        dump.records += 1;
        dump.events += decoded.events.len() as u64;
        dump.bytes += (key.len() + value.len()) as u64;
        for e in &decoded.events {
            if let Ok(id) = <[u8; 16]>::try_from(e.id.as_slice()) {
                ids.insert(id);
            }
        }
        if !keys.contains(key) {
            keys.insert(key.to_vec());
        }
        let written = w
            .write_all(key)
            .and_then(|()| w.write_all(KEY_DELIMITER))
            .and_then(|()| w.write_all(value))
            .and_then(|()| w.write_all(RECORD_DELIMITER));
        written.map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
    }
    w.flush()
        .map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
    dump.distinct_ids = ids.len() as u64;
    dump.keys = keys.len() as u64;
    Ok(dump)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// kcat run against a current librdkafka, as `scripts/kcat.sh` sets it up.
#[derive(Debug, Clone)]
pub struct Kcat {
    /// `kcat`.
    pub program: PathBuf,
    /// The folder holding the current `librdkafka.so.1`, put first on the loader path.
    pub library_dir: PathBuf,
    /// `kcat -V`'s version line.
    pub version: String,
}

impl Kcat {
    /// Runs `scripts/kcat.sh -V` (which installs kcat and the library when missing) and
    /// returns how to run kcat directly, so that a timing holds kcat alone (not the wrapper's
    /// library lookup).
    pub fn prepare() -> Result<Kcat, Error> {
        let script = workspace_root().join("scripts/kcat.sh");
        let out = Command::new(&script)
            .arg("-V")
            .output()
            .map_err(|e| Error::io(format!("running {}", script.display()), e))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let version = text
            .lines()
            .find(|l| l.starts_with("Version"))
            .unwrap_or("")
            .to_owned();
        if !out.status.success() || version.is_empty() {
            return Err(Error::Process(format!(
                "{} -V failed ({}): {text}",
                script.display(),
                out.status
            )));
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                    .join(".cache")
            });
        let library_dir = cache.join("scepwatch-kcat");
        if !library_dir.join("librdkafka.so.1").exists() {
            return Err(Error::Process(format!(
                "{} has no librdkafka.so.1 after {} -V",
                library_dir.display(),
                script.display()
            )));
        }
        Ok(Kcat {
            program: PathBuf::from("kcat"),
            library_dir,
            version,
        })
    }

    /// The command for `args`.
    pub fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.program);
        let mut path = OsString::from(&self.library_dir);
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            path.push(":");
            path.push(old);
        }
        cmd.env("LD_LIBRARY_PATH", path).args(args);
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 4.0));
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.0, 0), "1,234,567");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(thousands(1000.3, 1), "1,000.3");
        assert_eq!(thousands(-12345.0, 0), "-12,345");
    }

    #[test]
    fn kcat_escapes_every_byte() {
        assert_eq!(kcat_escape(b"\x1fA"), "\\x1f\\x41");
        assert!(!KEY_DELIMITER.contains(&0) && !RECORD_DELIMITER.contains(&0));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_ok());
        let (rss, hwm) = memory_kib(pid).unwrap();
        assert!(rss > 0 && hwm >= rss);
        assert!(children_cpu_time().is_ok());
        let threads = thread_cpu(pid).unwrap();
        assert!(!threads.is_empty());
        let m = MachineCpu::read().unwrap();
        assert!(m.total >= m.busy && m.total > Duration::ZERO);
    }
}
