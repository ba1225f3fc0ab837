//! `kill -9` of the collector, five times, while IIS appends 1,000,000 lines through daily files
//! and rename rotations: every line reaches Kafka, and what is sent twice carries the same ID.
//!
//! The collector advances a file's checkpoint only once Kafka holds the batch, and recovers its
//! spool after a crash, so a kill can only cause resends (batches in flight, or lines read
//! again after the last saved checkpoint), never a gap. In its own test binary: it uses the
//! machine's two cores for about a minute.

mod support;

use support::{Rig, Victim};

#[test]
fn collector_killed_five_times_loses_no_line() {
    let Some(mut rig) = Rig::start("collector-kill", |_| {}, |_| {}) else {
        return;
    };
    support::kill_five_times_during_a_million_lines(&mut rig, Victim::Collector);
    assert_eq!(rig.collector.process().starts(), 6);
    rig.stop();
}
