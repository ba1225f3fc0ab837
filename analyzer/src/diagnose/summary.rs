//! What a `diagnose` run found: per-file accounting, the endpoint mapping, and the engine's
//! attempts and diagnoses, collected with bounded memory. [`RunReport`] is what every report
//! format renders.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use crate::model::{Attempt, Diagnosis, JoinMethod, Platform, Scope, Severity};

/// How a file fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Read to the end.
    Parsed,
    /// Read in part: what was read is used, the rest is not (see the reason).
    Partial,
    /// Not read at all (see the reason).
    Skipped,
}

/// What a file is to the correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A device log (Android, iOS, Windows event 36).
    Device,
    /// A server log (IIS, HTTPERR, server event logs, SetupMsi.log, health facts).
    Server,
    /// Active probe results.
    Probe,
    /// Nothing read from it.
    None,
}

/// One input file and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Path relative to its input; archive entries as `archive.zip!/inner/path`.
    pub path: String,
    /// The command-line input it was found under, as given.
    pub input: String,
    /// Host whose log it is (empty when none could be inferred).
    pub host: String,
    /// Format name (`iis`, `android-omadm`, ...), when known.
    pub format: Option<String>,
    /// Device, server or probe.
    pub role: Role,
    /// Parsed, partial or skipped.
    pub status: FileStatus,
    /// Stable reason code when partial or skipped (`zip.ratio_exceeded`, `format.unknown`, ...).
    pub reason: Option<String>,
    /// Human-readable detail of the reason.
    pub detail: Option<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Records (lines, event-log records) seen.
    pub records: u64,
    /// Events produced.
    pub events: u64,
    /// Well-formed records of no interest.
    pub ignored: u64,
    /// Malformed records by reason (`iis.bad_time`, `line_too_long`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Earliest event time, RFC 3339.
    pub first_event: Option<String>,
    /// Latest event time, RFC 3339.
    pub last_event: Option<String>,
    /// Endpoint its events were assigned to (server logs) or named (device logs, the most used).
    pub endpoint: Option<String>,
}

/// Totals of one parser over all files of its format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParserTotals {
    /// Files read with it (parsed or partial).
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records seen.
    pub records: u64,
    /// Events produced.
    pub events: u64,
    /// Records of no interest.
    pub ignored: u64,
    /// Malformed records by reason.
    pub errors: BTreeMap<String, u64>,
}

/// How a server host got its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingSource {
    /// `--endpoint URL=HOST` said so.
    Flag,
    /// The endpoint device logs used most.
    DeviceLogs,
    /// No endpoint known: server findings are reported per server only.
    None,
}

/// One server host and the endpoint its logs were assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostMapping {
    /// Server host.
    pub host: String,
    /// Endpoint ID (empty when [`MappingSource::None`]).
    pub endpoint: String,
    /// How it was decided.
    pub source: MappingSource,
}

/// One SCEP endpoint seen in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointReport {
    /// Normalised endpoint URL.
    pub id: String,
    /// Published through Microsoft Entra application proxy.
    pub via_app_proxy: bool,
    /// Server hosts mapped to it.
    pub servers: Vec<String>,
    /// Device hosts whose logs name it.
    pub devices: Vec<String>,
    /// Device events naming it.
    pub device_events: u64,
    /// Probe events naming it.
    pub probe_events: u64,
    /// Attempts against it.
    pub attempts: u64,
    /// Diagnoses about it.
    pub diagnoses: u64,
}

/// Counts of attempts, always complete even when only some are listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttemptCounts {
    /// All attempts.
    pub total: u64,
    /// Attempts listed in full in the report.
    pub listed: u64,
    /// By join method (`transaction_id`, `fallback`, `device_only`, `server_only`).
    pub by_join: BTreeMap<String, u64>,
    /// By platform.
    pub by_platform: BTreeMap<String, u64>,
    /// By worst severity.
    pub by_severity: BTreeMap<String, u64>,
}

