//! "Could anything of this endpoint still join that?" answered in logarithmic time.
//!
//! Two checks of [`super::Engine::run`] ask it for every candidate: a device attempt is held
//! back by an open session of its endpoint that overlaps its window (same user-agent family) or
//! carries one of its transactionIDs, and a closed session by a device attempt still waiting in
//! the same way. Scanning every open session (or waiting attempt) per candidate made each
//! `advance` cost the product of the two; this index is built once per `advance` from one side
//! and queried by the other.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use super::intern::{StrHasher, Sym, SymMap};
use super::user_agent::UaFamily;

/// Spans and transactionIDs of one endpoint.
#[derive(Debug, Default)]
struct EndpointSpans<'a> {
    /// `(family, from, to)`, sorted; `reach` is the running maximum of `to` within each family.
    spans: Vec<(UaFamily, i64, i64)>,
    reach: Vec<i64>,
    tx: HashSet<&'a str, BuildHasherDefault<StrHasher>>,
}

/// Spans `[from, to]` per endpoint and user-agent family, and transactionIDs per endpoint.
#[derive(Debug, Default)]
pub(crate) struct SpanIndex<'a> {
    endpoints: SymMap<EndpointSpans<'a>>,
}

impl<'a> SpanIndex<'a> {
    /// Adds the span `[from, to]` of `family` at `endpoint`, with its transactionIDs.
    pub(crate) fn add(
        &mut self,
        endpoint: Sym,
        family: UaFamily,
        from: i64,
        to: i64,
        tx: impl IntoIterator<Item = &'a str>,
    ) {
        let e = self.endpoints.entry(endpoint).or_default();
        e.spans.push((family, from, to));
        e.tx.extend(tx);
    }

    /// Sorts what was added; call once before querying.
    pub(crate) fn seal(&mut self) {
        for e in self.endpoints.values_mut() {
            e.spans.sort_unstable();
            e.reach.clear();
            let mut family = None;
            let mut reach = i64::MIN;
            for &(f, _, to) in &e.spans {
                if family != Some(f) {
                    family = Some(f);
                    reach = i64::MIN;
                }
                reach = reach.max(to);
                e.reach.push(reach);
            }
        }
    }

    /// True when a span of `family` at `endpoint` meets `[from, to]`, or one of `tx` was added
    /// at `endpoint`.
    pub(crate) fn meets<'t>(
        &self,
        endpoint: Sym,
        family: UaFamily,
        from: i64,
        to: i64,
        tx: impl IntoIterator<Item = &'t str>,
    ) -> bool {
        let Some(e) = self.endpoints.get(&endpoint) else {
            return false;
        };
        let first = e.spans.partition_point(|s| s.0 < family);
        // Spans of the family starting at or before `to`: the last of them reaches furthest.
        let end = e
            .spans
            .partition_point(|s| s.0 < family || (s.0 == family && s.1 <= to));
        if end > first && e.reach.get(end - 1).is_some_and(|&r| r >= from) {
            return true;
        }
        !e.tx.is_empty() && tx.into_iter().any(|t| e.tx.contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_per_family_and_transaction_ids() {
        let mut ix = SpanIndex::default();
        ix.add(1, UaFamily::Android, 100, 200, ["A"]);
        ix.add(1, UaFamily::Android, 1000, 1100, []);
        ix.add(1, UaFamily::Ios, 300, 5000, ["b"]);
        ix.add(2, UaFamily::Android, 0, 10_000, []);
        ix.seal();
        let none: [&str; 0] = [];
        assert!(ix.meets(1, UaFamily::Android, 150, 160, none));
        assert!(ix.meets(1, UaFamily::Android, 200, 300, none));
        assert!(!ix.meets(1, UaFamily::Android, 201, 999, none));
        assert!(ix.meets(1, UaFamily::Android, 201, 1000, none));
        assert!(!ix.meets(1, UaFamily::Windows, 0, 10_000, none));
        // A long span of another family does not count, its transactionID does.
        assert!(!ix.meets(1, UaFamily::Android, 2000, 3000, none));
        assert!(ix.meets(1, UaFamily::Android, 2000, 3000, ["b"]));
        assert!(!ix.meets(1, UaFamily::Android, 2000, 3000, ["B"]));
        assert!(!ix.meets(3, UaFamily::Android, 0, 10_000, ["A"]));
        // An early long span reaches past later short ones.
        let mut ix = SpanIndex::default();
        ix.add(1, UaFamily::Other, 0, 900, []);
        ix.add(1, UaFamily::Other, 10, 20, []);
        ix.seal();
        assert!(ix.meets(1, UaFamily::Other, 500, 600, none));
        assert!(!ix.meets(1, UaFamily::Other, 901, 950, none));
    }
}
