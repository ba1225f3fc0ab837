//! The sample incident (`testdata/samples`) through the pipeline, with the events `diagnose`
//! builds from the same files as the yardstick.
//!
//! The analyzer service must give the answers `scepwatch diagnose testdata/samples` gives, ID
//! for ID: attempt IDs digest the endpoint and the first event's ID, diagnosis IDs the code,
//! scope and evidence event IDs. So the events that reach Kafka must be the events `diagnose`
//! builds: same IDs, same `SourceId`, same payloads, same `endpoint_id`. This module sets up
//! collectors that produce exactly those, and computes them with `diagnose`'s own code.
//!
//! # How the two drivers name things, and the configuration that makes them agree
//!
//! An event ID digests `SourceId {collector, host, kind, path, stream}` and the record's
//! position. `diagnose` names a file's source `{"diagnose", the first folder below the input,
//! the format's kind, the path relative to the input, the collector's stream identity}`
//! (archive entries as `archive.zip!/entry`); a collector names it `{collector.name,
//! collector.host, the source format's kind, root joined with the matched path, the content
//! fingerprint for tailed logs or empty for documents}`. So one collector per sample folder:
//!
//! - `name = "diagnose"` for all of them (one ingestor entry, one token);
//! - `host` = the folder's name (`ndes01`, `ndes02`, `android-pixel7`, `iphone-anna`,
//!   `win-laptop-42`);
//! - run in the copy of the samples folder with relative `root`s (`ndes01/inetpub/logs/LogFiles`),
//!   so the paths the collector finds are the paths `diagnose` prints;
//! - the servers declare the endpoint their device logs use most, which is the endpoint
//!   `diagnose` maps them to (`https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll`);
//!   the device collectors declare none, so device records that name no URL carry no endpoint,
//!   as in `diagnose` (device logs arrive at an upload endpoint in real life; these collectors
//!   stand in for it); the ingestor sends them in the record of the endpoint their log's
//!   neighbouring lines name, so they reach the analyzer's partition of that endpoint;
//! - the laptop's `MDMDiagReport.zip` is unpacked, as an upload endpoint would, into a folder
//!   named like the archive path `diagnose` gives its entries: `win-laptop-42/MDMDiagReport.zip!/`.
//!
//! [`plan`] is that configuration; [`SampleCollector::options`] turns one entry into
//! [`CollectorOptions`].

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scepwatch_analyzer::diagnose::archive::{Budget, Limits};
use scepwatch_analyzer::diagnose::input::{self, Location};
use scepwatch_analyzer::diagnose::run::{self, Correlator, Options};
use scepwatch_analyzer::diagnose::summary::{Collector as Results, FileStatus};
use scepwatch_analyzer::diagnose::RunReport;
use scepwatch_analyzer::report::ReportOptions;
use scepwatch_collector::parse::Format;
use scepwatch_collector::source::identity;
use scepwatch_proto::v1::{EndpointEvents, Event, SourceId, SourceKind, Watermark};
use scepwatch_proto::{event_id_hex, SourceKey};

use crate::collector::{Collector, CollectorOptions, SourceOptions};
use crate::ingestor::{IngestorOptions, TOKEN};
use crate::{workspace_root, Error};

/// The collector name of every sample collector: the name `diagnose` gives its sources.
pub const COLLECTOR: &str = run::COLLECTOR;

/// The endpoint the sample's servers serve (the one their device logs use most).
pub const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";

/// `testdata/samples` of the workspace.
pub fn samples_dir() -> PathBuf {
    workspace_root().join("testdata").join("samples")
}

/// One collector of the sample: a folder of `testdata/samples`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleCollector {
    /// `collector.host`: the folder's name.
    pub host: String,
    /// `collector.endpoint` (`None` for a collector of device logs).
    pub endpoint: Option<String>,
    /// Its sources, with `root`s relative to the samples folder.
    pub sources: Vec<SourceOptions>,
}

impl SampleCollector {
    /// The options of this collector, shipping to `ingestor_url`, run in `samples` (the copy
    /// made by [`copy_samples`]): documents read 300 ms after their last change, a 200 ms poll.
    pub fn options(&self, ingestor_url: &str, samples: &Path) -> CollectorOptions {
        let mut o = CollectorOptions::new(ingestor_url, samples);
        o.name = COLLECTOR.to_owned();
        o.token = TOKEN.to_owned();
        o.host.clone_from(&self.host);
        o.endpoint = self.endpoint.clone().unwrap_or_default();
        o.iis_source = false;
        o.extra_sources.clone_from(&self.sources);
        o.settle_ms = Some(300);
        o.poll_interval_ms = 200;
        o.working_dir = Some(samples.to_path_buf());
        o
    }
}

