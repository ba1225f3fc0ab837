//! `kill -9` of the collector, five times, while IIS appends 1,000,000 lines through daily files
//! and rename rotations: every line reaches Kafka, and what is sent twice carries the same ID.
//!
//! The collector advances a file's checkpoint only once Kafka holds the batch, and recovers its
//! spool after a crash, so a kill can only cause resends (batches in flight, or lines read
//! again after the last saved checkpoint), never a gap. In its own test binary: it uses the
//! machine's two cores for about a minute.

mod support;

use std::time::Duration;

use scepwatch_e2e::iis::{AppendPlan, Appender};
use scepwatch_e2e::{announce, faults};
use support::Rig;

const LINES: u64 = 1_000_000;
const LINES_PER_SECOND: u64 = 15_000;

#[test]
fn collector_killed_five_times_loses_no_line() {
    let Some(mut rig) = Rig::start("collector-kill", |_| {}, |_| {}) else {
        return;
    };
    let seed = faults::seed();
    announce(&format!(
        "collector-kill: seed {seed} (SCEPWATCH_E2E_SEED={seed} replays the kill times)"
    ));
    // Five days' files and two rename rotations, written over about 70 s; the kills fall
    // between 3 s and 58 s, one in each 11 s slot, each followed by up to 1.5 s down.
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
        rig.collector.kill().unwrap();
        kills += 1;
        announce(&format!(
            "collector-kill: kill -9 #{kills} at {:.1} s ({} lines written), down {} ms",
            run.elapsed().as_secs_f64(),
            appender.written(),
            fault.down.as_millis()
        ));
        std::thread::sleep(fault.down);
        rig.collector.restart().unwrap();
    }
    let (ledger, report) = rig.finish(
        appender,
        Duration::from_secs(120),
        &format!("{kills} collector kills"),
    );
    assert_eq!(ledger.lines, LINES);
    assert!(ledger.days >= 5 && ledger.renames >= 2, "{ledger:?}");
    assert!(report.is_complete(), "seed {seed}: {report}");
    assert_eq!(kills, 5);
    assert_eq!(rig.collector.process().starts(), 6);
    rig.stop();
}
