//! The JSON report. Its shape is documented field by field in `docs/report-schema.md`
//! (version [`REPORT_SCHEMA_VERSION`]); keep both in step. The output is deterministic: maps
//! are sorted, lists have a fixed order, and no wall-clock time appears unless asked for.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::{verdict, ReportOptions};
use crate::diagnose::summary::{
    AttemptCounts, DiagnosisCounts, EndpointReport, FileReport, FileStatus, HostMapping,
    ParserTotals,
};
use crate::diagnose::RunReport;
use crate::model::{Attempt, Diagnosis, REPORT_SCHEMA_VERSION};

/// Top-level object.
#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: &'static str,
    generated_by: GeneratedBy,
    inputs: &'a [String],
    verdict: JsonVerdict,
    summary: Summary<'a>,
    endpoints: &'a [EndpointReport],
    attempts: &'a [Attempt],
    diagnoses: Vec<&'a Diagnosis>,
}

#[derive(Serialize)]
struct GeneratedBy {
    tool: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
}

#[derive(Serialize)]
struct JsonVerdict {
    severity: &'static str,
    problems: u64,
    headline: String,
}

#[derive(Serialize)]
struct Summary<'a> {
    totals: Totals,
    files: &'a [FileReport],
    parsers: &'a BTreeMap<String, ParserTotals>,
    errors: Errors,
    mapping: Mapping<'a>,
    attempts: &'a AttemptCounts,
    diagnoses: DiagnosisCounts,
    engine: &'a BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Totals {
    files: u64,
    parsed: u64,
    partial: u64,
    skipped: u64,
    bytes: u64,
    records: u64,
    events: u64,
    ignored: u64,
    parse_errors: u64,
}

#[derive(Serialize)]
struct Errors {
    /// Malformed records by reason, over all parsers.
    records: BTreeMap<String, u64>,
    /// Files skipped or read in part, by reason code.
    files: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Mapping<'a> {
    note: &'a str,
    hosts: &'a [HostMapping],
}

/// Writes the JSON report (pretty-printed, newline-terminated).
pub fn render(report: &RunReport, opts: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let v = verdict(report);
    let mut totals = Totals {
        files: report.files.len() as u64,
        parsed: 0,
        partial: 0,
        skipped: 0,
        bytes: 0,
        records: 0,
        events: 0,
        ignored: 0,
        parse_errors: 0,
    };
    let mut record_errors: BTreeMap<String, u64> = BTreeMap::new();
    for f in &report.files {
        match f.status {
            FileStatus::Parsed => totals.parsed += 1,
            FileStatus::Partial => totals.partial += 1,
            FileStatus::Skipped => totals.skipped += 1,
        }
        totals.bytes += f.bytes;
        totals.records += f.records;
        totals.events += f.events;
        totals.ignored += f.ignored;
        for (k, n) in &f.errors {
            totals.parse_errors += n;
            *record_errors.entry(k.clone()).or_insert(0) += n;
        }
    }
    let diagnoses: Vec<&Diagnosis> = report
        .diagnoses
        .iter()
        .filter(|d| d.severity >= opts.min_severity)
        .collect();
    let mut counts = report.diagnosis_counts.clone();
    counts.listed = diagnoses.len() as u64;
    let doc = JsonReport {
        schema_version: REPORT_SCHEMA_VERSION,
        generated_by: GeneratedBy {
            tool: "scepwatch",
            version: env!("CARGO_PKG_VERSION"),
            timestamp: opts.timestamp.clone(),
        },
        inputs: &report.inputs,
        verdict: JsonVerdict {
            severity: v.severity.map_or("none", |s| s.name()),
            problems: v.problems,
            headline: v.headline,
        },
        summary: Summary {
            totals,
            files: &report.files,
            parsers: &report.parsers,
            errors: Errors {
                records: record_errors,
                files: report.problems.clone(),
            },
            mapping: Mapping {
                note: &report.mapping_note,
                hosts: &report.mapping,
            },
            attempts: &report.attempt_counts,
            diagnoses: counts,
            engine: &report.engine,
        },
        endpoints: &report.endpoints,
        attempts: &report.attempts,
        diagnoses,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn has_the_documented_top_level_shape() {
        let mut out = Vec::new();
        render(&fixture::report(), &ReportOptions::default(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        for key in [
            "schema_version",
            "generated_by",
            "inputs",
            "verdict",
            "summary",
            "endpoints",
            "attempts",
            "diagnoses",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["schema_version"], REPORT_SCHEMA_VERSION);
        assert_eq!(v["verdict"]["severity"], "critical");
        assert_eq!(v["summary"]["errors"]["files"]["format.binary"], 1);
        assert_eq!(v["summary"]["totals"]["parse_errors"], 1);
        assert_eq!(v["diagnoses"][0]["scope"]["kind"], "server");
        assert!(v["generated_by"].get("timestamp").is_none());
    }

    #[test]
    fn min_severity_filters_the_list_not_the_counts() {
        let mut out = Vec::new();
        let opts = ReportOptions {
            min_severity: crate::model::Severity::Warning,
            ..ReportOptions::default()
        };
        render(&fixture::report(), &opts, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["diagnoses"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["summary"]["diagnoses"]["total"], 2);
        assert_eq!(v["summary"]["diagnoses"]["listed"], 1);
    }
}
