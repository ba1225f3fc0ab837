//! `testdata/samples` through collectors, the ingestor and Kafka: the events on the topic are
//! the events `scepwatch diagnose testdata/samples` builds, ID for ID, field for field
//! (source, position, time, endpoint, excerpt, payload), every record keyed by its events'
//! endpoint, and the watermarks name exactly the sources `diagnose`'s engine hears of (every
//! file that yielded events). This is what lets the
//! analyzer service's results be compared with `diagnose --format json` (attempt IDs digest the
//! first event's ID, diagnosis IDs the evidence's).
//!
//! The collectors are those of `scepwatch_e2e::samples::plan` (one per sample folder, named
//! `diagnose`, relative roots in a copy of the samples). Needs the test broker
//! (`scripts/kafka.sh start`); skipped without it, unless `CI=true`.

use std::time::Duration;

use scepwatch_e2e::samples::{self, TopicContents};
use scepwatch_e2e::{announce, binaries, broker, ingestor, TestDir};

#[test]
fn the_topic_holds_the_events_diagnose_builds_from_the_samples() {
    let Some(bootstrap) = broker::bootstrap() else {
        return;
    };
    binaries::ensure_built().unwrap();
    let dir = TestDir::new("samples-events").unwrap();

    // The yardstick: diagnose's own reading of the samples, as `scepwatch diagnose
    // testdata/samples` does it.
    let expected = samples::parse_like_diagnose(&[samples::samples_dir()]).unwrap();
    assert!(
        expected.events.len() > 800,
        "diagnose parsed only {} events of the samples",
        expected.events.len()
    );

    let copy = dir.path().join("samples");
    samples::copy_samples(&samples::samples_dir(), &copy).unwrap();
    let topic = broker::fresh_topic("samples-events");
    let mut ingestor = ingestor::Ingestor::start(
        &dir.path().join("ingestor"),
        &samples::ingestor_options(&bootstrap, &topic),
    )
    .unwrap();
    let mut collectors =
        samples::start_collectors(&dir.path().join("collectors"), &copy, &ingestor.url()).unwrap();

    samples::read_topic(&bootstrap, &topic, Duration::from_secs(120), |t| {
        t.holds_all_of(&expected)
    })
    .unwrap();
    for c in &mut collectors {
        c.stop().unwrap();
    }
    // Everything, resends included, once the collectors have stopped.
    let topic_contents: TopicContents =
        samples::read_topic(&bootstrap, &topic, Duration::from_secs(60), |_| true).unwrap();
    ingestor.stop().unwrap();

    let comparison = samples::compare(&expected, &topic_contents);
    announce(&format!(
        "samples through the pipeline: {} records\n{comparison}",
        topic_contents.records
    ));
    for note in &comparison.notes {
        announce(&format!("  note: {note}"));
    }
    assert!(comparison.is_identical(), "{comparison}");
    assert_eq!(comparison.distinct, comparison.expected, "{comparison}");
}
