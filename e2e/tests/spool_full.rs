//! A full spool, with the real ingestor and broker: while the ingestor is down the collector
//! reads until its small spool is full, then its sources wait (the metric and a log line say
//! so) with its memory flat; once the ingestor is back every line reaches Kafka.

mod support;

use std::time::{Duration, Instant};

use scepwatch_e2e::iis::{AppendPlan, Appender};
use scepwatch_e2e::{announce, wait_until};
use support::Rig;

const LINES: u64 = 100_000;
const SPOOL_MAX: u64 = 2 << 20;
/// What the collector may hold in memory, however long the outage and whatever the backlog
/// (here about 55 MB of events waiting in the files): a generous bound on `VmHWM`. Measured on
/// the development machine: 11 MiB while the spool is full, 22 MiB at most while catching up.
const RSS_BOUND_KIB: u64 = 64 << 10;

#[test]
fn a_full_spool_blocks_reading_with_flat_memory_and_loses_nothing() {
    let Some(mut rig) = Rig::start(
        "spool-full",
        |_| {},
        |c| {
            c.spool_max_bytes = SPOOL_MAX;
            c.spool_segment_bytes = 512 << 10;
            c.batch_max_bytes = 256 << 10;
        },
    ) else {
        return;
    };
    // The ingestor goes away; the whole backlog is written at once.
    rig.ingestor.kill().unwrap();
    let ledger = Appender::spawn(&rig.logs(), AppendPlan::rotating(LINES, 0, 2, 1))
        .join()
        .unwrap();

    let spool_full = |rig: &Rig| {
        rig.collector
            .metrics()
            .is_ok_and(|m| m.get("scepwatch_collector_spool_full") == 1.0)
    };
    wait_until("the spool fills", Duration::from_secs(30), || {
        spool_full(&rig)
    })
    .unwrap();
    let full_since = Instant::now();
    let first = rig.collector.metrics().unwrap();
    let mut rss = Vec::new();
    while full_since.elapsed() < Duration::from_secs(5) {
        rss.push(rig.collector.process().memory().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    let later = rig.collector.metrics().unwrap();
    let spooled =
        |m: &scepwatch_e2e::metrics::Metrics| m.get("scepwatch_collector_spooled_events_total");
    announce(&format!(
        "spool-full: full after {} of {LINES} lines; spool {} bytes (limit {SPOOL_MAX}), {} on disk; \
         collector RSS {} → {} KiB, VmHWM {} KiB over 5 s full",
        spooled(&first),
        later.get("scepwatch_collector_spool_bytes"),
        rig.collector.spool_bytes_on_disk(),
        rss[0].rss_kib,
        rss[rss.len() - 1].rss_kib,
        rss[rss.len() - 1].hwm_kib
    ));
    assert!(spool_full(&rig), "still full: the ingestor is still down");
    assert!(
        spooled(&first) < LINES as f64,
        "reading waits: {} spooled",
        spooled(&first)
    );
    assert_eq!(
        spooled(&first),
        spooled(&later),
        "nothing is read while the spool is full"
    );
    assert!(later.get("scepwatch_collector_spool_bytes") <= SPOOL_MAX as f64);
    assert!(later.get("scepwatch_collector_spool_full_waits_total") >= 1.0);
    let log = rig.collector.process().log_text();
    assert!(
        log.contains("spool full: reading waits until the ingestor acknowledges batches"),
        "the log says so:\n{}",
        rig.collector.process().log_tail(20)
    );
    let hwm = rss.iter().map(|m| m.hwm_kib).max().unwrap_or(0);
    assert!(
        hwm < RSS_BOUND_KIB,
        "collector VmHWM {hwm} KiB over the bound of {RSS_BOUND_KIB} KiB"
    );
    let grown = rss[rss.len() - 1].rss_kib.saturating_sub(rss[0].rss_kib);
    assert!(
        grown < 4 << 10,
        "RSS grew by {grown} KiB while the spool was full"
    );

    // The ingestor is back: the spool drains, reading resumes, every line arrives.
    rig.ingestor.restart().unwrap();
    let report = rig.deliver(
        &ledger,
        Duration::from_secs(120),
        "ingestor down until the spool was full for 5 s",
    );
    assert!(report.is_complete(), "{report}");
    let peak = rig.collector.process().peak_kib();
    assert!(
        peak < RSS_BOUND_KIB,
        "collector VmHWM {peak} KiB over the bound of {RSS_BOUND_KIB} KiB while catching up"
    );
    wait_until("the full gauge clears", Duration::from_secs(10), || {
        rig.collector
            .metrics()
            .is_ok_and(|m| m.get("scepwatch_collector_spool_full") == 0.0)
    })
    .unwrap();
    assert!(rig
        .collector
        .process()
        .log_text()
        .contains("spool has room again: reading resumes"));
    rig.stop();
}
