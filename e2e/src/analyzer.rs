//! The `scepwatch-analyzer serve` program (the analyzer service: Kafka in, ClickHouse out),
//! configured from [`AnalyzerOptions`] and run in a folder of its own (`analyzer.toml`,
//! `analyzer.log`), its HTTP port (`/healthz`, `/readyz`, `/metrics`) a free one kept across
//! restarts.
//!
//! Several analyzers of one consumer group (the rebalance test) each get a folder and a port of
//! their own and the same [`AnalyzerOptions::group_id`].

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::binaries::Program;
use crate::clickhouse::ClickHouse;
use crate::metrics::{http_get, Metrics};
use crate::process::Process;
use crate::results::Results;
use crate::{free_port, Error};

/// What the analyzer is configured with. `None` leaves a key out of the configuration (the
/// service's default then applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzerOptions {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// The events topic.
    pub topic: String,
    /// The consumer group.
    pub group_id: String,
    /// `[kafka.properties]`, in order.
    pub kafka_properties: Vec<(String, String)>,
    /// ClickHouse's HTTP URL.
    pub clickhouse_url: String,
    /// The database the service creates and writes.
    pub database: String,
    /// `engine.attempt_gap_secs`.
    pub attempt_gap_secs: Option<u64>,
    /// `engine.idle_finish_secs`.
    pub idle_finish_secs: Option<u64>,
    /// `service.flush_interval_ms`.
    pub flush_interval_ms: Option<u64>,
    /// `service.flush_events`.
    pub flush_events: Option<u64>,
    /// `service.busy_flush_interval_ms`.
    pub busy_flush_interval_ms: Option<u64>,
    /// `service.shutdown_secs`; [`Analyzer::stop`] waits this long plus 10 s for the exit.
    pub shutdown_secs: u64,
    /// More configuration, appended as written after the sections above (whole sections, or
    /// keys of the last one, `[service]`), for settings these options do not name.
    pub extra: String,
    /// `RUST_LOG` of the process.
    pub log_filter: String,
}

impl AnalyzerOptions {
    /// Reads `topic` on `bootstrap` from its start (`auto.offset.reset = earliest`) in group
    /// `<topic>-analyzer`, writes `database` on `clickhouse_url`, shuts down within 30 s, and
    /// leaves the engine and flush settings to the service.
    pub fn new(
        bootstrap: &str,
        topic: &str,
        clickhouse_url: &str,
        database: &str,
    ) -> AnalyzerOptions {
        AnalyzerOptions {
            bootstrap: bootstrap.to_owned(),
            topic: topic.to_owned(),
            group_id: format!("{topic}-analyzer"),
            kafka_properties: vec![("auto.offset.reset".to_owned(), "earliest".to_owned())],
            clickhouse_url: clickhouse_url.to_owned(),
            database: database.to_owned(),
            attempt_gap_secs: None,
            idle_finish_secs: None,
            flush_interval_ms: None,
            flush_events: None,
            busy_flush_interval_ms: None,
            shutdown_secs: 30,
            extra: String::new(),
            log_filter: "info".to_owned(),
        }
    }

