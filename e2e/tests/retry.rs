//! A batch the ingestor answers RETRY is sent again and delivered, never lost.
//!
//! The ingestor answers RETRY when a collector is over its rate, or when Kafka did not take
//! every record (a broker stopping answers in-flight produce requests with errors). Here the
//! rate limit makes the RETRY answers: a collector sends 30,000 events as fast as it reads them
//! to an ingestor that lets it publish 5,000 a second.

mod support;

use std::time::Duration;

use scepwatch_e2e::iis::{AppendPlan, Appender};
use support::Rig;

const LINES: u64 = 30_000;

#[test]
fn a_batch_answered_retry_is_sent_again_and_delivered() {
    let Some(mut rig) = Rig::start(
        "retry",
        |i| {
            i.limits = "events_per_second = 5000\nburst_events = 5000\n\
                        max_events_per_batch = 5000\n"
                .to_owned();
        },
        |c| c.batch_max_events = 2000,
    ) else {
        return;
    };
    let ledger = Appender::spawn(&rig.logs(), AppendPlan::steady(LINES, 0))
        .join()
        .unwrap();
    let report = rig.deliver(
        &ledger,
        Duration::from_secs(30),
        "rate limit of 5,000 events/s",
    );
    let ingestor = rig.ingestor.metrics().unwrap();
    let retried = ingestor.get(
        "scepwatch_ingestor_retried_batches_total{collector=\"ndes01\",reason=\"rate_limit\"}",
    );
    let rejected = ingestor.sum("scepwatch_ingestor_rejected_batches_total");
    let kept: Vec<_> = std::fs::read_dir(rig.collector.dir().join("state/rejected"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        retried >= 1.0,
        "the rate limit answered RETRY ({retried} batches)"
    );
    assert_eq!(
        rejected, 0.0,
        "no batch rejected; the collector kept {kept:?}\n{report}"
    );
    assert!(report.is_complete(), "{report}");
    rig.stop();
}
