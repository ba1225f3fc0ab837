//! Renderings of a `diagnose` run ([`RunReport`]): [`text`] for a terminal, [`json`] for
//! machines (schema in `docs/report-schema.md`), [`html`] as one self-contained page to attach
//! to a ticket. [`events`] prints single events for `scepwatch parse`.
//!
//! All three share [`groups`]: diagnoses grouped by code, worst first, so the order of a report
//! is the order in which an admin should act.

use std::collections::BTreeSet;
use std::io::{self, Write};

use crate::diagnose::RunReport;
use crate::model::{Diagnosis, Evidence, Scope, Severity};

pub mod events;
pub mod html;
pub mod json;
pub mod text;

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Plain text, coloured on a terminal.
    Text,
    /// JSON, schema version [`crate::model::REPORT_SCHEMA_VERSION`].
    Json,
    /// One self-contained HTML page.
    Html,
}

/// How to render.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Diagnoses below this severity are counted but not listed.
    pub min_severity: Severity,
    /// ANSI colour in text output.
    pub color: bool,
    /// Generation time (RFC 3339) to print; `None` keeps the output deterministic.
    pub timestamp: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            min_severity: Severity::Info,
            color: false,
            timestamp: None,
        }
    }
}

/// Renders `report` to `out`.
pub fn render(
    report: &RunReport,
    format: ReportFormat,
    opts: &ReportOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        ReportFormat::Text => text::render(report, opts, out),
        ReportFormat::Json => json::render(report, opts, out),
        ReportFormat::Html => html::render(report, opts, out),
    }
}

/// The one-line answer of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Worst severity found (`None`: no diagnosis at all).
    pub severity: Option<Severity>,
    /// Diagnoses of warning severity or worse.
    pub problems: u64,
    /// One sentence.
    pub headline: String,
}

/// The verdict of a run.
pub fn verdict(report: &RunReport) -> Verdict {
    // Complete counts when the run has them (only some diagnoses are kept in full).
    let kept = report
        .diagnoses
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .count() as u64;
    let counted: u64 = ["warning", "error", "critical"]
        .iter()
        .filter_map(|s| report.diagnosis_counts.by_severity.get(*s))
        .sum();
    let problems = kept.max(counted);
    let worst = report
        .diagnoses
        .first()
        .filter(|d| d.severity >= Severity::Warning);
    let headline = match worst {
        Some(d) => {
            let mut codes: BTreeSet<&str> = report
                .diagnoses
                .iter()
                .filter(|d| d.severity >= Severity::Warning)
                .map(|d| d.code.as_str())
                .collect();
            codes.extend(
                report
                    .diagnosis_counts
                    .by_code
                    .iter()
                    .filter(|(_, s)| s.severity != "info")
                    .map(|(c, _)| c.as_str()),
            );
            format!(
                "{} problem{} found ({} kind{}); worst ({}): {}",
                problems,
                plural(problems),
                codes.len(),
                plural(codes.len() as u64),
                d.severity.name(),
                d.title
            )
        }
        None if report.files_read() == 0 => "Nothing could be read.".to_string(),
        None => format!(
            "No problem found in {} file{} ({} event{}).",
            report.files_read(),
            plural(report.files_read() as u64),
            report.files.iter().map(|f| f.events).sum::<u64>(),
            plural(report.files.iter().map(|f| f.events).sum::<u64>()),
        ),
    };
    Verdict {
        severity: report.worst(),
        problems,
        headline,
    }
}

