//! ClickHouse stopped for 60 s while events flow: the analyzer pauses (its flush retries, it
//! reads on until the next flush is full and then nothing more, `/readyz` answers 503,
//! `scepwatch_analyzer_store_wait_seconds` grows),
//! commits nothing while ClickHouse is away, and once it is back catches up and stores
//! everything: the results equal those of an analyzer that read the same topic without a fault,
//! after deduplication by ID. The catch-up is measured and printed: seconds from ClickHouse's
//! return to every event sent until then being stored, events stored per second meanwhile, and
//! the insert attempts that were retried.
//!
//! The traffic is live: a producer thread writes the topic at 2,500 events/s for 100 s while
//! the analyzer consumes; ClickHouse is stopped after 20 s. The reference analyzer (another
//! group, another database) reads the topic afterwards.
//!
//! Stopping the ClickHouse server disturbs every other test using it, so this test is ignored
//! by default and run alone, with the broker outage, by the last step of `scripts/test.sh`
//! (`cargo test -p scepwatch-e2e -- --ignored --test-threads=1`). The server is started again
//! even when the test fails.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scepwatch_e2e::analyzer::{group_offsets, reference_run, Analyzer, AnalyzerOptions};
use scepwatch_e2e::clickhouse::{self, ClickHouse, Outage, TestDatabase};
use scepwatch_e2e::metrics::http_get;
use scepwatch_e2e::results::Results;
use scepwatch_e2e::traffic::{create_topic, FillReport, Spike, TopicWriter, Traffic, TrafficPlan};
use scepwatch_e2e::{announce, broker, load, Error, TestDir};

const EVENTS: u64 = 250_000;
/// Events per second of wall time written to the topic (100 s of traffic).
const RATE: f64 = 2_500.0;
const PARTITIONS: i32 = 4;
/// Traffic before ClickHouse is stopped.
const BEFORE: Duration = Duration::from_secs(20);
const OUTAGE: Duration = Duration::from_secs(60);

fn options(bootstrap: &str, topic: &str, ch: &str, db: &str, group: &str) -> AnalyzerOptions {
    let mut o = AnalyzerOptions::new(bootstrap, topic, ch, db);
    o.group_id = group.to_owned();
    // The test broker answers a fetch only after this wait (docs/kafka.md).
    o.kafka_properties
        .push(("fetch.wait.max.ms".to_owned(), "10".to_owned()));
    // Long enough that a pause of the live traffic on a busy machine never concludes a
    // partition early (the reference reads a full topic and never pauses).
    o.idle_finish_secs = Some(10);
    o.flush_interval_ms = Some(500);
    o
}

