//! A Bloom filter many threads insert into and query at once, never persisted.

use fastbloom::AtomicBloomFilter;

use crate::SEED_V1;

/// Hash functions per key: at 12.5 bits a key (the engine's default sizing for its
/// memtables' entries) four give about 0.6 % false positives, and each is one more random
/// memory access on every insert.
const NUM_HASHES: u32 = 4;

/// A fixed-size Bloom filter whose inserts and queries take `&self` (atomic bit sets), for
/// data that changes while it is read: the engine keeps one in front of each memtable so a
/// point read skips the memtables that cannot hold its key.
///
/// Keys are hashed as [`BloomFilter::key_hash`](crate::BloomFilter::key_hash) hashes them.
/// Inserts use relaxed atomics: a reader sees an insert once something else orders it after
/// the insert (the engine publishes writes through an acquire/release sequence number after
/// inserting them).
#[derive(Debug)]
pub struct ConcurrentFilter {
    inner: AtomicBloomFilter,
}

impl ConcurrentFilter {
    /// An empty filter of `num_bits` bits (at least 64).
    #[must_use]
    pub fn with_num_bits(num_bits: usize) -> Self {
        let inner = AtomicBloomFilter::with_num_bits(num_bits.max(64)).seed(&SEED_V1).hashes(NUM_HASHES);
        Self { inner }
    }

    /// Adds a key by its [`BloomFilter::key_hash`](crate::BloomFilter::key_hash).
    #[inline]
    pub fn insert_hash(&self, hash: u64) {
        self.inner.insert_hash(hash);
    }

    /// `false` when no key of this hash was inserted; `true` when one may have been.
    #[inline]
    #[must_use]
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        self.inner.contains_hash(hash)
    }

    /// The bytes the filter's bits take.
    #[must_use]
    pub fn memory_usage(&self) -> usize {
        self.inner.num_bits() / 8
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::BloomFilter;

    #[test]
    fn inserted_keys_are_found_and_most_others_are_not() {
        let filter = ConcurrentFilter::with_num_bits(12_500 * 13);
        for i in 0..12_500u32 {
            filter.insert_hash(BloomFilter::key_hash(format!("key{i}").as_bytes()));
        }
        for i in 0..12_500u32 {
            assert!(filter.may_contain_hash(BloomFilter::key_hash(format!("key{i}").as_bytes())));
        }
        let false_positives = (0..100_000u32)
            .filter(|i| filter.may_contain_hash(BloomFilter::key_hash(format!("other{i}").as_bytes())))
            .count();
        assert!(false_positives < 2_000, "{false_positives} false positives in 100,000 (about 600 expected)");
        assert_eq!(filter.memory_usage(), (12_500 * 13usize).div_ceil(64) * 8, "whole 64-bit words");
    }

    #[test]
    fn threads_insert_at_once_and_lose_nothing() {
        let filter = Arc::new(ConcurrentFilter::with_num_bits(1 << 16));
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let filter = Arc::clone(&filter);
                std::thread::spawn(move || {
                    for i in 0..2_000u32 {
                        filter.insert_hash(BloomFilter::key_hash(format!("{t}-{i}").as_bytes()));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        for t in 0..4u32 {
            for i in 0..2_000u32 {
                assert!(filter.may_contain_hash(BloomFilter::key_hash(format!("{t}-{i}").as_bytes())));
            }
        }
    }
}
