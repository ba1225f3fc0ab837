//! End-to-end harness of the scepwatch transport: the real `scepwatch-collector` and
//! `scepwatch-ingestor` programs, run as processes against a real Kafka broker, with IIS logs
//! written as IIS writes them, and a reader that checks what reached the topic line by line.
//!
//! The pieces, each small:
//! - [`binaries`]: where the programs are (built by cargo; built on demand when missing or
//!   older than their sources).
//! - [`process`]: a child process with a log file, `kill -9`, SIGTERM, restart and its memory
//!   from `/proc`.
//! - [`ingestor`] and [`collector`]: one program each, configured from a few options, on free
//!   ports kept across restarts.
//! - [`broker`]: the test broker (`scripts/kafka.sh`): skip or fail when it is absent, fresh
//!   topics, record counts, and outages.
//! - [`iis`]: IIS W3C lines and an appender that writes them at a steady rate through daily
//!   files and rename rotations, remembering every name each file had.
//! - [`delivery`]: follows a topic while the pipeline runs and compares what it read, line by
//!   line, with the files on disk.
//! - [`faults`]: seeded, reproducible moments for kills and outages.
//! - [`metrics`]: Prometheus text scraped from a program's HTTP port.
//! - [`traffic`]: seeded fleet traffic as the events topic carries it (attempts, failures,
//!   spikes, health facts, watermarks), written to a topic as the ingestor writes it, counted
//!   back, and records the analyzer must reject.
//! - [`clickhouse`]: the test ClickHouse server (`scripts/clickhouse.sh`) over HTTP: skip or fail
//!   when it is absent, a database per test, row counts and queries, and outages.
//! - [`analyzer`]: the analyzer service (`scepwatch-analyzer serve`) as a process, configured
//!   from a few options, on a free HTTP port: readiness, metrics, `kill -9`, SIGTERM, restart.
//! - [`results`]: what the analyzer stored in a database, deduplicated, compared with another
//!   run's, and the raw rows per result before merges.
//!
//! A test reads like this:
//!
//! ```no_run
//! use scepwatch_e2e::{broker, collector, delivery, iis, ingestor};
//! # fn main() -> Result<(), scepwatch_e2e::Error> {
//! let Some(bootstrap) = broker::bootstrap() else { return Ok(()) };
//! let dir = scepwatch_e2e::TestDir::new("example")?;
//! let topic = broker::fresh_topic("example");
//! let ingestor = ingestor::Ingestor::start(
//!     &dir.path().join("ingestor"),
//!     &ingestor::IngestorOptions::new(&bootstrap, &topic),
//! )?;
//! // Reads the topic while the pipeline runs.
//! let follower = delivery::TopicFollower::start(&bootstrap, &topic)?;
//! let logs = dir.path().join("logs");
//! let mut collector = collector::Collector::start(
//!     &dir.path().join("collector"),
//!     &collector::CollectorOptions::new(&ingestor.url(), &logs),
//! )?;
//! let ledger = iis::Appender::spawn(&logs, iis::AppendPlan::steady(10_000, 5_000)).join()?;
//! let expected = delivery::Expected::scan(&ledger)?;
//! let report = delivery::await_delivery(&follower, &expected, std::time::Duration::from_secs(60))?;
//! assert!(report.problems.is_empty(), "{report}");
//! collector.stop()?;
//! # Ok(())
//! # }
//! ```
//!
//! Everything here is for tests and benchmarks on Linux (signals, `/proc`); none of it ships.
//!
//! # Running the tests
//!
//! `cargo test -p scepwatch-e2e` with the test broker running (`scripts/kafka.sh start`). Each
//! fault test is a test binary of its own, so cargo runs them one after the other; the broker
//! outage test is ignored by default (`-- --ignored --test-threads=1`, the last step of
//! `scripts/test.sh`). The environment:
//!
//! | variable | effect |
//! |---|---|
//! | `SCEPWATCH_KAFKA_BOOTSTRAP` | the broker (default `127.0.0.1:9092`) |
//! | `SCEPWATCH_KAFKA_CONTROL` | the command run as `<cmd> crash` / `<cmd> start` for an outage (default `scripts/kafka.sh`) |
//! | `CI=true` | a missing broker fails the tests instead of skipping them |
//! | `SCEPWATCH_E2E_PROFILE` | `release` (default) or `debug`: which build of the programs |
//! | `SCEPWATCH_BIN_DIR` | a folder holding the programs, used as it is |
//! | `SCEPWATCH_E2E_SEED` | replays the fault moments of a run (each test prints its seed) |
//! | `SCEPWATCH_E2E_KEEP=1` | keeps each test's folder (configurations, logs, spool, IIS files) and ClickHouse database; a failing test keeps them anyway |
//! | `SCEPWATCH_CLICKHOUSE_URL` | the ClickHouse server's HTTP interface (default `http://127.0.0.1:8123`); without one the tests that need it skip (fail under `CI=true`) |
//! | `SCEPWATCH_CLICKHOUSE_CONTROL` | the command run as `<cmd> stop`, `<cmd> crash`, `<cmd> start` for a ClickHouse outage (default `scripts/clickhouse.sh`) |
#![deny(missing_docs)]

