//! Rebalances of the analyzers' consumer group while events flow: a second analyzer (same
//! group, same database) joins the first, takes some of the topic's partitions, then leaves
//! with SIGTERM; a third joins, takes partitions, and is killed with `kill -9`. What the group
//! stored equals what one analyzer that read the same topic without a fault stores, after
//! deduplication by ID, and the events stored are every event of the topic once by ID.
//!
//! A partition's new owner replays it from the last commit with fresh state; the commit is
//! never past anything its old owner had not stored or still held, and the rows written again
//! carry the same IDs. The test checks that each analyzer really had partitions (its
//! `scepwatch_analyzer_partitions` gauge) and that the partitions were split between the
//! members, never given to both.
//!
//! The test broker (Tansu 0.6) does not rebalance the group when a member dies without leaving
//! (docs/kafka.md, gaps): the dead member is dropped after `session.timeout.ms`, but the others
//! keep their assignment and its partitions are read by nobody until the membership changes
//! again. The test checks that this is all that happens (its partitions stay unread, nothing is
//! lost) and brings the killed analyzer back, as its supervisor would, which rebalances the
//! group; Apache Kafka gives the partitions to the survivors at once.

use std::time::{Duration, Instant, SystemTime};

use scepwatch_e2e::analyzer::{reference_run, Analyzer, AnalyzerOptions};
use scepwatch_e2e::clickhouse::{self, TestDatabase};
use scepwatch_e2e::results::Results;
use scepwatch_e2e::traffic::{create_topic, fill_topic_at_rate, Spike, Traffic, TrafficPlan};
use scepwatch_e2e::{announce, broker, TestDir};

const EVENTS: u64 = 150_000;
/// Events per second of wall time written to the topic (75 s of traffic).
const RATE: f64 = 2_000.0;
const PARTITIONS: i32 = 6;
/// How long a rebalance may take on a busy machine.
const REBALANCE: Duration = Duration::from_secs(90);
/// How long the test watches for the partitions of a killed member to move (its session
/// times out after 15 s).
const KILLED_WATCH: Duration = Duration::from_secs(25);

fn options(bootstrap: &str, topic: &str, ch: &str, db: &str, group: &str) -> AnalyzerOptions {
    let mut o = AnalyzerOptions::new(bootstrap, topic, ch, db);
    o.group_id = group.to_owned();
    // A killed member is dropped after 15 s instead of 45; heartbeats every second keep a live
    // member inside that even when the test broker answers slowly on a busy machine (at 6 s,
    // members of a loaded machine timed out and the group kept rebalancing).
    o.kafka_properties
        .push(("session.timeout.ms".to_owned(), "15000".to_owned()));
    o.kafka_properties
        .push(("heartbeat.interval.ms".to_owned(), "1000".to_owned()));
    // The test broker answers a fetch only after this wait (docs/kafka.md).
    o.kafka_properties
        .push(("fetch.wait.max.ms".to_owned(), "10".to_owned()));
    // Long enough that a pause of the live traffic, or a rebalance, never concludes a
    // partition early (the reference reads a full topic and never pauses).
    o.idle_finish_secs = Some(10);
    o.flush_interval_ms = Some(500);
    o
}

/// The analyzer's `scepwatch_analyzer_partitions` gauge (None when it does not answer).
fn partitions(a: &Analyzer) -> Option<i64> {
    a.metrics()
        .ok()?
        .value("scepwatch_analyzer_partitions")
        .map(|v| v as i64)
}

fn events_stored_by(a: &Analyzer) -> f64 {
    a.metrics()
        .map(|m| m.get("scepwatch_analyzer_rows_stored_total{table=\"events\"}"))
        .unwrap_or(0.0)
}

