//! The `watermarks` row: how far one source has been read.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use scepwatch_proto::v1::Watermark;
use scepwatch_proto::SourceKey;

use super::column::{clamp_secs, clamp_time, enum8, version_of, SOURCE_KIND};

/// A row of `watermarks` (analyzer/schema/0002_events.sql): the latest watermark of a source,
/// keyed by (`host`, `source_id`), versioned by its own progress (`read_up_to`) so that a
/// replayed older watermark never moves a source back.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name (analyzer/schema/0002_events.sql).
pub struct WatermarkRow {
    pub source_id: String,
    pub version: u64,
    pub collector: String,
    pub host: String,
    pub source_kind: i8,
    pub source_path: String,
    pub source_stream: String,
    pub endpoint_id: String,
    pub read_from: u32,
    pub read_from_micros: u32,
    pub read_up_to: u32,
    pub read_up_to_micros: u32,
    pub position: u64,
    pub updated_at: u32,
}

impl WatermarkRow {
    /// The table.
    pub const TABLE: &'static str = "watermarks";

    /// The row of `watermark`. `source_id` is the source's [`SourceKey`] as 32 lower-case hex
    /// digits (`format!("{:032x}", key.0)`). `endpoint` is the endpoint the analyzer counts the source under
    /// (the watermark's `endpoint_id` when it names one, else the host's mapping);
    /// `updated_at_us` the time of the write. Times outside the `DateTime` range are clamped
    /// into it (a watermark is never rejected: it only says how far a source was read).
    pub fn from_watermark(watermark: &Watermark, endpoint: &str, updated_at_us: i64) -> Self {
        let source = watermark.source.clone().unwrap_or_default();
        let (read_from, read_from_micros) = clamp_time(watermark.read_from_us);
        let (read_up_to, read_up_to_micros) = clamp_time(watermark.read_up_to_us);
        WatermarkRow {
            source_id: format!("{:032x}", SourceKey::of(&source).0),
            version: version_of(watermark.read_up_to_us),
            source_kind: enum8(SOURCE_KIND, source.kind),
            collector: source.collector,
            host: source.host,
            source_path: source.path,
            source_stream: source.stream,
            endpoint_id: endpoint.to_string(),
            read_from,
            read_from_micros,
            read_up_to,
            read_up_to_micros,
            position: watermark.position,
            updated_at: clamp_secs(updated_at_us),
        }
    }
}