pub mod analyzer;
pub mod binaries;
pub mod broker;
pub mod clickhouse;
pub mod collector;
pub mod delivery;
pub mod faults;
pub mod iis;
pub mod ingestor;
pub mod load;
pub mod metrics;
pub mod process;
pub mod results;
pub mod samples;
pub mod traffic;

use std::path::{Path, PathBuf};

/// What can go wrong while running the pipeline under test.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Building the programs failed, or they cannot be found.
    #[error("the pipeline's programs: {0}")]
    Build(String),
    /// A program did not get where it should within its time.
    #[error("{0}")]
    Timeout(String),
    /// A program exited or misbehaved.
    #[error("{0}")]
    Process(String),
    /// The Kafka client failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A record of the topic is not a `scepwatch.v1.EndpointEvents`.
    #[error("record at partition {partition} offset {offset} is not an EndpointEvents: {source}")]
    Decode {
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// The decoding error.
        source: prost::DecodeError,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// A temporary folder for one test, removed at the end unless `SCEPWATCH_E2E_KEEP=1` (then its
/// path is printed, with the programs' logs and configurations in it).
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    /// A new folder whose name starts with `scepwatch-e2e-<test>-`.
    pub fn new(test: &str) -> Result<TestDir, Error> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("scepwatch-e2e-{test}-"))
            .tempdir()
            .map_err(|e| Error::io("creating a temporary folder", e))?;
        let path = dir.path().to_path_buf();
        let keep = std::env::var("SCEPWATCH_E2E_KEEP").is_ok_and(|v| v == "1");
        let dir = if keep {
            eprintln!("keeping {}", path.display());
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        Ok(TestDir { dir, path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(d) = self.dir.take() {
                // A failed test keeps its logs: the panic message is not enough to debug a
                // multi-process failure.
                eprintln!("test failed: keeping {}", d.path().display());
                let _ = d.keep();
            }
        }
    }
}

/// The workspace's root folder (where `Cargo.toml`, `scripts/` and `target/` are).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A free TCP port on 127.0.0.1 (bound and released; the program that takes it binds it again
/// at every restart).
pub fn free_port() -> Result<std::net::SocketAddr, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding 127.0.0.1:0", e))?;
    l.local_addr()
        .map_err(|e| Error::io("reading a bound address", e))
}

/// Polls `done` every 50 ms until it is true; an error naming `what` after `timeout`.
pub fn wait_until(
    what: &str,
    timeout: std::time::Duration,
    mut done: impl FnMut() -> bool,
) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        if std::time::Instant::now() > deadline {
            return Err(Error::Timeout(format!("{what}: not within {timeout:?}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// Writes a line to stderr past the test harness's output capture, so figures and skips are
/// seen in passing runs too.
pub fn announce(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}