/// Most servers / endpoints named in one [`CodeSummary`].
const SUMMARY_NAMES: usize = 64;

/// Everything about the diagnoses of one code, complete even when only some are kept in full.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CodeSummary {
    /// Title of the code's first diagnosis.
    pub title: String,
    /// Catalog row.
    pub catalog_row: u8,
    /// Worst severity.
    pub severity: String,
    /// Diagnoses of this code.
    pub count: u64,
    /// Sum of their occurrences.
    pub occurrences: u64,
    /// How many are about one attempt.
    pub attempts: u64,
    /// Earliest evidence time, RFC 3339.
    pub first_seen: String,
    /// Latest evidence time, RFC 3339.
    pub last_seen: String,
    /// Servers named by server scopes and server-side evidence (at most 64).
    pub servers: BTreeSet<String>,
    /// Endpoints (at most 64).
    pub endpoints: BTreeSet<String>,
}

impl CodeSummary {
    fn add(&mut self, d: &Diagnosis) {
        if self.count == 0 {
            self.title.clone_from(&d.title);
            self.catalog_row = d.catalog_row;
            self.first_seen.clone_from(&d.first_seen);
            self.last_seen.clone_from(&d.last_seen);
            self.severity = d.severity.name().to_string();
        }
        self.count += 1;
        self.occurrences += d.occurrences;
        if severity_rank(d.severity.name()) > severity_rank(&self.severity) {
            self.severity = d.severity.name().to_string();
        }
        if !d.first_seen.is_empty()
            && (self.first_seen.is_empty() || d.first_seen < self.first_seen)
        {
            self.first_seen.clone_from(&d.first_seen);
        }
        if d.last_seen > self.last_seen {
            self.last_seen.clone_from(&d.last_seen);
        }
        let mut servers: Vec<&str> = Vec::new();
        match &d.scope {
            Scope::Attempt(_) => self.attempts += 1,
            Scope::Server(h) => servers.push(h),
            Scope::Endpoint(e) => insert_capped(&mut self.endpoints, e),
        }
        if !d.endpoint.is_empty() {
            insert_capped(&mut self.endpoints, &d.endpoint);
        }
        for e in &d.evidence {
            if matches!(e.kind.as_str(), "iis" | "httperr" | "setup-msi" | "health") {
                servers.push(&e.host);
            }
        }
        for h in servers {
            insert_capped(&mut self.servers, h);
        }
    }
}

fn insert_capped(set: &mut BTreeSet<String>, v: &str) {
    if !v.is_empty() && set.len() < SUMMARY_NAMES && !set.contains(v) {
        set.insert(v.to_string());
    }
}

fn severity_rank(name: &str) -> u8 {
    match name {
        "critical" => 3,
        "error" => 2,
        "warning" => 1,
        _ => 0,
    }
}

/// Counts of diagnoses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiagnosisCounts {
    /// All diagnoses.
    pub total: u64,
    /// Diagnoses listed in the report (kept in full, at or above `--min-severity`).
    pub listed: u64,
    /// By severity.
    pub by_severity: BTreeMap<String, u64>,
    /// By code, complete.
    pub by_code: BTreeMap<String, CodeSummary>,
}

/// Everything a report renders.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    /// The inputs as given.
    pub inputs: Vec<String>,
    /// Every file found (or named), in walk order.
    pub files: Vec<FileReport>,
    /// Per-format totals, by format name.
    pub parsers: BTreeMap<String, ParserTotals>,
    /// Files skipped or read in part, by reason code.
    pub problems: BTreeMap<String, u64>,
    /// Server host → endpoint.
    pub mapping: Vec<HostMapping>,
    /// How the mapping was made, in a sentence.
    pub mapping_note: String,
    /// Endpoints, sorted by ID.
    pub endpoints: Vec<EndpointReport>,
    /// Attempts listed in full: worst first, then by time; at most `--max-attempts`.
    pub attempts: Vec<Attempt>,
    /// Attempt counts.
    pub attempt_counts: AttemptCounts,
    /// Diagnoses: worst first, then by code and time.
    pub diagnoses: Vec<Diagnosis>,
    /// Diagnosis counts.
    pub diagnosis_counts: DiagnosisCounts,
    /// Engine counters, by name.
    pub engine: BTreeMap<String, u64>,
}

