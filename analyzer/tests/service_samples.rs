//! One engine, two drivers: the service, fed through a real Kafka topic, stores the same
//! attempts and diagnoses as `scepwatch diagnose` gives for the bundled samples.
//!
//! The events are those `diagnose` itself reads from `testdata/samples` (recorded through its
//! correlator seam, in the order it pushes them), produced to a fresh 4-partition topic as the
//! ingestor would (one record per endpoint run, keyed by endpoint, the schema header set). The
//! service runs in this process against that topic and a fresh database of the test ClickHouse
//! server; it concludes the partitions once they are idle, and the stored rows are compared
//! with the report: identical attempt IDs, diagnosis IDs, codes, scopes and evidence.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
    pub mod kafka;
    pub mod service;
}

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use scepwatch_analyzer::diagnose::run::{run_with, Correlator};
use scepwatch_analyzer::diagnose::summary::Collector;
use scepwatch_analyzer::diagnose::{self, Options};
use scepwatch_analyzer::engine::EngineConfig;
use scepwatch_analyzer::model::Scope;
use scepwatch_proto::v1::{EndpointEvents, Event, Watermark};
use support::clickhouse::TestDb;
use support::kafka;
use support::service::{config, wait_until, Running};

#[derive(Clone)]
enum Item {
    Event(Box<Event>),
    Watermark(Watermark),
}

/// Records what diagnose pushes, in order.
struct Recorder(Arc<Mutex<Vec<Item>>>);

impl Correlator for Recorder {
    fn push(&mut self, event: &Event) {
        self.0
            .lock()
            .unwrap()
            .push(Item::Event(Box::new(event.clone())));
    }
    fn watermark(&mut self, watermark: &Watermark) {
        self.0
            .lock()
            .unwrap()
            .push(Item::Watermark(watermark.clone()));
    }
    fn advance(&mut self, _: &mut Collector) {}
    fn finish(self: Box<Self>, _: &mut Collector) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

fn samples() -> Options {
    Options {
        inputs: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples")],
        max_attempts: 1_000_000,
        max_per_code: 1_000_000,
        ..Options::default()
    }
}

/// The Kafka key the ingestor gives an event: its endpoint; for one that names none, the
/// endpoint of the nearest event in time of its source that names one (ingestor
/// `sink::record`), else its host's mapping; else the empty key.
fn keys(items: &[Item], mapping: &BTreeMap<String, String>) -> Vec<String> {
    let source = |i: &Item| match i {
        Item::Event(e) => e.source.clone().unwrap_or_default(),
        Item::Watermark(w) => w.source.clone().unwrap_or_default(),
    };
    let named: Vec<(scepwatch_proto::v1::SourceId, i64, String)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Event(e) if !e.endpoint_id.is_empty() => {
                Some((source(i), e.event_time_us, e.endpoint_id.clone()))
            }
            _ => None,
        })
        .collect();
    items
        .iter()
        .map(|i| {
            let (own, time) = match i {
                Item::Event(e) => (e.endpoint_id.as_str(), e.event_time_us),
                Item::Watermark(w) => (w.endpoint_id.as_str(), w.read_up_to_us),
            };
            if !own.is_empty() {
                return own.to_string();
            }
            let src = source(i);
            let nearest = named
                .iter()
                .filter(|(s, _, _)| *s == src)
                .min_by_key(|(_, t, _)| (t - time).abs())
                .map(|(_, _, ep)| ep.clone());
            nearest
                .or_else(|| mapping.get(&src.host.to_ascii_lowercase()).cloned())
                .unwrap_or_default()
        })
        .collect()
}

