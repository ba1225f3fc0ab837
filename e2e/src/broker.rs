//! The Kafka broker of the tests: the one `scripts/kafka.sh start` runs on 127.0.0.1:9092
//! (`SCEPWATCH_KAFKA_BOOTSTRAP` names another), topics of their own, and outages.
//!
//! A test that needs the broker starts with `let Some(bootstrap) = broker::bootstrap() else {
//! return };`: without a broker it prints `SKIPPED: …` and passes, except under `CI=true`, where
//! it fails (a skipped test proves nothing).

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::{workspace_root, Error};

/// The broker's bootstrap address, or `None` (after printing why) when nothing answers there
/// and the run is not CI. Under `CI=true` an absent broker panics.
pub fn bootstrap() -> Option<String> {
    let bootstrap = bootstrap_address();
    if reachable(&bootstrap) {
        return Some(bootstrap);
    }
    let msg = format!(
        "no Kafka broker at {bootstrap}: start it with `scripts/kafka.sh start` (or set \
         SCEPWATCH_KAFKA_BOOTSTRAP)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI must not skip this test");
    }
    // Straight to stderr, past the test harness's capture, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {msg}");
    None
}

/// `SCEPWATCH_KAFKA_BOOTSTRAP`, or `127.0.0.1:9092`.
pub fn bootstrap_address() -> String {
    std::env::var("SCEPWATCH_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// True when a TCP connection to one of the bootstrap addresses opens.
pub fn reachable(bootstrap: &str) -> bool {
    bootstrap.split(',').any(|addr| {
        addr.to_socket_addrs()
            .ok()
            .into_iter()
            .flatten()
            .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    })
}

/// A topic name no other test or run uses. Topics are never deleted: on the test broker,
/// deleting one deletes them all (docs/kafka.md).
pub fn fresh_topic(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("scepwatch-e2e-{test}-{}-{nanos}", std::process::id())
}

/// The partition count of `topic` as the broker reports it; 0 when the topic does not exist
/// (or its metadata carries an error).
pub fn partitions_of(consumer: &BaseConsumer, topic: &str) -> Result<i32, Error> {
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len() as i32))
}

/// Records in `topic`: the sum over its partitions of high − low watermark (0 when the topic
/// does not exist).
pub fn records_in(bootstrap: &str, topic: &str) -> Result<i64, Error> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let partitions = partitions_of(&consumer, topic)?;
    let mut sum = 0;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        sum += high - low;
    }
    Ok(sum)
}

/// The command that starts and stops the broker: `SCEPWATCH_KAFKA_CONTROL`, or the
/// workspace's `scripts/kafka.sh`. It is run as `<command> crash` (stop as a crash would) and
/// `<command> start`.
pub fn control_command() -> PathBuf {
    std::env::var_os("SCEPWATCH_KAFKA_CONTROL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("scripts/kafka.sh"))
}

fn control(action: &str) -> Result<(), Error> {
    let cmd = control_command();
    let status = Command::new(&cmd)
        .arg(action)
        .status()
        .map_err(|e| Error::io(format!("running {} {action}", cmd.display()), e))?;
    if !status.success() {
        return Err(Error::Process(format!(
            "`{} {action}` failed ({status})",
            cmd.display()
        )));
    }
    Ok(())
}

/// A broker outage: the broker is stopped while this lives, started again by
/// [`Outage::end`] (or when dropped, so a failing test does not leave the machine without a
/// broker).
///
/// Stopping the shared broker disturbs every other test using it: tests with an outage are
/// `#[ignore]`d and run alone, after the others (`cargo test -p scepwatch-e2e -- --ignored
/// --test-threads=1`, the last step of `scripts/test.sh`).
pub struct Outage {
    bootstrap: String,
    ended: bool,
}

impl Outage {
    /// Stops the broker and checks that nothing answers at `bootstrap` any more (a broker that
    /// the control command did not start cannot be stopped, and the test would prove nothing).
    ///
    /// The broker is killed (SIGKILL), not stopped gracefully: a crash is the harsher outage
    /// (nothing is flushed on the way down).
    pub fn begin(bootstrap: &str) -> Result<Outage, Error> {
        control("crash")?;
        let outage = Outage {
            bootstrap: bootstrap.to_owned(),
            ended: false,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reachable(bootstrap) {
            if Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "a broker still answers at {bootstrap} after `{} crash`: it was not started \
                     by that command, so it cannot be stopped for this test",
                    control_command().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(outage)
    }

    /// Starts the broker again and waits until it answers.
    pub fn end(mut self) -> Result<(), Error> {
        self.ended = true;
        restart(&self.bootstrap)
    }
}

fn restart(bootstrap: &str) -> Result<(), Error> {
    control("start")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reachable(bootstrap) {
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!(
                "the broker does not answer at {bootstrap} within 60 s of `start`"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.ended {
            if let Err(e) = restart(&self.bootstrap) {
                eprintln!("could not start the broker again after an outage: {e}");
            }
        }
    }
}
