//! Same answers: `testdata/samples` through collectors, the ingestor, Kafka and the analyzer
//! program (`scepwatch-analyzer serve`) into a fresh ClickHouse database, and the stored
//! attempts and diagnoses (`FINAL`, withdrawn rows left out) are those of `scepwatch diagnose
//! testdata/samples --format json`: the same attempt IDs with the same join methods and
//! diagnosis codes, the same diagnosis IDs with the same codes, scopes and evidence event IDs
//! (as sets), nothing more and nothing less.
//!
//! The collectors are those of `scepwatch_e2e::samples::plan`, which give the events
//! `diagnose` builds (tests/samples_events.rs). The analyzer maps the servers to the endpoint
//! `diagnose` maps them to (`[engine.server_endpoints]`, from the report's mapping) and
//! concludes a partition after 2 s of silence, as `diagnose` concludes at the end of its files.
//! It starts once the topic holds every event: `diagnose` announces every file before its
//! engine concludes anything, and an analyzer that read the servers' logs before the devices'
//! had reached Kafka would conclude their sessions as server-only attempts, a different (and
//! timing-dependent) answer.
//!
//! Needs the test broker (`scripts/kafka.sh start`) and the ClickHouse test server
//! (`scripts/clickhouse.sh start`); skipped without them, unless `CI=true`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use scepwatch_e2e::analyzer::{Analyzer, AnalyzerOptions};
use scepwatch_e2e::clickhouse::{self, TestDatabase};
use scepwatch_e2e::results::Results;
use scepwatch_e2e::samples::{self, Answers};
use scepwatch_e2e::{announce, binaries, broker, ingestor, Error, TestDir};

/// Wall-clock silence after which the analyzer concludes a partition.
const IDLE_FINISH_SECS: u64 = 2;

/// The reference the stored results are compared with: `diagnose`'s attempts and diagnoses,
/// the events it parsed, and the incidents as stored (`diagnose` detects no spikes).
fn reference(want: &Answers, got: &Results) -> Results {
    Results {
        attempts: want.attempts.clone(),
        diagnoses: want.diagnoses.clone(),
        incidents: got.incidents.clone(),
        events: want.events,
        raw: got.raw,
        written: got.written,
    }
}

#[test]
fn the_analyzer_stores_what_diagnose_reports_for_the_samples() {
    let Some(bootstrap) = broker::bootstrap() else {
        return;
    };
    let Some(ch) = clickhouse::server() else {
        return;
    };
    binaries::ensure_built().unwrap();
    binaries::ensure_analyzer_built().unwrap();
    let dir = TestDir::new("samples-analyzer").unwrap();

    // The yardstick: diagnose's answers and the events it parses.
    let want = samples::diagnose_answers(&[samples::samples_dir()]).unwrap();
    let parsed = samples::parse_like_diagnose(&[samples::samples_dir()]).unwrap();
    assert!(
        want.attempts.len() >= 10 && want.diagnoses.len() >= 10,
        "diagnose answers little: {} attempts, {} diagnoses",
        want.attempts.len(),
        want.diagnoses.len()
    );
    assert_eq!(want.events, parsed.events.len() as u64);
    assert!(!want.server_endpoints.is_empty(), "{want:?}");

    // Collectors → ingestor → Kafka, until the topic holds every event and watermark source.
    let copy = dir.path().join("samples");
    samples::copy_samples(&samples::samples_dir(), &copy).unwrap();
    let topic = broker::fresh_topic("samples-analyzer");
    let mut ingestor = ingestor::Ingestor::start(
        &dir.path().join("ingestor"),
        &samples::ingestor_options(&bootstrap, &topic),
    )
    .unwrap();
    let shipping = Instant::now();
    let mut collectors =
        samples::start_collectors(&dir.path().join("collectors"), &copy, &ingestor.url()).unwrap();
    // The test broker, busy with other tests, may let a metadata request time out: try again.
    let mut tries = 0;
    let contents = loop {
        tries += 1;
        match samples::read_topic(&bootstrap, &topic, Duration::from_secs(120), |t| {
            t.holds_all_of(&parsed)
        }) {
            Ok(c) => break c,
            Err(e @ Error::Kafka(_)) if tries < 4 => announce(&format!("reading the topic: {e}")),
            Err(e) => panic!("reading the topic: {e}"),
        }
    };
    assert!(
        contents.holds_all_of(&parsed),
        "the topic did not get every event within 120 s"
    );
    let shipped = shipping.elapsed();
    for c in &mut collectors {
        c.stop().unwrap();
    }
    ingestor.stop().unwrap();
    let mut by_key: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for e in &contents.events {
        *by_key.entry((e.key.clone(), e.partition)).or_insert(0) += 1;
    }
    announce(&format!(
        "samples-analyzer: {} records, {} events on the topic in {:.1} s; events by key and \
         partition: {by_key:?}",
        contents.records,
        contents.events.len(),
        shipped.as_secs_f64()
    ));

    // Kafka → the analyzer → ClickHouse.
    let db = TestDatabase::new(&ch, "samples_analyzer");
    let mut options = AnalyzerOptions::new(&bootstrap, &topic, &clickhouse::url(), db.name());
    options.idle_finish_secs = Some(IDLE_FINISH_SECS);
    options.flush_interval_ms = Some(200);
    options.shutdown_secs = 10;
    options.extra = want.server_endpoints_toml();
    let analyzing = Instant::now();
    let mut analyzer = Analyzer::start(&dir.path().join("analyzer"), &options).unwrap();

    // Until the stored results are diagnose's, or stop changing once every event is stored
    // and the idle partitions have had time to be concluded. (The lag gauges are no help: the
    // test broker often lets the analyzer's offset queries time out.)
    let deadline = Instant::now() + Duration::from_secs(60);
    let quiet = Duration::from_secs(IDLE_FINISH_SECS + 3);
    let (mut last, mut changed) = (Results::default(), Instant::now());
    loop {
        let got = Results::read(&ch, db.name()).unwrap_or_default();
        if got.diff(&reference(&want, &got)).is_empty() {
            break;
        }
        if got != last {
            (last, changed) = (got, Instant::now());
        } else if got.events >= want.events && changed.elapsed() > quiet {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    analyzer.stop().unwrap();
    let analyzed = analyzing.elapsed();

    let got = Results::read(&ch, db.name()).unwrap();
    announce(&format!(
        "samples-analyzer: analyzer ready to stopped {:.1} s; stored {got}; diagnose: {} \
         attempts, {} diagnoses, {} events",
        analyzed.as_secs_f64(),
        want.attempts.len(),
        want.diagnoses.len(),
        want.events
    ));
    let diff = got.diff(&reference(&want, &got));
    assert!(
        diff.is_empty(),
        "the analyzer's answers differ from diagnose's ({} differences):\n{}",
        diff.len(),
        diff.join("\n")
    );
    assert_eq!(got.attempts.len(), want.attempts.len());
    assert_eq!(got.diagnoses.len(), want.diagnoses.len());
    let rejects = db.count("SELECT count() FROM rejects").unwrap();
    assert_eq!(rejects, 0, "the analyzer rejected events of the samples");
}
