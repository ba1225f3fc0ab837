//! Turning correlated parts into the output model: deterministic IDs, diagnoses from findings.

use scepwatch_proto::event_id_hex;
use scepwatch_proto::time::{civil_from_days, to_rfc3339};
use xxhash_rust::xxh3::Xxh3;

use crate::model::{Diagnosis, Evidence, Scope, Severity};
use crate::rule::{catalog, Finding};

/// RFC 3339 text of a timestamp, byte for byte as [`to_rfc3339`] writes it, without going
/// through `format!` (every step and evidence of every attempt carries one).
pub(crate) fn time_text(us: i64) -> String {
    fn digits(s: &mut String, v: i64, width: u32) {
        for k in (0..width).rev() {
            let d = (v / 10i64.pow(k)).rem_euclid(10) as u8;
            s.push(char::from(b'0' + d));
        }
    }
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return to_rfc3339(us);
    }
    let sod = secs.rem_euclid(86_400);
    let mut s = String::with_capacity(27);
    digits(&mut s, y, 4);
    s.push('-');
    digits(&mut s, i64::from(m), 2);
    s.push('-');
    digits(&mut s, i64::from(d), 2);
    s.push('T');
    digits(&mut s, sod / 3600, 2);
    s.push(':');
    digits(&mut s, (sod % 3600) / 60, 2);
    s.push(':');
    digits(&mut s, sod % 60, 2);
    if frac != 0 {
        s.push('.');
        digits(&mut s, frac, 6);
    }
    s.push('Z');
    s
}

/// Hex xxh3-128 of length-prefixed parts.
pub(crate) fn digest_hex(parts: &[&[u8]]) -> String {
    let mut h = Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    event_id_hex(&h.digest128().to_be_bytes())
}

/// Attempt ID: digest of the endpoint and the attempt's first event ID.
pub(crate) fn attempt_id(endpoint: &str, first_event: &[u8; 16]) -> String {
    digest_hex(&[b"attempt", endpoint.as_bytes(), first_event])
}

fn scope_parts(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Attempt(id) => ("attempt", id),
        Scope::Server(h) => ("server", h),
        Scope::Endpoint(e) => ("endpoint", e),
    }
}

/// Diagnosis ID: digest of code, scope and the sorted evidence event IDs.
pub(crate) fn diagnosis_id(code: &str, scope: &Scope, evidence: &[Evidence]) -> String {
    let (kind, id) = scope_parts(scope);
    let mut ids: Vec<&str> = evidence.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut parts: Vec<&[u8]> = vec![
        b"diagnosis",
        code.as_bytes(),
        kind.as_bytes(),
        id.as_bytes(),
    ];
    parts.extend(ids.iter().map(|s| s.as_bytes()));
    digest_hex(&parts)
}

/// A diagnosis from a finding: catalog texts, evidence cut to `max_evidence` (duplicates
/// dropped, the rule's order kept), times, ID.
pub(crate) fn to_diagnosis(
    f: Finding,
    scope: Scope,
    endpoint: &str,
    max_evidence: usize,
) -> Diagnosis {
    let entry = catalog::entry(f.code);
    let mut evidence: Vec<Evidence> = Vec::with_capacity(max_evidence.min(f.evidence.len()));
    for e in f.evidence {
        if evidence.len() >= max_evidence.max(1) {
            break;
        }
        if !evidence.iter().any(|x| x.event_id == e.event_id) {
            evidence.push(e);
        }
    }
    let first = f
        .first_us
        .or_else(|| evidence.iter().map(|e| e.time_us).min())
        .unwrap_or(0);
    let last = f
        .last_us
        .or_else(|| evidence.iter().map(|e| e.time_us).max())
        .unwrap_or(first);
    let explanation = match entry {
        Some(e) => format!("{} {}", f.seen, e.meaning),
        None => f.seen,
    };
    Diagnosis {
        id: diagnosis_id(f.code, &scope, &evidence),
        code: f.code.to_string(),
        catalog_row: entry.map_or(0, |e| e.row),
        severity: entry.map_or(Severity::Warning, |e| e.severity),
        title: entry.map_or_else(|| f.code.to_string(), |e| e.title.to_string()),
        explanation,
        fix: entry.map_or_else(String::new, |e| e.fix.to_string()),
        scope,
        endpoint: endpoint.to_string(),
        first_seen: time_text(first),
        last_seen: time_text(last),
        occurrences: f.occurrences.max(1),
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> Evidence {
        Evidence {
            event_id: id.into(),
            time: String::new(),
            time_us: 5,
            host: String::new(),
            source: String::new(),
            kind: String::new(),
            excerpt: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn time_text_matches_rfc3339() {
        for us in [
            0i64,
            1,
            999_999,
            1_795_168_800_000_000,
            1_795_168_800_691_033,
            1_502_223_736_000_000,
            -1,
            -86_400_000_001,
            253_402_300_799_999_999,
        ] {
            assert_eq!(time_text(us), to_rfc3339(us), "{us}");
        }
    }

    #[test]
    fn diagnosis_id_ignores_evidence_order() {
        let s = Scope::Server("ndes01".into());
        assert_eq!(
            diagnosis_id("x", &s, &[ev("a"), ev("b")]),
            diagnosis_id("x", &s, &[ev("b"), ev("a")])
        );
        assert_ne!(
            diagnosis_id("x", &s, &[ev("a")]),
            diagnosis_id("y", &s, &[ev("a")])
        );
        assert_ne!(
            diagnosis_id("x", &s, &[ev("a")]),
            diagnosis_id("x", &Scope::Endpoint("ndes01".into()), &[ev("a")])
        );
    }

    #[test]
    fn catalog_texts_and_evidence_cap() {
        let f = Finding::new(catalog::IMPERSONATION, "Seen it.").with_evidence(vec![
            ev("a"),
            ev("a"),
            ev("b"),
            ev("c"),
        ]);
        let d = to_diagnosis(f, Scope::Attempt("x".into()), "ep", 2);
        assert_eq!(d.catalog_row, 3);
        assert_eq!(d.severity, Severity::Error);
        assert!(d.explanation.starts_with("Seen it. "));
        assert!(d.fix.contains("IIS_IUSRS"));
        assert_eq!(d.evidence.len(), 2);
        assert_eq!(d.evidence[1].event_id, "b");
    }
}
