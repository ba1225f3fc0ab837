//! Which of the engine's diagnoses explain a spike, and in which order they are listed.
//!
//! A diagnosis explains an incident when its code is relevant to the incident's status (the
//! table in the module docs of [`crate::spike`]), it is about the same server or endpoint, and
//! its time span comes within a margin of the incident's. Codes are listed most specific
//! first: the catalog's cause before the symptom, the symptom before the proactive check that
//! warned about it.
//!
//! Any other code (informational ones, 403s, 414s, device-side findings) explains no spike.

use scepwatch_proto::time::parse_rfc3339;

use super::incident::{Incident, IncidentScope};
use super::SpikeConfig;
use crate::model::{Diagnosis, Scope};
use crate::rule::catalog;

/// How relevant `code` is to a spike of `status`: `Some(rank)`, lower first; `None` when it
/// explains no spike of that status.
pub(crate) fn rank(code: &str, status: u16) -> Option<u8> {
    match status {
        503 => {
            if code
                .strip_prefix(catalog::APP_POOL_CRASHING)
                .is_some_and(|rest| rest.starts_with('.'))
            {
                return Some(0);
            }
            match code {
                catalog::APP_POOL_CRASHING => Some(1),
                catalog::APP_POOL_UNAVAILABLE => Some(2),
                catalog::APP_POOL_STOPPED => Some(3),
                catalog::ROOT_STORE_INTERMEDIATE
                | catalog::WINDOWS_AUTH_ON_CERT_REG
                | catalog::POLICY_CERT_EXPIRED => Some(4),
                _ => None,
            }
        }
        500 => match code {
            catalog::IMPERSONATION => Some(0),
            catalog::SERVICE_ACCOUNT_LOCKED | catalog::RA_CERT_EXPIRED => Some(1),
            catalog::INTERNAL_ERROR => Some(2),
            _ => None,
        },
        _ => None,
    }
}

/// A state (health fact) diagnosis: what it says stays true between observations, so it is
/// matched with the wider `state_margin_us`.
fn is_state(code: &str) -> bool {
    code.starts_with("health.")
}

/// What the detector keeps of a diagnosis: enough to match it to incidents that open later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retained {
    pub id: String,
    pub code: String,
    pub title: String,
    pub scope: IncidentScope,
    /// Host or endpoint ID.
    pub scope_id: String,
    /// The diagnosis's endpoint (a server diagnosis also explains its endpoint's incidents).
    pub endpoint: String,
    pub first_us: i64,
    pub last_us: i64,
    pub margin_us: i64,
}

impl Retained {
    /// `None` for attempt-scope diagnoses (the engine also folds their symptoms per server),
    /// for codes that explain no spike, and when the diagnosis carries no time.
    pub(crate) fn from_diagnosis(d: &Diagnosis, cfg: &SpikeConfig) -> Option<Self> {
        let (scope, scope_id) = match &d.scope {
            Scope::Server(h) => (IncidentScope::Server, h.as_str()),
            Scope::Endpoint(e) => (IncidentScope::Endpoint, e.as_str()),
            Scope::Attempt(_) => return None,
        };
        if rank(&d.code, 500).is_none() && rank(&d.code, 503).is_none() {
            return None;
        }
        let ev_first = d.evidence.iter().map(|e| e.time_us).min();
        let ev_last = d.evidence.iter().map(|e| e.time_us).max();
        let first_us = parse_rfc3339(&d.first_seen).or(ev_first)?;
        let last_us = parse_rfc3339(&d.last_seen).or(ev_last)?.max(first_us);
        let margin_us = if is_state(&d.code) {
            cfg.state_margin_us
        } else {
            cfg.event_margin_us
        }
        .max(0);
        Some(Retained {
            id: d.id.clone(),
            code: d.code.clone(),
            title: d.title.clone(),
            scope,
            scope_id: scope_id.to_string(),
            endpoint: d.endpoint.clone(),
            first_us,
            last_us,
            margin_us,
        })
    }

    /// Diagnoses of one (scope, code) replace each other: the latest describes the scope.
    pub(crate) fn same_slot(&self, other: &Retained) -> bool {
        self.scope == other.scope && self.scope_id == other.scope_id && self.code == other.code
    }