/// The sample's collectors: one per NDES server, one per device.
pub fn plan() -> Vec<SampleCollector> {
    let server = |host: &str| SampleCollector {
        host: host.to_owned(),
        endpoint: Some(ENDPOINT.to_owned()),
        sources: vec![
            SourceOptions::new(
                "iis",
                "iis",
                format!("{host}/inetpub/logs/LogFiles"),
                &["W3SVC*/u_ex*.log"],
            ),
            SourceOptions::new(
                "httperr",
                "httperr",
                format!("{host}/Windows/System32/LogFiles/HTTPERR"),
                &["httperr*.log"],
            ),
            SourceOptions::new(
                "eventlogs-xml",
                "event-xml",
                format!("{host}/eventlogs"),
                &["*.xml"],
            ),
            SourceOptions::new(
                "connector-install",
                "setupmsi",
                format!("{host}/IntuneConnector"),
                &["SetupMsi*.log"],
            ),
            SourceOptions::new("health", "health", host, &["health*.jsonl"]),
            SourceOptions::new("probe", "probe", host, &["probe*.jsonl"]),
        ],
    };
    let device = |host: &str, source: SourceOptions| SampleCollector {
        host: host.to_owned(),
        endpoint: None,
        sources: vec![source],
    };
    vec![
        server("ndes01"),
        server("ndes02"),
        device(
            "android-pixel7",
            SourceOptions::new(
                "omadm",
                "android-omadm",
                "android-pixel7",
                &["omadmlog*.log"],
            ),
        ),
        device(
            "iphone-anna",
            SourceOptions::new("profiled", "ios-console", "iphone-anna", &["*.log"]),
        ),
        device(
            "win-laptop-42",
            SourceOptions::new(
                "mdm-diagnostics",
                "event-text",
                "win-laptop-42/MDMDiagReport.zip!",
                &["DeviceManagement-*.txt"],
            ),
        ),
    ]
}

/// Copies `from` (normally [`samples_dir`]) to `to`, and unpacks every archive entry
/// `diagnose` finds to the path it names it by (`a/b.zip!/c.txt` becomes the file `c.txt` in
/// the folder `a/b.zip!`).
pub fn copy_samples(from: &Path, to: &Path) -> Result<(), Error> {
    copy_tree(from, to)?;
    let budget = Budget::default();
    let walk = input::walk(&[from.to_path_buf()], Limits::default(), &budget, &[]);
    for f in &walk.files {
        if matches!(f.location, Location::Disk(_)) {
            continue;
        }
        let dest = to.join(&f.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        let written = f
            .read_with(Limits::default(), &budget, |r| {
                std::fs::File::create(&dest).and_then(|mut out| std::io::copy(r, &mut out))
            })
            .and_then(|r| r);
        written.map_err(|e| Error::io(format!("unpacking {} to {}", f.path, dest.display()), e))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| Error::io(format!("listing {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", from.display()), e))?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dest)?;
        } else {
            std::fs::copy(&src, &dest)
                .map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
        }
    }
    Ok(())
}

/// The ingestor's options for the sample collectors: [`IngestorOptions::new`] knowing the one
/// collector name [`COLLECTOR`] with [`TOKEN`].
pub fn ingestor_options(bootstrap: &str, topic: &str) -> IngestorOptions {
    let mut o = IngestorOptions::new(bootstrap, topic);
    o.collectors = vec![(COLLECTOR.to_owned(), TOKEN.to_owned())];
    o
}