/// Waits until `done` holds of the members' partition counts; returns them.
fn wait_for_split(
    what: &str,
    members: &[&Analyzer],
    done: impl Fn(&[i64]) -> bool,
) -> (Vec<i64>, Duration) {
    let started = Instant::now();
    loop {
        let counts: Vec<i64> = members
            .iter()
            .map(|a| partitions(a).unwrap_or(-1))
            .collect();
        if done(&counts) {
            return (counts, started.elapsed());
        }
        assert!(
            started.elapsed() < REBALANCE,
            "{what}: not within {REBALANCE:?}; partitions per member: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn phase(run: Instant, text: &str) {
    announce(&format!(
        "analyzer-rebalance: {:>5.1} s: {text}",
        run.elapsed().as_secs_f64()
    ));
}

#[test]
fn analyzers_joining_and_leaving_the_group_store_what_one_analyzer_stores() {
    let Some(bootstrap) = broker::bootstrap() else {
        return;
    };
    let Some(ch) = clickhouse::server() else {
        return;
    };
    let test = Instant::now();
    let dir = TestDir::new("analyzer-rebalance").unwrap();
    let topic = broker::fresh_topic("analyzer-rebalance");
    create_topic(&bootstrap, &topic, PARTITIONS).unwrap();
    let mut plan = TrafficPlan::new(11, 24, EVENTS);
    // 600 s of event time: attempts close behind the engine's 300 s gap while the run goes
    // on, and the spike's minutes are judged (5 minutes of allowed lateness) before its end.
    plan.events_per_second = 250.0;
    plan.spikes = vec![Spike::new(2, 0, 503, 60_000_000, 120_000_000)];

    let db = TestDatabase::new(&ch, "analyzer_rebalance");
    let group = format!("{topic}-analyzer");
    let opts = options(&bootstrap, &topic, ch.url(), db.name(), &group);
    let group_from = SystemTime::now();
    let mut first = Analyzer::start(&dir.path().join("first"), &opts).unwrap();
    let producer = {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        let traffic = Traffic::new(plan);
        std::thread::spawn(move || {
            fill_topic_at_rate(&bootstrap, &topic, PARTITIONS, RATE, traffic)
        })
    };
    let run = Instant::now();
    let (_, took) = wait_for_split("the first analyzer takes every partition", &[&first], |c| {
        c[0] == PARTITIONS as i64
    });
    phase(
        run,
        &format!(
            "the first analyzer has all {PARTITIONS} partitions ({:.1} s)",
            took.as_secs_f64()
        ),
    );
    wait_until_stored(run, &first, "the first analyzer");

    // Phase 1: a second analyzer joins, then leaves with SIGTERM.
    let mut second = Analyzer::start(&dir.path().join("second"), &opts).unwrap();
    let (split, took) = wait_for_split(
        "the second analyzer joins and the partitions are split",
        &[&first, &second],
        |c| c[0] >= 1 && c[1] >= 1 && c[0] + c[1] == PARTITIONS as i64,
    );
    phase(
        run,
        &format!(
            "second analyzer joined: partitions split {split:?} ({:.1} s)",
            took.as_secs_f64()
        ),
    );
    wait_until_stored(run, &second, "the second analyzer");
    std::thread::sleep(Duration::from_secs(5));
    let second_stored = events_stored_by(&second);
    let stopping = Instant::now();
    second.stop().unwrap();
    let stopped = stopping.elapsed();
    let (_, took) = wait_for_split(
        "the first analyzer takes the second's partitions back",
        &[&first],
        |c| c[0] == PARTITIONS as i64,
    );
    phase(
        run,
        &format!(
            "second analyzer stopped with SIGTERM in {:.1} s after storing {second_stored} \
             events rows ({} \"partitions assigned\" lines in its log); the first has all \
             partitions again {:.1} s later",
            stopped.as_secs_f64(),
            log_count(&mut second, "partitions assigned"),
            took.as_secs_f64()
        ),
    );

    // Phase 2: a third analyzer joins and is killed.
    let mut third = Analyzer::start(&dir.path().join("third"), &opts).unwrap();
    let (split, took) = wait_for_split(
        "the third analyzer joins and the partitions are split",
        &[&first, &third],
        |c| c[0] >= 1 && c[1] >= 1 && c[0] + c[1] == PARTITIONS as i64,
    );
    phase(
        run,
        &format!(
            "third analyzer joined: partitions split {split:?} ({:.1} s)",
            took.as_secs_f64()
        ),
    );
    wait_until_stored(run, &third, "the third analyzer");
    std::thread::sleep(Duration::from_secs(3));
    let kept = split[0];
    third.kill9().unwrap();
    let killed = Instant::now();
    phase(run, "third analyzer killed (kill -9)");
    // Tansu drops the dead member after the session timeout and has the first analyzer rejoin,
    // but gives it its own partitions again only.
    let mut counts = Vec::new();
    while killed.elapsed() < KILLED_WATCH {
        counts.push(partitions(&first).unwrap_or(-1));
        if counts.last() == Some(&(PARTITIONS as i64)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let regained = counts.last() == Some(&(PARTITIONS as i64));
    phase(
        run,
        &format!(
            "{KILLED_WATCH:?} after the kill the first analyzer has {:?} partitions (had \
             {kept}); rebalanced: {regained}",
            counts.last()
        ),
    );
    third.restart().unwrap();
    let (split, took) = wait_for_split(
        "the killed analyzer comes back and the partitions are split",
        &[&first, &third],
        |c| c[0] >= 1 && c[1] >= 1 && c[0] + c[1] == PARTITIONS as i64,
    );
    phase(
        run,
        &format!(
            "killed analyzer restarted: partitions split {split:?} ({:.1} s)",
            took.as_secs_f64()
        ),
    );
    wait_until_stored(run, &third, "the restarted third analyzer");
    std::thread::sleep(Duration::from_secs(3));
    third.stop().unwrap();
    let (_, took) = wait_for_split(
        "the first analyzer takes every partition back",
        &[&first],
        |c| c[0] == PARTITIONS as i64,
    );
    phase(
        run,
        &format!(
            "third analyzer stopped; the first has all partitions again ({:.1} s)",
            took.as_secs_f64()
        ),
    );

    let fill = producer.join().unwrap().unwrap();
    phase(run, &format!("traffic written: {fill}"));
    first
        .finish(Duration::from_secs(300), Duration::from_secs(2))
        .unwrap();
    let got = Results::read(&ch, db.name())
        .unwrap()
        .with_written(&ch, group_from, SystemTime::now())
        .unwrap();
    phase(run, &format!("group run finished: {got}"));

    // The reference: one analyzer, the same topic read afterwards, no fault.
    let reference_db = TestDatabase::new(&ch, "analyzer_rebalance_reference");
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
        "analyzer-rebalance: reference run {:.1} s: {want}; whole test {:.1} s",
        took.as_secs_f64(),
        test.elapsed().as_secs_f64()
    ));

    // Every event once by ID, the same IDs as the reference's.
    assert_eq!(fill.events, EVENTS);
    assert_eq!(got.events, EVENTS, "{got}");
    let ids_not_in = |a: &str, b: &str| {
        ch.count(&format!(
            "SELECT count() FROM (SELECT DISTINCT event_id FROM {a}.events) \
             WHERE event_id NOT IN (SELECT event_id FROM {b}.events)"
        ))
        .unwrap()
    };
    assert_eq!(ids_not_in(db.name(), reference_db.name()), 0);
    assert_eq!(ids_not_in(reference_db.name(), db.name()), 0);
    assert!(want.attempts.len() > 1000, "{want}");
    let diff = got.diff(&want);
    assert!(
        diff.is_empty(),
        "{} differences:\n{}",
        diff.len(),
        diff.join("\n")
    );
}

/// Waits until `a` has stored events rows, for [`REBALANCE`] at most (a member that the busy
/// test broker serves slowly may store nothing before the next step: that step's handover
/// is then of partitions it owned without reading them, which must lose nothing either).
fn wait_until_stored(run: Instant, a: &Analyzer, who: &str) {
    let started = Instant::now();
    while events_stored_by(a) == 0.0 {
        if started.elapsed() > REBALANCE {
            phase(
                run,
                &format!("{who} stored nothing within {REBALANCE:?}; going on"),
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    phase(
        run,
        &format!(
            "{who} stores events ({:.1} s)",
            started.elapsed().as_secs_f64()
        ),
    );
}

/// Lines of the analyzer's log that contain `text`.
fn log_count(a: &mut Analyzer, text: &str) -> usize {
    a.process()
        .log_text()
        .lines()
        .filter(|l| l.contains(text))
        .count()
}
