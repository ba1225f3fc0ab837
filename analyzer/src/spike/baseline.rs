//! The per-minute test: is one minute's count of one status a spike against the minutes before?
//!
//! Pure arithmetic over counts, so that the same counts always give the same answer (the
//! detector's determinism rests on it). The method is described in the module docs of
//! [`crate::spike`].

use super::SpikeConfig;

/// Robust standard deviations per median absolute deviation, for normally distributed data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// What the baseline says about one minute of one status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict {
    /// The minute is a spike.
    pub hot: bool,
    /// Errors the baseline expected in this minute: baseline rate x the minute's requests.
    pub expected: f64,
    /// Errors per minute at or above which this minute counts (the lower of the relative and
    /// the outage thresholds, never below the minimum count).
    pub threshold: f64,
}

/// The test's parameters, taken from [`SpikeConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Test {
    min_errors: u64,
    deviations: f64,
    min_rate_margin: f64,
    outage_share: f64,
}

impl Test {
    pub(crate) fn new(cfg: &SpikeConfig) -> Self {
        Test {
            min_errors: cfg.min_errors_per_minute.max(1),
            deviations: finite_or(cfg.deviations, 4.0).max(0.0),
            min_rate_margin: finite_or(cfg.min_rate_margin, 0.01).max(0.0),
            outage_share: finite_or(cfg.outage_share, 0.5).clamp(0.0, 1.0),
        }
    }

    /// Whether `errors` can be a spike at all (the count floor): the baseline is only worked
    /// out for minutes that pass it.
    pub(crate) fn candidate(&self, errors: u32) -> bool {
        u64::from(errors) >= self.min_errors
    }

    /// The verdict for a minute with `errors` of the status among `requests` responses, against
    /// the per-minute `(errors, requests)` of the baseline window (minutes without requests
    /// carry no rate and are skipped). `scratch` is reused between calls.
    pub(crate) fn judge(
        &self,
        errors: u32,
        requests: u32,
        window: impl Iterator<Item = (u32, u32)>,
        scratch: &mut Vec<f64>,
    ) -> Verdict {
        let (rate, sigma) = baseline_rate(window, scratch);
        let n = f64::from(requests.max(errors));
        let e = f64::from(errors);
        let expected = rate * n;
        let spread = (expected + (sigma * n).powi(2)).sqrt();
        let relative = expected + self.deviations * spread + self.min_rate_margin * n;
        let outage = self.outage_share * n;
        let floor = self.min_errors as f64;
        let hot = self.candidate(errors) && (e > relative || (n > 0.0 && e >= outage));
        Verdict {
            hot,
            expected,
            threshold: floor.max(relative.min(outage)),
        }
    }
}

fn finite_or(v: f64, default: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        default
    }
}

/// Median error rate of the window's minutes with requests, and its robust spread
/// (1.4826 x the median absolute deviation). Both 0 when no minute had requests.
pub(crate) fn baseline_rate(
    window: impl Iterator<Item = (u32, u32)>,
    scratch: &mut Vec<f64>,
) -> (f64, f64) {
    scratch.clear();
    scratch.extend(
        window
            .filter(|&(_, n)| n > 0)
            .map(|(e, n)| f64::from(e.min(n)) / f64::from(n)),
    );
    if scratch.is_empty() {
        return (0.0, 0.0);
    }
    let median = median_of(scratch);
    for r in scratch.iter_mut() {
        *r = (*r - median).abs();
    }
    let mad = median_of(scratch);
    (median, MAD_TO_SIGMA * mad)
}

/// Median of a non-empty slice (mean of the two middle values for an even length); sorts it.
fn median_of(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test() -> Test {
        Test::new(&SpikeConfig::default())
    }

    #[test]
    fn median_and_mad_of_rates() {
        let mut s = Vec::new();
        // Rates 0.0, 0.1, 0.2, 0.3; a minute without requests is skipped.
        let w = [(0, 10), (1, 10), (0, 0), (2, 10), (3, 10)];
        let (rate, sigma) = baseline_rate(w.into_iter(), &mut s);
        assert!((rate - 0.15).abs() < 1e-12);
        // Deviations 0.15, 0.05, 0.05, 0.15: median 0.1.
        assert!((sigma - 0.14826).abs() < 1e-9);
        assert_eq!(baseline_rate(std::iter::empty(), &mut s), (0.0, 0.0));
    }

    #[test]
    fn a_silent_baseline_needs_the_minimum_count() {
        let t = test();
        let mut s = Vec::new();
        let quiet = || std::iter::repeat_n((0u32, 60u32), 60);
        assert!(!t.judge(9, 60, quiet(), &mut s).hot);
        let v = t.judge(10, 60, quiet(), &mut s);
        assert!(v.hot);
        assert_eq!(v.expected, 0.0);
        assert_eq!(v.threshold, 10.0);
    }

    #[test]
    fn a_steady_error_rate_at_higher_traffic_is_not_a_spike() {
        // 2% of 100 requests a minute for an hour, then 2.5% of 600.
        let t = test();
        let mut s = Vec::new();
        let w = || (0..60u32).map(|i| (if i.is_multiple_of(2) { 2 } else { 1 }, 100));
        let v = t.judge(15, 600, w(), &mut s);
        assert!(!v.hot, "{v:?}");
        // Ten times the rate is.
        assert!(t.judge(120, 600, w(), &mut s).hot);
    }

    #[test]
    fn half_the_responses_failing_is_a_spike_whatever_the_baseline() {
        let t = test();
        let mut s = Vec::new();
        // The window already is an outage (every response a 503).
        let w = || std::iter::repeat_n((50u32, 50u32), 60);
        let v = t.judge(40, 50, w(), &mut s);
        assert!(v.hot);
        assert_eq!(v.threshold, 25.0);
        assert!(!t.judge(20, 50, w(), &mut s).hot);
    }
}
