//! The `scepwatch-ingestor` program, configured from [`IngestorOptions`] and run in a folder of
//! its own (`ingestor.toml`, `ingestor.log`), on two free ports it keeps across restarts.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::binaries::Program;
use crate::metrics::{http_get, Metrics};
use crate::process::Process;
use crate::{free_port, Error};

/// The collector name the options name by default.
pub const COLLECTOR: &str = "ndes01";
/// The token of [`COLLECTOR`] (a long random-looking secret, as real ones are).
pub const TOKEN: &str = "Hq7Zt2Lw9Pd4Xk1Vn8Rb3Sm6Yc0Fg5Ju2Ea7Ko4Wi9Ts1Qb";

/// What the ingestor is configured with.
#[derive(Debug, Clone)]
pub struct IngestorOptions {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// The events topic (created by the ingestor at start).
    pub topic: String,
    /// Partitions of the topic when the ingestor creates it.
    pub partitions: u32,
    /// Known collectors: (name, token); the configuration holds the tokens' SHA-256.
    pub collectors: Vec<(String, String)>,
    /// Serve TLS with this certificate chain and key (PEM files); plain text when `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Lines of the `[limits]` section. The default lifts the per-collector rate limit (a
    /// test's collector sends as fast as it can).
    pub limits: String,
    /// `delivery_timeout_ms` of the `[kafka]` section.
    pub delivery_timeout_ms: u64,
    /// `max_record_bytes` of the `[kafka]` section (the ingestor's default, 900 KiB, when
    /// `None`).
    pub max_record_bytes: Option<u64>,
    /// `RUST_LOG` of the process.
    pub log_filter: String,
}

impl IngestorOptions {
    /// Plain text, collector [`COLLECTOR`] with [`TOKEN`], 6 partitions, no rate limit, and
    /// records of up to 6 MiB.
    ///
    /// Why large records (the ingestor's default is 900 KiB): the test broker (Tansu 0.6, SQLite
    /// engine) keeps record headers in a table without an index, so every record a consumer
    /// fetches costs a scan of every header the broker ever stored (0.1 s per record once it
    /// holds 730,000 records; it has one storage task, so producers wait meanwhile). With
    /// 6 MiB a collector batch of up to 4 MiB ([`crate::collector::CollectorOptions::new`])
    /// is one record: a million events make about 150 records instead of 700. What the tests
    /// check (no loss, resends with the same IDs) does not depend on the record size.
    pub fn new(bootstrap: &str, topic: &str) -> IngestorOptions {
        IngestorOptions {
            bootstrap: bootstrap.to_owned(),
            topic: topic.to_owned(),
            partitions: 6,
            collectors: vec![(COLLECTOR.to_owned(), TOKEN.to_owned())],
            tls: None,
            limits: "events_per_second = 100000000\nburst_events = 100000000\n".to_owned(),
            delivery_timeout_ms: 30_000,
            max_record_bytes: Some(6 << 20),
            log_filter: "info".to_owned(),
        }
    }

    /// The configuration file's text for these ports.
    pub fn to_toml(&self, grpc: SocketAddr, http: SocketAddr) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "listen = \"{grpc}\"");
        let _ = writeln!(t, "http_listen = \"{http}\"");
        let _ = writeln!(t, "shutdown_drain_timeout_secs = 10");
        match &self.tls {
            Some((cert, key)) => {
                let _ = writeln!(
                    t,
                    "[tls]\ncert = '{}'\nkey = '{}'",
                    cert.display(),
                    key.display()
                );
            }
            None => t.push_str("plaintext = true\n"),
        }
        for (name, token) in &self.collectors {
            let digest = Sha256::digest(token.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(
                t,
                "[[collectors]]\nname = \"{name}\"\ntoken_sha256 = \"{hex}\""
            );
        }
        let _ = writeln!(t, "[limits]\n{}", self.limits);
        let _ = writeln!(
            t,
            "[kafka]\nbootstrap_servers = \"{}\"\ntopic = \"{}\"\npartitions = {}\n\
             delivery_timeout_ms = {}",
            self.bootstrap, self.topic, self.partitions, self.delivery_timeout_ms,
        );
        if let Some(bytes) = self.max_record_bytes {
            let _ = writeln!(t, "max_record_bytes = {bytes}");
        }
        t
    }
}

/// A running (or stopped) ingestor process.
pub struct Ingestor {
    process: Process,
    grpc: SocketAddr,
    http: SocketAddr,
    tls: bool,
    config: PathBuf,
}

/// How long an ingestor gets to answer `/readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

impl Ingestor {
    /// Writes `dir/ingestor.toml`, starts the program (output in `dir/ingestor.log`) and waits
    /// until it is ready (the topic exists).
    pub fn start(dir: &Path, options: &IngestorOptions) -> Result<Ingestor, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let (grpc, http) = (free_port()?, free_port()?);
        let config = dir.join("ingestor.toml");
        std::fs::write(&config, options.to_toml(grpc, http))
            .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
        let args: Vec<OsString> = vec!["serve".into(), "--config".into(), config.clone().into()];
        let env = vec![("RUST_LOG".into(), options.log_filter.clone().into())];
        let process = Process::start(
            "scepwatch-ingestor",
            &Program::Ingestor.path()?,
            &args,
            &env,
            &dir.join("ingestor.log"),
        )?;
        let mut ingestor = Ingestor {
            process,
            grpc,
            http,
            tls: options.tls.is_some(),
            config,
        };
        ingestor.wait_ready()?;
        Ok(ingestor)
    }

    /// Waits until `/readyz` answers 200 (an error when the process exits or after a minute).
    pub fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited()? {
                return Err(self.process.exited_error(status));
            }
            if matches!(http_get(self.http, "/readyz"), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "the ingestor was not ready within {READY_TIMEOUT:?}; last lines of {}:\n{}",
                    self.process.log().display(),
                    self.process.log_tail(30)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL collectors use (`http://…` or `https://…`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.grpc)
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    /// The address of `/healthz`, `/readyz` and `/metrics`.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Scrapes `/metrics`.
    pub fn metrics(&self) -> Result<Metrics, Error> {
        Metrics::scrape(self.http)
    }

    /// `kill -9`.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.process.kill()
    }

    /// Starts it again on the same ports and waits until it is ready.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.process.restart()?;
        self.wait_ready()
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
