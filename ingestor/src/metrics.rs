//! Prometheus metrics of the ingestor (served as text at `/metrics`).
//!
//! Labels are bounded: `collector` takes only configured names (a refused stream is counted
//! without one), `reason` a fixed set of values.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `scepwatch_ingestor_received_batches_total` / `_events_total` / `_bytes_total` | collector | read from authenticated streams |
//! | `scepwatch_ingestor_published_batches_total` / `_events_total` / `_bytes_total` / `_records_total` | collector | acknowledged ACCEPTED (every record in Kafka) |
//! | `scepwatch_ingestor_rejected_batches_total` / `_events_total` | collector, reason | answered REJECTED |
//! | `scepwatch_ingestor_retried_batches_total` | collector, reason | answered RETRY (`rate_limit`, `kafka`) |
//! | `scepwatch_ingestor_refused_streams_total` | reason | streams ended with an error status, TLS handshakes refused |
//! | `scepwatch_ingestor_streams` | | open streams |
//! | `scepwatch_ingestor_in_flight_batches` / `_in_flight_batches_limit` | | batches being published |
//! | `scepwatch_ingestor_collector_lag_seconds` | collector | now − newest published watermark `read_up_to` |
//! | `scepwatch_ingestor_kafka_delivery_seconds` | | time from enqueueing a batch's records to the last delivery report |

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set `{collector}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectorLabel {
    /// Configured collector name.
    pub collector: String,
}

/// Label set `{collector, reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectorReason {
    /// Configured collector name.
    pub collector: String,
    /// One of a fixed set of reasons.
    pub reason: &'static str,
}

/// Label set `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// One of a fixed set of reasons.
    pub reason: &'static str,
}

/// Every metric of the ingestor.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Batches read from authenticated streams.
    pub received_batches: Family<CollectorLabel, Counter>,
    /// Events read.
    pub received_events: Family<CollectorLabel, Counter>,
    /// Encoded batch bytes read.
    pub received_bytes: Family<CollectorLabel, Counter>,
    /// Batches acknowledged ACCEPTED.
    pub published_batches: Family<CollectorLabel, Counter>,
    /// Events in them.
    pub published_events: Family<CollectorLabel, Counter>,
    /// Record value bytes written for them.
    pub published_bytes: Family<CollectorLabel, Counter>,
    /// Kafka records written for them.
    pub published_records: Family<CollectorLabel, Counter>,
    /// Batches answered REJECTED.
    pub rejected_batches: Family<CollectorReason, Counter>,
    /// Events in them.
    pub rejected_events: Family<CollectorReason, Counter>,
    /// Batches answered RETRY.
    pub retried_batches: Family<CollectorReason, Counter>,
    /// Streams ended with an error status, and refused TLS handshakes.
    pub refused_streams: Family<ReasonLabel, Counter>,
    /// Open streams.
    pub streams: Gauge,
    /// Batches being published.
    pub in_flight: Gauge,
    /// The in-flight bound.
    pub in_flight_limit: Gauge,
    /// now − newest published watermark, per collector (set at scrape time).
    pub lag_seconds: Family<CollectorLabel, Gauge<f64, AtomicU64>>,
    /// Enqueue-to-last-delivery time of each published batch.
    pub delivery_seconds: Histogram,
    newest_watermark_us: HashMap<String, AtomicI64>,
}

