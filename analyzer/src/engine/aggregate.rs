//! Per-server and per-endpoint diagnoses that fold many occurrences.
//!
//! Server-scope symptoms (500s, 503s, rejected long requests, CertificateRegistrationSvc 403s),
//! failed connector installs, health issues and probe results are counted per scope, kind and
//! time bucket (`aggregate_window_us`, aligned on the epoch). A bucket keeps the count, the first
//! and last time and the few earliest records as evidence; it becomes one diagnosis when the
//! sources of its scope have been read past it. Buckets are fixed and every fold is commutative,
//! so the diagnoses do not depend on arrival order.

use scepwatch_proto::time::to_rfc3339;

use super::intern::Sym;
use super::session::EventKey;
use crate::model::Evidence;
use crate::rule::Symptom;

/// What a bucket is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AggScope {
    /// One server host.
    Server(Sym),
    /// One endpoint.
    Endpoint(Sym),
}

/// What a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AggKind {
    /// An IIS / HTTP.sys symptom.
    Symptom(Symptom),
    /// A health issue (code, key).
    Health(&'static str, String),
    /// A failed connector installation.
    Install,
    /// A probe result of this code.
    Probe(&'static str),
    /// mscep.dll requests answered 200 (row 1 at server scope).
    Reached,
    /// PKIOperation requests answered 200 (row 17 at server scope).
    Submitted,
}

/// Bucket key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AggKey {
    pub scope: AggScope,
    pub kind: AggKind,
    /// Bucket start, microseconds.
    pub bucket: i64,
}

/// One bucket.
#[derive(Debug, Clone)]
pub(crate) struct Agg {
    pub count: u64,
    pub first_us: i64,
    pub last_us: i64,
    /// The earliest records, sorted by key.
    pub evidence: Vec<(EventKey, Evidence)>,
    /// A sentence from the earliest record (health issues, installs).
    pub text: Option<(EventKey, String)>,
    /// Occurrences per SCEP operation (indexed by the `ScepOperation` value).
    pub by_operation: [u64; 6],
}

impl Default for Agg {
    fn default() -> Self {
        Agg {
            count: 0,
            first_us: i64::MAX,
            last_us: i64::MIN,
            evidence: Vec::new(),
            text: None,
            by_operation: [0; 6],
        }
    }
}

impl Agg {
    /// Counts one occurrence; builds its evidence only when it is among the `cap` earliest.
    pub(crate) fn offer(&mut self, key: EventKey, cap: usize, make: impl FnOnce() -> Evidence) {
        self.count += 1;
        self.first_us = self.first_us.min(key.0);
        self.last_us = self.last_us.max(key.0);
        let cap = cap.max(1);
        // Most occurrences come after the earliest few: one compare settles them.
        if self.evidence.len() >= cap && self.evidence.last().is_some_and(|(k, _)| *k < key) {
            return;
        }
        let pos = match self.evidence.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(_) => return,
            Err(pos) => pos,
        };
        if pos >= cap {
            return;
        }
        self.evidence.insert(pos, (key, make()));
        self.evidence.truncate(cap);
    }

    /// Keeps `make()` as the bucket's text when `key` is the earliest so far.
    pub(crate) fn offer_text(&mut self, key: EventKey, make: impl FnOnce() -> String) {
        if self.text.as_ref().is_none_or(|(k, _)| key < *k) {
            self.text = Some((key, make()));
        }
    }

    /// Rough heap size.
    pub(crate) fn approx_bytes(&self) -> usize {
        128 + self
            .evidence
            .iter()
            .map(|(_, e)| 200 + e.excerpt.len() + e.note.len())
            .sum::<usize>()
            + self.text.as_ref().map_or(0, |(_, t)| t.len())
    }

    /// "Seen 12 times between A and B."
    pub(crate) fn span_sentence(&self) -> String {
        if self.count <= 1 {
            format!("Seen at {}.", to_rfc3339(self.first_us))
        } else {
            format!(
                "Seen {} times between {} and {}.",
                self.count,
                to_rfc3339(self.first_us),
                to_rfc3339(self.last_us)
            )
        }
    }
}

/// Start of the bucket of `t`.
pub(crate) fn bucket_of(t: i64, window_us: i64) -> i64 {
    let w = window_us.max(1);
    t.div_euclid(w).saturating_mul(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64) -> Evidence {
        Evidence {
            event_id: t.to_string(),
            time: String::new(),
            time_us: t,
            host: String::new(),
            source: String::new(),
            kind: String::new(),
            excerpt: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn keeps_the_earliest_whatever_the_order() {
        let mut a = Agg::default();
        let mut b = Agg::default();
        for t in [5, 1, 9, 3, 7] {
            a.offer((t, [0; 16]), 2, || ev(t));
        }
        for t in [9, 7, 5, 3, 1] {
            b.offer((t, [0; 16]), 2, || ev(t));
        }
        let ka: Vec<i64> = a.evidence.iter().map(|(k, _)| k.0).collect();
        let kb: Vec<i64> = b.evidence.iter().map(|(k, _)| k.0).collect();
        assert_eq!(ka, vec![1, 3]);
        assert_eq!(ka, kb);
        assert_eq!((a.count, a.first_us, a.last_us), (5, 1, 9));
    }

    #[test]
    fn buckets_align_on_the_epoch() {
        assert_eq!(bucket_of(3_700, 3_600), 3_600);
        assert_eq!(bucket_of(-1, 3_600), -3_600);
    }
}