impl RunReport {
    /// The worst severity among all diagnoses; `None` when there are none.
    pub fn worst(&self) -> Option<Severity> {
        self.diagnoses.iter().map(|d| d.severity).max()
    }

    /// Files that were read (in full or in part).
    pub fn files_read(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.status != FileStatus::Skipped)
            .count()
    }
}

/// Lower-case name of a join method, as in the JSON report.
pub fn join_name(j: JoinMethod) -> &'static str {
    match j {
        JoinMethod::TransactionId => "transaction_id",
        JoinMethod::Fallback => "fallback",
        JoinMethod::DeviceOnly => "device_only",
        JoinMethod::ServerOnly => "server_only",
    }
}

/// Lower-case name of a platform, as in the JSON report.
pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Android => "android",
        Platform::Ios => "ios",
        Platform::Windows => "windows",
        Platform::Unknown => "unknown",
    }
}

/// Orders attempts worst first, then by start time and ID.
pub fn attempt_order(a: &Attempt, b: &Attempt) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then(a.start_us.cmp(&b.start_us))
        .then_with(|| a.id.cmp(&b.id))
}

/// Orders diagnoses worst first, then by code, first evidence time and ID.
pub fn diagnosis_order(a: &Diagnosis, b: &Diagnosis) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.code.cmp(&b.code))
        .then_with(|| a.first_seen.cmp(&b.first_seen))
        .then_with(|| a.id.cmp(&b.id))
}

/// Receives the engine's output with bounded memory however large the corpus: attempts are
/// counted in full but only the `max_attempts` worst are kept; diagnoses are summarised per code
/// in full ([`CodeSummary`]) but only the `max_per_code` worst of each code are kept. An attempt
/// or a diagnosis the engine emits again (same ID) replaces the first and is counted once.
#[derive(Debug)]
pub struct Collector {
    max_attempts: usize,
    max_per_code: usize,
    attempts: Vec<Attempt>,
    /// (severity, start, ID) of the worst attempt kept at the last trim: an attempt ordered
    /// after it can never be among the kept ones.
    cutoff: Option<(Severity, i64, String)>,
    /// Digest of the ID → (join, platform, severity, endpoint index) of every attempt, to count
    /// replacements (hundreds of thousands: no string kept per attempt).
    seen: HashMap<u128, (JoinMethod, Platform, Severity, u32), BuildHasherDefault<IdHasher>>,
    endpoints: Vec<String>,
    /// Kept diagnoses per code.
    diagnoses: BTreeMap<String, Vec<Diagnosis>>,
    diagnosis_ids: std::collections::HashSet<String>,
    codes: BTreeMap<String, CodeSummary>,
    by_severity: BTreeMap<String, u64>,
    per_endpoint: BTreeMap<String, u64>,
}

impl Collector {
    /// Keeps at most `max_attempts` attempts and `max_per_code` diagnoses of each code in full.
    pub fn new(max_attempts: usize, max_per_code: usize) -> Self {
        Collector {
            max_attempts,
            max_per_code,
            attempts: Vec::new(),
            cutoff: None,
            seen: HashMap::default(),
            endpoints: Vec::new(),
            diagnoses: BTreeMap::new(),
            diagnosis_ids: std::collections::HashSet::new(),
            codes: BTreeMap::new(),
            by_severity: BTreeMap::new(),
            per_endpoint: BTreeMap::new(),
        }
    }

    fn endpoint_index(&mut self, e: &str) -> u32 {
        match self.endpoints.iter().position(|x| x == e) {
            Some(i) => i as u32,
            None => {
                self.endpoints.push(e.to_string());
                (self.endpoints.len() - 1) as u32
            }
        }
    }

