//! Which Kafka offset of a partition is safe to commit.
//!
//! The engine and the spike detector hold state built from earlier records: open attempts,
//! baselines, host context. After a crash a fresh engine replays the partition from the committed
//! offset, so the commit must stay at or below the first record that carries anything the state
//! still needs. Both report that as an event time ([`crate::engine::Engine::held_since`],
//! [`crate::spike::SpikeDetector::held_since`]); this tracker turns the time into an offset.
//!
//! It keeps, for the records read since the last commit, a staircase of the running maximum of
//! their times: `(offset, max)` for each record that raised the maximum by at least one
//! quantum. The first record whose time reaches `T` is the first step whose maximum reaches `T`;
//! every record before it carries only times below `T`, which nothing needs any more. Times are
//! rounded down to the quantum (one second), which can only move the answer earlier: the commit
//! is conservative, never past a needed record. Memory: one step per quantum of event time that
//! the partition's records advanced, whatever their number (at most 86,400 steps, 1.4 MB, for a
//! day held back).
//!
//! A record's time is the latest event or watermark time it carries: a watermark moves a
//! source's progress, which the engine's held state depends on as much as on events.

use std::collections::VecDeque;

/// Granularity of the staircase, microseconds.
pub const QUANTUM_US: i64 = 1_000_000;

/// The offsets of one partition (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct OffsetTracker {
    steps: VecDeque<(i64, i64)>,
    /// Offset after the last record seen.
    next: Option<i64>,
    /// Offset last committed (or found committed at assignment).
    committed: Option<i64>,
}

fn quantize(t: i64) -> i64 {
    t.div_euclid(QUANTUM_US)
}

impl OffsetTracker {
    /// A tracker for a partition whose group position is `committed` (None: nothing committed).
    pub fn new(committed: Option<i64>) -> Self {
        OffsetTracker {
            steps: VecDeque::new(),
            next: None,
            committed,
        }
    }

    /// Notes the record at `offset` carrying times up to `latest_us` (None: no time at all,
    /// e.g. a record that did not decode). Offsets come in increasing order.
    pub fn record(&mut self, offset: i64, latest_us: Option<i64>) {
        if self.next.is_some_and(|n| offset < n) {
            return;
        }
        self.next = Some(offset.saturating_add(1));
        let Some(t) = latest_us else {
            return;
        };
        let q = quantize(t);
        if self.steps.back().is_none_or(|&(_, m)| q > m) {
            self.steps.push_back((offset, q));
        }
    }

    /// The offset to commit when the earliest time still needed is `held_since` (None:
    /// nothing is held): the first record whose time reaches it, or the offset after the last
    /// record when none does. `None` when that would not move the committed offset forward.
    pub fn commit_point(&mut self, held_since: Option<i64>) -> Option<i64> {
        let next = self.next?;
        let candidate = match held_since {
            None => next,
            Some(t) => {
                let q = quantize(t);
                while self.steps.front().is_some_and(|&(_, m)| m < q) {
                    self.steps.pop_front();
                }
                self.steps.front().map_or(next, |&(o, _)| o)
            }
        };
        match self.committed {
            Some(c) if candidate <= c => None,
            _ => Some(candidate),
        }
    }

    /// Records that `offset` was committed.
    pub fn committed(&mut self, offset: i64) {
        if self.committed.is_none_or(|c| offset > c) {
            self.committed = Some(offset);
        }
    }

    /// The offset last committed.
    pub fn last_committed(&self) -> Option<i64> {
        self.committed
    }

    /// The offset after the last record seen.
    pub fn position(&self) -> Option<i64> {
        self.next
    }

    /// Steps held (for the state-size metric).
    pub fn steps(&self) -> usize {
        self.steps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = QUANTUM_US;

    #[test]
    fn commits_up_to_the_first_record_still_needed() {
        let mut t = OffsetTracker::new(None);
        t.record(10, Some(100 * S));
        t.record(11, Some(101 * S));
        t.record(12, Some(105 * S));
        t.record(13, Some(103 * S)); // a late source: needed while 105 is
        assert_eq!(t.commit_point(Some(101 * S)), Some(11));
        t.committed(11);
        assert_eq!(t.commit_point(Some(101 * S)), None, "nothing new to commit");
        assert_eq!(t.commit_point(Some(104 * S)), Some(12));
        t.committed(12);
        assert_eq!(
            t.commit_point(None),
            Some(14),
            "nothing held: past the last record"
        );
    }

    #[test]
    fn never_goes_back_and_untimed_records_follow_their_neighbours() {
        let mut t = OffsetTracker::new(Some(50));
        t.record(50, None);
        t.record(51, Some(10 * S));
        assert_eq!(t.commit_point(Some(10 * S)), Some(51));
        t.committed(51);
        // Held state moved back (a late event joined an open attempt): the commit stays.
        assert_eq!(t.commit_point(Some(0)), None);
        assert_eq!(t.last_committed(), Some(51));
    }

    proptest! {
        /// The commit point is never past a record whose time reaches `held`, and is the
        /// first such record up to the quantum's rounding.
        #[test]
        fn commit_point_is_conservative(
            times in proptest::collection::vec(proptest::option::of(0i64..1_000_000_000), 1..200),
            held in proptest::option::of(0i64..1_000_000_000),
        ) {
            let mut t = OffsetTracker::new(None);
            for (i, x) in times.iter().enumerate() {
                t.record(i as i64, *x);
            }
            let got = t.commit_point(held).unwrap_or(0);
            let first_needed = match held {
                None => times.len() as i64,
                Some(h) => times
                    .iter()
                    .position(|x| x.is_some_and(|x| x >= h))
                    .map_or(times.len() as i64, |p| p as i64),
            };
            prop_assert!(got <= first_needed, "committed {got} past record {first_needed}");
            let first_in_quantum = match held {
                None => times.len() as i64,
                Some(h) => times
                    .iter()
                    .position(|x| x.is_some_and(|x| quantize(x) >= quantize(h)))
                    .map_or(times.len() as i64, |p| p as i64),
            };
            prop_assert_eq!(got, first_in_quantum);
        }
    }
}
