//! A token-bucket limit on background write bandwidth, shared by flushes and compactions.
//!
//! Flushes go first: a flush takes its bytes at once, even into debt, because a flush that
//! waits stalls writers. A compaction waits until the bucket has paid off every byte taken
//! before it, so a burst of compaction output cannot starve the foreground's disk bandwidth,
//! and flushes consume first what there is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::Entry;

/// Who asks for bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Flushes: never wait, may take the bucket into debt.
    High,
    /// Compactions: wait until the bucket is out of debt.
    Low,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may be written now without waiting; negative while in debt.
    tokens: f64,
    last: Instant,
}

/// A token bucket of `bytes_per_sec`, holding at most a tenth of a second's worth (at least
/// 64 KiB), so an idle period does not bank a long burst.
#[derive(Debug)]
pub struct RateLimiter {
    bytes_per_sec: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
    waited_nanos: AtomicU64,
}

impl RateLimiter {
    /// A limiter of `bytes_per_sec` (at least 1).
    #[must_use]
    pub fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec.max(1) as f64;
        let burst = (rate / 10.0).max(64.0 * 1024.0);
        Self {
            bytes_per_sec: rate,
            burst,
            bucket: Mutex::new(Bucket { tokens: burst, last: Instant::now() }),
            waited_nanos: AtomicU64::new(0),
        }
    }

    /// The rate, in bytes per second.
    #[must_use]
    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec as u64
    }

    /// Takes `bytes` at time `now` and says how long the caller must wait before writing
    /// them: zero for [`Priority::High`], and for [`Priority::Low`] the time the bucket needs
    /// to pay off its debt.
    pub fn reserve_at(&self, bytes: u64, priority: Priority, now: Instant) -> Duration {
        // NOTE: the bucket is two numbers updated together; a panic cannot leave it half-done.
        let mut b = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = b.last.max(now);
        b.tokens = (b.tokens + elapsed * self.bytes_per_sec).min(self.burst);
        b.tokens -= bytes as f64;
        match priority {
            Priority::High => Duration::ZERO,
            Priority::Low if b.tokens >= 0.0 => Duration::ZERO,
            Priority::Low => Duration::from_secs_f64(-b.tokens / self.bytes_per_sec),
        }
    }

    /// Takes `bytes`, sleeping first if `priority` is low and the bucket is in debt.
    pub fn request(&self, bytes: u64, priority: Priority) {
        let wait = self.reserve_at(bytes, priority, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
            self.waited_nanos.fetch_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// Total time low-priority requests have slept.
    #[must_use]
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }
}

/// Bytes taken from the limiter at a time, so a stream of small entries does not lock the
/// bucket once per entry.
const GRANT: u64 = 256 * 1024;

/// An entry stream whose bytes are paid for to a [`RateLimiter`] as they pass (none without
/// one), in grants of 256 KiB.
#[derive(Debug)]
pub struct Throttled<'a, I> {
    inner: I,
    limiter: Option<&'a RateLimiter>,
    priority: Priority,
    /// Bytes passed but not yet paid for.
    pending: u64,
}

impl<'a, I> Throttled<'a, I> {
    /// Wraps `inner`; without a limiter it only passes entries on.
    pub fn new(inner: I, limiter: Option<&'a RateLimiter>, priority: Priority) -> Self {
        Self { inner, limiter, priority, pending: 0 }
    }
}

