//! Prometheus metrics of the analyzer service (served as text at `/metrics`).
//!
//! Labels are bounded: `partition` takes the topic's partition numbers, `code` the catalog's
//! codes, `reason` and `table` fixed sets.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `scepwatch_analyzer_records_total` / `_events_total` / `_watermarks_total` | | read from Kafka (replays included) |
//! | `scepwatch_analyzer_rejects_total` | reason | records or events stored in `rejects` (`decode`, `payload_unknown`, `time_out_of_range`) |
//! | `scepwatch_analyzer_late_events_total` | | events that arrived after their window was concluded (stored, not correlated) |
//! | `scepwatch_analyzer_attempts_total` / `_incidents_total` | | rows produced |
//! | `scepwatch_analyzer_diagnoses_total` | code | diagnoses produced, by catalog code |
//! | `scepwatch_analyzer_rows_stored_total` | table | rows inserted into ClickHouse |
//! | `scepwatch_analyzer_insert_seconds` | | time to store one flush (all tables, retries included) |
//! | `scepwatch_analyzer_insert_retries_total` | | failed insert attempts that were retried |
//! | `scepwatch_analyzer_store_wait_seconds` | | how long the flush in progress has waited for ClickHouse (0 between flushes; it grows while ClickHouse is down and consumption is paused) |
//! | `scepwatch_analyzer_lag_records` | partition | high watermark − next offset to read |
//! | `scepwatch_analyzer_commit_lag_records` | partition | high watermark − committed offset (what a restart replays) |
//! | `scepwatch_analyzer_open_attempts` | partition | device attempts and server sessions not concluded (this and the next two: refreshed at a flush, at most every 5 s) |
//! | `scepwatch_analyzer_state_bytes` | partition | estimate of the engine's and detector's memory |
//! | `scepwatch_analyzer_held_seconds` | partition | newest event time − earliest time still held |
//! | `scepwatch_analyzer_partitions` | | partitions assigned to this instance |
//! | `scepwatch_analyzer_at_end` | partition | 1 while the partition has been read to its end (Kafka's partition EOF, nothing read since), 0 otherwise |
//! | `scepwatch_analyzer_concluded` | partition | 1 once the partition, read to its end and idle for `engine.idle_finish_secs`, has had everything it held concluded (or held nothing), 0 from its next record on |

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set `{partition}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// Kafka partition.
    pub partition: i32,
}

/// Label set `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// One of a fixed set of reasons.
    pub reason: &'static str,
}

/// Label set `{code}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// Catalog code.
    pub code: String,
}

/// Label set `{table}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    /// ClickHouse table.
    pub table: &'static str,
}

/// Every metric of the service.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Kafka records read.
    pub records: Counter,
    /// Events read.
    pub events: Counter,
    /// Watermarks read.
    pub watermarks: Counter,
    /// Rows written to `rejects`, by reason.
    pub rejects: Family<ReasonLabel, Counter>,
    /// Late events.
    pub late_events: Counter,
    /// Attempt rows produced.
    pub attempts: Counter,
    /// Diagnoses produced, by code.
    pub diagnoses: Family<CodeLabel, Counter>,
    /// Incident revisions produced.
    pub incidents: Counter,
    /// Rows inserted, by table.
    pub rows_stored: Family<TableLabel, Counter>,
    /// Time to store one flush.
    pub insert_seconds: Histogram,
    /// Failed insert attempts that were retried.
    pub insert_retries: Counter,
    /// Age of the flush in progress (set at scrape time).
    pub store_wait_seconds: Gauge<f64, AtomicU64>,
    /// Records not read yet, per partition.
    pub lag: Family<PartitionLabel, Gauge>,
    /// Records after the committed offset, per partition.
    pub commit_lag: Family<PartitionLabel, Gauge>,
    /// Open attempts and sessions, per partition.
    pub open_attempts: Family<PartitionLabel, Gauge>,
    /// State size estimate, per partition.
    pub state_bytes: Family<PartitionLabel, Gauge>,
    /// How far back in event time the held state reaches, per partition.
    pub held_seconds: Family<PartitionLabel, Gauge<f64, AtomicU64>>,
    /// Partitions assigned.
    pub partitions: Gauge,
    /// 1 while a partition has been read to its end.
    pub at_end: Family<PartitionLabel, Gauge>,
    /// 1 once an idle partition's held state has all been concluded.
    pub concluded: Family<PartitionLabel, Gauge>,
}

