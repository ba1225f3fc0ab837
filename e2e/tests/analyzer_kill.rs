//! `kill -9` of the analyzer, five times, while it works through 1,000,000 events: what it
//! stores equals what an uninterrupted analyzer stores from the same topic, attempt for attempt,
//! diagnosis for diagnosis, incident for incident, after deduplication by ID (`FINAL`). The raw
//! rows a replay writes twice are counted and printed (the duplicate ratio before merges).
//!
//! The analyzer commits an offset only below records whose results are stored and whose state
//! it no longer holds, with the points its engine and spike detector replay from; a kill can
//! only make it read again and write the same IDs again. In its own test binary: it keeps both
//! cores busy for about 8 minutes (a reference run of 160 s, a killed run of 280 s: every
//! restart replays its partitions from a point before the oldest health fact the rules still
//! consult, here the start of the topic).

use std::time::{Duration, Instant, SystemTime};

use scepwatch_e2e::analyzer::{reference_run, Analyzer, AnalyzerOptions};
use scepwatch_e2e::clickhouse::{self, TestDatabase};
use scepwatch_e2e::results::Results;
use scepwatch_e2e::traffic::{fill_topic, Spike, Traffic, TrafficPlan};
use scepwatch_e2e::{announce, binaries, broker, faults, load, TestDir};

const EVENTS: u64 = 1_000_000;
/// The analyzers' `session.timeout.ms`.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

fn options(bootstrap: &str, topic: &str, ch: &str, db: &str, group: &str) -> AnalyzerOptions {
    let mut o = AnalyzerOptions::new(bootstrap, topic, ch, db);
    o.group_id = group.to_owned();
    // A killed member is noticed after 6 s instead of 45.
    o.kafka_properties.push((
        "session.timeout.ms".to_owned(),
        SESSION_TIMEOUT.as_millis().to_string(),
    ));
    // The test broker answers a fetch only after this wait (docs/kafka.md).
    o.kafka_properties
        .push(("fetch.wait.max.ms".to_owned(), "10".to_owned()));
    o.idle_finish_secs = Some(3);
    o.flush_interval_ms = Some(500);
    o
}

#[test]
fn analyzer_killed_five_times_stores_what_an_uninterrupted_run_stores() {
    if broker::bootstrap().is_none() {
        return;
    }
    let Some(ch) = clickhouse::server() else {
        return;
    };
    let seed = faults::seed();
    announce(&format!(
        "analyzer-kill: seed {seed} (SCEPWATCH_E2E_SEED replays the kill moments)"
    ));
    let dir = TestDir::new("analyzer-kill").unwrap();
    // A broker of its own (the Tansu that scripts/kafka.sh installs) with its memory engine:
    // this test reads a gigabyte twice and more, which the SQLite engine of the test broker
    // serves at 50-120 CPU-seconds per million events (docs/kafka.md); nothing here needs the
    // broker to survive.
    let private = load::Broker::private_with(dir.path(), load::Storage::Memory).unwrap();
    let bootstrap = private.bootstrap().to_owned();
    let topic = broker::fresh_topic("analyzer-kill");

    let mut plan = TrafficPlan::new(42, 16, EVENTS);
    plan.events_per_second = 2_000.0;
    plan.spikes = vec![
        Spike::new(0, 0, 503, 240_000_000, 180_000_000),
        Spike::new(5, 0, 500, 360_000_000, 120_000_000),
    ];
    let fill = fill_topic(&bootstrap, &topic, 4, Traffic::new(plan)).unwrap();
    announce(&format!(
        "analyzer-kill: {} records, {} events in {:.1} s",
        fill.records,
        fill.events,
        fill.elapsed.as_secs_f64()
    ));

    // The release build of the analyzer (on a fresh checkout) is not part of the reference's
    // time, which spaces the kills.
    binaries::Program::Analyzer.path().unwrap();

    // The reference: one run, no fault.
    let reference_db = TestDatabase::new(&ch, "analyzer_kill_reference");
    let (want, took) = reference_run(
        &dir.path().join("reference"),
        &options(
            &bootstrap,
            &topic,
            &clickhouse::url(),
            reference_db.name(),
            &format!("{topic}-reference"),
        ),
        &ch,
        Duration::from_secs(600),
    )
    .unwrap();
    announce(&format!(
        "analyzer-kill: reference run {:.1} s: {want}",
        took.as_secs_f64()
    ));
    assert!(want.attempts.len() > 1000, "{want}");
    assert!(
        !want.incidents.is_empty(),
        "the spikes make incidents: {want}"
    );

    // Five kills, spread over the time the reference took to read everything.
    let killed_db = TestDatabase::new(&ch, "analyzer_kill_killed");
    let span = took.mul_f64(0.8);
    // Each restart comes after the killed member's session has timed out, as a supervisor's
    // restart delay would have it: the test broker gives a member that joins beside a dead one
    // no partitions, and never rebalances once the dead one is dropped (docs/kafka.md, gaps).
    let kills: Vec<_> = faults::schedule(seed, 5, span / 10, span, Duration::from_secs(2))
        .into_iter()
        .map(|mut f| {
            f.down += SESSION_TIMEOUT + Duration::from_secs(1);
            f
        })
        .collect();
    // The rows each run wrote are counted by time window (Results::with_written).
    std::thread::sleep(Duration::from_secs(1));
    let victim_from = SystemTime::now();
    let mut victim = Analyzer::start(
        &dir.path().join("killed"),
        &options(
            &bootstrap,
            &topic,
            &clickhouse::url(),
            killed_db.name(),
            &format!("{topic}-killed"),
        ),
    )
    .unwrap();
    let run = Instant::now();
    // The kill moments are in the analyzer's running time: each restart gets its share of
    // reading before the next kill, however long the downs before it took.
    let mut down = Duration::ZERO;
    for (k, f) in kills.iter().enumerate() {
        if let Some(wait) = (f.at + down).checked_sub(run.elapsed()) {
            std::thread::sleep(wait);
        }
        down += f.down;
        let stored = ch
            .count(&format!(
                "SELECT uniqExact(event_id) FROM {}.events",
                killed_db.name()
            ))
            .unwrap_or(0);
        victim.kill9().unwrap();
        announce(&format!(
            "analyzer-kill: kill {} at {:.1} s ({stored} events stored), down {:.1} s",
            k + 1,
            run.elapsed().as_secs_f64(),
            f.down.as_secs_f64()
        ));
        std::thread::sleep(f.down);
        victim.restart().unwrap();
    }
    victim
        .finish(Duration::from_secs(600), Duration::from_secs(2))
        .unwrap();
    assert_eq!(victim.process().starts(), 6);
    let got = Results::read(&ch, killed_db.name())
        .unwrap()
        .with_written(&ch, victim_from, SystemTime::now())
        .unwrap();
    announce(&format!(
        "analyzer-kill: killed run {:.1} s: {got}",
        run.elapsed().as_secs_f64()
    ));
    let diff = got.diff(&want);
    assert!(
        diff.is_empty(),
        "{} differences:\n{}",
        diff.len(),
        diff.join("\n")
    );
    assert_eq!(got.events, EVENTS);
    private.stop().unwrap();
}
