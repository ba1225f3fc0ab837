//! What the engine concludes: enrollment attempts, diagnoses and their evidence.
//!
//! These types are the engine's output for both drivers (`diagnose` over files, the analyzer
//! over Kafka), and they serialise to the JSON report (schema version [`REPORT_SCHEMA_VERSION`],
//! documented in `docs/report-schema.md`). Field names are part of that schema: add, never
//! rename.

use serde::Serialize;

/// Version of the JSON report schema. Bump the major part on any breaking change.
pub const REPORT_SCHEMA_VERSION: &str = "1.0";

/// How bad a diagnosis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A step that worked, or context.
    Info,
    /// Not failing yet, or failing for some devices.
    Warning,
    /// Enrollment fails.
    Error,
    /// The SCEP service is down for everyone behind the endpoint.
    Critical,
}

impl Severity {
    /// Lower-case name, as in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// How device-side and server-side events of an attempt were joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinMethod {
    /// Both sides carry the same SCEP transactionID.
    TransactionId,
    /// Same endpoint, user-agent family and time window (client address when known).
    Fallback,
    /// Only the device's log has this attempt.
    DeviceOnly,
    /// Only the server's logs have this attempt.
    ServerOnly,
}

/// How sure the join is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Several candidates fitted; the closest in time was taken.
    Low,
    /// Exactly one candidate fitted the fallback keys.
    Medium,
    /// Exact transactionID match, or a one-sided attempt (nothing to join).
    High,
}

/// Which side of the conversation an event is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The enrolling device (Android, iOS, Windows logs).
    Device,
    /// An NDES server (IIS, HTTPERR, event logs, health facts).
    Server,
    /// The active prober.
    Probe,
}

/// Device platform, from the log it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Android Company Portal (jscep).
    Android,
    /// iOS / iPadOS / macOS profiled.
    Ios,
    /// Windows MDM client.
    Windows,
    /// Not known (server-only attempts: see `user_agent_family`).
    Unknown,
}

/// One piece of evidence: a pointer to an event, with enough of it to read without the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Hex of the event's deterministic ID.
    pub event_id: String,
    /// Event time, RFC 3339 UTC.
    pub time: String,
    /// Event time, microseconds since the epoch.
    pub time_us: i64,
    /// Host whose log it is.
    pub host: String,
    /// File path or channel.
    pub source: String,
    /// Source kind name (`iis`, `android-omadm`, ...).
    pub kind: String,
    /// The raw record, cut to 2 KiB.
    pub excerpt: String,
    /// What this piece shows, in a few words (e.g. "GET PKIOperation → 500 (win32 1346)").
    pub note: String,
}

/// One step of an attempt's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// RFC 3339 UTC.
    pub time: String,
    /// Microseconds since the epoch.
    pub time_us: i64,
    /// Which side logged it.
    pub side: Side,
    /// Host that logged it.
    pub host: String,
    /// What happened, e.g. "GetCACaps → 200", "Sending CSR via GET".
    pub what: String,
    /// Hex event ID (also in the attempt's evidence).
    pub event_id: String,
}

/// One device's try at enrolling against one SCEP endpoint, from both sides as far as seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// Deterministic: hex digest of the endpoint and the attempt's first event ID.
    pub id: String,
    /// Normalised SCEP endpoint URL (or configured endpoint name).
    pub endpoint: String,
    /// First and last event time, RFC 3339 UTC.
    pub start: String,
    /// Last event time.
    pub end: String,
    /// First event time, microseconds.
    pub start_us: i64,
    /// Last event time, microseconds.
    pub end_us: i64,
    /// How the two sides were joined.
    pub join: JoinMethod,
    /// How sure the join is.
    pub confidence: Confidence,
    /// Device platform.
    pub platform: Platform,
    /// Device name (from the device log's source host), if a device log is part of it.
    pub device: Option<String>,
    /// NDES servers that logged part of it.
    pub servers: Vec<String>,
    /// Client address as IIS saw it (the application proxy connector when one is in between).
    pub client_ip: Option<String>,
    /// "android", "ios", "windows", "other" from the user agent.
    pub user_agent_family: Option<String>,
    /// SCEP transactionIDs seen on either side.
    pub transaction_ids: Vec<String>,
    /// Timeline, ordered by time.
    pub steps: Vec<Step>,
    /// Codes of the diagnoses made about this attempt.
    pub diagnoses: Vec<String>,
    /// Worst severity among them (`info` if all is well).
    pub severity: Severity,
}

/// What a diagnosis is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// One enrollment attempt (its ID).
    Attempt(String),
    /// One NDES server (its host name).
    Server(String),
    /// One SCEP endpoint (its ID).
    Endpoint(String),
}

/// A conclusion from the catalog, with the evidence that supports it and the fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// Deterministic: hex digest of code, scope and the evidence event IDs.
    pub id: String,
    /// Stable catalog code, e.g. `iis.impersonation_right_missing`.
    pub code: String,
    /// The guide's catalog row(s) this implements (1..=17; 0 for proactive checks).
    pub catalog_row: u8,
    /// How bad it is.
    pub severity: Severity,
    /// One-line title.
    pub title: String,
    /// What was seen and what it means, for this case.
    pub explanation: String,
    /// What to do, step by step.
    pub fix: String,
    /// What it is about.
    pub scope: Scope,
    /// Endpoint it belongs to (empty when none is known).
    pub endpoint: String,
    /// First and last evidence time, RFC 3339 UTC.
    pub first_seen: String,
    /// Last evidence time.
    pub last_seen: String,
    /// How many occurrences were folded into this diagnosis (e.g. 500 responses).
    pub occurrences: u64,
    /// The records that support it (at most a handful; `occurrences` counts them all).
    pub evidence: Vec<Evidence>,
}