    /// The configuration file's text with `/healthz`, `/readyz` and `/metrics` on `http`.
    pub fn to_toml(&self, http: SocketAddr) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "[kafka]");
        let _ = writeln!(t, "bootstrap_servers = {}", quote(&self.bootstrap));
        let _ = writeln!(t, "topic = {}", quote(&self.topic));
        let _ = writeln!(t, "group_id = {}", quote(&self.group_id));
        let _ = writeln!(t, "\n[kafka.properties]");
        for (k, v) in &self.kafka_properties {
            let _ = writeln!(t, "{} = {}", quote(k), quote(v));
        }
        let _ = writeln!(t, "\n[clickhouse]");
        let _ = writeln!(t, "url = {}", quote(&self.clickhouse_url));
        let _ = writeln!(t, "database = {}", quote(&self.database));
        let _ = writeln!(t, "\n[engine]");
        let engine = [
            ("attempt_gap_secs", self.attempt_gap_secs),
            ("idle_finish_secs", self.idle_finish_secs),
        ];
        for (k, v) in engine {
            if let Some(v) = v {
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        let _ = writeln!(t, "\n[service]");
        let _ = writeln!(t, "http_listen = {}", quote(&http.to_string()));
        let flush = [
            ("flush_interval_ms", self.flush_interval_ms),
            ("flush_events", self.flush_events),
            ("busy_flush_interval_ms", self.busy_flush_interval_ms),
        ];
        for (k, v) in flush {
            if let Some(v) = v {
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        let _ = writeln!(t, "shutdown_secs = {}", self.shutdown_secs);
        if !self.extra.is_empty() {
            t.push('\n');
            t.push_str(&self.extra);
            if !self.extra.ends_with('\n') {
                t.push('\n');
            }
        }
        t
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut q = String::with_capacity(text.len() + 2);
    q.push('"');
    for c in text.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// How long an analyzer gets to answer `/readyz` with 200 (it applies its migrations and joins
/// its group first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running (or stopped) analyzer process.
pub struct Analyzer {
    process: Process,
    http: SocketAddr,
    config: PathBuf,
    shutdown: Duration,
}

impl Analyzer {
    /// Writes `dir/analyzer.toml`, starts the program (output in `dir/analyzer.log`) and waits
    /// until `/readyz` answers 200.
    pub fn start(dir: &Path, options: &AnalyzerOptions) -> Result<Analyzer, Error> {
        let mut a = Analyzer::spawn(dir, options)?;
        a.wait_ready()?;
        Ok(a)
    }

    /// As [`Analyzer::start`], without waiting for readiness (a test of what it does while
    /// ClickHouse or the broker is away).
    pub fn spawn(dir: &Path, options: &AnalyzerOptions) -> Result<Analyzer, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let http = free_port()?;
        let config = dir.join("analyzer.toml");
        std::fs::write(&config, options.to_toml(http))
            .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
        let args: Vec<OsString> = vec!["serve".into(), "--config".into(), config.clone().into()];
        let env = vec![("RUST_LOG".into(), options.log_filter.clone().into())];
        let process = Process::start(
            "scepwatch-analyzer",
            &Program::Analyzer.path()?,
            &args,
            &env,
            &dir.join("analyzer.log"),
        )?;
        Ok(Analyzer {
            process,
            http,
            config,
            shutdown: Duration::from_secs(options.shutdown_secs + 10),
        })
    }

    /// Waits until `/readyz` answers 200 (an error when the process exits, or after two
    /// minutes).
    pub fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited()? {
                return Err(self.process.exited_error(status));
            }
            if self.ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "the analyzer was not ready within {READY_TIMEOUT:?}; last lines of {}:\n{}",
                    self.process.log().display(),
                    self.process.log_tail(30)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// True when `/readyz` answers 200 now.
    pub fn ready(&self) -> bool {
        matches!(http_get(self.http, "/readyz"), Ok((200, _)))
    }

    /// True when `/healthz` answers 200 now.
    pub fn healthy(&self) -> bool {
        matches!(http_get(self.http, "/healthz"), Ok((200, _)))
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

    /// `kill -9`: nothing is flushed or committed.
    pub fn kill9(&mut self) -> Result<(), Error> {
        self.process.kill()
    }

    /// SIGTERM and wait for a clean exit (an error when it does not exit with 0 within its
    /// shutdown time plus 10 s).
    pub fn stop(&mut self) -> Result<(), Error> {
        let status = self.process.terminate(self.shutdown)?;
        if !status.success() {
            return Err(self.process.exited_error(status));
        }
        Ok(())
    }

    /// Starts it again with the same configuration and port, and waits until it is ready.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.process.restart()?;
        self.wait_ready()
    }

    /// The process (pid, memory, log).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// True when it has read every record of its partitions: each of the partitions it holds
    /// reports being read to its end (`scepwatch_analyzer_at_end`, set from Kafka's partition
    /// EOF without asking the broker), and it has read something.
    pub fn caught_up(&self) -> bool {
        self.metrics().is_ok_and(|m| {
            every_partition(&m, "scepwatch_analyzer_at_end")
                && m.get("scepwatch_analyzer_records_total") > 0.0
        })
    }

    /// Whether every assigned partition has been read to its end and, idle, has had
    /// everything it held concluded (`scepwatch_analyzer_concluded`): the rows of the last
    /// conclusions are built, and stored by the next flush or the shutdown's.
    pub fn concluded(&self) -> bool {
        self.metrics()
            .is_ok_and(|m| every_partition(&m, "scepwatch_analyzer_concluded"))
    }

    /// Waits until [`Analyzer::caught_up`] and [`Analyzer::concluded`], then `settle`, then
    /// stops it with SIGTERM (the flush in flight, a last flush and commit).
    pub fn finish(&mut self, limit: Duration, settle: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        while !(self.caught_up() && self.concluded()) {
            if let Some(status) = self.process.exited()? {
                return Err(self.process.exited_error(status));
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "the analyzer did not catch up within {limit:?}; last lines of {}:\n{}",
                    self.process.log().display(),
                    self.process.log_tail(30)
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(settle);
        self.stop()
    }
}

/// A reference run: one analyzer with `options` (its own group and database), no fault, from
/// start to [`Analyzer::finish`] within `limit`, in `dir`. Returns what it stored in
/// `options.database`, with the rows it wrote ([`Results::with_written`]: it starts a second
/// after the call, so that the query-log window holds its inserts only), and its wall time.
pub fn reference_run(
    dir: &Path,
    options: &AnalyzerOptions,
    ch: &ClickHouse,
    limit: Duration,
) -> Result<(Results, Duration), Error> {
    std::thread::sleep(Duration::from_secs(1));
    let from = SystemTime::now();
    let started = Instant::now();
    let mut reference = Analyzer::start(dir, options)?;
    reference.finish(limit, Duration::from_secs(2))?;
    let took = started.elapsed();
    let results =
        Results::read(ch, &options.database)?.with_written(ch, from, SystemTime::now())?;
    Ok((results, took))
}

/// Whether the per-partition gauge `name` is 1 for each of the partitions the analyzer holds.
fn every_partition(m: &Metrics, name: &str) -> bool {
    let prefix = format!("{name}{{");
    let values: Vec<f64> = m
        .text()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    let partitions = m.get("scepwatch_analyzer_partitions");
    partitions > 0.0 && values.len() as f64 == partitions && values.iter().all(|v| *v == 1.0)
}

/// The offsets `group` has committed for `topic`, by partition (partitions without a commit
/// are left out), read with an OffsetFetch request by a client that does not join the group.
pub fn group_offsets(
    bootstrap: &str,
    topic: &str,
    group: &str,
) -> Result<std::collections::BTreeMap<i32, i64>, Error> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let partitions = crate::broker::partitions_of(&consumer, topic)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(got
        .elements_for_topic(topic)
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.is_empty()).collect()
    }

    #[test]
    fn the_configuration_has_the_service_sections_and_leaves_defaults_out() {
        let http: SocketAddr = "127.0.0.1:9465".parse().unwrap();
        let o = AnalyzerOptions::new(
            "127.0.0.1:9092",
            "scepwatch.events.v1",
            "http://127.0.0.1:8123",
            "scepwatch_test_x_1_2",
        );
        assert_eq!(
            lines(&o.to_toml(http)),
            [
                "[kafka]",
                "bootstrap_servers = \"127.0.0.1:9092\"",
                "topic = \"scepwatch.events.v1\"",
                "group_id = \"scepwatch.events.v1-analyzer\"",
                "[kafka.properties]",
                "\"auto.offset.reset\" = \"earliest\"",
                "[clickhouse]",
                "url = \"http://127.0.0.1:8123\"",
                "database = \"scepwatch_test_x_1_2\"",
                "[engine]",
                "[service]",
                "http_listen = \"127.0.0.1:9465\"",
                "shutdown_secs = 30",
            ]
        );
    }

    #[test]
    fn set_options_are_written_and_text_is_quoted() {
        let http: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut o = AnalyzerOptions::new("b", "t", "http://c", "d");
        o.attempt_gap_secs = Some(300);
        o.idle_finish_secs = Some(60);
        o.flush_interval_ms = Some(500);
        o.flush_events = Some(50_000);
        o.busy_flush_interval_ms = Some(2000);
        o.kafka_properties
            .push(("client.id".into(), "a \"quoted\" \\ name".into()));
        o.extra = "[limits]\nmax_open_attempts = 10".into();
        let t = o.to_toml(http);
        for want in [
            "attempt_gap_secs = 300\nidle_finish_secs = 60\n",
            "flush_interval_ms = 500\nflush_events = 50000\nbusy_flush_interval_ms = 2000\nshutdown_secs = 30\n",
            "\"client.id\" = \"a \\\"quoted\\\" \\\\ name\"\n",
        ] {
            assert!(t.contains(want), "{want:?} not in:\n{t}");
        }
        assert!(t.ends_with("\n[limits]\nmax_open_attempts = 10\n"), "{t}");
        assert_eq!(quote("tab\there"), "\"tab\\there\"");
        assert_eq!(quote("\u{1}"), "\"\\u0001\"");
    }
}