/// `"s"` unless `n == 1`.
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Diagnoses of one code.
#[derive(Debug)]
pub struct Group<'a> {
    /// Catalog code.
    pub code: &'a str,
    /// Worst severity in the group.
    pub severity: Severity,
    /// Diagnoses kept in full, worst and earliest first.
    pub diagnoses: Vec<&'a Diagnosis>,
    /// All diagnoses of this code (some may not be kept in full).
    pub count: u64,
    /// Sum of occurrences.
    pub occurrences: u64,
    /// Servers named by the group's scopes and attempts.
    pub servers: BTreeSet<String>,
    /// Endpoints named.
    pub endpoints: BTreeSet<String>,
    /// Attempts the group is about.
    pub attempts: u64,
    /// Earliest evidence time.
    pub first_seen: &'a str,
    /// Latest evidence time.
    pub last_seen: &'a str,
}

impl<'a> Group<'a> {
    /// The representative diagnosis (worst, earliest).
    pub fn lead(&self) -> Option<&'a Diagnosis> {
        self.diagnoses.first().copied()
    }

    /// Up to `n` evidence records across the group, earliest first, without repeats.
    pub fn evidence(&self, n: usize) -> Vec<&'a Evidence> {
        let mut all: Vec<&Evidence> = self.diagnoses.iter().flat_map(|d| &d.evidence).collect();
        all.sort_by(|a, b| a.time_us.cmp(&b.time_us).then(a.event_id.cmp(&b.event_id)));
        all.dedup_by(|a, b| a.event_id == b.event_id);
        all.truncate(n);
        all
    }
}

/// Diagnoses at or above `min`, grouped by code, worst group first (then by code).
pub fn groups(report: &RunReport, min: Severity) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for d in report.diagnoses.iter().filter(|d| d.severity >= min) {
        let i = match out.iter().position(|g| g.code == d.code) {
            Some(i) => i,
            None => {
                out.push(Group {
                    code: &d.code,
                    severity: d.severity,
                    diagnoses: Vec::new(),
                    count: 0,
                    occurrences: 0,
                    servers: BTreeSet::new(),
                    endpoints: BTreeSet::new(),
                    attempts: 0,
                    first_seen: &d.first_seen,
                    last_seen: &d.last_seen,
                });
                out.len() - 1
            }
        };
        let Some(g) = out.get_mut(i) else { continue };
        g.severity = g.severity.max(d.severity);
        g.occurrences += d.occurrences;
        if !d.first_seen.is_empty() && (g.first_seen.is_empty() || *d.first_seen < *g.first_seen) {
            g.first_seen = &d.first_seen;
        }
        if *d.last_seen > *g.last_seen {
            g.last_seen = &d.last_seen;
        }
        if !d.endpoint.is_empty() {
            g.endpoints.insert(d.endpoint.clone());
        }
        match &d.scope {
            Scope::Server(h) => {
                g.servers.insert(h.clone());
            }
            Scope::Attempt(id) => {
                g.attempts += 1;
                if let Some(a) = report.attempts.iter().find(|a| &a.id == id) {
                    g.servers.extend(a.servers.iter().cloned());
                }
            }
            Scope::Endpoint(e) => {
                g.endpoints.insert(e.clone());
            }
        }
        // Evidence from server-only log kinds names servers too.
        for e in &d.evidence {
            if matches!(e.kind.as_str(), "iis" | "httperr" | "setup-msi" | "health") {
                g.servers.insert(e.host.clone());
            }
        }
        g.count += 1;
        g.diagnoses.push(d);
    }
    // Counts from the complete per-code summaries when the run kept only some diagnoses.
    for g in &mut out {
        if let Some(s) = report.diagnosis_counts.by_code.get(g.code) {
            g.count = g.count.max(s.count);
            g.occurrences = g.occurrences.max(s.occurrences);
            g.attempts = g.attempts.max(s.attempts);
            g.servers.extend(s.servers.iter().cloned());
            g.endpoints.extend(s.endpoints.iter().cloned());
            if !s.first_seen.is_empty() && *s.first_seen < *g.first_seen {
                g.first_seen = &s.first_seen;
            }
            if *s.last_seen > *g.last_seen {
                g.last_seen = &s.last_seen;
            }
        }
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(b.code)));
    out
}

