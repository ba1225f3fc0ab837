//! Bounds on the work the ingestor holds: a per-collector rate (token bucket), the global
//! number of batches in flight, and the number of warnings logged per second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A token bucket of events: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_sec: u64, burst: u64, now: Instant) -> Self {
        TokenBucket {
            rate: rate_per_sec as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: now,
        }
    }

    /// Takes `n` tokens, or says how long until they would be there (taking none).
    pub fn take(&mut self, n: u64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        let n = n as f64;
        if n <= self.tokens {
            self.tokens -= n;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((n - self.tokens) / self.rate))
        }
    }
}

/// One token bucket per configured collector, shared by all its streams.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<Arc<str>, Mutex<TokenBucket>>,
}

impl RateLimiter {
    /// A full bucket for each of `collectors`.
    pub fn new<'a>(
        collectors: impl IntoIterator<Item = &'a Arc<str>>,
        rate_per_sec: u64,
        burst: u64,
    ) -> Self {
        let now = Instant::now();
        RateLimiter {
            buckets: collectors
                .into_iter()
                .map(|c| {
                    (
                        c.clone(),
                        Mutex::new(TokenBucket::new(rate_per_sec, burst, now)),
                    )
                })
                .collect(),
        }
    }

    /// Takes `events` tokens from `collector`'s bucket, or says how long to wait. A collector
    /// without a bucket (not configured) is never let through.
    pub fn take(&self, collector: &str, events: u64) -> Result<(), Duration> {
        let Some(bucket) = self.buckets.get(collector) else {
            return Err(Duration::MAX);
        };
        let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
        b.take(events, Instant::now())
    }
}

/// The global bound on batches being published. A stream takes a slot before it reads its next
/// batch; when none is free it stops reading, and HTTP/2 flow control holds the collector back.
#[derive(Debug)]
pub struct InFlight {
    slots: Arc<Semaphore>,
    limit: usize,
    current: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// One slot of [`InFlight`], released when dropped.
#[derive(Debug)]
pub struct InFlightSlot {
    _permit: OwnedSemaphorePermit,
    current: Arc<AtomicUsize>,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        self.current.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlight {
    /// At most `limit` slots taken at once.
    pub fn new(limit: usize) -> Self {
        InFlight {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            current: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> InFlightSlot {
        let permit = match self.slots.clone().acquire_owned().await {
            Ok(p) => p,
            // The semaphore is never closed.
            Err(_) => unreachable!("in-flight semaphore closed"),
        };
        let now = self.current.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        InFlightSlot {
            _permit: permit,
            current: self.current.clone(),
        }
    }

    /// Slots taken now.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }

    /// Most slots ever taken at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// At most `per_second` log lines a second for one kind of event; the rest are counted and the
/// count is reported with the next line let through. A client that fails at a high rate
/// (bad batches, plain text to the TLS port) must not flood the logs; the metrics count every
/// occurrence anyway.
#[derive(Debug)]
pub struct LogBudget {
    per_second: u64,
    /// (second since start, lines logged in it, lines suppressed since the last logged one).
    state: Mutex<(u64, u64, u64)>,
    start: Instant,
}

impl LogBudget {
    /// `per_second` lines a second.
    pub fn new(per_second: u64) -> Self {
        LogBudget {
            per_second,
            state: Mutex::new((0, 0, 0)),
            start: Instant::now(),
        }
    }

    /// `Some(suppressed since the last line)` when a line may be logged now, `None` otherwise.
    pub fn allow(&self) -> Option<u64> {
        let second = self.start.elapsed().as_secs();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 != second {
            s.0 = second;
            s.1 = 0;
        }
        if s.1 < self.per_second {
            s.1 += 1;
            Some(std::mem::take(&mut s.2))
        } else {
            s.2 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_lets_a_burst_through_then_meters() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 500, t0);
        assert!(b.take(500, t0).is_ok());
        let wait = b.take(50, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(b.take(50, t0 + Duration::from_millis(500)).is_ok());
        // Never more than the burst saved up.
        assert!(b.take(501, t0 + Duration::from_secs(3600)).is_err());
        assert!(b.take(500, t0 + Duration::from_secs(3600)).is_ok());
    }

    #[test]
    fn unknown_collector_has_no_bucket() {
        let names = [Arc::<str>::from("ndes01")];
        let r = RateLimiter::new(&names, 10, 10);
        assert!(r.take("ndes01", 10).is_ok());
        assert!(r.take("ndes01", 1).is_err());
        assert!(r.take("other", 1).is_err());
    }

    #[test]
    fn log_budget_suppresses_and_reports_the_count() {
        let b = LogBudget::new(2);
        assert_eq!(b.allow(), Some(0));
        assert_eq!(b.allow(), Some(0));
        assert_eq!(b.allow(), None);
        assert_eq!(b.allow(), None);
        // Next second: the two suppressed lines are reported with the first one let through.
        {
            let mut s = b.state.lock().unwrap();
            s.0 = u64::MAX;
        }
        assert_eq!(b.allow(), Some(2));
    }

    #[tokio::test]
    async fn in_flight_counts_and_remembers_peak() {
        let f = InFlight::new(2);
        let a = f.acquire().await;
        let b = f.acquire().await;
        assert_eq!(f.current(), 2);
        let blocked = tokio::time::timeout(Duration::from_millis(20), f.acquire()).await;
        assert!(blocked.is_err(), "a third slot must wait");
        drop(a);
        let c = f.acquire().await;
        drop((b, c));
        assert_eq!(f.current(), 0);
        assert_eq!(f.peak(), 2);
    }
}