impl Metrics {
    /// Metrics for the given collectors, registered under `scepwatch_ingestor_`.
    pub fn new<'a>(collectors: impl IntoIterator<Item = &'a str>) -> Arc<Self> {
        let mut root = Registry::default();
        let r = root.sub_registry_with_prefix("scepwatch_ingestor");
        let m = Metrics {
            received_batches: Family::default(),
            received_events: Family::default(),
            received_bytes: Family::default(),
            published_batches: Family::default(),
            published_events: Family::default(),
            published_bytes: Family::default(),
            published_records: Family::default(),
            rejected_batches: Family::default(),
            rejected_events: Family::default(),
            retried_batches: Family::default(),
            refused_streams: Family::default(),
            streams: Gauge::default(),
            in_flight: Gauge::default(),
            in_flight_limit: Gauge::default(),
            lag_seconds: Family::default(),
            // 1 ms .. ~33 s.
            delivery_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            newest_watermark_us: collectors
                .into_iter()
                .map(|c| (c.to_owned(), AtomicI64::new(0)))
                .collect(),
            registry: Registry::default(),
        };
        r.register(
            "received_batches",
            "Batches read from authenticated collector streams",
            m.received_batches.clone(),
        );
        r.register(
            "received_events",
            "Events read from authenticated collector streams",
            m.received_events.clone(),
        );
        r.register(
            "received_bytes",
            "Encoded batch bytes read from authenticated collector streams",
            m.received_bytes.clone(),
        );
        r.register(
            "published_batches",
            "Batches acknowledged ACCEPTED: every record delivered to Kafka",
            m.published_batches.clone(),
        );
        r.register(
            "published_events",
            "Events of batches acknowledged ACCEPTED",
            m.published_events.clone(),
        );
        r.register(
            "published_bytes",
            "Kafka record value bytes of batches acknowledged ACCEPTED",
            m.published_bytes.clone(),
        );
        r.register(
            "published_records",
            "Kafka records of batches acknowledged ACCEPTED",
            m.published_records.clone(),
        );
        r.register(
            "rejected_batches",
            "Batches answered REJECTED, by reason",
            m.rejected_batches.clone(),
        );
        r.register(
            "rejected_events",
            "Events of batches answered REJECTED, by reason",
            m.rejected_events.clone(),
        );
        r.register(
            "retried_batches",
            "Batches answered RETRY (rate_limit, kafka)",
            m.retried_batches.clone(),
        );
        r.register(
            "refused_streams",
            "Streams ended with an error status and TLS handshakes refused, by reason",
            m.refused_streams.clone(),
        );
        r.register("streams", "Open collector streams", m.streams.clone());
        r.register(
            "in_flight_batches",
            "Batches being published to Kafka",
            m.in_flight.clone(),
        );
        r.register(
            "in_flight_batches_limit",
            "Most batches published at once (limits.max_in_flight_batches)",
            m.in_flight_limit.clone(),
        );
        r.register(
            "collector_lag_seconds",
            "Now minus the newest read_up_to of the watermarks a collector has had published",
            m.lag_seconds.clone(),
        );
        r.register(
            "kafka_delivery_seconds",
            "Time from enqueueing a batch's records to the delivery report of the last one",
            m.delivery_seconds.clone(),
        );
        Arc::new(Metrics {
            registry: root,
            ..m
        })
    }

    /// Counts a refused stream or handshake.
    pub fn refused(&self, reason: &'static str) {
        self.refused_streams
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Notes the newest `read_up_to` (µs) of watermarks published for `collector`.
    pub fn watermark(&self, collector: &str, read_up_to_us: i64) {
        if let Some(w) = self.newest_watermark_us.get(collector) {
            w.fetch_max(read_up_to_us, Ordering::AcqRel);
        }
    }

    /// The text exposition, with lags computed for `now_us`.
    pub fn encode(&self, now_us: i64) -> String {
        for (collector, newest) in &self.newest_watermark_us {
            let newest = newest.load(Ordering::Acquire);
            if newest > 0 {
                self.lag_seconds
                    .get_or_create(&CollectorLabel {
                        collector: collector.clone(),
                    })
                    .set((now_us - newest) as f64 / 1e6);
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_now_minus_newest_watermark() {
        let m = Metrics::new(["ndes01", "ndes02"]);
        m.watermark("ndes01", 10_000_000);
        m.watermark("ndes01", 4_000_000);
        m.watermark("stranger", 1);
        let text = m.encode(12_500_000);
        assert!(
            text.contains("scepwatch_ingestor_collector_lag_seconds{collector=\"ndes01\"} 2.5"),
            "{text}"
        );
        assert!(!text.contains("ndes02\"} "), "no lag before any watermark");
        assert!(!text.contains("stranger"));
    }

    #[test]
    fn counters_are_prefixed() {
        let m = Metrics::new(["ndes01"]);
        m.received_events
            .get_or_create(&CollectorLabel {
                collector: "ndes01".into(),
            })
            .inc_by(5);
        m.refused("wrong_token");
        let text = m.encode(0);
        assert!(text.contains("scepwatch_ingestor_received_events_total{collector=\"ndes01\"} 5"));
        assert!(text.contains("scepwatch_ingestor_refused_streams_total{reason=\"wrong_token\"} 1"));
    }
}