/// The recorded stream as records: runs of one endpoint, cut after each watermark (which
/// diagnose sends after its file's events) and at 200 events.
fn records(items: &[Item], mapping: &BTreeMap<String, String>) -> Vec<(String, EndpointEvents)> {
    let mut out: Vec<(String, EndpointEvents)> = Vec::new();
    let mut cur: Option<(String, EndpointEvents)> = None;
    let mut seq = 0u64;
    for (item, ep) in items.iter().zip(keys(items, mapping)) {
        let is_wm = matches!(item, Item::Watermark(_));
        if cur
            .as_ref()
            .is_some_and(|(k, r)| *k != ep || r.events.len() >= 200)
        {
            out.extend(cur.take());
        }
        let (_, r) = cur.get_or_insert_with(|| {
            seq += 1;
            (
                ep.clone(),
                EndpointEvents {
                    endpoint_id: ep.clone(),
                    collector: "diagnose".into(),
                    batch_sequence: seq,
                    events: Vec::new(),
                    watermarks: Vec::new(),
                },
            )
        });
        match item {
            Item::Event(e) => r.events.push((**e).clone()),
            Item::Watermark(w) => r.watermarks.push(w.clone()),
        }
        if is_wm {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_stores_what_diagnose_reports_for_the_samples() {
    let Some(db) = TestDb::create("service_samples") else {
        return;
    };
    let Some(bootstrap) = kafka::bootstrap() else {
        return;
    };

    // What diagnose reports, and the events it read, in its order.
    let report = diagnose::run(&samples(), &mut |_| {}).unwrap();
    let items = Arc::new(Mutex::new(Vec::new()));
    let mapping = Arc::new(Mutex::new(BTreeMap::new()));
    let (i2, m2) = (items.clone(), mapping.clone());
    run_with(
        &samples(),
        &mut |_| {},
        Box::new(move |m: &BTreeMap<String, String>| {
            *m2.lock().unwrap() = m.clone();
            Box::new(Recorder(i2)) as Box<dyn Correlator>
        }),
    )
    .unwrap();
    let mapping = mapping.lock().unwrap().clone();
    let items = items.lock().unwrap().clone();
    assert!(items.len() > 100, "{} items", items.len());
    assert!(!report.diagnoses.is_empty());

    let topic = kafka::fresh_topic("service-samples");
    kafka::create_topic(&bootstrap, &topic, 4).await;
    let producer = kafka::producer(&bootstrap);
    let recs = records(&items, &mapping);
    for (key, r) in &recs {
        kafka::send(
            &producer,
            &topic,
            key,
            &r.encode_to_vec(),
            Some("scepwatch.v1.EndpointEvents"),
        )
        .await;
    }

    let mut config = config(&bootstrap, &topic, db.config());
    config.engine = EngineConfig {
        server_endpoints: mapping.clone(),
        ..config.engine
    };
    let service = Running::start(config).await;

    // Until every diagnosis is stored (the idle partitions concluded), then one more flush.
    let want_diagnoses: BTreeSet<String> = report.diagnoses.iter().map(|d| d.id.clone()).collect();
    wait_until("every diagnosis stored", Duration::from_secs(90), || {
        db.number("SELECT uniqExact(diagnosis_id) FROM diagnoses") as usize >= want_diagnoses.len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events_read = service.metric("scepwatch_analyzer_events_total");
    let run = service.stop().await;
    assert_eq!(run.rows_left, 0);

    // Diagnoses: ID, code, scope and evidence (as a set: the report lists evidence by time,
    // ties in no fixed order; the ID digests the set).
    let stored = db.exec(
        "SELECT diagnosis_id, code, toString(scope_kind), scope_id, \
         arrayStringConcat(arraySort(evidence.event_id), ',') \
         FROM diagnoses FINAL WHERE retracted = 0 ORDER BY diagnosis_id FORMAT TabSeparated",
    );
    let stored: BTreeSet<String> = stored.lines().map(str::to_string).collect();
    let expected: BTreeSet<String> = report
        .diagnoses
        .iter()
        .map(|d| {
            let (kind, id) = match &d.scope {
                Scope::Attempt(id) => ("attempt", id.clone()),
                Scope::Server(host) => ("server", host.clone()),
                Scope::Endpoint(endpoint) => ("endpoint", endpoint.clone()),
            };
            let mut ev: Vec<&str> = d.evidence.iter().map(|e| e.event_id.as_str()).collect();
            ev.sort();
            format!("{}\t{}\t{kind}\t{id}\t{}", d.id, d.code, ev.join(","))
        })
        .collect();
    let missing: Vec<_> = expected.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "diagnoses differ.\nmissing ({}): {missing:#?}\nextra ({}): {extra:#?}",
        missing.len(),
        extra.len()
    );

    // Attempts: ID, join and codes.
    let stored = db.exec(
        "SELECT attempt_id, toString(join_method), arrayStringConcat(arraySort(diagnosis_codes), ',') \
         FROM attempts FINAL WHERE retracted = 0 ORDER BY attempt_id FORMAT TabSeparated",
    );
    let stored: BTreeSet<String> = stored.lines().map(str::to_string).collect();
    let expected: BTreeSet<String> = report
        .attempts
        .iter()
        .map(|a| {
            let mut codes = a.diagnoses.clone();
            codes.sort();
            format!(
                "{}\t{}\t{}",
                a.id,
                diagnose::summary::join_name(a.join),
                codes.join(",")
            )
        })
        .collect();
    assert_eq!(
        report.attempt_counts.total as usize,
        expected.len(),
        "the report lists every attempt"
    );
    let missing: Vec<_> = expected.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "attempts differ.\nmissing ({}): {missing:#?}\nextra ({}): {extra:#?}",
        missing.len(),
        extra.len()
    );

    // Every event was stored once per ID, and nothing was rejected.
    let events = items.iter().filter(|i| matches!(i, Item::Event(_))).count() as u64;
    assert_eq!(db.number("SELECT uniqExact(event_id) FROM events"), events);
    assert_eq!(db.number("SELECT count() FROM rejects"), 0);
    assert_eq!(events_read as u64, events, "each event read once");
}
