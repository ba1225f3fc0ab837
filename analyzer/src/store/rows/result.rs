//! The rows of what the engine concludes: `attempts` and `diagnoses`.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use scepwatch_proto::time::parse_rfc3339;

use crate::model::{Attempt, Confidence, Diagnosis, JoinMethod, Platform, Scope, Severity, Side};
use crate::rule::catalog;

use super::column::clamp_time;

/// `severity`: the report's names numbered from 1 in the model's order, so that
/// `severity >= 'error'` works.
pub(crate) fn severity(s: Severity) -> i8 {
    match s {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Error => 3,
        Severity::Critical => 4,
    }
}

/// `attempts.join_method`.
pub(crate) fn join_method(j: JoinMethod) -> i8 {
    match j {
        JoinMethod::TransactionId => 1,
        JoinMethod::Fallback => 2,
        JoinMethod::DeviceOnly => 3,
        JoinMethod::ServerOnly => 4,
    }
}

/// `attempts.confidence`.
pub(crate) fn confidence(c: Confidence) -> i8 {
    match c {
        Confidence::Low => 1,
        Confidence::Medium => 2,
        Confidence::High => 3,
    }
}

/// `attempts.platform`.
pub(crate) fn platform(p: Platform) -> i8 {
    match p {
        Platform::Android => 1,
        Platform::Ios => 2,
        Platform::Windows => 3,
        Platform::Unknown => 4,
    }
}

/// `attempts.steps.side`.
pub(crate) fn side(s: Side) -> i8 {
    match s {
        Side::Device => 1,
        Side::Server => 2,
        Side::Probe => 3,
    }
}

/// `diagnoses.scope_kind` and its `scope_id`.
pub(crate) fn scope(s: &Scope) -> (i8, &str) {
    match s {
        Scope::Attempt(id) => (1, id),
        Scope::Server(host) => (2, host),
        Scope::Endpoint(id) => (3, id),
    }
}

/// A row of `attempts` (analyzer/schema/0003_results.sql): one revision of an attempt; its
/// steps as the arrays of the `steps` Nested column, one element per step.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name (analyzer/schema/0003_results.sql).
pub struct AttemptRow {
    pub attempt_id: String,
    pub version: u64,
    pub retracted: u8,
    pub endpoint: String,
    pub start_time: u32,
    pub start_time_micros: u32,
    pub end_time: u32,
    pub end_time_micros: u32,
    pub join_method: i8,
    pub confidence: i8,
    pub platform: i8,
    pub device: Option<String>,
    pub servers: Vec<String>,
    pub client_ip: Option<String>,
    pub user_agent_family: Option<String>,
    pub transaction_ids: Vec<String>,
    pub diagnosis_codes: Vec<String>,
    pub severity: i8,
    #[serde(rename = "steps.time")]
    pub steps_time: Vec<u32>,
    #[serde(rename = "steps.time_micros")]
    pub steps_time_micros: Vec<u32>,
    #[serde(rename = "steps.side")]
    pub steps_side: Vec<i8>,
    #[serde(rename = "steps.host")]
    pub steps_host: Vec<String>,
    #[serde(rename = "steps.what")]
    pub steps_what: Vec<String>,
    #[serde(rename = "steps.event_id")]
    pub steps_event_id: Vec<String>,
}

impl AttemptRow {
    /// The table.
    pub const TABLE: &'static str = "attempts";

    /// The row of `attempt`, revision `version` (the write time in microseconds); `retracted`
    /// withdraws it (the analyzer replaced it by an attempt with another ID). Times are clamped
    /// into the `DateTime` range: an attempt is made of stored events, whose times are in it.
    pub fn from_attempt(attempt: &Attempt, version: u64, retracted: bool) -> Self {
        let (start_time, start_time_micros) = clamp_time(attempt.start_us);
        let (end_time, end_time_micros) = clamp_time(attempt.end_us);
        let n = attempt.steps.len();
        let mut row = AttemptRow {
            attempt_id: attempt.id.clone(),
            version,
            retracted: u8::from(retracted),
            endpoint: attempt.endpoint.clone(),
            start_time,
            start_time_micros,
            end_time,
            end_time_micros,
            join_method: join_method(attempt.join),
            confidence: confidence(attempt.confidence),
            platform: platform(attempt.platform),
            device: attempt.device.clone(),
            servers: attempt.servers.clone(),
            client_ip: attempt.client_ip.clone(),
            user_agent_family: attempt.user_agent_family.clone(),
            transaction_ids: attempt.transaction_ids.clone(),
            diagnosis_codes: attempt.diagnoses.clone(),
            severity: severity(attempt.severity),
            steps_time: Vec::with_capacity(n),
            steps_time_micros: Vec::with_capacity(n),
            steps_side: Vec::with_capacity(n),
            steps_host: Vec::with_capacity(n),
            steps_what: Vec::with_capacity(n),
            steps_event_id: Vec::with_capacity(n),
        };
        for s in &attempt.steps {
            let (t, micros) = clamp_time(s.time_us);
            row.steps_time.push(t);
            row.steps_time_micros.push(micros);
            row.steps_side.push(side(s.side));
            row.steps_host.push(s.host.clone());
            row.steps_what.push(s.what.clone());
            row.steps_event_id.push(s.event_id.clone());
        }
        row
    }
}

