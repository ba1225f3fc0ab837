//! When faults strike: seeded, printed, reproducible moments.
//!
//! The seed is `SCEPWATCH_E2E_SEED` when set, otherwise taken from the clock; a test prints it
//! so that a failure can be replayed with the same moments.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `SCEPWATCH_E2E_SEED`, or one from the clock.
pub fn seed() -> u64 {
    std::env::var("SCEPWATCH_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
}

/// One fault: strike `at` (from the start of the run), then stay down for `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// When it strikes, from the start.
    pub at: Duration,
    /// How long the victim stays down before it is started again.
    pub down: Duration,
}

/// `count` faults in `from..to`: the window is cut into `count` equal slots and each fault
/// strikes at a random moment of its slot (so they are spread out, never two at once), and
/// stays down for a random time below `max_down`.
pub fn schedule(
    seed: u64,
    count: u32,
    from: Duration,
    to: Duration,
    max_down: Duration,
) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let slot = to.saturating_sub(from) / count.max(1);
    (0..count)
        .map(|k| {
            let start = from + slot * k;
            let at = start + slot.mul_f64(rng.random::<f64>());
            let down = max_down.mul_f64(rng.random::<f64>());
            Fault { at, down }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_spread_over_the_window_and_reproducible() {
        let s = |seed| {
            schedule(
                seed,
                5,
                Duration::from_secs(5),
                Duration::from_secs(55),
                Duration::from_secs(2),
            )
        };
        let a = s(42);
        assert_eq!(a, s(42));
        assert_ne!(a, s(43));
        for (k, f) in a.iter().enumerate() {
            let slot_start = Duration::from_secs(5 + 10 * k as u64);
            assert!(f.at >= slot_start && f.at <= slot_start + Duration::from_secs(10));
            assert!(f.down <= Duration::from_secs(2));
        }
    }
}
