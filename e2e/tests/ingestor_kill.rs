//! `kill -9` of the ingestor, five times, while IIS appends 1,000,000 lines through daily files
//! and rename rotations: nothing is lost, and what is sent twice carries the same ID.
//!
//! The ingestor acknowledges a batch only once Kafka holds all of it, so a batch it was
//! publishing when killed is unacknowledged: the collector keeps it in its spool, reconnects
//! (to the restarted ingestor) and sends it again; records of it already in Kafka become
//! duplicates with the same IDs. In its own test binary: it uses the machine's two cores for
//! about a minute.

mod support;

use support::{Rig, Victim};

#[test]
fn ingestor_killed_five_times_loses_no_line() {
    let Some(mut rig) = Rig::start("ingestor-kill", |_| {}, |_| {}) else {
        return;
    };
    support::kill_five_times_during_a_million_lines(&mut rig, Victim::Ingestor);
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