/// Starts the collectors of [`plan`] against `ingestor_url`, each in `dir/<host>`, reading the
/// copy `samples`.
pub fn start_collectors(
    dir: &Path,
    samples: &Path,
    ingestor_url: &str,
) -> Result<Vec<Collector>, Error> {
    plan()
        .iter()
        .map(|c| Collector::start(&dir.join(&c.host), &c.options(ingestor_url, samples)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What diagnose parses
// ---------------------------------------------------------------------------------------------

/// The events and sources of a `diagnose` run, as its engine received them.
pub struct Parsed {
    /// Every event, in the order the engine got it.
    pub events: Vec<Event>,
    /// The sources of the watermarks the engine got: one per file that yielded events.
    pub sources: BTreeMap<SourceKey, SourceId>,
    /// The sources of the files parsed without yielding an event, named as the others. The
    /// engine hears nothing of them; a collector hands out a watermark for such a file when it
    /// tails it (a line format), none when it reads it as a document (no event, no chunk).
    pub silent_sources: BTreeMap<SourceKey, SourceId>,
    /// The run's report.
    pub report: RunReport,
}

#[derive(Default)]
struct Recorded {
    events: Vec<Event>,
    sources: BTreeMap<SourceKey, SourceId>,
}

struct Recorder(Arc<Mutex<Recorded>>);

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Correlator for Recorder {
    fn push(&mut self, event: &Event) {
        self.lock().events.push(event.clone());
    }

    fn watermark(&mut self, watermark: &Watermark) {
        if let Some(s) = &watermark.source {
            self.lock().sources.insert(SourceKey::of(s), s.clone());
        }
    }

    fn advance(&mut self, _: &mut Results) {}

    fn finish(self: Box<Self>, _: &mut Results) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// Runs `diagnose`'s reading of `inputs` (its walk, format detection, parsers, source naming
/// and endpoint mapping, with default options as `scepwatch diagnose` has them) and keeps what
/// its engine would receive.
pub fn parse_like_diagnose(inputs: &[PathBuf]) -> Result<Parsed, Error> {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let keep = recorded.clone();
    let opts = Options {
        inputs: inputs.to_vec(),
        ..Options::default()
    };
    let report = run::run_with(
        &opts,
        &mut |_| {},
        Box::new(move |_| Box::new(Recorder(keep)) as Box<dyn Correlator>),
    )
    .map_err(|e| Error::Process(format!("diagnose over {inputs:?}: {e}")))?;
    let Recorded { events, sources } =
        std::mem::take(&mut *recorded.lock().unwrap_or_else(|p| p.into_inner()));
    let mut silent_sources = BTreeMap::new();
    for f in &report.files {
        if f.status == FileStatus::Skipped || f.events > 0 {
            continue;
        }
        let Some(format) = f.format.as_deref().and_then(Format::from_name) else {
            continue;
        };
        let input = inputs
            .iter()
            .find(|i| i.as_os_str() == OsStr::new(&f.input))
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&f.input));
        let source = SourceId {
            collector: COLLECTOR.to_owned(),
            host: f.host.clone(),
            kind: format.source_kind() as i32,
            path: f.path.clone(),
            stream: stream_of(&input.join(&f.path), format),
        };
        silent_sources.insert(SourceKey::of(&source), source);
    }
    Ok(Parsed {
        events,
        sources,
        silent_sources,
        report,
    })
}

/// The collector's stream identity of the file at `path` (empty for documents and for what
/// cannot be read as a plain file, such as an archive entry).
fn stream_of(path: &Path, format: Format) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    match identity::identify(&mut file, format) {
        Ok(identity::Identity::Lines(f)) => f.to_hex(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// What diagnose answers
// ---------------------------------------------------------------------------------------------

/// The answers of `scepwatch diagnose <inputs> --format json`, every attempt and diagnosis
/// listed, as lines in the shape [`crate::results::Results`] reads them from ClickHouse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// `attempt_id  join  codes` lines (codes sorted, comma-separated).
    pub attempts: BTreeSet<String>,
    /// `diagnosis_id  code  scope_kind  scope_id  evidence` lines (evidence event IDs sorted,
    /// comma-separated: the report lists them by time, ties in no fixed order; the ID digests
    /// the set).
    pub diagnoses: BTreeSet<String>,
    /// The server → endpoint mapping the run used (`summary.mapping`, hosts with an endpoint):
    /// what the analyzer's `[engine.server_endpoints]` must say to give the same answers.
    pub server_endpoints: BTreeMap<String, String>,
    /// Events parsed (`summary.totals.events`).
    pub events: u64,
}

impl Answers {
    /// The `[engine.server_endpoints]` section of an analyzer configuration that maps the
    /// servers as this run did.
    pub fn server_endpoints_toml(&self) -> String {
        let mut t = String::from("[engine.server_endpoints]\n");
        for (host, endpoint) in &self.server_endpoints {
            t.push_str(&format!(
                "{} = {}\n",
                toml_string(host),
                toml_string(endpoint)
            ));
        }
        t
    }
}

/// A TOML basic string (the JSON string syntax of these names is valid TOML).
fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Runs `scepwatch diagnose <inputs> --format json --max-attempts N --max-per-code N` (the
/// library's run and JSON renderer, with limits high enough that every attempt and diagnosis
/// is listed) and reads the answers out of the JSON document. An error when the report does
/// not list everything it counted.
pub fn diagnose_answers(inputs: &[PathBuf]) -> Result<Answers, Error> {
    let opts = Options {
        inputs: inputs.to_vec(),
        max_attempts: 1_000_000,
        max_per_code: 1_000_000,
        ..Options::default()
    };
    let report = run::run(&opts, &mut |_| {})
        .map_err(|e| Error::Process(format!("diagnose over {inputs:?}: {e}")))?;
    let mut json = Vec::new();
    scepwatch_analyzer::report::json::render(&report, &ReportOptions::default(), &mut json)
        .map_err(|e| Error::io("rendering the JSON report", e))?;
    answers_of_json(&json)
}

/// The answers of a `diagnose --format json` document.
pub fn answers_of_json(json: &[u8]) -> Result<Answers, Error> {
    let bad = |what: &str| Error::Process(format!("the JSON report: {what}"));
    let doc: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let text = |v: &serde_json::Value, key: &str| -> Result<String, Error> {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(&format!("no string {key:?} in {}", cut(&v.to_string()))))
    };
    let list = |v: &serde_json::Value, key: &str| -> Result<Vec<serde_json::Value>, Error> {
        v.get(key)
            .and_then(serde_json::Value::as_array)
            .cloned()
            .ok_or_else(|| bad(&format!("no list {key:?} in {}", cut(&v.to_string()))))
    };
    let number = |path: &str| -> Result<u64, Error> {
        doc.pointer(path)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad(&format!("no number at {path}")))
    };

    let mut answers = Answers {
        events: number("/summary/totals/events")?,
        ..Answers::default()
    };
    for a in list(&doc, "attempts")? {
        let mut codes = list(&a, "diagnoses")?
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("a code that is not a string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        codes.sort();
        answers.attempts.insert(format!(
            "{}\t{}\t{}",
            text(&a, "id")?,
            text(&a, "join")?,
            codes.join(",")
        ));
    }
    for d in list(&doc, "diagnoses")? {
        let scope = d
            .get("scope")
            .ok_or_else(|| bad("a diagnosis without scope"))?;
        let mut evidence = list(&d, "evidence")?
            .iter()
            .map(|e| text(e, "event_id"))
            .collect::<Result<Vec<_>, _>>()?;
        evidence.sort();
        answers.diagnoses.insert(format!(
            "{}\t{}\t{}\t{}\t{}",
            text(&d, "id")?,
            text(&d, "code")?,
            text(scope, "kind")?,
            text(scope, "id")?,
            evidence.join(",")
        ));
    }
    let mapping = doc
        .pointer("/summary/mapping")
        .ok_or_else(|| bad("no summary.mapping"))?;
    for m in list(mapping, "hosts")? {
        let endpoint = text(&m, "endpoint")?;
        if !endpoint.is_empty() {
            answers.server_endpoints.insert(text(&m, "host")?, endpoint);
        }
    }
    let (attempts, diagnoses) = (
        number("/summary/attempts/total")?,
        number("/summary/diagnoses/total")?,
    );
    if attempts != answers.attempts.len() as u64 || diagnoses != answers.diagnoses.len() as u64 {
        return Err(bad(&format!(
            "{} of {attempts} attempts and {} of {diagnoses} diagnoses listed",
            answers.attempts.len(),
            answers.diagnoses.len()
        )));
    }
    Ok(answers)
}

fn cut(s: &str) -> String {
    s.chars().take(200).collect()
}

// ---------------------------------------------------------------------------------------------
// What the topic holds
// ---------------------------------------------------------------------------------------------

/// An event or watermark as it came out of the topic.
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    /// Its record's partition.
    pub partition: i32,
    /// Its record's key (the endpoint ID the ingestor grouped it under).
    pub key: String,
    /// Its record's `EndpointEvents.endpoint_id`.
    pub record_endpoint: String,
    /// The event or watermark.
    pub item: T,
}

/// Everything read from a topic.
#[derive(Debug, Default)]
pub struct TopicContents {
    /// Records read.
    pub records: u64,
    /// Events, in partition order.
    pub events: Vec<Keyed<Event>>,
    /// Watermarks, in partition order.
    pub watermarks: Vec<Keyed<Watermark>>,
}

/// Reads `topic` from its start until `done` says the contents are complete, then on to the
/// partitions' ends as they are then (resends on their way). Returns what it has after
/// `timeout` even when `done` never said so; errors are for a topic that cannot be read.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&TopicContents) -> bool,
) -> Result<TopicContents, Error> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-samples"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .create()?;
    let partitions = crate::broker::partitions_of(&consumer, topic)?;
    if partitions == 0 {
        return Err(Error::Process(format!("topic {topic} does not exist")));
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out = TopicContents::default();
    let mut next = vec![0i64; partitions as usize];
    let deadline = Instant::now() + timeout;
    let mut ends: Option<Vec<i64>> = None;
    loop {
        if ends.is_none() && done(&out) {
            let mut high = Vec::with_capacity(next.len());
            for p in 0..partitions {
                high.push(
                    consumer
                        .fetch_watermarks(topic, p, Duration::from_secs(10))?
                        .1,
                );
            }
            ends = Some(high);
        }
        if let Some(high) = &ends {
            if next.iter().zip(high).all(|(n, h)| n >= h) {
                return Ok(out);
            }
        }
        if Instant::now() > deadline {
            return Ok(out);
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(KafkaError::MessageConsumption(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let record = EndpointEvents::decode(m.payload().unwrap_or_default()).map_err(|source| {
            Error::Decode {
                partition: m.partition(),
                offset: m.offset(),
                source,
            }
        })?;
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        out.records += 1;
        for e in record.events {
            out.events.push(Keyed {
                partition: m.partition(),
                key: key.clone(),
                record_endpoint: record.endpoint_id.clone(),
                item: e,
            });
        }
        for w in record.watermarks {
            out.watermarks.push(Keyed {
                partition: m.partition(),
                key: key.clone(),
                record_endpoint: record.endpoint_id.clone(),
                item: w,
            });
        }
        if let Some(n) = next.get_mut(m.partition() as usize) {
            *n = (*n).max(m.offset() + 1);
        }
    }
}

impl TopicContents {
    /// Whether every event and every watermark source of `parsed` is here (the test's
    /// `done`).
    pub fn holds_all_of(&self, parsed: &Parsed) -> bool {
        let ids: BTreeSet<&[u8]> = self.events.iter().map(|e| e.item.id.as_slice()).collect();
        let sources: BTreeSet<SourceKey> = self
            .watermarks
            .iter()
            .filter_map(|w| w.item.source.as_ref().map(SourceKey::of))
            .collect();
        parsed.events.iter().all(|e| ids.contains(e.id.as_slice()))
            && parsed.sources.keys().all(|k| sources.contains(k))
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// What reached the topic, compared with what `diagnose` parsed.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Events `diagnose` parsed.
    pub expected: usize,
    /// Events read from the topic (resends included).
    pub received: usize,
    /// Distinct event IDs read from the topic.
    pub distinct: usize,
    /// Copies of an event beyond the first (resends, identical).
    pub resent: usize,
    /// Sources of the watermarks read from the topic.
    pub watermark_sources: usize,
    /// Events by source kind (`SOURCE_KIND_IIS`, ...) that matched.
    pub matched_by_kind: BTreeMap<String, usize>,
    /// Every difference, one line each: an event missing, unexpected or different, a record
    /// whose key is not its events' endpoint, a source missing or unexpected.
    pub problems: Vec<String>,
    /// Things that differ without being a problem: watermarks whose endpoint is not the one
    /// `diagnose` gives the file's watermark (the collector gives its configured endpoint, or
    /// none; `diagnose` the endpoint the file's events name most), and watermarks of files
    /// that yielded no event.
    pub notes: Vec<String>,
}

impl Comparison {
    /// No problem.
    pub fn is_identical(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} events parsed by diagnose; {} read from the topic ({} distinct, {} resent); {} watermark sources",
            self.expected, self.received, self.distinct, self.resent, self.watermark_sources
        )?;
        for (kind, n) in &self.matched_by_kind {
            writeln!(f, "  {kind}: {n} identical")?;
        }
        if !self.problems.is_empty() {
            writeln!(f, "{} problems:", self.problems.len())?;
            for p in self.problems.iter().take(60) {
                writeln!(f, "  {p}")?;
            }
        }
        Ok(())
    }
}

fn describe(s: &SourceId) -> String {
    let kind = SourceKind::try_from(s.kind).map_or("?", |k| k.as_str_name());
    format!(
        "{{collector {:?}, host {:?}, {kind}, path {:?}, stream {:?}}}",
        s.collector, s.host, s.path, s.stream
    )
}

fn at(e: &Event) -> String {
    let path = e.source.as_ref().map_or("?", |s| s.path.as_str());
    format!("{} ({path} @{})", event_id_hex(&e.id), e.position)
}

/// The fields of `a` and `b` that differ (all but `observed_time_us`, which is when each
/// driver read the file).
fn differences(a: &Event, b: &Event) -> Vec<String> {
    let mut out = Vec::new();
    let cut = |s: String| -> String { s.chars().take(300).collect() };
    if a.source != b.source {
        let (sa, sb) = (
            a.source.clone().unwrap_or_default(),
            b.source.clone().unwrap_or_default(),
        );
        out.push(format!(
            "source: diagnose {}, topic {}",
            describe(&sa),
            describe(&sb)
        ));
    }
    if a.position != b.position {
        out.push(format!(
            "position: diagnose {}, topic {}",
            a.position, b.position
        ));
    }
    if a.event_time_us != b.event_time_us {
        out.push(format!(
            "time: diagnose {}, topic {}",
            a.event_time_us, b.event_time_us
        ));
    }
    if a.endpoint_id != b.endpoint_id {
        out.push(format!(
            "endpoint_id: diagnose {:?}, topic {:?}",
            a.endpoint_id, b.endpoint_id
        ));
    }
    if a.excerpt != b.excerpt {
        out.push(format!(
            "excerpt: diagnose {:?}, topic {:?}",
            cut(a.excerpt.clone()),
            cut(b.excerpt.clone())
        ));
    }
    if a.payload != b.payload {
        out.push(format!(
            "payload: diagnose {}, topic {}",
            cut(format!("{:?}", a.payload)),
            cut(format!("{:?}", b.payload))
        ));
    }
    out
}

/// The record a source and position name, whatever the collector name and stream: how an
/// unexpected event is matched to the one `diagnose` has for the same record.
fn record_key(e: &Event) -> (String, i32, String, u64) {
    let s = e.source.clone().unwrap_or_default();
    (s.host, s.kind, s.path, e.position)
}

/// Compares what `topic` holds with what `diagnose` parsed: the same events (ID, source,
/// position, time, endpoint, excerpt, payload), each record's key equal to its events' and
/// watermarks' endpoint (an event that names none may travel under an endpoint another event
/// of its source names), and the same watermark sources as `diagnose`'s engine gets (files
/// that yielded no event may have one or not: a note, not a problem).
pub fn compare(parsed: &Parsed, topic: &TopicContents) -> Comparison {
    let mut c = Comparison {
        expected: parsed.events.len(),
        received: topic.events.len(),
        ..Comparison::default()
    };
    let mut expected: BTreeMap<&[u8], &Event> = BTreeMap::new();
    for e in &parsed.events {
        if expected.insert(e.id.as_slice(), e).is_some() {
            c.problems
                .push(format!("diagnose gave two events the ID {}", at(e)));
        }
    }
    // An event that names no endpoint travels with its source: under an endpoint another event
    // of its source names (ingestor/src/sink/record.rs).
    let named: BTreeSet<(SourceKey, &str)> = topic
        .events
        .iter()
        .filter(|k| !k.item.endpoint_id.is_empty())
        .filter_map(|k| {
            Some((
                SourceKey::of(k.item.source.as_ref()?),
                k.item.endpoint_id.as_str(),
            ))
        })
        .collect();
    let mut got: BTreeMap<&[u8], &Event> = BTreeMap::new();
    for k in &topic.events {
        let e = &k.item;
        let with_its_source = e.endpoint_id.is_empty()
            && k.key == k.record_endpoint
            && e.source
                .as_ref()
                .is_some_and(|s| named.contains(&(SourceKey::of(s), k.key.as_str())));
        if !with_its_source && (k.key != e.endpoint_id || k.record_endpoint != e.endpoint_id) {
            c.problems.push(format!(
                "{} has endpoint_id {:?} but travels in a record keyed {:?} (endpoint {:?})",
                at(e),
                e.endpoint_id,
                k.key,
                k.record_endpoint
            ));
        }
        match got.get(e.id.as_slice()) {
            None => {
                got.insert(e.id.as_slice(), e);
            }
            Some(first) => {
                c.resent += 1;
                let d = differences(first, e);
                if !d.is_empty() {
                    c.problems.push(format!(
                        "{} was sent twice with different content: {}",
                        at(e),
                        d.join("; ")
                    ));
                }
            }
        }
    }
    c.distinct = got.len();
    let expected_by_record: BTreeMap<_, &Event> =
        parsed.events.iter().map(|e| (record_key(e), e)).collect();
    for (id, e) in &expected {
        match got.get(id) {
            None => {}
            Some(g) => {
                let d = differences(e, g);
                if d.is_empty() {
                    let kind = SourceKind::try_from(e.source.as_ref().map_or(0, |s| s.kind))
                        .map_or("?", |k| k.as_str_name());
                    *c.matched_by_kind.entry(kind.to_owned()).or_insert(0) += 1;
                } else {
                    c.problems
                        .push(format!("{} differs: {}", at(e), d.join("; ")));
                }
            }
        }
    }
    let mut explained: BTreeSet<&[u8]> = BTreeSet::new();
    for (id, g) in &got {
        if expected.contains_key(id) {
            continue;
        }
        match expected_by_record.get(&record_key(g)) {
            Some(e) => {
                explained.insert(e.id.as_slice());
                c.problems.push(format!(
                    "{} reached the topic as {}: {}",
                    at(e),
                    event_id_hex(&g.id),
                    differences(e, g).join("; ")
                ));
            }
            None => c.problems.push(format!(
                "{} reached the topic but diagnose has no event of that record (source {})",
                at(g),
                describe(&g.source.clone().unwrap_or_default())
            )),
        }
    }
    for (id, e) in &expected {
        if !got.contains_key(id) && !explained.contains(id) {
            c.problems.push(format!(
                "{} parsed by diagnose never reached the topic (source {})",
                at(e),
                describe(&e.source.clone().unwrap_or_default())
            ));
        }
    }

    // Watermarks: their sources, and the keys they travel under.
    let mut sources: BTreeMap<SourceKey, SourceId> = BTreeMap::new();
    let mut endpoint_of_file: BTreeMap<String, String> = BTreeMap::new();
    for f in &parsed.report.files {
        if let Some(ep) = &f.endpoint {
            endpoint_of_file.insert(f.path.clone(), ep.clone());
        }
    }
    for k in &topic.watermarks {
        let w = &k.item;
        if k.key != w.endpoint_id {
            c.problems.push(format!(
                "a watermark of endpoint {:?} travels in a record keyed {:?}",
                w.endpoint_id, k.key
            ));
        }
        let Some(s) = &w.source else {
            c.problems.push("a watermark without a source".to_owned());
            continue;
        };
        if sources.insert(SourceKey::of(s), s.clone()).is_none() {
            let diagnose = endpoint_of_file.get(&s.path).cloned().unwrap_or_default();
            if diagnose != w.endpoint_id {
                c.notes.push(format!(
                    "{}: watermark endpoint {:?}, diagnose's {:?}",
                    s.path, w.endpoint_id, diagnose
                ));
            }
        }
    }
    c.watermark_sources = sources.len();
    for (key, s) in &parsed.sources {
        if !sources.contains_key(key) {
            c.problems.push(format!(
                "no watermark of {} (a file diagnose read events from)",
                describe(s)
            ));
        }
    }
    for (key, s) in &sources {
        if parsed.silent_sources.contains_key(key) {
            c.notes.push(format!(
                "a watermark of {}, a file diagnose parsed without an event",
                describe(s)
            ));
        } else if !parsed.sources.contains_key(key) {
            c.problems.push(format!(
                "a watermark of {}, a source diagnose does not have",
                describe(s)
            ));
        }
    }
    for (key, s) in &parsed.silent_sources {
        if !sources.contains_key(key) {
            c.notes.push(format!(
                "no watermark of {} (parsed by diagnose without an event)",
                describe(s)
            ));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use scepwatch_collector::source::pattern::Pattern;

    /// Whether `source` of the plan reads the file `diagnose` names `path`.
    fn reads(source: &SourceOptions, path: &str) -> bool {
        let root = source.root.to_string_lossy();
        let Some(rel) = path.strip_prefix(&format!("{root}/")) else {
            return false;
        };
        let rel: Vec<&str> = rel.split('/').collect();
        source
            .include
            .iter()
            .any(|p| Pattern::parse(p).unwrap().matches(&rel))
    }

    #[test]
    fn the_plan_reads_exactly_the_files_diagnose_parses() {
        let parsed = parse_like_diagnose(&[samples_dir()]).unwrap();
        let plan = plan();
        let parsed_files: Vec<_> = parsed
            .report
            .files
            .iter()
            .filter(|f| f.status != FileStatus::Skipped)
            .collect();
        assert!(parsed_files.len() >= 17, "{}", parsed_files.len());
        for f in &parsed_files {
            let by: Vec<&SourceOptions> = plan
                .iter()
                .filter(|c| c.host == f.host)
                .flat_map(|c| &c.sources)
                .filter(|s| reads(s, &f.path))
                .collect();
            assert_eq!(by.len(), 1, "{} is read by {by:?}", f.path);
            assert_eq!(
                Some(by[0].format.as_str()),
                f.format.as_deref(),
                "{}",
                f.path
            );
        }
        for c in &plan {
            for s in &c.sources {
                assert!(
                    parsed_files
                        .iter()
                        .any(|f| f.host == c.host && reads(s, &f.path)),
                    "{} source {} reads no sample file",
                    c.host,
                    s.name
                );
            }
        }
        // The servers declare the endpoint diagnose maps them to.
        for m in &parsed.report.mapping {
            let c = plan.iter().find(|c| c.host == m.host).unwrap();
            let declared = c.endpoint.as_deref().unwrap_or_default();
            assert_eq!(
                scepwatch_proto::endpoint::normalize(declared).as_deref(),
                Some(m.endpoint.as_str())
            );
        }
    }

    #[test]
    fn the_json_answers_are_the_reports_attempts_and_diagnoses() {
        let answers = diagnose_answers(&[samples_dir()]).unwrap();
        let report = run::run(
            &Options {
                inputs: vec![samples_dir()],
                max_attempts: 1_000_000,
                max_per_code: 1_000_000,
                ..Options::default()
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(answers.attempts.len(), report.attempts.len());
        assert_eq!(answers.diagnoses.len(), report.diagnoses.len());
        for a in &report.attempts {
            let line = answers
                .attempts
                .iter()
                .find(|l| l.starts_with(&format!("{}\t", a.id)))
                .unwrap();
            let mut codes = a.diagnoses.clone();
            codes.sort();
            assert_eq!(
                *line,
                format!(
                    "{}\t{}\t{}",
                    a.id,
                    scepwatch_analyzer::diagnose::summary::join_name(a.join),
                    codes.join(",")
                )
            );
        }
        for d in &report.diagnoses {
            let line = answers
                .diagnoses
                .iter()
                .find(|l| l.starts_with(&format!("{}\t{}\t", d.id, d.code)))
                .unwrap();
            for e in &d.evidence {
                assert!(line.contains(&e.event_id), "{line}");
            }
        }
        assert_eq!(
            answers.server_endpoints,
            BTreeMap::from([
                ("ndes01".to_owned(), ENDPOINT.to_owned()),
                ("ndes02".to_owned(), ENDPOINT.to_owned()),
            ])
        );
        assert_eq!(
            answers.server_endpoints_toml(),
            format!(
                "[engine.server_endpoints]\n\"ndes01\" = \"{ENDPOINT}\"\n\"ndes02\" = \"{ENDPOINT}\"\n"
            )
        );
        // A report that lists less than it counts is refused.
        let mut json = Vec::new();
        let mut short = report.clone();
        short.attempts.pop();
        scepwatch_analyzer::report::json::render(&short, &ReportOptions::default(), &mut json)
            .unwrap();
        let e = answers_of_json(&json).unwrap_err().to_string();
        assert!(e.contains("attempts"), "{e}");
    }

    fn keyed<T>(key: &str, item: T) -> Keyed<T> {
        Keyed {
            partition: 0,
            key: key.to_owned(),
            record_endpoint: key.to_owned(),
            item,
        }
    }

    fn as_topic(parsed: &Parsed) -> TopicContents {
        TopicContents {
            records: 1,
            events: parsed
                .events
                .iter()
                .map(|e| keyed(&e.endpoint_id, e.clone()))
                .collect(),
            watermarks: parsed
                .sources
                .values()
                .map(|s| {
                    let w = Watermark {
                        source: Some(s.clone()),
                        ..Watermark::default()
                    };
                    keyed("", w)
                })
                .collect(),
        }
    }

    #[test]
    fn an_event_naming_no_endpoint_may_travel_under_one_its_source_names() {
        let parsed = parse_like_diagnose(&[samples_dir()]).unwrap();
        let mut t = as_topic(&parsed);
        let i = t
            .events
            .iter()
            .position(|k| {
                k.item.endpoint_id.is_empty()
                    && k.item
                        .source
                        .as_ref()
                        .is_some_and(|s| s.host == "android-pixel7")
            })
            .unwrap();
        let e = t.events[i].item.clone();
        t.events[i] = keyed(ENDPOINT, e.clone());
        let c = compare(&parsed, &t);
        assert!(c.is_identical(), "{c}");
        let other = "https://other.example/certsrv/mscep/mscep.dll";
        t.events[i] = keyed(other, e);
        let c = compare(&parsed, &t);
        assert_eq!(c.problems.len(), 1, "{c}");
        assert!(c.problems[0].contains("travels in a record keyed"), "{c}");
    }

    #[test]
    fn the_comparison_names_every_difference() {
        let parsed = parse_like_diagnose(&[samples_dir()]).unwrap();
        let same = compare(&parsed, &as_topic(&parsed));
        assert!(same.is_identical(), "{same}");
        assert_eq!(same.distinct, parsed.events.len());

        let mut t = as_topic(&parsed);
        // A resend is fine.
        let again = t.events[3].clone();
        t.events.push(again);
        // Lost, stamped with another endpoint, named by another stream.
        let lost = t.events.remove(0).item;
        let other = "https://other.example/certsrv/mscep/mscep.dll";
        let mut stamped = t.events[0].item.clone();
        stamped.endpoint_id = other.into();
        t.events[0] = keyed(other, stamped);
        let renamed = &mut t.events[1].item;
        let mut source = renamed.source.clone().unwrap();
        source.stream = "0123456789abcdef".into();
        renamed.id = scepwatch_proto::event_id(&source, renamed.position).to_vec();
        renamed.source = Some(source);
        // A watermark missing.
        t.watermarks.pop();
        let c = compare(&parsed, &t);
        assert_eq!(c.resent, 1);
        assert_eq!(c.problems.len(), 4, "{c}");
        let text = c.problems.join("\n");
        assert!(
            text.contains(&format!("{} (", event_id_hex(&lost.id))),
            "{text}"
        );
        assert!(text.contains("never reached the topic"), "{text}");
        assert!(text.contains("differs: endpoint_id"), "{text}");
        assert!(text.contains("reached the topic as"), "{text}");
        assert!(text.contains("stream \"0123456789abcdef\""), "{text}");
        assert!(text.contains("no watermark of"), "{text}");
    }
}