impl<I: Iterator<Item = Result<Entry, E>>, E> Iterator for Throttled<'_, I> {
    type Item = Result<Entry, E>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some(limiter) = self.limiter else { return self.inner.next() };
        let item = self.inner.next();
        if let Some(Ok(e)) = &item {
            // Counted before compression (`Entry::charged_len`): the limit is on the logical
            // bytes a flush or compaction writes, and a table file is usually smaller.
            self.pending += e.charged_len();
        }
        // At the end (or an error), pay for the rest.
        let last = !matches!(item, Some(Ok(_)));
        if self.pending >= GRANT || (last && self.pending > 0) {
            limiter.request(std::mem::take(&mut self.pending), self.priority);
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn low_priority_waits_for_the_debt_and_high_priority_never_waits() {
        let limiter = RateLimiter::new(10 * MIB); // burst 1 MiB
        let t0 = Instant::now();
        assert_eq!(limiter.reserve_at(MIB, Priority::Low, t0), Duration::ZERO, "the burst is free");
        // 2 MiB of debt at 10 MiB/s: 0.2 s.
        let wait = limiter.reserve_at(2 * MIB, Priority::Low, t0);
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-6, "{wait:?}");
        // A flush takes 1 MiB at once, into more debt; the next compaction waits for both.
        assert_eq!(limiter.reserve_at(MIB, Priority::High, t0), Duration::ZERO);
        let wait = limiter.reserve_at(0, Priority::Low, t0);
        assert!((wait.as_secs_f64() - 0.3).abs() < 1e-6, "{wait:?}");
        // Half a second later the debt is paid and 0.2 s of tokens are back (capped at 1 MiB).
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.reserve_at(MIB, Priority::Low, later), Duration::ZERO);
        assert!(limiter.reserve_at(MIB, Priority::Low, later) > Duration::ZERO);
    }

    #[test]
    fn idle_time_banks_at_most_the_burst_and_time_never_runs_backwards() {
        let limiter = RateLimiter::new(MIB); // burst 102.4 KiB
        let t0 = Instant::now();
        let idle = t0 + Duration::from_secs(3600);
        assert_eq!(limiter.reserve_at(100 * 1024, Priority::Low, idle), Duration::ZERO);
        let wait = limiter.reserve_at(MIB, Priority::Low, idle);
        assert!(wait > Duration::from_millis(990), "an hour idle banked only the burst: {wait:?}");
        // An earlier instant (another thread read the clock first) adds no tokens.
        let before = limiter.reserve_at(0, Priority::Low, t0);
        assert!((before.as_secs_f64() - wait.as_secs_f64()).abs() < 1e-6);
    }

    #[test]
    fn a_throttled_stream_pays_for_every_byte_it_passes() {
        let rate = 640 * 1024; // a burst of 64 KiB
        let limiter = RateLimiter::new(rate);
        let start = Instant::now();
        let entries = (0..10_000u32).map(|i| Ok::<_, ()>(Entry::put(format!("k{i:05}"), 1, vec![0u8; 91])));
        let passed = Throttled::new(entries, Some(&limiter), Priority::High).count();
        assert_eq!(passed, 10_000);
        // 10,000 entries of 6 + 91 + 9 bytes, all taken (into debt, as a flush may), less what
        // the bucket refilled while the test ran.
        let debt = limiter.reserve_at(0, Priority::Low, Instant::now());
        let refilled = start.elapsed().as_secs_f64() * rate as f64;
        let taken = debt.as_secs_f64() * rate as f64 + limiter.burst;
        assert!(taken <= 1_060_000.5 && taken >= 1_060_000.0 - refilled - 0.5, "took {taken} bytes");
        // Without a limiter the stream is passed on as it is.
        assert_eq!(
            Throttled::new(std::iter::repeat_n(Ok::<_, ()>(Entry::put("k", 1, "v")), 3), None, Priority::Low).count(),
            3
        );
    }

    #[test]
    fn request_sleeps_only_when_in_debt_and_counts_it() {
        let limiter = RateLimiter::new(100 * MIB); // burst 10 MiB
        limiter.request(MIB, Priority::Low);
        assert_eq!(limiter.waited(), Duration::ZERO);
        limiter.request(10 * MIB, Priority::High);
        limiter.request(0, Priority::Low);
        assert!(limiter.waited() > Duration::ZERO, "the flush's debt made the compaction wait");
    }
}
