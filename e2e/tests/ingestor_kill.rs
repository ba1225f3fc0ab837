//! `kill -9` of the ingestor, five times, while IIS appends 1,000,000 lines through daily files
//! and rename rotations: nothing is lost, and what is sent twice carries the same ID.
//!
//! The ingestor acknowledges a batch only once Kafka holds all of it, so a batch it was
//! publishing when killed is unacknowledged: the collector keeps it in its spool, reconnects
//! (to the restarted ingestor) and sends it again; records of it already in Kafka become
//! duplicates with the same IDs. In its own test binary: it uses the machine's two cores for
//! about a minute.

mod support;

use std::time::Duration;

use scepwatch_e2e::iis::{AppendPlan, Appender};
use scepwatch_e2e::{announce, faults};
use support::Rig;

const LINES: u64 = 1_000_000;
const LINES_PER_SECOND: u64 = 15_000;

#[test]
fn ingestor_killed_five_times_loses_no_line() {
    let Some(mut rig) = Rig::start("ingestor-kill", |_| {}, |_| {}) else {
        return;
    };
    let seed = faults::seed();
    announce(&format!(
        "ingestor-kill: seed {seed} (SCEPWATCH_E2E_SEED={seed} replays the kill times)"
    ));
    // Five days' files and two rename rotations, written over about 70 s; the kills fall
    // between 3 s and 58 s, one in each 11 s slot, each followed by up to 1.5 s down (and the
    // restart, which waits until the ingestor is ready).
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
    let run = std::time::Instant::now();
    let mut kills = 0;
    for fault in &schedule {
        while run.elapsed() < fault.at {
            rig.tick(&appender);
            std::thread::sleep(Duration::from_millis(100));
        }
        rig.ingestor.kill().unwrap();
        kills += 1;
        announce(&format!(
            "ingestor-kill: kill -9 #{kills} at {:.1} s ({} lines written), down {} ms",
            run.elapsed().as_secs_f64(),
            appender.written(),
            fault.down.as_millis()
        ));
        std::thread::sleep(fault.down);
        rig.ingestor.restart().unwrap();
    }
    let (ledger, report) = rig.finish(
        appender,
        Duration::from_secs(120),
        &format!("{kills} ingestor kills"),
    );
    assert_eq!(ledger.lines, LINES);
    assert!(ledger.days >= 5 && ledger.renames >= 2, "{ledger:?}");
    assert!(report.is_complete(), "seed {seed}: {report}");
    assert_eq!(kills, 5);
    assert_eq!(rig.ingestor.process().starts(), 6);
    assert_eq!(rig.collector.process().starts(), 1);
    let reconnects = rig
        .collector
        .metrics()
        .unwrap()
        .get("scepwatch_collector_reconnects_total");
    assert!(
        reconnects >= 5.0,
        "the collector reconnected {reconnects} times"
    );
    rig.stop();
}
