//! What the fault tests share: a rig (ingestor and collector programs, a topic followed from
//! its start) and the loop that drives a run while IIS appends.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use scepwatch_e2e::collector::{Collector, CollectorOptions};
use scepwatch_e2e::delivery::{await_delivery, Expected, Report, TopicFollower};
use scepwatch_e2e::iis::{Appender, Ledger};
use scepwatch_e2e::ingestor::{Ingestor, IngestorOptions};
use scepwatch_e2e::{announce, binaries, broker, TestDir};

/// Lines the writer may be ahead of what was read back from the topic. The test broker's cost
/// of a fetch grows with the bytes behind the reader (and past about a gigabyte a fetch can
/// fail its storage for everyone), so the writer waits for a reader that fell behind.
pub const MAX_LAG: u64 = 150_000;

/// The programs and the topic of one test.
pub struct Rig {
    pub name: &'static str,
    pub bootstrap: String,
    pub topic: String,
    pub dir: TestDir,
    pub ingestor: Ingestor,
    pub collector: Collector,
    pub follower: TopicFollower,
    /// Since the programs were started (building them is not counted).
    pub started: Instant,
    last_progress: Instant,
}

impl Rig {
    /// Builds the programs if needed, starts the ingestor on a fresh topic, a follower of the
    /// topic and the collector; `None` (skipped) without a broker.
    pub fn start(
        name: &'static str,
        ingestor: impl FnOnce(&mut IngestorOptions),
        collector: impl FnOnce(&mut CollectorOptions),
    ) -> Option<Rig> {
        let bootstrap = broker::bootstrap()?;
        binaries::ensure_built().unwrap();
        let started = Instant::now();
        let dir = TestDir::new(name).unwrap();
        let topic = broker::fresh_topic(name);
        let mut io = IngestorOptions::new(&bootstrap, &topic);
        ingestor(&mut io);
        let ingestor = Ingestor::start(&dir.path().join("ingestor"), &io).unwrap();
        let follower = TopicFollower::start(&bootstrap, &topic).unwrap();
        let mut co = CollectorOptions::new(&ingestor.url(), &dir.path().join("logs"));
        collector(&mut co);
        let collector = Collector::start(&dir.path().join("collector"), &co).unwrap();
        Some(Rig {
            name,
            bootstrap,
            topic,
            dir,
            ingestor,
            collector,
            follower,
            started,
            last_progress: Instant::now(),
        })
    }

    /// The IIS log folder.
    pub fn logs(&self) -> std::path::PathBuf {
        self.dir.path().join("logs")
    }

    /// One step of a run (call it every 100 ms or so): samples the collector's memory, keeps
    /// the writer within [`MAX_LAG`] of the reader, and prints progress every 5 s.
    pub fn tick(&mut self, appender: &Appender) {
        self.collector.process().sample_memory();
        self.ingestor.process().sample_memory();
        appender.limit(self.follower.events() + MAX_LAG);
        if self.last_progress.elapsed() >= Duration::from_secs(5) {
            self.last_progress = Instant::now();
            self.progress(appender.written());
        }
    }

    /// Prints where the run is: lines written, events published, events read back, spool.
    pub fn progress(&mut self, written: u64) {
        let published = self
            .ingestor
            .metrics()
            .map(|m| m.sum("scepwatch_ingestor_published_events_total"))
            .map_or("-".to_owned(), |v| format!("{v}"));
        let spool = self
            .collector
            .metrics()
            .map(|m| m.get("scepwatch_collector_spool_bytes") / 1_048_576.0)
            .map_or("-".to_owned(), |v| format!("{v:.1} MiB"));
        announce(&format!(
            "{}: {:.0} s: {written} lines written, {published} events published, {} read back, spool {spool}",
            self.name,
            self.started.elapsed().as_secs_f64(),
            self.follower.events(),
        ));
    }

