//! The `scepwatch-collector` program, configured from [`CollectorOptions`] and run in a folder
//! of its own (`collector.toml`, `collector.log`, `state/`, `spool/`), with its metrics on a
//! free port it keeps across restarts.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::binaries::Program;
use crate::ingestor::{COLLECTOR, TOKEN};
use crate::metrics::Metrics;
use crate::process::Process;
use crate::{free_port, Error};

/// The SCEP URL the test collector declares.
pub const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";

/// What the collector is configured with. Sizes are bytes, durations milliseconds.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// `collector.name`.
    pub name: String,
    /// `collector.host`.
    pub host: String,
    /// `collector.endpoint`; left out when empty (a collector that serves no endpoint).
    pub endpoint: String,
    /// `ingestor.url`.
    pub ingestor_url: String,
    /// `ingestor.token`.
    pub token: String,
    /// `ingestor.ca_file` (with an `https` URL).
    pub ca_file: Option<PathBuf>,
    /// The IIS source's `root`: the folder holding `W3SVC*` folders.
    pub logs: PathBuf,
    /// `spool.max_bytes`.
    pub spool_max_bytes: u64,
    /// `spool.segment_bytes`.
    pub spool_segment_bytes: u64,
    /// `spool.fsync`. Off by default: a killed process loses nothing of what it wrote (the
    /// kernel has it); fsync only matters when the machine loses power.
    pub fsync: bool,
    /// `shipper.batch_max_events`.
    pub batch_max_events: u64,
    /// `shipper.batch_max_bytes`.
    pub batch_max_bytes: u64,
    /// `shipper.batch_max_delay`.
    pub batch_max_delay_ms: u64,
    /// `shipper.max_in_flight`.
    pub max_in_flight: u64,
    /// `shipper.backoff_initial`.
    pub backoff_initial_ms: u64,
    /// `shipper.backoff_max`.
    pub backoff_max_ms: u64,
    /// `tail.poll_interval`.
    pub poll_interval_ms: u64,
    /// Serve `/metrics` (on a free port).
    pub metrics: bool,
    /// `SCEPWATCH_LOG` of the process.
    pub log_filter: String,
    /// Write the `iis` source reading [`CollectorOptions::logs`] (on by default).
    pub iis_source: bool,
    /// More `[[source]]` sections, after the `iis` one.
    pub extra_sources: Vec<SourceOptions>,
    /// `tail.settle` (the collector's default when `None`).
    pub settle_ms: Option<u64>,
    /// The process's working directory (the test's own when `None`): relative `root`s, and
    /// with them the paths in the events' sources, are relative to it.
    pub working_dir: Option<PathBuf>,
}

/// One `[[source]]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOptions {
    /// `name`.
    pub name: String,
    /// `format` (`iis`, `httperr`, `event-xml`, `probe`, ...).
    pub format: String,
    /// `root`.
    pub root: PathBuf,
    /// `include` patterns.
    pub include: Vec<String>,
}