    /// Takes one attempt.
    pub fn attempt(&mut self, a: Attempt) {
        self.count_attempt(&a.id, a.join, a.platform, a.severity, &a.endpoint);
        if self.max_attempts == 0 {
            return;
        }
        self.attempts.push(a);
        // Trim in bulk: sorting on every push would cost O(n log n) each.
        if self.attempts.len() >= self.max_attempts.saturating_mul(2).max(64) {
            self.attempts.sort_by(attempt_order);
            self.attempts.truncate(self.max_attempts);
            self.cutoff = self
                .attempts
                .last()
                .filter(|_| self.attempts.len() == self.max_attempts)
                .map(|w| (w.severity, w.start_us, w.id.clone()));
        }
    }

    /// Whether an attempt with this severity, start and ID could be among the kept ones (an
    /// attempt that cannot is only counted: [`Collector::count_attempt`]).
    pub fn wants_attempt(&self, severity: Severity, start_us: i64, id: &str) -> bool {
        if self.max_attempts == 0 {
            return false;
        }
        match &self.cutoff {
            None => true,
            // The same order as `attempt_order`: worst first, then by start time and ID.
            Some((sev, start, cut)) => (std::cmp::Reverse(severity), start_us, id).le(&(
                std::cmp::Reverse(*sev),
                *start,
                cut.as_str(),
            )),
        }
    }

    /// Counts an attempt without keeping it (see [`Collector::wants_attempt`]).
    pub fn count_attempt(
        &mut self,
        id: &str,
        join: JoinMethod,
        platform: Platform,
        severity: Severity,
        endpoint: &str,
    ) {
        let ep = self.endpoint_index(endpoint);
        let replaced = self
            .seen
            .insert(id_digest(id), (join, platform, severity, ep))
            .is_some();
        if replaced {
            self.attempts.retain(|x| x.id != id);
            // The kept attempts may now be fewer than the cutoff assumed.
            self.cutoff = None;
        }
    }

    /// Takes one diagnosis.
    pub fn diagnosis(&mut self, d: Diagnosis) {
        let kept = self.diagnoses.entry(d.code.clone()).or_default();
        if self.diagnosis_ids.insert(d.id.clone()) {
            self.codes.entry(d.code.clone()).or_default().add(&d);
            *self
                .by_severity
                .entry(d.severity.name().into())
                .or_insert(0) += 1;
            if !d.endpoint.is_empty() {
                *self.per_endpoint.entry(d.endpoint.clone()).or_insert(0) += 1;
            }
        } else {
            kept.retain(|x| x.id != d.id);
        }
        if self.max_per_code == 0 {
            return;
        }
        kept.push(d);
        if kept.len() >= self.max_per_code.saturating_mul(2).max(16) {
            kept.sort_by(diagnosis_order);
            kept.truncate(self.max_per_code);
        }
    }