    /// Waits for the writer (ticking; a writer still held back by a stalled reader after
    /// `timeout` is stopped), then for every line to arrive (up to `timeout`), and prints the
    /// report with the run's figures.
    pub fn finish(
        &mut self,
        appender: Appender,
        timeout: Duration,
        faults: &str,
    ) -> (Ledger, Report) {
        let deadline = Instant::now() + timeout;
        while !appender.is_finished() {
            self.tick(&appender);
            if Instant::now() > deadline {
                // The reader stopped reading: what is written is checked, the rest is not.
                announce(&format!(
                    "{}: the writer is still held back after {timeout:?}: stopping it",
                    self.name
                ));
                appender.stop();
                appender.limit(u64::MAX);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let ledger = appender.join().unwrap();
        let report = self.deliver(&ledger, timeout, faults);
        (ledger, report)
    }

    /// Waits for every line of `ledger` to arrive (up to `timeout`), and prints the report
    /// with the run's figures.
    pub fn deliver(&mut self, ledger: &Ledger, timeout: Duration, faults: &str) -> Report {
        let expected = Expected::scan(ledger).unwrap();
        let report = await_delivery(&self.follower, &expected, timeout).unwrap();
        self.collector.process().sample_memory();
        self.ingestor.process().sample_memory();
        announce(&format!(
            "{}: {report}\n  {} files ({} days, {} renames) written in {:.1} s; {faults}; peak RSS: collector {} MiB, ingestor {} MiB; wall {:.1} s (without building)",
            self.name,
            expected.files(),
            ledger.days,
            ledger.renames,
            ledger.elapsed.as_secs_f64(),
            self.collector.process().peak_kib() / 1024,
            self.ingestor.process().peak_kib() / 1024,
            self.started.elapsed().as_secs_f64()
        ));
        report
    }

    /// Stops both programs cleanly (SIGTERM; both must exit with 0).
    pub fn stop(mut self) {
        self.collector.stop().unwrap();
        self.ingestor.stop().unwrap();
    }
}

/// The program a kill run kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    /// `scepwatch-collector`.
    Collector,
    /// `scepwatch-ingestor`.
    Ingestor,
}

/// One million IIS lines at 15,000 lines/s through five daily files and two rename rotations
/// (about 70 s), with `victim` killed (`kill -9`) five times at seeded moments between 3 s and
/// 58 s, one in each 11 s slot, each followed by up to 1.5 s down and a restart. Asserts that
/// every line arrived (resends only with identical IDs); returns the seed for the caller's
/// own assertions and messages.
pub fn kill_five_times_during_a_million_lines(rig: &mut Rig, victim: Victim) -> u64 {
    use scepwatch_e2e::faults;
    use scepwatch_e2e::iis::AppendPlan;
    const LINES: u64 = 1_000_000;
    const LINES_PER_SECOND: u64 = 15_000;

    let name = rig.name;
    let seed = faults::seed();
    announce(&format!(
        "{name}: seed {seed} (SCEPWATCH_E2E_SEED={seed} replays the kill times)"
    ));
    let appender = Appender::spawn(
        &rig.logs(),
        AppendPlan::rotating(LINES, LINES_PER_SECOND, 5, 2),
    );
    let schedule = faults::schedule(
        seed,
        5,
        Duration::from_secs(3),
        Duration::from_secs(58),
        Duration::from_millis(1500),
    );
    let run = Instant::now();
    let mut kills = 0;
    for fault in &schedule {
        while run.elapsed() < fault.at {
            rig.tick(&appender);
            std::thread::sleep(Duration::from_millis(100));
        }
        match victim {
            Victim::Collector => rig.collector.kill().unwrap(),
            Victim::Ingestor => rig.ingestor.kill().unwrap(),
        }
        kills += 1;
        announce(&format!(
            "{name}: kill -9 #{kills} at {:.1} s ({} lines written), down {} ms",
            run.elapsed().as_secs_f64(),
            appender.written(),
            fault.down.as_millis()
        ));
        std::thread::sleep(fault.down);
        match victim {
            Victim::Collector => rig.collector.restart().unwrap(),
            Victim::Ingestor => rig.ingestor.restart().unwrap(),
        }
    }
    let what = match victim {
        Victim::Collector => "collector",
        Victim::Ingestor => "ingestor",
    };
    let (ledger, report) = rig.finish(
        appender,
        Duration::from_secs(120),
        &format!("{kills} {what} kills"),
    );
    assert_eq!(ledger.lines, LINES);
    assert!(ledger.days >= 5 && ledger.renames >= 2, "{ledger:?}");
    assert!(report.is_complete(), "seed {seed}: {report}");
    assert_eq!(kills, 5);
    seed
}