impl SourceOptions {
    /// A source of `format` named `name`, reading `include` below `root`.
    pub fn new(name: &str, format: &str, root: impl Into<PathBuf>, include: &[&str]) -> Self {
        SourceOptions {
            name: name.to_owned(),
            format: format.to_owned(),
            root: root.into(),
            include: include.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn to_toml(&self) -> String {
        let include: Vec<String> = self.include.iter().map(|p| format!("\"{p}\"")).collect();
        format!(
            "[[source]]\nname = \"{}\"\nformat = \"{}\"\nroot = '{}'\ninclude = [{}]\n",
            self.name,
            self.format,
            self.root.display(),
            include.join(", ")
        )
    }
}

impl CollectorOptions {
    /// Collector [`COLLECTOR`] with [`TOKEN`] (what [`crate::ingestor::IngestorOptions::new`]
    /// expects), reading `logs/W3SVC*/u_ex*.log`, shipping to `ingestor_url`; a 256 MiB spool,
    /// batches of up to 10,000 events, 4 MiB or 1 s, a 500 ms poll, and a 50 ms–1 s backoff so
    /// faults are recovered from quickly; metrics on.
    ///
    /// The collector cuts a batch at the end of every round that caught up with the files, so
    /// the poll interval sets the batch size of a steady writer: 500 ms of lines (about 7,000
    /// at 15,000 lines/s, near the 4 MiB cap) makes few Kafka records, which the test broker
    /// needs (see [`crate::ingestor::IngestorOptions::new`]).
    pub fn new(ingestor_url: &str, logs: &Path) -> CollectorOptions {
        CollectorOptions {
            name: COLLECTOR.to_owned(),
            host: "NDES01".to_owned(),
            endpoint: ENDPOINT.to_owned(),
            ingestor_url: ingestor_url.to_owned(),
            token: TOKEN.to_owned(),
            ca_file: None,
            logs: logs.to_path_buf(),
            spool_max_bytes: 256 << 20,
            spool_segment_bytes: 16 << 20,
            fsync: false,
            batch_max_events: 10_000,
            batch_max_bytes: 4 << 20,
            batch_max_delay_ms: 1000,
            max_in_flight: 4,
            backoff_initial_ms: 50,
            backoff_max_ms: 1000,
            poll_interval_ms: 500,
            metrics: true,
            log_filter: "info".to_owned(),
            iis_source: true,
            extra_sources: Vec::new(),
            settle_ms: None,
            working_dir: None,
        }
    }

    /// The configuration file's text, with state and spool under `dir` and metrics on
    /// `metrics` (off when `None`).
    pub fn to_toml(&self, dir: &Path, metrics: Option<SocketAddr>) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "[collector]\nname = \"{}\"\nhost = \"{}\"",
            self.name, self.host
        );
        if !self.endpoint.is_empty() {
            let _ = writeln!(t, "endpoint = \"{}\"", self.endpoint);
        }
        let _ = writeln!(t, "state_dir = '{}'\n", dir.join("state").display());
        let _ = writeln!(
            t,
            "[ingestor]\nurl = \"{}\"\ntoken = \"{}\"\nconnect_timeout = \"2s\"",
            self.ingestor_url, self.token
        );
        if let Some(ca) = &self.ca_file {
            let _ = writeln!(t, "ca_file = '{}'", ca.display());
        }
        let _ = writeln!(
            t,
            "\n[shipper]\nbatch_max_events = {}\nbatch_max_bytes = \"{}\"\n\
             batch_max_delay = \"{}ms\"\nmax_in_flight = {}\nbackoff_initial = \"{}ms\"\n\
             backoff_max = \"{}ms\"\ndrain_timeout = \"5s\"\n",
            self.batch_max_events,
            self.batch_max_bytes,
            self.batch_max_delay_ms,
            self.max_in_flight,
            self.backoff_initial_ms,
            self.backoff_max_ms
        );
        let _ = writeln!(
            t,
            "[spool]\ndir = '{}'\nmax_bytes = \"{}\"\nsegment_bytes = \"{}\"\nfsync = {}\n",
            dir.join("spool").display(),
            self.spool_max_bytes,
            self.spool_segment_bytes,
            self.fsync
        );
        let _ = writeln!(t, "[tail]\npoll_interval = \"{}ms\"", self.poll_interval_ms);
        if let Some(settle) = self.settle_ms {
            let _ = writeln!(t, "settle = \"{settle}ms\"");
        }
        t.push('\n');
        match metrics {
            Some(addr) => {
                let _ = writeln!(t, "[metrics]\nlisten = \"{addr}\"\n");
            }
            None => t.push_str("[metrics]\nlisten = \"off\"\n\n"),
        }
        let mut sources = Vec::new();
        if self.iis_source {
            sources.push(
                SourceOptions::new("iis", "iis", &self.logs, &["W3SVC*/u_ex*.log"]).to_toml(),
            );
        }
        sources.extend(self.extra_sources.iter().map(SourceOptions::to_toml));
        t.push_str(&sources.join("\n"));
        t
    }
}

/// A running (or stopped) collector process.
pub struct Collector {
    process: Process,
    metrics: Option<SocketAddr>,
    dir: PathBuf,
}

/// How long a collector gets to serve its metrics after a start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Collector {
    /// Writes `dir/collector.toml`, starts the program (output in `dir/collector.log`) and,
    /// with metrics on, waits until it serves them.
    pub fn start(dir: &Path, options: &CollectorOptions) -> Result<Collector, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let metrics = if options.metrics {
            Some(free_port()?)
        } else {
            None
        };
        let config = dir.join("collector.toml");
        std::fs::write(&config, options.to_toml(dir, metrics))
            .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
        let args: Vec<OsString> = vec!["run".into(), "--config".into(), config.into()];
        let env = vec![("SCEPWATCH_LOG".into(), options.log_filter.clone().into())];
        let process = Process::start_in(
            "scepwatch-collector",
            &Program::Collector.path()?,
            &args,
            &env,
            options.working_dir.as_deref(),
            &dir.join("collector.log"),
        )?;
        let mut collector = Collector {
            process,
            metrics,
            dir: dir.to_path_buf(),
        };
        collector.wait_started()?;
        Ok(collector)
    }

    /// Waits until the metrics answer (returns at once without metrics); an error when the
    /// process exits first.
    fn wait_started(&mut self) -> Result<(), Error> {
        let Some(addr) = self.metrics else {
            return Ok(());
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited()? {
                return Err(self.process.exited_error(status));
            }
            if Metrics::scrape(addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "the collector served no metrics within {START_TIMEOUT:?}; last lines of {}:\n{}",
                    self.process.log().display(),
                    self.process.log_tail(30)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Scrapes `/metrics` (an error when metrics are off or the process is down).
    pub fn metrics(&self) -> Result<Metrics, Error> {
        let addr = self
            .metrics
            .ok_or_else(|| Error::Process("the collector's metrics are off".to_owned()))?;
        Metrics::scrape(addr)
    }

    /// Its folder (`collector.toml`, `collector.log`, `state/`, `spool/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes in the spool folder's files now.
    pub fn spool_bytes_on_disk(&self) -> u64 {
        std::fs::read_dir(self.dir.join("spool"))
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

    /// `kill -9`.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.process.kill()
    }

    /// Starts it again with the same configuration and waits until it serves its metrics.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.process.restart()?;
        self.wait_started()
    }

    /// SIGTERM and wait for a clean exit (an error when it does not exit with 0).
    pub fn stop(&mut self) -> Result<(), Error> {
        let status = self.process.terminate(Duration::from_secs(30))?;
        if !status.success() {
            return Err(self.process.exited_error(status));
        }
        Ok(())
    }

    /// The process (pid, memory, log).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}