    /// Attempt counts per endpoint.
    pub fn attempts_per_endpoint(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (_, _, _, ep) in self.seen.values() {
            if let Some(e) = self.endpoints.get(*ep as usize) {
                *out.entry(e.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// Diagnosis counts per endpoint.
    pub fn diagnoses_per_endpoint(&self) -> BTreeMap<String, u64> {
        self.per_endpoint.clone()
    }

    /// The kept attempts (sorted) and complete counts; the kept diagnoses (sorted) and
    /// complete counts.
    pub fn into_parts(mut self) -> (Vec<Attempt>, AttemptCounts, Vec<Diagnosis>, DiagnosisCounts) {
        let mut counts = AttemptCounts {
            total: self.seen.len() as u64,
            ..AttemptCounts::default()
        };
        for (join, platform, severity, _) in self.seen.values() {
            *counts.by_join.entry(join_name(*join).into()).or_insert(0) += 1;
            *counts
                .by_platform
                .entry(platform_name(*platform).into())
                .or_insert(0) += 1;
            *counts
                .by_severity
                .entry(severity.name().into())
                .or_insert(0) += 1;
        }
        self.attempts.sort_by(attempt_order);
        self.attempts.truncate(self.max_attempts);
        counts.listed = self.attempts.len() as u64;
        let mut diagnoses: Vec<Diagnosis> = Vec::new();
        for (_, mut kept) in self.diagnoses {
            kept.sort_by(diagnosis_order);
            kept.truncate(self.max_per_code);
            diagnoses.append(&mut kept);
        }
        diagnoses.sort_by(diagnosis_order);
        for d in &mut diagnoses {
            d.evidence
                .sort_by(|a, b| a.time_us.cmp(&b.time_us).then(a.event_id.cmp(&b.event_id)));
        }
        let dcounts = DiagnosisCounts {
            total: self.diagnosis_ids.len() as u64,
            listed: diagnoses.len() as u64,
            by_severity: self.by_severity,
            by_code: self.codes,
        };
        (self.attempts, counts, diagnoses, dcounts)
    }
}

/// 128-bit digest of an attempt ID (IDs are themselves digests; this only spares a string).
fn id_digest(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

/// Hasher for keys that are digests already: their low bits are the hash.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Distinct values, sorted.
pub fn sorted_set<I: IntoIterator<Item = String>>(it: I) -> Vec<String> {
    it.into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Confidence;

    fn attempt(id: &str, sev: Severity, start: i64) -> Attempt {
        Attempt {
            id: id.into(),
            endpoint: "https://ndes.contoso.com/certsrv/mscep/mscep.dll".into(),
            start: String::new(),
            end: String::new(),
            start_us: start,
            end_us: start,
            join: JoinMethod::TransactionId,
            confidence: Confidence::High,
            platform: Platform::Android,
            device: None,
            servers: vec![],
            client_ip: None,
            user_agent_family: None,
            transaction_ids: vec![],
            steps: vec![],
            diagnoses: vec![],
            severity: sev,
        }
    }

    #[test]
    fn keeps_some_diagnoses_per_code_and_summarises_all() {
        let mut c = Collector::new(10, 3);
        for i in 0..100u64 {
            let t = format!("2026-11-20T10:{:02}:00Z", i % 60);
            c.diagnosis(Diagnosis {
                id: format!("d{i:03}"),
                code: "ndes.reached".into(),
                catalog_row: 1,
                severity: Severity::Info,
                title: "The device reached NDES".into(),
                explanation: String::new(),
                fix: String::new(),
                scope: Scope::Attempt(format!("a{i}")),
                endpoint: "e".into(),
                first_seen: t.clone(),
                last_seen: t,
                occurrences: 2,
                evidence: vec![],
            });
        }
        let (_, _, kept, counts) = c.into_parts();
        assert_eq!(kept.len(), 3);
        assert_eq!(counts.total, 100);
        let s = &counts.by_code["ndes.reached"];
        assert_eq!((s.count, s.occurrences, s.attempts), (100, 200, 100));
        assert_eq!(s.first_seen, "2026-11-20T10:00:00Z");
        assert_eq!(s.last_seen, "2026-11-20T10:59:00Z");
    }

    #[test]
    fn keeps_the_worst_attempts_and_counts_all() {
        let mut c = Collector::new(2, 100);
        for i in 0..500 {
            let sev = if i == 250 {
                Severity::Critical
            } else {
                Severity::Info
            };
            c.attempt(attempt(&format!("a{i:03}"), sev, i));
        }
        // Only an attempt that could still be among the two kept is wanted in full.
        assert!(!c.wants_attempt(Severity::Info, 400, "a400"));
        assert!(c.wants_attempt(Severity::Error, 400, "a400"));
        // A replayed attempt is not counted twice.
        c.attempt(attempt("a000", Severity::Info, 0));
        let (kept, counts, _, _) = c.into_parts();
        assert_eq!(counts.total, 500);
        assert_eq!(counts.listed, 2);
        assert_eq!(kept[0].id, "a250");
        assert_eq!(kept[1].id, "a000");
        assert_eq!(counts.by_severity.get("critical"), Some(&1));
    }
}
