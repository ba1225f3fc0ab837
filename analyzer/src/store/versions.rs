//! The `version` of rows written by the service: the write time in microseconds, never below a
//! version given before (`max(now, last + 1)`), so that each revision of an ID outranks the
//! previous one even when the clock steps back (docs/clickhouse.md, "Tables").

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of row versions, shared by the writers of one process.
#[derive(Debug, Default)]
pub struct Versions {
    last: AtomicU64,
}

impl Versions {
    /// A source that has given nothing yet.
    pub fn new() -> Self {
        Versions::default()
    }

    /// A source that never gives a version at or below `last` (for instance the highest
    /// version read back from the tables at start).
    pub fn starting_after(last: u64) -> Self {
        Versions {
            last: AtomicU64::new(last),
        }
    }

    /// The next version: microseconds since the Unix epoch now, or one more than the last
    /// version given when the clock is behind it.
    pub fn next(&self) -> u64 {
        self.next_at(now_us())
    }

    /// The next version when the clock reads `now_us`.
    pub fn next_at(&self, now_us: u64) -> u64 {
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now_us.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The last version given (0 before the first).
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// Microseconds since the Unix epoch (0 if the clock reads before it).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn follows_the_clock_and_survives_a_step_back() {
        let versions = Versions::new();
        assert_eq!(versions.next_at(1_000), 1_000);
        assert_eq!(versions.next_at(5_000), 5_000);
        // The clock steps back by a second: versions keep growing by one.
        assert_eq!(versions.next_at(4_000), 5_001);
        assert_eq!(versions.next_at(4_001), 5_002);
        assert_eq!(versions.next_at(9_000), 9_000);
        assert_eq!(Versions::starting_after(9_000).next_at(10), 9_001);
        assert!(Versions::new().next() > 1_700_000_000_000_000);
    }

    #[test]
    fn unique_across_threads() {
        let versions = std::sync::Arc::new(Versions::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let versions = versions.clone();
                std::thread::spawn(move || (0..10_000).map(|_| versions.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    proptest! {
        #[test]
        fn strictly_increasing_whatever_the_clock(clock in proptest::collection::vec(0u64..1_000_000, 1..200)) {
            let versions = Versions::new();
            let mut previous = 0;
            for now in clock {
                let v = versions.next_at(now);
                prop_assert!(v > previous);
                prop_assert!(v >= now);
                previous = v;
            }
        }
    }
}