/// A severity as an upper-case label.
pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFO",
        Severity::Warning => "WARNING",
        Severity::Error => "ERROR",
        Severity::Critical => "CRITICAL",
    }
}

/// `n` bytes in a short human unit.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    match (u, UNITS.get(u)) {
        (0, _) => format!("{n} B"),
        (_, Some(unit)) => format!("{v:.1} {unit}"),
        _ => format!("{n} B"),
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A hand-built run report for renderer tests: one critical diagnosis with a hostile log
    //! line, one info diagnosis, one attempt.
    use std::collections::BTreeMap;

    use crate::diagnose::summary::{
        AttemptCounts, DiagnosisCounts, EndpointReport, FileReport, FileStatus, HostMapping,
        MappingSource, ParserTotals, Role, RunReport,
    };
    use crate::model::*;

    /// The endpoint of the fixture.
    pub const ENDPOINT: &str = "https://ndes.contoso.com/certsrv/mscep/mscep.dll";

    fn evidence(id: &str, t: i64, host: &str, kind: &str, excerpt: &str, note: &str) -> Evidence {
        Evidence {
            event_id: id.into(),
            time: scepwatch_proto::time::to_rfc3339(t),
            time_us: t,
            host: host.into(),
            source: format!("{host}/log.txt"),
            kind: kind.into(),
            excerpt: excerpt.into(),
            note: note.into(),
        }
    }

    /// The report.
    pub fn report() -> RunReport {
        let t0 = 1_795_000_000_000_000;
        let e500 = evidence(
            "e1",
            t0 + 1_000_000,
            "ndes01",
            "iis",
            "2026-11-20 18:30:53 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=PKIOperation&message=<script>alert(1)</script> 443 - 10.0.0.9 Dalvik/2.1.0 - 500 0 1346 15",
            "GET PKIOperation → 500 (win32 1346)",
        );
        let dev = evidence(
            "e0",
            t0,
            "phone1",
            "android-omadm",
            "Sending GetCACaps(ca) to https://ndes.contoso.com/certsrv/mscep/mscep.dll",
            "device sent GetCACaps",
        );
        let attempt = Attempt {
            id: "a1".into(),
            endpoint: ENDPOINT.into(),
            start: e500.time.clone(),
            end: e500.time.clone(),
            start_us: t0,
            end_us: t0 + 1_000_000,
            join: JoinMethod::Fallback,
            confidence: Confidence::Medium,
            platform: Platform::Android,
            device: Some("phone1".into()),
            servers: vec!["ndes01".into()],
            client_ip: Some("10.0.0.9".into()),
            user_agent_family: Some("android".into()),
            transaction_ids: vec![],
            steps: vec![
                Step {
                    time: dev.time.clone(),
                    time_us: t0,
                    side: Side::Device,
                    host: "phone1".into(),
                    what: "Sending GetCACaps".into(),
                    event_id: "e0".into(),
                },
                Step {
                    time: e500.time.clone(),
                    time_us: t0 + 1_000_000,
                    side: Side::Server,
                    host: "ndes01".into(),
                    what: "PKIOperation → 500 <b>".into(),
                    event_id: "e1".into(),
                },
            ],
            diagnoses: vec!["iis.impersonation_right_missing".into()],
            severity: Severity::Critical,
        };
        let crit = Diagnosis {
            id: "d1".into(),
            code: "iis.impersonation_right_missing".into(),
            catalog_row: 3,
            severity: Severity::Critical,
            title: "IIS_IUSRS lacks the impersonation right".into(),
            explanation: "mscep.dll answered 500 with win32 status 1346 <i>.".into(),
            fix: "1. secpol.msc\n2. add IIS_IUSRS to \"Impersonate a client after authentication\"\n3. iisreset".into(),
            scope: Scope::Server("ndes01".into()),
            endpoint: ENDPOINT.into(),
            first_seen: e500.time.clone(),
            last_seen: e500.time.clone(),
            occurrences: 12,
            evidence: vec![e500],
        };
        let info = Diagnosis {
            id: "d2".into(),
            code: "device.progressed".into(),
            catalog_row: 14,
            severity: Severity::Info,
            title: "Android device reached the SCEP endpoint".into(),
            explanation: "GetCACaps was sent.".into(),
            fix: "None.".into(),
            scope: Scope::Attempt("a1".into()),
            endpoint: ENDPOINT.into(),
            first_seen: dev.time.clone(),
            last_seen: dev.time.clone(),
            occurrences: 1,
            evidence: vec![dev],
        };
        let mut parsers = BTreeMap::new();
        parsers.insert(
            "iis".to_string(),
            ParserTotals {
                files: 1,
                bytes: 1000,
                records: 10,
                events: 9,
                ignored: 0,
                errors: [("iis.bad_time".to_string(), 1)].into_iter().collect(),
            },
        );
        RunReport {
            inputs: vec!["samples".into()],
            files: vec![
                FileReport {
                    path: "ndes01/u_ex261120.log".into(),
                    input: "samples".into(),
                    host: "ndes01".into(),
                    format: Some("iis".into()),
                    role: Role::Server,
                    status: FileStatus::Parsed,
                    reason: None,
                    detail: None,
                    bytes: 1000,
                    records: 10,
                    events: 9,
                    ignored: 0,
                    errors: [("iis.bad_time".to_string(), 1)].into_iter().collect(),
                    first_event: None,
                    last_event: None,
                    endpoint: Some(ENDPOINT.into()),
                },
                FileReport {
                    path: "junk/<img src=x>.bin".into(),
                    input: "samples".into(),
                    host: "junk".into(),
                    format: None,
                    role: Role::None,
                    status: FileStatus::Skipped,
                    reason: Some("format.binary".into()),
                    detail: Some("binary data".into()),
                    bytes: 0,
                    records: 0,
                    events: 0,
                    ignored: 0,
                    errors: BTreeMap::new(),
                    first_event: None,
                    last_event: None,
                    endpoint: None,
                },
            ],
            parsers,
            problems: [("format.binary".to_string(), 1)].into_iter().collect(),
            mapping: vec![HostMapping {
                host: "ndes01".into(),
                endpoint: ENDPOINT.into(),
                source: MappingSource::DeviceLogs,
            }],
            mapping_note: "1 server(s) mapped to the endpoint device logs used most".into(),
            endpoints: vec![EndpointReport {
                id: ENDPOINT.into(),
                via_app_proxy: false,
                servers: vec!["ndes01".into()],
                devices: vec!["phone1".into()],
                device_events: 3,
                probe_events: 0,
                attempts: 1,
                diagnoses: 2,
            }],
            attempts: vec![attempt],
            attempt_counts: AttemptCounts {
                total: 1,
                listed: 1,
                by_join: [("fallback".to_string(), 1)].into_iter().collect(),
                by_platform: [("android".to_string(), 1)].into_iter().collect(),
                by_severity: [("critical".to_string(), 1)].into_iter().collect(),
            },
            diagnoses: vec![crit, info],
            diagnosis_counts: DiagnosisCounts {
                total: 2,
                listed: 2,
                by_severity: [("critical".to_string(), 1), ("info".to_string(), 1)]
                    .into_iter()
                    .collect(),
                by_code: BTreeMap::new(),
            },
            engine: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_counts_problems_not_kept_in_full() {
        let mut r = fixture::report();
        r.diagnosis_counts.by_severity.insert("critical".into(), 40);
        r.diagnosis_counts.by_severity.insert("warning".into(), 2);
        let v = verdict(&r);
        assert_eq!(v.problems, 42);
        assert_eq!(v.severity, Some(Severity::Critical));
        assert!(v.headline.starts_with("42 problems found"));
    }
}
