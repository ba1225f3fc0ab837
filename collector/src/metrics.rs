//! The collector agent's Prometheus metrics, served on `/metrics` (prometheus-client text
//! format), with `/healthz` beside it.
//!
//! Counters only ever grow for the life of the process; gauges show the state now. Every
//! metric is prefixed `scepwatch_collector_`.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of per-source metrics.
pub type SourceLabel = Vec<(&'static str, String)>;

/// Every metric of the agent.
pub struct AgentMetrics {
    registry: Registry,
    /// Bytes read from log files.
    pub bytes_read: Counter,
    /// Events parsed, by source.
    pub events_read: Family<SourceLabel, Counter>,
    /// Malformed records, by reason (`iis.field_count`, `line_too_long`, ...).
    pub parse_errors: Family<SourceLabel, Counter>,
    /// Files currently tracked.
    pub files_tracked: Gauge,
    /// Open file handles.
    pub files_open: Gauge,
    /// Rotations, truncations and moves (renames, copies) seen, by `kind`.
    pub stream_changes: Family<SourceLabel, Counter>,
    /// Batches written to the spool.
    pub batches_spooled: Counter,
    /// Events written to the spool.
    pub events_spooled: Counter,
    /// Un-acknowledged bytes in the spool.
    pub spool_bytes: Gauge,
    /// Records in the spool.
    pub spool_records: Gauge,
    /// 1 while the spool is full and sources wait.
    pub spool_full: Gauge,
    /// Times sources had to wait for room in the spool.
    pub spool_full_waits: Counter,
    /// Batches sent (resends included).
    pub batches_sent: Counter,
    /// Batch bytes sent.
    pub bytes_sent: Counter,
    /// Batches sent again after a RETRY answer.
    pub batches_resent: Counter,
    /// Batches acknowledged as stored.
    pub batches_acked: Counter,
    /// Events acknowledged as stored.
    pub events_acked: Counter,
    /// Batches the ingestor answered RETRY for.
    pub batches_retried: Counter,
    /// Batches the ingestor rejected (kept in the state folder's `rejected`).
    pub batches_rejected: Counter,
    /// Batches sent and not yet acknowledged.
    pub in_flight: Gauge,
    /// 1 while a stream to the ingestor is open.
    pub connected: Gauge,
    /// Streams that ended and were re-opened.
    pub reconnects: Counter,
    /// Checkpoint saves.
    pub checkpoints_saved: Counter,
    /// Seconds from sending a batch to its acknowledgement.
    pub ack_latency: Histogram,
}

impl AgentMetrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<AgentMetrics> {
        let mut registry = Registry::with_prefix("scepwatch_collector");
        let m = AgentMetrics {
            bytes_read: Counter::default(),
            events_read: Family::default(),
            parse_errors: Family::default(),
            files_tracked: Gauge::default(),
            files_open: Gauge::default(),
            stream_changes: Family::default(),
            batches_spooled: Counter::default(),
            events_spooled: Counter::default(),
            spool_bytes: Gauge::default(),
            spool_records: Gauge::default(),
            spool_full: Gauge::default(),
            spool_full_waits: Counter::default(),
            batches_sent: Counter::default(),
            bytes_sent: Counter::default(),
            batches_resent: Counter::default(),
            batches_acked: Counter::default(),
            events_acked: Counter::default(),
            batches_retried: Counter::default(),
            batches_rejected: Counter::default(),
            in_flight: Gauge::default(),
            connected: Gauge::default(),
            reconnects: Counter::default(),
            checkpoints_saved: Counter::default(),
            ack_latency: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            registry: Registry::default(),
        };
        registry.register(
            "read_bytes",
            "Bytes read from log files",
            m.bytes_read.clone(),
        );
        registry.register(
            "read_events",
            "Events parsed from log files",
            m.events_read.clone(),
        );
        registry.register(
            "parse_errors",
            "Malformed records by reason",
            m.parse_errors.clone(),
        );
        registry.register(
            "files_tracked",
            "Log files tracked",
            m.files_tracked.clone(),
        );
        registry.register("files_open", "Open log file handles", m.files_open.clone());
        registry.register(
            "stream_changes",
            "New streams, rotations and truncations seen",
            m.stream_changes.clone(),
        );
        registry.register(
            "spooled_batches",
            "Batches written to the spool",
            m.batches_spooled.clone(),
        );
        registry.register(
            "spooled_events",
            "Events written to the spool",
            m.events_spooled.clone(),
        );
        registry.register(
            "spool_bytes",
            "Unacknowledged bytes in the spool",
            m.spool_bytes.clone(),
        );
        registry.register(
            "spool_records",
            "Batches in the spool",
            m.spool_records.clone(),
        );
        registry.register(
            "spool_full",
            "1 while the spool is full and reading waits (nothing is dropped)",
            m.spool_full.clone(),
        );
        registry.register(
            "spool_full_waits",
            "Times reading waited for room in the spool",
            m.spool_full_waits.clone(),
        );
        registry.register(
            "sent_batches",
            "Batches sent, resends included",
            m.batches_sent.clone(),
        );
        registry.register(
            "sent_bytes",
            "Batch bytes sent (before compression)",
            m.bytes_sent.clone(),
        );
        registry.register(
            "resent_batches",
            "Batches sent again after RETRY",
            m.batches_resent.clone(),
        );
        registry.register(
            "acked_batches",
            "Batches acknowledged as stored in Kafka",
            m.batches_acked.clone(),
        );
        registry.register(
            "acked_events",
            "Events acknowledged as stored in Kafka",
            m.events_acked.clone(),
        );
        registry.register(
            "retry_batches",
            "Batches the ingestor answered RETRY for",
            m.batches_retried.clone(),
        );
        registry.register(
            "rejected_batches",
            "Batches the ingestor rejected (kept in the state folder)",
            m.batches_rejected.clone(),
        );
        registry.register(
            "in_flight_batches",
            "Batches sent, not yet acknowledged",
            m.in_flight.clone(),
        );
        registry.register(
            "connected",
            "1 while a stream to the ingestor is open",
            m.connected.clone(),
        );
        registry.register(
            "reconnects",
            "Streams to the ingestor re-opened",
            m.reconnects.clone(),
        );
        registry.register(
            "checkpoint_saves",
            "Checkpoint saves",
            m.checkpoints_saved.clone(),
        );
        registry.register(
            "ack_latency_seconds",
            "Time from sending a batch to its acknowledgement",
            m.ack_latency.clone(),
        );
        Arc::new(AgentMetrics { registry, ..m })
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serve `/metrics` and `/healthz` on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<AgentMetrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
