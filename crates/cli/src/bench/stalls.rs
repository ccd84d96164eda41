//! How often this machine stops a running thread, measured before the workloads run.
//!
//! A thread spins reading the monotonic clock; a gap between two reads far longer than one
//! read is time the thread did not run (an interrupt, the hypervisor running something else
//! on the core, a migration). A read that is hit by such a gap takes the gap longer, so on a
//! machine that stalls threads for 50 µs some hundred times a second, the p99.9 latency of
//! a workload doing 100,000 operations a second is set by those stalls, whichever engine runs
//! it: the report prints the rates so the tail figures can be read against them.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Stalls a spinning thread saw: rates per second above three lengths, and the longest.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Stalls {
    /// How long the thread spun.
    pub(crate) secs: f64,
    pub(crate) over_20us_per_sec: f64,
    pub(crate) over_50us_per_sec: f64,
    pub(crate) over_100us_per_sec: f64,
    pub(crate) longest_us: f64,
}

/// Spins for `duration` and counts the stalls.
pub(crate) fn probe(duration: Duration) -> Stalls {
    probe_with(duration, || {})
}

/// [`probe`], calling `step` between clock reads (tests inject stalls with it).
fn probe_with(duration: Duration, mut step: impl FnMut()) -> Stalls {
    let started = Instant::now();
    let mut prev = started;
    let mut over = [0u64; 3];
    let mut longest = Duration::ZERO;
    loop {
        step();
        let now = Instant::now();
        let gap = now - prev;
        prev = now;
        for (count, micros) in over.iter_mut().zip([20, 50, 100]) {
            if gap > Duration::from_micros(micros) {
                *count += 1;
            }
        }
        longest = longest.max(gap);
        if now - started >= duration {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = |n: u64| n as f64 / secs.max(1e-9);
    Stalls {
        secs,
        over_20us_per_sec: rate(over[0]),
        over_50us_per_sec: rate(over[1]),
        over_100us_per_sec: rate(over[2]),
        longest_us: longest.as_secs_f64() * 1e6,
    }
}

impl Stalls {
    /// The report's line.
    pub(crate) fn line(&self) -> String {
        format!(
            "machine stalls (one thread spinning {:.1} s before the run): {:.0}/s over 20 us, {:.0}/s over 50 us, \
             {:.0}/s over 100 us, longest {:.0} us\n",
            self.secs, self.over_20us_per_sec, self.over_50us_per_sec, self.over_100us_per_sec, self.longest_us
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_stalls_are_counted_at_their_length() {
        // A 1 ms sleep every 5 ms of spinning: each is a stall over every threshold.
        let mut injected = 0u64;
        let mut last = Instant::now();
        let stalls = probe_with(Duration::from_millis(60), || {
            if last.elapsed() >= Duration::from_millis(5) {
                std::thread::sleep(Duration::from_millis(1));
                injected += 1;
                last = Instant::now();
            }
        });
        assert!(injected >= 5, "the probe ran its 60 ms: {injected} sleeps");
        let counted = (stalls.over_100us_per_sec * stalls.secs).round() as u64;
        assert!(counted >= injected, "{counted} stalls over 100 us counted, {injected} injected");
        assert!(stalls.over_20us_per_sec >= stalls.over_50us_per_sec);
        assert!(stalls.over_50us_per_sec >= stalls.over_100us_per_sec);
        assert!(stalls.longest_us >= 1000.0, "a 1 ms sleep is the longest gap at least: {stalls:?}");
        assert!(stalls.secs >= 0.06);
    }

    #[test]
    fn the_line_names_the_rates() {
        let s = Stalls {
            secs: 1.0,
            over_20us_per_sec: 300.0,
            over_50us_per_sec: 60.0,
            over_100us_per_sec: 5.0,
            longest_us: 180.0,
        };
        assert_eq!(
            s.line(),
            "machine stalls (one thread spinning 1.0 s before the run): 300/s over 20 us, 60/s over 50 us, 5/s over \
             100 us, longest 180 us\n"
        );
    }
}
