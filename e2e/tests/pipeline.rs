//! The whole transport without faults: IIS files appended through daily files and a rename
//! rotation → the collector program → the ingestor program → Kafka; every line arrives once.

use std::time::{Duration, Instant};

use scepwatch_e2e::collector::{Collector, CollectorOptions};
use scepwatch_e2e::delivery::{await_delivery, Expected, TopicFollower};
use scepwatch_e2e::iis::{AppendPlan, Appender};
use scepwatch_e2e::ingestor::{Ingestor, IngestorOptions};
use scepwatch_e2e::{broker, TestDir};

#[test]
fn every_line_arrives_once_through_daily_files_and_a_rename() {
    let Some(bootstrap) = broker::bootstrap() else {
        return;
    };
    let started = Instant::now();
    let dir = TestDir::new("pipeline").unwrap();
    let topic = broker::fresh_topic("pipeline");
    let logs = dir.path().join("logs");
    let mut ingestor = Ingestor::start(
        &dir.path().join("ingestor"),
        &IngestorOptions::new(&bootstrap, &topic),
    )
    .unwrap();
    let follower = TopicFollower::start(&bootstrap, &topic).unwrap();
    let mut collector = Collector::start(
        &dir.path().join("collector"),
        &CollectorOptions::new(&ingestor.url(), &logs),
    )
    .unwrap();

    let ledger = Appender::spawn(&logs, AppendPlan::rotating(30_000, 20_000, 3, 1))
        .join()
        .unwrap();
    assert_eq!((ledger.days, ledger.renames), (3, 1));
    let expected = Expected::scan(&ledger).unwrap();
    let report = await_delivery(&follower, &expected, Duration::from_secs(60)).unwrap();
    eprintln!(
        "pipeline: {report}; {} files; {:.1} s",
        expected.files(),
        started.elapsed().as_secs_f64()
    );
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.duplicates, 0, "no fault, no resend: {report}");

    // Kafka has the events a moment before the collector has their acks.
    scepwatch_e2e::wait_until(
        "the collector counts every event acked",
        Duration::from_secs(10),
        || {
            collector
                .metrics()
                .is_ok_and(|m| m.get("scepwatch_collector_acked_events_total") == 30_000.0)
        },
    )
    .unwrap();
    collector.stop().unwrap();
    let m = ingestor.metrics().unwrap();
    assert_eq!(
        m.get("scepwatch_ingestor_published_events_total{collector=\"ndes01\"}"),
        30_000.0
    );
    ingestor.stop().unwrap();
}
