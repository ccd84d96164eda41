//! The block cache's admission filter: the page parts that missed recently and were not
//! cached (the "doorkeeper" of TinyLFU).
//!
//! A part is admitted on a miss when the doorkeeper remembers its previous miss, which it then
//! forgets (so a part evicted later again needs two misses: under a uniform workload every
//! admission is churn, and fewer of them keep the hit rate the same); otherwise the doorkeeper
//! remembers this miss and the part is declined. The parts are kept by hash in buckets of two,
//! newest first: a miss pushes the bucket's older part out. So a miss is remembered for about
//! one doorkeeper's worth of misses, and two parts that share a bucket cannot keep each other
//! out, as they could with one slot per bucket.

use std::sync::atomic::{AtomicU64, Ordering};

/// Parts remembered per bucket.
const WAYS: usize = 2;

pub(crate) struct Doorkeeper {
    /// Per bucket, `WAYS` tags (a part's hash with its low bit set; 0 for none), newest first.
    slots: Box<[AtomicU64]>,
}

impl Doorkeeper {
    /// A doorkeeper that remembers about `parts` parts (at least 128, so a small cache still
    /// admits a few dozen hot parts on their second miss).
    pub(crate) fn new(parts: usize) -> Self {
        let slots = parts.max(128).next_power_of_two();
        Self { slots: (0..slots).map(|_| AtomicU64::new(0)).collect() }
    }

    /// The bucket of the part whose hash is `hash`, and the tag it leaves there.
    fn bucket(&self, hash: u64) -> (&[AtomicU64], u64) {
        let buckets = self.slots.len() / WAYS;
        // NOTE: the bucket takes the hash's high half, the block cache's shard its top bits and
        // hashbrown's bucket its low ones: the three stay independent. The tag is the whole
        // hash, never 0.
        let at = ((hash >> 32) as usize & (buckets - 1)) * WAYS;
        (&self.slots[at..at + WAYS], hash | 1)
    }

    /// Whether the part with `hash` missed recently; if so it is forgotten.
    pub(crate) fn take(&self, hash: u64) -> bool {
        let (bucket, tag) = self.bucket(hash);
        // NOTE: racing threads may both take a part, or lose one; either costs one more (or one
        // fewer) decoded page, never a wrong answer.
        bucket.iter().find(|s| s.load(Ordering::Relaxed) == tag).is_some_and(|s| {
            s.store(0, Ordering::Relaxed);
            true
        })
    }

    /// Remembers a miss of the part with `hash`, pushing its bucket's oldest part out.
    pub(crate) fn record(&self, hash: u64) {
        let (bucket, tag) = self.bucket(hash);
        let mut carry = tag;
        for slot in bucket {
            carry = slot.swap(carry, Ordering::Relaxed);
            if carry == 0 || carry == tag {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
    }

    #[test]
    fn a_miss_is_remembered_once_and_until_its_bucket_moves_on() {
        let d = Doorkeeper::new(1024);
        assert!(!d.take(hash(1)));
        d.record(hash(1));
        assert!(d.take(hash(1)));
        assert!(!d.take(hash(1)), "taking a part forgets it");

        // Two parts of one bucket are both remembered; a third pushes the first out.
        let bucket_of = |h: u64| d.bucket(h).0.as_ptr();
        let mates: Vec<u64> = (0..).map(hash).filter(|&h| bucket_of(h) == bucket_of(hash(1))).take(3).collect();
        d.record(mates[0]);
        d.record(mates[1]);
        assert!(d.take(mates[0]) && d.take(mates[1]));
        for &h in &mates {
            d.record(h);
        }
        assert!(!d.take(mates[0]));
        assert!(d.take(mates[1]) && d.take(mates[2]));
        // Recording a part twice keeps one copy.
        d.record(mates[0]);
        d.record(mates[0]);
        assert!(d.take(mates[0]) && !d.take(mates[0]));

        // Most of 500 misses are still remembered after another 500 in 1024 slots.
        for i in 0..1000 {
            d.record(hash(i + 10));
        }
        let kept = (10..510).filter(|&i| d.take(hash(i))).count();
        assert!(kept > 300, "only {kept} of 500 misses remembered");
    }
}