impl Metrics {
    /// The metrics, registered under `scepwatch_analyzer_`.
    pub fn new() -> Arc<Self> {
        let mut root = Registry::default();
        let r = root.sub_registry_with_prefix("scepwatch_analyzer");
        let m = Metrics {
            records: Counter::default(),
            events: Counter::default(),
            watermarks: Counter::default(),
            rejects: Family::default(),
            late_events: Counter::default(),
            attempts: Counter::default(),
            diagnoses: Family::default(),
            incidents: Counter::default(),
            rows_stored: Family::default(),
            // 1 ms .. ~65 s.
            insert_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            insert_retries: Counter::default(),
            store_wait_seconds: Gauge::default(),
            lag: Family::default(),
            commit_lag: Family::default(),
            open_attempts: Family::default(),
            state_bytes: Family::default(),
            held_seconds: Family::default(),
            partitions: Gauge::default(),
            at_end: Family::default(),
            concluded: Family::default(),
            registry: Registry::default(),
        };
        r.register("records", "Kafka records read", m.records.clone());
        r.register("events", "Events read", m.events.clone());
        r.register("watermarks", "Watermarks read", m.watermarks.clone());
        r.register(
            "rejects",
            "Records or events stored in the rejects table",
            m.rejects.clone(),
        );
        r.register(
            "late_events",
            "Events that arrived after their window was concluded",
            m.late_events.clone(),
        );
        r.register("attempts", "Attempt rows produced", m.attempts.clone());
        r.register(
            "diagnoses",
            "Diagnoses produced, by catalog code",
            m.diagnoses.clone(),
        );
        r.register(
            "incidents",
            "Incident revisions produced",
            m.incidents.clone(),
        );
        r.register(
            "rows_stored",
            "Rows inserted into ClickHouse",
            m.rows_stored.clone(),
        );
        r.register(
            "insert_seconds",
            "Time to store one flush, retries included",
            m.insert_seconds.clone(),
        );
        r.register(
            "insert_retries",
            "Failed insert attempts that were retried",
            m.insert_retries.clone(),
        );
        r.register(
            "store_wait_seconds",
            "How long the flush in progress has waited for ClickHouse",
            m.store_wait_seconds.clone(),
        );
        r.register(
            "lag_records",
            "High watermark minus the next offset to read",
            m.lag.clone(),
        );
        r.register(
            "commit_lag_records",
            "High watermark minus the committed offset (what a restart replays)",
            m.commit_lag.clone(),
        );
        r.register(
            "open_attempts",
            "Device attempts and server sessions not concluded",
            m.open_attempts.clone(),
        );
        r.register(
            "state_bytes",
            "Estimate of the memory held by the engine and the spike detector",
            m.state_bytes.clone(),
        );
        r.register(
            "held_seconds",
            "Newest event time minus the earliest event time still held",
            m.held_seconds.clone(),
        );
        r.register(
            "partitions",
            "Partitions assigned to this instance",
            m.partitions.clone(),
        );
        r.register(
            "at_end",
            "1 while the partition has been read to its end, 0 otherwise",
            m.at_end.clone(),
        );
        r.register(
            "concluded",
            "1 once the partition, read to its end and idle, has had everything it held \
             concluded (or held nothing), 0 from its next record on",
            m.concluded.clone(),
        );
        let mut m = m;
        m.registry = root;
        Arc::new(m)
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Forgets the per-partition series of `partition` (revoked).
    pub fn forget_partition(&self, partition: i32) {
        let l = PartitionLabel { partition };
        self.lag.remove(&l);
        self.commit_lag.remove(&l);
        self.open_attempts.remove(&l);
        self.state_bytes.remove(&l);
        self.held_seconds.remove(&l);
        self.at_end.remove(&l);
        self.concluded.remove(&l);
    }
}
