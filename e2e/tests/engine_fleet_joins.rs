//! The engine's joins on fleet traffic do not depend on when `Engine::advance` runs.
//!
//! The service advances once per flush, and when that is depends on how fast it reads: the
//! ClickHouse-outage test's live run (every 500 ms) and its reference (every few thousand
//! records) once gave two iOS attempts of one endpoint each other's server, because the one
//! concluded first took by the time-window fallback the session the other would have joined by
//! transactionID. Here the fleet's records (every device's log collected, four endpoints, 1,000 s
//! of event time: devices enroll again after their ten-minute pause, which closes their previous
//! attempt) go through one engine, advanced every 7 records, then only at the
//! end: the attempts and diagnoses must be the same. No server needed.

use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_e2e::traffic::{Traffic, TrafficPlan};

fn run(every: Option<usize>) -> (Vec<String>, Vec<String>) {
    let mut plan = TrafficPlan::new(7, 4, 60_000);
    plan.events_per_second = 60.0;
    plan.device_log_share = 1.0;
    let config = EngineConfig {
        stall_timeout_us: Some(7_200_000_000),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config);
    let mut sink = CollectSink::default();
    for (i, (_key, record)) in Traffic::new(plan).enumerate() {
        for e in &record.events {
            engine.push(e);
        }
        for w in &record.watermarks {
            engine.watermark(w);
        }
        if every.is_some_and(|n| (i + 1) % n == 0) {
            engine.advance(&mut sink);
        }
    }
    engine.finish(&mut sink);
    let mut attempts: Vec<String> = sink
        .attempts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap_or_default())
        .collect();
    let mut diagnoses: Vec<String> = sink
        .diagnoses
        .iter()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .collect();
    attempts.sort();
    diagnoses.sort();
    (attempts, diagnoses)
}

fn differences(got: &[String], want: &[String]) -> String {
    let mut out = String::new();
    for x in got
        .iter()
        .filter(|x| want.binary_search(x).is_err())
        .take(4)
    {
        out.push_str(&format!("\n+ {}", &x[..x.len().min(400)]));
    }
    for x in want
        .iter()
        .filter(|x| got.binary_search(x).is_err())
        .take(4)
    {
        out.push_str(&format!("\n- {}", &x[..x.len().min(400)]));
    }
    out
}

#[test]
fn joins_are_the_same_however_often_the_engine_advances() {
    let (attempts, diagnoses) = run(None);
    assert!(attempts.len() > 5_000, "{} attempts", attempts.len());
    for needle in ["\"join\":\"transaction_id\"", "\"join\":\"fallback\""] {
        assert!(attempts.iter().any(|a| a.contains(needle)), "no {needle}");
    }
    let every = 7;
    let (a, d) = run(Some(every));
    assert!(
        a == attempts,
        "advanced every {every} records: {} attempts against {}{}",
        a.len(),
        attempts.len(),
        differences(&a, &attempts)
    );
    assert!(
        d == diagnoses,
        "advanced every {every} records: {} diagnoses against {}{}",
        d.len(),
        diagnoses.len(),
        differences(&d, &diagnoses)
    );
}
