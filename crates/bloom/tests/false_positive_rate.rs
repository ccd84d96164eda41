//! The measured false-positive rate on 1,000,000 keys stays within 1.5x of the configured rate.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_bloom::{BloomFilter, FilterPolicy};

const KEYS: u64 = 1_000_000;
const PROBES: u64 = 1_000_000;

fn measured_rate(policy: FilterPolicy) -> f64 {
    let mut f = BloomFilter::new(policy, KEYS as usize).unwrap();
    for i in 0..KEYS {
        f.insert(format!("key/{i:010}").as_bytes());
    }
    // Persist and restore first: the rate that matters is the one after a restart.
    let f = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
    for i in (0..KEYS).step_by(997) {
        assert!(f.may_contain(format!("key/{i:010}").as_bytes()), "false negative for key {i}");
    }
    let hits = (KEYS..KEYS + PROBES).filter(|i| f.may_contain(format!("key/{i:010}").as_bytes())).count();
    hits as f64 / PROBES as f64
}

#[test]
fn ten_bits_per_key_stays_within_1_5x_of_its_rate() {
    let policy = FilterPolicy::default();
    let target = policy.target_false_positive_rate();
    let measured = measured_rate(policy);
    eprintln!("bits_per_key=10: target {target:.5}, measured {measured:.5} ({:.2}x)", measured / target);
    assert!(measured <= 1.5 * target, "measured {measured} > 1.5 x {target}");
}

#[test]
fn target_rate_of_one_in_a_thousand_is_met_within_1_5x() {
    let target = 0.001;
    let measured = measured_rate(FilterPolicy::FalsePositiveRate(target));
    eprintln!("fpr=0.001: measured {measured:.5} ({:.2}x)", measured / target);
    assert!(measured <= 1.5 * target, "measured {measured} > 1.5 x {target}");
}
