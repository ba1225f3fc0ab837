//! What the analyzer stored in one database, read the way readers must read it (`FINAL`, rows
//! withdrawn left out), and compared with another run's: the fault tests' "same results as
//! an uninterrupted run".
//!
//! Attempts are compared by ID, join method and diagnosis codes; diagnoses by ID, code, scope
//! and evidence (as a set: the ID digests it); incidents by ID, status, start, end, errors and
//! explaining codes. Raw row counts (before merges) are kept too, for the duplicate ratio a
//! replay leaves until ClickHouse merges.

use std::collections::BTreeSet;
use std::fmt;

use crate::clickhouse::ClickHouse;
use crate::Error;

/// The stored results of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Results {
    /// `attempt_id  join  codes` lines.
    pub attempts: BTreeSet<String>,
    /// `diagnosis_id  code  scope_kind  scope_id  evidence` lines.
    pub diagnoses: BTreeSet<String>,
    /// `incident_id  status  start  end  errors  codes` lines.
    pub incidents: BTreeSet<String>,
    /// Distinct event IDs stored.
    pub events: u64,
    /// Raw rows (before merges) of events, attempts, diagnoses and incidents.
    pub raw: RawCounts,
}

/// Rows as stored, replays included, before ClickHouse merges them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawCounts {
    /// `events` rows.
    pub events: u64,
    /// `attempts` rows.
    pub attempts: u64,
    /// `diagnoses` rows.
    pub diagnoses: u64,
    /// `incidents` rows.
    pub incidents: u64,
}

fn lines(ch: &ClickHouse, db: &str, sql: &str) -> Result<BTreeSet<String>, Error> {
    let sql = sql.replace("{db}", db);
    Ok(ch
        .query_rows(&sql)?
        .into_iter()
        .map(|r| r.join("\t"))
        .collect())
}

impl Results {
    /// Reads database `db`.
    pub fn read(ch: &ClickHouse, db: &str) -> Result<Results, Error> {
        let attempts = lines(
            ch,
            db,
            "SELECT attempt_id, toString(join_method), arrayStringConcat(arraySort(diagnosis_codes), ',') \
             FROM {db}.attempts FINAL WHERE retracted = 0",
        )?;
        let diagnoses = lines(
            ch,
            db,
            "SELECT diagnosis_id, code, toString(scope_kind), scope_id, \
             arrayStringConcat(arraySort(evidence.event_id), ',') \
             FROM {db}.diagnoses FINAL WHERE retracted = 0",
        )?;
        let incidents = lines(
            ch,
            db,
            "SELECT incident_id, toString(http_status), toString(start_time), toString(end_time), \
             toString(errors), arrayStringConcat(diagnosis_codes, ',') \
             FROM {db}.incidents FINAL WHERE retracted = 0",
        )?;
        let count = |sql: &str| ch.count(&sql.replace("{db}", db));
        Ok(Results {
            attempts,
            diagnoses,
            incidents,
            events: count("SELECT uniqExact(event_id) FROM {db}.events")?,
            raw: RawCounts {
                events: count("SELECT count() FROM {db}.events")?,
                attempts: count("SELECT count() FROM {db}.attempts")?,
                diagnoses: count("SELECT count() FROM {db}.diagnoses")?,
                incidents: count("SELECT count() FROM {db}.incidents")?,
            },
        })
    }

    /// The differences from `reference`, empty when the deduplicated results are equal.
    pub fn diff(&self, reference: &Results) -> Vec<String> {
        let mut out = Vec::new();
        for (what, ours, theirs) in [
            ("attempt", &self.attempts, &reference.attempts),
            ("diagnosis", &self.diagnoses, &reference.diagnoses),
            ("incident", &self.incidents, &reference.incidents),
        ] {
            for missing in theirs.difference(ours).take(10) {
                out.push(format!("missing {what}: {missing}"));
            }
            for extra in ours.difference(theirs).take(10) {
                out.push(format!("extra {what}: {extra}"));
            }
            let (m, e) = (
                theirs.difference(ours).count(),
                ours.difference(theirs).count(),
            );
            if m + e > 20 {
                out.push(format!("{what}s: {m} missing, {e} extra in all"));
            }
        }
        if self.events != reference.events {
            out.push(format!(
                "{} distinct events stored, the reference has {}",
                self.events, reference.events
            ));
        }
        out
    }

    /// Raw rows per distinct result, before merges (1.0: no duplicate row).
    pub fn duplicate_ratio(&self) -> f64 {
        let distinct = self.attempts.len()
            + self.diagnoses.len()
            + self.incidents.len()
            + self.events as usize;
        let raw = self.raw.attempts + self.raw.diagnoses + self.raw.incidents + self.raw.events;
        if distinct == 0 {
            1.0
        } else {
            raw as f64 / distinct as f64
        }
    }
}

impl fmt::Display for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {} attempts, {} diagnoses, {} incidents (raw rows: {} events, {} attempts, \
             {} diagnoses, {} incidents; {:.3} raw rows per result)",
            self.events,
            self.attempts.len(),
            self.diagnoses.len(),
            self.incidents.len(),
            self.raw.events,
            self.raw.attempts,
            self.raw.diagnoses,
            self.raw.incidents,
            self.duplicate_ratio()
        )
    }
}