/// A row of `diagnoses` (analyzer/schema/0003_results.sql): one revision of a diagnosis; its
/// evidence as the arrays of the `evidence` Nested column, one element per record.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name (analyzer/schema/0003_results.sql).
pub struct DiagnosisRow {
    pub diagnosis_id: String,
    pub version: u64,
    pub retracted: u8,
    pub code: String,
    pub catalog_row: u8,
    pub severity: i8,
    pub title: String,
    pub explanation: String,
    pub fix: String,
    pub scope_kind: i8,
    pub scope_id: String,
    pub endpoint: String,
    pub first_seen: u32,
    pub first_seen_micros: u32,
    pub last_seen: u32,
    pub last_seen_micros: u32,
    pub occurrences: u64,
    #[serde(rename = "evidence.event_id")]
    pub evidence_event_id: Vec<String>,
    #[serde(rename = "evidence.time")]
    pub evidence_time: Vec<u32>,
    #[serde(rename = "evidence.time_micros")]
    pub evidence_time_micros: Vec<u32>,
    #[serde(rename = "evidence.host")]
    pub evidence_host: Vec<String>,
    #[serde(rename = "evidence.source")]
    pub evidence_source: Vec<String>,
    #[serde(rename = "evidence.kind")]
    pub evidence_kind: Vec<String>,
    #[serde(rename = "evidence.excerpt")]
    pub evidence_excerpt: Vec<String>,
    #[serde(rename = "evidence.note")]
    pub evidence_note: Vec<String>,
}

impl DiagnosisRow {
    /// The table.
    pub const TABLE: &'static str = "diagnoses";

    /// The row of `diagnosis`, revision `version` (the write time in microseconds);
    /// `retracted` withdraws it. `fix` is the catalog's fix of the code (one text per code),
    /// the diagnosis's own for a code the catalog does not know. `first_seen` / `last_seen`
    /// are read back from the diagnosis's RFC 3339 text (the earliest / latest evidence time
    /// when the text does not parse) and clamped into the `DateTime` range.
    pub fn from_diagnosis(diagnosis: &Diagnosis, version: u64, retracted: bool) -> Self {
        let d = diagnosis;
        let (scope_kind, scope_id) = scope(&d.scope);
        let evidence_times = || d.evidence.iter().map(|e| e.time_us);
        let first_us = parse_rfc3339(&d.first_seen)
            .or_else(|| evidence_times().min())
            .unwrap_or(0);
        let last_us = parse_rfc3339(&d.last_seen)
            .or_else(|| evidence_times().max())
            .unwrap_or(first_us);
        let (first_seen, first_seen_micros) = clamp_time(first_us);
        let (last_seen, last_seen_micros) = clamp_time(last_us);
        let n = d.evidence.len();
        let mut row = DiagnosisRow {
            diagnosis_id: d.id.clone(),
            version,
            retracted: u8::from(retracted),
            code: d.code.clone(),
            catalog_row: d.catalog_row,
            severity: severity(d.severity),
            title: d.title.clone(),
            explanation: d.explanation.clone(),
            fix: catalog::entry(&d.code).map_or_else(|| d.fix.clone(), |e| e.fix.to_string()),
            scope_kind,
            scope_id: scope_id.to_string(),
            endpoint: d.endpoint.clone(),
            first_seen,
            first_seen_micros,
            last_seen,
            last_seen_micros,
            occurrences: d.occurrences,
            evidence_event_id: Vec::with_capacity(n),
            evidence_time: Vec::with_capacity(n),
            evidence_time_micros: Vec::with_capacity(n),
            evidence_host: Vec::with_capacity(n),
            evidence_source: Vec::with_capacity(n),
            evidence_kind: Vec::with_capacity(n),
            evidence_excerpt: Vec::with_capacity(n),
            evidence_note: Vec::with_capacity(n),
        };
        for e in &d.evidence {
            let (t, micros) = clamp_time(e.time_us);
            row.evidence_event_id.push(e.event_id.clone());
            row.evidence_time.push(t);
            row.evidence_time_micros.push(micros);
            row.evidence_host.push(e.host.clone());
            row.evidence_source.push(e.source.clone());
            row.evidence_kind.push(e.kind.clone());
            row.evidence_excerpt.push(e.excerpt.clone());
            row.evidence_note.push(e.note.clone());
        }
        row
    }
}
