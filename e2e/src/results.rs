//! What the analyzer stored in one database, read the way readers must read it (`FINAL`, rows
//! withdrawn left out), and compared with another run's: the fault tests' "same results as
//! an uninterrupted run".
//!
//! Attempts are compared by ID, join method and diagnosis codes; diagnoses by ID, code, scope
//! and evidence (as a set: the ID digests it); incidents by ID, status, start, end, errors and
//! explaining codes. Raw row counts are kept too: the rows present when read (ClickHouse may
//! have merged some duplicates away by then) and, with [`Results::with_written`], the rows the
//! run's INSERTs wrote, from the server's query log: the duplicate ratio a replay leaves before
//! any merge.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Rows of events, attempts, diagnoses and incidents present when read (without `FINAL`;
    /// ClickHouse may have merged some duplicates away already).
    pub raw: RawCounts,
    /// Rows the run's INSERTs wrote, replays included (see [`Results::with_written`]).
    pub written: Option<RawCounts>,
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
            written: None,
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

    /// Adds the rows written into the tables between `from` and `to` (wall time), counted by
    /// the server's query log (`system.query_log`, `written_rows` of each finished INSERT as the
    /// analyzer's writer words it, `INSERT INTO <table> (<columns>) FORMAT Native`;
    /// `scripts/clickhouse.sh` turns `log_queries` on). The log does not name the database:
    /// the window must hold the inserts of this run only, and starts and ends on whole seconds
    /// (`from` rounded up, `to` rounded up), so a run that starts within a second of another's
    /// end must start a second later.
    pub fn with_written(
        mut self,
        ch: &ClickHouse,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Results, Error> {
        ch.execute("SYSTEM FLUSH LOGS")?;
        let secs = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        };
        let (from, to) = (secs(from), secs(to));
        let written = |table: &str| {
            ch.count(&format!(
                "SELECT sum(written_rows) FROM system.query_log WHERE type = 2 \
                 AND query_start_time >= toDateTime({from}) AND event_time <= toDateTime({to}) \
                 AND query LIKE 'INSERT INTO {table} (%'"
            ))
        };
        self.written = Some(RawCounts {
            events: written("events")?,
            attempts: written("attempts")?,
            diagnoses: written("diagnoses")?,
            incidents: written("incidents")?,
        });
        Ok(self)
    }

    /// Rows per distinct result (1.0: no duplicate row): the rows written when known
    /// ([`Results::with_written`]), else the rows present when read.
    pub fn duplicate_ratio(&self) -> f64 {
        let distinct = self.attempts.len()
            + self.diagnoses.len()
            + self.incidents.len()
            + self.events as usize;
        let r = self.written.unwrap_or(self.raw);
        let raw = r.attempts + r.diagnoses + r.incidents + r.events;
        if distinct == 0 {
            1.0
        } else {
            raw as f64 / distinct as f64
        }
    }
}

impl fmt::Display for RawCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {} attempts, {} diagnoses, {} incidents",
            self.events, self.attempts, self.diagnoses, self.incidents
        )
    }
}

impl fmt::Display for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {} attempts, {} diagnoses, {} incidents (rows present: {}",
            self.events,
            self.attempts.len(),
            self.diagnoses.len(),
            self.incidents.len(),
            self.raw,
        )?;
        if let Some(w) = &self.written {
            write!(f, "; rows written: {w}")?;
        }
        write!(f, "; {:.3} rows per result)", self.duplicate_ratio())
    }
}
