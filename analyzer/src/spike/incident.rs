//! Incidents: the detector's output rows (table `incidents`), their IDs and their sentence.

use scepwatch_proto::event_id_hex;
use scepwatch_proto::time::to_rfc3339;
use xxhash_rust::xxh3::Xxh3;

use super::explain::Explanation;
use super::MINUTE_US;
use crate::model::Severity;

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IncidentScope {
    /// One NDES server (its host name, lower case as the service passes it).
    Server,
    /// One SCEP endpoint (its ID), all its servers together.
    Endpoint,
}

impl IncidentScope {
    /// `server` or `endpoint`, as in the `incidents.scope_kind` column (whose numbers, 2 and
    /// 3, are those of `diagnoses.scope_kind`).
    pub fn name(self) -> &'static str {
        match self {
            IncidentScope::Server => "server",
            IncidentScope::Endpoint => "endpoint",
        }
    }
}

/// One revision of a 500 or 503 spike of one server or endpoint (a row of `incidents`).
///
/// Times are microseconds since the epoch, on minute boundaries. Rates are errors per minute.
/// The detector sends a new revision whenever the incident grows, closes or gets an
/// explanation; the ID stays the same, so the latest revision (highest `version` in the
/// table) is the incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Hex xxh3-128 of the scope kind, the scope ID, the status and the start minute.
    pub id: String,
    /// Server or endpoint.
    pub scope: IncidentScope,
    /// Host name or endpoint ID.
    pub scope_id: String,
    /// The endpoint: the scope itself, or the endpoint the server answered for (the
    /// lexicographically first when it answered for several).
    pub endpoint: String,
    /// 500 or 503.
    pub http_status: u16,
    /// Still going: fewer than `quiet_minutes` quiet minutes have passed since its last spike
    /// minute.
    pub open: bool,
    /// Start of its first spike minute.
    pub start_us: i64,
    /// End of its last spike minute (so far, while open).
    pub end_us: i64,
    /// Start of the minute with the most errors (the first of them on a tie).
    pub peak_us: i64,
    /// Errors in that minute.
    pub peak_rate: f64,
    /// Errors the baseline expected in the first minute (baseline rate x its requests).
    pub baseline_rate: f64,
    /// Errors per minute at or above which the first minute counted as a spike.
    pub threshold_rate: f64,
    /// Responses of `http_status` in `[start_us, end_us)`.
    pub errors: u64,
    /// All responses of the scope in `[start_us, end_us)`.
    pub requests: u64,
    /// `critical` when in some minute of it at least `outage_share` of the responses had this
    /// status (most devices failed), `error` otherwise.
    pub severity: Severity,
    /// Codes of the diagnoses that explain it, most specific first (`diagnosis_ids[i]` is the
    /// diagnosis of `diagnosis_codes[i]`).
    pub diagnosis_codes: Vec<String>,
    /// IDs of those diagnoses.
    pub diagnosis_ids: Vec<String>,
    /// Event IDs of its first error responses (by time, then ID), at most `max_evidence`.
    pub evidence_event_ids: Vec<String>,
    /// One sentence for an admin.
    pub summary: String,
    /// Detector name and parameters.
    pub detector: String,
    /// Always `false`: the detector never moves a start (minutes are final when judged), so it
    /// never withdraws an ID. The column exists for the table's common reader pattern.
    pub retracted: bool,
}

/// Incident ID: hex xxh3-128 of length-prefixed parts, as the engine digests its IDs.
pub(crate) fn incident_id(
    scope: IncidentScope,
    scope_id: &str,
    status: u16,
    minute: i64,
) -> String {
    let parts: [&[u8]; 5] = [
        b"incident",
        scope.name().as_bytes(),
        scope_id.as_bytes(),
        &status.to_le_bytes(),
        &minute.to_le_bytes(),
    ];
    let mut h = Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    event_id_hex(&h.digest128().to_be_bytes())
}

/// `2026-05-14 10:14 UTC` (the date left out when `same_day_as` is that day).
fn minute_text(us: i64, same_day_as: Option<i64>) -> String {
    let t = to_rfc3339(us);
    let (Some(date), Some(hm)) = (t.get(..10), t.get(11..16)) else {
        return t;
    };
    let day = us.div_euclid(86_400_000_000);
    if same_day_as.is_some_and(|o| o.div_euclid(86_400_000_000) == day) {
        format!("{hm} UTC")
    } else {
        format!("{date} {hm} UTC")
    }
}

fn per_minute(v: f64) -> String {
    if v >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The incident's one sentence, from its fields and explanations.
pub(crate) fn summary(i: &Incident, expl: &[Explanation]) -> String {
    let what = match i.scope {
        IncidentScope::Server if i.endpoint.is_empty() => format!("server {}", i.scope_id),
        IncidentScope::Server => format!("server {} ({})", i.scope_id, i.endpoint),
        IncidentScope::Endpoint => format!("endpoint {}", i.scope_id),
    };
    let window = if i.open {
        format!(
            "since {} (still open; last spike minute ended {})",
            minute_text(i.start_us, None),
            minute_text(i.end_us, Some(i.start_us))
        )
    } else {
        format!(
            "from {} to {}",
            minute_text(i.start_us, None),
            minute_text(i.end_us, Some(i.start_us))
        )
    };
    let cause = match expl.split_first() {
        None => "no diagnosis explains it yet".to_string(),
        Some((first, rest)) => {
            let mut others: Vec<&str> = Vec::new();
            for e in rest {
                if e.code != first.code && !others.contains(&e.code.as_str()) {
                    others.push(&e.code);
                }
            }
            let also = if others.is_empty() {
                String::new()
            } else {
                format!("; also {}", others.join(", "))
            };
            format!("probable cause: {} ({}{also})", first.title, first.code)
        }
    };
    format!(
        "{status} spike on {what}: {peak} errors/min at {peak_at}, baseline {base}/min \
         (threshold {thr}/min); {errors} of {requests} responses were {status} {window}; {cause}.",
        status = i.http_status,
        peak = per_minute(i.peak_rate),
        peak_at = minute_text(i.peak_us, None),
        base = per_minute(i.baseline_rate),
        thr = per_minute(i.threshold_rate),
        errors = i.errors,
        requests = i.requests,
    )
}

/// Start of minute `m`, in microseconds.
pub(crate) fn minute_us(m: i64) -> i64 {
    m.saturating_mul(MINUTE_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_key_kind_scope_status_and_minute() {
        let a = incident_id(IncidentScope::Server, "ndes01", 503, 1_000);
        assert_eq!(a.len(), 32);
        assert_eq!(a, incident_id(IncidentScope::Server, "ndes01", 503, 1_000));
        for b in [
            incident_id(IncidentScope::Endpoint, "ndes01", 503, 1_000),
            incident_id(IncidentScope::Server, "ndes02", 503, 1_000),
            incident_id(IncidentScope::Server, "ndes01", 500, 1_000),
            incident_id(IncidentScope::Server, "ndes01", 503, 1_001),
        ] {
            assert_ne!(a, b);
        }
    }

    #[test]
    fn minute_text_drops_the_date_on_the_same_day() {
        let t = scepwatch_proto::time::civil_to_us(2026, 5, 14, 10, 14, 0, 0).unwrap();
        assert_eq!(minute_text(t, None), "2026-05-14 10:14 UTC");
        assert_eq!(minute_text(t + 17 * MINUTE_US, Some(t)), "10:31 UTC");
        assert_eq!(
            minute_text(t + 24 * 60 * MINUTE_US, Some(t)),
            "2026-05-15 10:14 UTC"
        );
    }
}
