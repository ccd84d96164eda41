//! Pacing writes while L0 sits between its slowdown and stop triggers.
//!
//! Compaction that falls behind the writers shows as L0 tables piling up. From
//! `l0_slowdown_trigger` tables on, every write group pays for its bytes at a write rate
//! (`Options::delayed_write_rate`) instead of being let through at once. The rate steers by L0:
//! each table L0 gains while writes are paced takes a fifth off the rate, each table it loses
//! gives a quarter back, up to the configured rate. So a compaction that is nearly keeping up
//! costs writers a little, and one that keeps losing ground is given more and more of the
//! machine before the stop trigger halts writes outright.
//!
//! Short debts are not slept off one by one: a group sleeps only once the bytes admitted
//! before it are at least [`MIN_SLEEP`] ahead of the clock, so a slowed writer of small values
//! sleeps every few writes for about that long, rather than for a timer's slack on every
//! write. The clock is not credited for time no writer used: a write after a pause starts
//! paying from now.

use std::time::{Duration, Instant};

/// The shortest sleep a paced write group takes; smaller debts carry over to the next group.
pub(crate) const MIN_SLEEP: Duration = Duration::from_micros(100);

/// The slowest pace, in bytes per second, however long L0 keeps growing; also the least
/// `Options::delayed_write_rate` allowed.
pub(crate) const MIN_RATE: u64 = 16 << 10;

/// What a rise of one L0 table multiplies the rate by while writes are paced.
const SLOWER: f64 = 0.8;

/// What a fall of one L0 table multiplies the rate by while writes are paced.
const FASTER: f64 = 1.25;

/// The pace of writes while L0 is at or over its slowdown trigger.
#[derive(Debug)]
pub(crate) struct WritePacer {
    /// `Options::delayed_write_rate`: where the rate starts and the most it returns to.
    configured: f64,
    /// The current rate, in bytes per second.
    rate: f64,
    /// When the bytes admitted so far are paid for at the rates they were admitted at.
    paid_until: Option<Instant>,
    /// L0's table count at the last paced group, to see which way it moves.
    last_l0: Option<usize>,
}

impl WritePacer {
    /// A pacer starting at `bytes_per_sec` (at least [`MIN_RATE`]).
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        let configured = bytes_per_sec.max(MIN_RATE) as f64;
        Self { configured, rate: configured, paid_until: None, last_l0: None }
    }

    /// The current rate, in bytes per second.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Admits a group of `bytes` at `now`, with L0 holding `l0` tables (at or over the
    /// slowdown trigger), and says how long the group must wait first: zero while the bytes
    /// admitted before it are less than [`MIN_SLEEP`] ahead of the clock.
    pub(crate) fn admit(&mut self, bytes: u64, l0: usize, now: Instant) -> Duration {
        if let Some(last) = self.last_l0 {
            let steps = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
            if l0 > last {
                self.rate = (self.rate * SLOWER.powi(steps(l0 - last))).max(MIN_RATE as f64);
            } else if l0 < last {
                self.rate = (self.rate * FASTER.powi(steps(last - l0))).min(self.configured);
            }
        }
        self.last_l0 = Some(l0);
        let start = self.paid_until.filter(|&t| t > now).unwrap_or(now);
        let paid_until = start + Duration::from_secs_f64(bytes as f64 / self.rate);
        self.paid_until = Some(paid_until);
        let ahead = paid_until - now;
        if ahead >= MIN_SLEEP { ahead } else { Duration::ZERO }
    }

    /// L0 fell under the slowdown trigger: the next slowdown starts at the configured rate,
    /// with no debt.
    pub(crate) fn reset(&mut self) {
        self.rate = self.configured;
        self.paid_until = None;
        self.last_l0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    #[test]
    fn a_steady_l0_pays_for_its_bytes_at_the_configured_rate() {
        let mut pacer = WritePacer::new(MIB as u64);
        let start = Instant::now();
        let mut now = start;
        // 1,000 groups of 1 KiB at 1 MiB/s: about a second of debt, slept in pieces.
        for _ in 0..1000 {
            now += pacer.admit(1024, 20, now);
        }
        let slept = now - start;
        let expected = Duration::from_secs_f64(1000.0 * 1024.0 / MIB);
        // The last group's debt may not have been slept yet: less than MIN_SLEEP short.
        assert!(slept <= expected && slept + MIN_SLEEP >= expected, "slept {slept:?}, owed {expected:?}");
    }

    #[test]
    fn small_debts_carry_over_until_they_are_worth_a_sleep() {
        let mut pacer = WritePacer::new(MIB as u64);
        let now = Instant::now();
        // 50 bytes at 1 MiB/s owe 48 µs: no sleep yet, and the next group's debt adds to it.
        assert_eq!(pacer.admit(50, 20, now), Duration::ZERO);
        let second = pacer.admit(100, 20, now);
        let owed = Duration::from_secs_f64(150.0 / MIB);
        assert!(second.abs_diff(owed) < Duration::from_micros(1), "{second:?} against {owed:?}");
        assert!(second >= MIN_SLEEP);
    }

    #[test]
    fn idle_time_earns_no_credit() {
        let mut pacer = WritePacer::new(MIB as u64);
        let now = Instant::now();
        assert_eq!(pacer.admit(50, 20, now), Duration::ZERO);
        // A second later the old debt is long paid, and a large group pays in full from now.
        let later = now + Duration::from_secs(1);
        let wait = pacer.admit(1 << 20, 20, later);
        assert!(wait.abs_diff(Duration::from_secs(1)) < Duration::from_micros(1), "{wait:?}");
    }

    #[test]
    fn the_rate_falls_while_l0_grows_and_recovers_to_the_configured_rate() {
        let mut pacer = WritePacer::new(16 * MIB as u64);
        let now = Instant::now();
        pacer.admit(1, 20, now);
        assert_eq!(pacer.rate(), 16.0 * MIB);
        pacer.admit(1, 22, now);
        assert!((pacer.rate() - 16.0 * MIB * 0.64).abs() < 1.0, "two tables more: {}", pacer.rate());
        pacer.admit(1, 21, now);
        assert!((pacer.rate() - 16.0 * MIB * 0.8).abs() < 1.0, "one table less: {}", pacer.rate());
        pacer.admit(1, 10, now);
        assert_eq!(pacer.rate(), 16.0 * MIB, "never above the configured rate");
        // However far L0 grows, the rate stays at or above the floor.
        pacer.admit(1, 1000, now);
        assert_eq!(pacer.rate(), MIN_RATE as f64);
        pacer.reset();
        assert_eq!(pacer.rate(), 16.0 * MIB);
        assert_eq!(pacer.admit(1, 1000, now), Duration::ZERO, "a reset forgets the last count and the debt");
        assert_eq!(pacer.rate(), 16.0 * MIB);
    }

    #[test]
    fn a_slower_rate_means_longer_waits_for_the_same_bytes() {
        let now = Instant::now();
        let mut steady = WritePacer::new(MIB as u64);
        steady.admit(0, 20, now);
        let mut growing = WritePacer::new(MIB as u64);
        growing.admit(0, 20, now);
        let steady_wait = steady.admit(64 << 10, 20, now);
        let growing_wait = growing.admit(64 << 10, 25, now);
        assert!(growing_wait > steady_wait * 2, "{growing_wait:?} against {steady_wait:?}");
    }

    #[test]
    fn a_rate_below_the_floor_is_raised_to_it() {
        let pacer = WritePacer::new(1);
        assert_eq!(pacer.rate(), MIN_RATE as f64);
    }
}