/// Writes `traffic` at `rate` events per second of wall time, counting the events sent in
/// `sent` as it goes.
fn produce(
    bootstrap: &str,
    topic: &str,
    traffic: Traffic,
    rate: f64,
    sent: &AtomicU64,
) -> Result<FillReport, Error> {
    let mut w = TopicWriter::new(bootstrap, topic)?;
    let start = Instant::now();
    for (key, record) in traffic {
        let due = start + Duration::from_secs_f64(w.events() as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        w.send(&key, &record)?;
        sent.store(w.events(), Ordering::Relaxed);
    }
    w.finish()
}

fn distinct_events(ch: &ClickHouse, db: &str) -> u64 {
    ch.count(&format!("SELECT uniqExact(event_id) FROM {db}.events"))
        .unwrap_or(0)
}

/// One look at the analyzer while ClickHouse is down.
#[derive(Debug, Clone)]
struct Sample {
    at: Duration,
    ready: u16,
    store_wait: f64,
    commit_lag: f64,
    records: f64,
}

fn sample(a: &Analyzer, at: Duration) -> Sample {
    let ready = http_get(a.http_addr(), "/readyz").map_or(0, |(s, _)| s);
    let m = a.metrics().unwrap_or_default();
    Sample {
        at,
        ready,
        store_wait: m.get("scepwatch_analyzer_store_wait_seconds"),
        commit_lag: m.sum("scepwatch_analyzer_commit_lag_records"),
        records: m.get("scepwatch_analyzer_records_total"),
    }
}

#[test]
#[ignore = "stops the shared ClickHouse server for 60 s: run alone (scripts/test.sh's last step)"]
fn clickhouse_stopped_for_60_s_mid_stream_loses_nothing_and_catches_up() {
    if broker::bootstrap().is_none() {
        return;
    }
    let Some(ch) = clickhouse::server() else {
        return;
    };
    let test = Instant::now();
    let dir = TestDir::new("analyzer-ch-outage").unwrap();
    // A broker of its own with the memory engine (the Tansu of scripts/kafka.sh): run last in
    // the test command, after every other test has written to the shared broker, this test
    // read so slowly from it (its SQLite store then holds gigabytes) that its reference run
    // took 100-200 s instead of 25, and once gave one attempt another join than the live run
    // (BENCHMARKS.md, docs/kafka.md).
    let private = load::Broker::private_with(dir.path(), load::Storage::Memory).unwrap();
    let bootstrap = private.bootstrap().to_owned();
    let topic = broker::fresh_topic("analyzer-ch-outage");
    create_topic(&bootstrap, &topic, PARTITIONS).unwrap();

    let mut plan = TrafficPlan::new(7, 16, EVENTS);
    // 1,000 s of event time: attempts close behind the engine's 300 s gap while the run goes
    // on; the spike makes one incident.
    plan.events_per_second = 250.0;
    plan.spikes = vec![Spike::new(3, 0, 503, 200_000_000, 180_000_000)];

    let db = TestDatabase::new(&ch, "analyzer_ch_outage");
    let group = format!("{topic}-analyzer");
    let mut analyzer = Analyzer::start(
        &dir.path().join("analyzer"),
        &options(&bootstrap, &topic, ch.url(), db.name(), &group),
    )
    .unwrap();

    let sent = Arc::new(AtomicU64::new(0));
    let producer = {
        let (bootstrap, topic, sent) = (bootstrap.clone(), topic.clone(), sent.clone());
        let traffic = Traffic::new(plan);
        std::thread::spawn(move || produce(&bootstrap, &topic, traffic, RATE, &sent))
    };
    let run = Instant::now();

    // Before the outage: the analyzer stores and commits as the events arrive.
    let deadline = run + Duration::from_secs(180);
    loop {
        let committed = group_offsets(&bootstrap, &topic, &group).unwrap_or_default();
        if run.elapsed() >= BEFORE && !committed.is_empty() && distinct_events(&ch, db.name()) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing stored and committed within 180 s; last lines of the log:\n{}",
            analyzer.process().log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let stored_before = distinct_events(&ch, db.name());
    announce(&format!(
        "analyzer-ch-outage: {:.1} s of traffic, {} events sent, {stored_before} stored; \
         stopping ClickHouse",
        run.elapsed().as_secs_f64(),
        sent.load(Ordering::Relaxed)
    ));

    // The outage.
    let outage = Outage::stop(&ch).unwrap();
    let mut samples: Vec<Sample> = Vec::new();
    let mut committed_early: Option<BTreeMap<i32, i64>> = None;
    while outage.elapsed() < OUTAGE {
        samples.push(sample(&analyzer, outage.elapsed()));
        // A commit sent just before the server went away may land a moment later: from 8 s
        // on, nothing may move.
        if committed_early.is_none() && outage.elapsed() >= Duration::from_secs(8) {
            committed_early = Some(group_offsets(&bootstrap, &topic, &group).unwrap());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let committed_late = group_offsets(&bootstrap, &topic, &group).unwrap();
    let last = sample(&analyzer, outage.elapsed());
    let sent_at_return = sent.load(Ordering::Relaxed);
    let stopped_for = outage.elapsed();
    outage.end().unwrap();
    let back = Instant::now();
    let stored_at_return = distinct_events(&ch, db.name());
    announce(&format!(
        "analyzer-ch-outage: ClickHouse down {:.1} s (back at {:.1} s of traffic): {} events \
         sent by then, {stored_at_return} stored",
        stopped_for.as_secs_f64(),
        run.elapsed().as_secs_f64(),
        sent_at_return
    ));
    for s in samples.iter().step_by(5).chain(std::iter::once(&last)) {
        announce(&format!(
            "analyzer-ch-outage:   down {:>4.1} s: /readyz {}, store wait {:.1} s, commit lag \
             {} records, {} records read",
            s.at.as_secs_f64(),
            s.ready,
            s.store_wait,
            s.commit_lag,
            s.records
        ));
    }

    // Catch-up: every event sent until ClickHouse returned is stored.
    let limit = Duration::from_secs(240);
    let mut stored = stored_at_return;
    while stored < sent_at_return {
        assert!(
            back.elapsed() < limit,
            "the analyzer did not store the {sent_at_return} events sent before ClickHouse \
             returned within {limit:?} ({stored} stored); last lines of the log:\n{}",
            analyzer.process().log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(200));
        stored = distinct_events(&ch, db.name());
    }
    let catch_up = back.elapsed();
    let retries = analyzer
        .metrics()
        .unwrap()
        .get("scepwatch_analyzer_insert_retries_total");
    let rate = (stored - stored_at_return) as f64 / catch_up.as_secs_f64().max(1e-3);
    announce(&format!(
        "analyzer-ch-outage: caught up {:.1} s after ClickHouse returned: {} events stored \
         meanwhile ({rate:.0} events/s), {} events sent before the return all stored; {retries} \
         insert attempts retried",
        catch_up.as_secs_f64(),
        stored - stored_at_return,
        sent_at_return
    ));

    let fill = producer.join().unwrap().unwrap();
    announce(&format!("analyzer-ch-outage: traffic {fill}"));
    analyzer
        .finish(Duration::from_secs(300), Duration::from_secs(2))
        .unwrap();
    let got = Results::read(&ch, db.name()).unwrap();
    announce(&format!(
        "analyzer-ch-outage: live run with the outage {:.1} s: {got}",
        run.elapsed().as_secs_f64()
    ));

    // The reference: the same topic read afterwards, no fault.
    let reference_db = TestDatabase::new(&ch, "analyzer_ch_outage_reference");
    let (want, took) = reference_run(
        &dir.path().join("reference"),
        &options(
            &bootstrap,
            &topic,
            ch.url(),
            reference_db.name(),
            &format!("{topic}-reference"),
        ),
        &ch,
        Duration::from_secs(300),
    )
    .unwrap();
    announce(&format!(
        "analyzer-ch-outage: reference run {:.1} s: {want}; whole test {:.1} s",
        took.as_secs_f64(),
        test.elapsed().as_secs_f64()
    ));

    // While ClickHouse was down: not ready, waiting longer and longer, nothing committed.
    let not_ready_from = samples.iter().find(|s| s.ready == 503).map(|s| s.at);
    assert!(
        not_ready_from.is_some_and(|t| t < Duration::from_secs(30)),
        "/readyz answered 503 within 30 s of the outage: {samples:?}"
    );
    assert_eq!(last.ready, 503, "/readyz at the end of the outage");
    let early = samples
        .iter()
        .find(|s| s.at >= Duration::from_secs(10))
        .unwrap();
    assert!(
        last.store_wait >= 40.0 && last.store_wait > early.store_wait + 30.0,
        "the store wait grows through the outage: {:.1} s at {:?}, {:.1} s at the end",
        early.store_wait,
        early.at,
        last.store_wait
    );
    assert!(
        last.commit_lag > early.commit_lag,
        "the commit lag grows while ClickHouse is down: {} then {}",
        early.commit_lag,
        last.commit_lag
    );
    assert_eq!(
        committed_early.as_ref(),
        Some(&committed_late),
        "offsets were committed while ClickHouse was down"
    );
    assert!(retries > 0.0, "the flush was retried during the outage");

    // Afterwards: everything stored, the same results as the reference.
    assert_eq!(fill.events, EVENTS);
    assert_eq!(got.events, EVENTS, "{got}");
    assert!(want.attempts.len() > 1000, "{want}");
    let diff = got.diff(&want);
    assert!(
        diff.is_empty(),
        "{} differences:\n{}",
        diff.len(),
        diff.join("\n")
    );
    private.stop().unwrap();
}