    /// No incident that starts at or after `from_us` can be explained by it any more.
    pub(crate) fn expired(&self, from_us: i64) -> bool {
        self.last_us.saturating_add(self.margin_us) < from_us
    }

    /// Its rank when it explains `inc`.
    pub(crate) fn explains(&self, inc: &Incident) -> Option<u8> {
        let r = rank(&self.code, inc.http_status)?;
        let same_scope = match (self.scope, inc.scope) {
            (IncidentScope::Server, IncidentScope::Server) => {
                self.scope_id.eq_ignore_ascii_case(&inc.scope_id)
            }
            (IncidentScope::Server, IncidentScope::Endpoint) => {
                !self.endpoint.is_empty() && self.endpoint == inc.scope_id
            }
            (IncidentScope::Endpoint, IncidentScope::Endpoint) => self.scope_id == inc.scope_id,
            (IncidentScope::Endpoint, IncidentScope::Server) => self.scope_id == inc.endpoint,
        };
        let overlaps = self.first_us <= inc.end_us.saturating_add(self.margin_us)
            && self.last_us >= inc.start_us.saturating_sub(self.margin_us);
        (same_scope && overlaps).then_some(r)
    }
}

/// One diagnosis attached to an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Explanation {
    pub rank: u8,
    pub code: String,
    pub id: String,
    pub title: String,
}

/// Adds `r` (of rank `rank`) to `list`, kept ordered by (rank, code, ID) and at most `cap`
/// long; `true` when the list changed.
pub(crate) fn attach(list: &mut Vec<Explanation>, r: &Retained, rank: u8, cap: usize) -> bool {
    if list.iter().any(|e| e.id == r.id) {
        return false;
    }
    let key = (rank, r.code.as_str(), r.id.as_str());
    let pos = list.partition_point(|e| (e.rank, e.code.as_str(), e.id.as_str()) < key);
    if pos >= cap {
        return false;
    }
    list.insert(
        pos,
        Explanation {
            rank,
            code: r.code.clone(),
            id: r.id.clone(),
            title: r.title.clone(),
        },
    );
    list.truncate(cap);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_rank_before_symptoms_and_checks() {
        assert_eq!(rank(catalog::CRASH_ROOT_INTERMEDIATE, 503), Some(0));
        assert_eq!(rank(catalog::CRASH_POLICY_CERT_EXPIRED, 503), Some(0));
        assert_eq!(rank(catalog::APP_POOL_CRASHING, 503), Some(1));
        assert_eq!(rank(catalog::APP_POOL_UNAVAILABLE, 503), Some(2));
        assert_eq!(rank(catalog::ROOT_STORE_INTERMEDIATE, 503), Some(4));
        assert_eq!(rank(catalog::ROOT_STORE_INTERMEDIATE, 500), None);
        assert_eq!(rank(catalog::IMPERSONATION, 500), Some(0));
        assert_eq!(rank(catalog::INTERNAL_ERROR, 500), Some(2));
        assert_eq!(rank(catalog::INTERNAL_ERROR, 503), None);
        assert_eq!(rank(catalog::NDES_REACHED, 503), None);
        assert_eq!(rank("iis.app_pool_crashingX", 503), None);
    }

    #[test]
    fn attach_keeps_order_and_cap() {
        let r = |code: &str, id: &str| Retained {
            id: id.into(),
            code: code.into(),
            title: String::new(),
            scope: IncidentScope::Server,
            scope_id: "ndes01".into(),
            endpoint: String::new(),
            first_us: 0,
            last_us: 0,
            margin_us: 0,
        };
        let mut l = Vec::new();
        assert!(attach(&mut l, &r("b", "2"), 4, 2));
        assert!(attach(&mut l, &r("a", "1"), 0, 2));
        assert!(!attach(&mut l, &r("a", "1"), 0, 2));
        assert!(!attach(&mut l, &r("c", "3"), 5, 2));
        assert!(attach(&mut l, &r("a", "0"), 0, 2));
        let ids: Vec<&str> = l.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["0", "1"]);
    }
}
