//! The `incidents` row: one revision of a 500/503 spike ([`crate::spike::Incident`]).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::column::clamp_secs;
use super::result::severity;
use crate::spike::{Incident, IncidentScope};

/// A row of `incidents` (analyzer/schema/0003_results.sql), columns in the table's order.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name.
pub struct IncidentRow {
    pub incident_id: String,
    pub version: u64,
    pub retracted: u8,
    pub scope_kind: i8,
    pub scope_id: String,
    pub endpoint: String,
    pub http_status: u16,
    pub state: i8,
    pub start_time: u32,
    pub end_time: u32,
    pub peak_time: u32,
    pub peak_rate: f64,
    pub baseline_rate: f64,
    pub threshold_rate: f64,
    pub errors: u64,
    pub requests: u64,
    pub severity: i8,
    pub diagnosis_codes: Vec<String>,
    pub diagnosis_ids: Vec<String>,
    pub evidence_event_ids: Vec<String>,
    pub summary: String,
    pub detector: String,
}

impl IncidentRow {
    /// The table.
    pub const TABLE: &'static str = "incidents";

    /// The row of revision `version` (write time, µs) of `incident`.
    pub fn from_incident(i: &Incident, version: u64) -> Self {
        IncidentRow {
            incident_id: i.id.clone(),
            version,
            retracted: u8::from(i.retracted),
            // The numbers of diagnoses.scope_kind.
            scope_kind: match i.scope {
                IncidentScope::Server => 2,
                IncidentScope::Endpoint => 3,
            },
            scope_id: i.scope_id.clone(),
            endpoint: i.endpoint.clone(),
            http_status: i.http_status,
            state: if i.open { 1 } else { 2 },
            start_time: clamp_secs(i.start_us),
            end_time: clamp_secs(i.end_us),
            peak_time: clamp_secs(i.peak_us),
            peak_rate: i.peak_rate,
            baseline_rate: i.baseline_rate,
            threshold_rate: i.threshold_rate,
            errors: i.errors,
            requests: i.requests,
            severity: severity(i.severity),
            diagnosis_codes: i.diagnosis_codes.clone(),
            diagnosis_ids: i.diagnosis_ids.clone(),
            evidence_event_ids: i.evidence_event_ids.clone(),
            summary: i.summary.clone(),
            detector: i.detector.clone(),
        }
    }
}
