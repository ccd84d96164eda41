//! What the two hash memtables share: bucket choice by key prefix, and full-order
//! iteration that merges buckets.

use std::convert::Infallible;
use std::ops::Bound;

use strata_core::{Entry, KeyRange, MergeIter, prefix_successor};

/// Which of `buckets` holds `key`: a hash of its first `prefix_len` bytes (of the whole key
/// when it is shorter).
pub(crate) fn bucket_of(key: &[u8], prefix_len: usize, buckets: usize) -> usize {
    let prefix = &key[..key.len().min(prefix_len)];
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ prefix.len() as u64;
    for chunk in prefix.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^= h >> 32;
    h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^= h >> 32;
    // Multiply-shift maps the hash onto 0..buckets without a division.
    ((u128::from(h) * buckets as u128) >> 64) as usize
}

/// The one bucket every key of `range` hashes to, when all of them share one prefix of
/// `prefix_len` bytes (a prefix scan), so the scan needs to visit only that bucket.
pub(crate) fn single_bucket(range: &KeyRange, prefix_len: usize, buckets: usize) -> Option<usize> {
    let (Bound::Included(start) | Bound::Excluded(start)) = range.start() else { return None };
    if start.len() < prefix_len {
        return None;
    }
    let prefix = &start[..prefix_len];
    // Keys from `start` on share `prefix` while they stay below its successor.
    let within = match (range.end(), prefix_successor(prefix)) {
        (_, None) => true,
        (Bound::Excluded(end), Some(succ)) => end <= &succ[..],
        (Bound::Included(end), Some(succ)) => end < &succ[..],
        (Bound::Unbounded, Some(_)) => false,
    };
    within.then(|| bucket_of(start, prefix_len, buckets))
}

type OkIter<I> = std::iter::Map<I, fn(Entry) -> Result<Entry, Infallible>>;

/// The iterator of a hash memtable: one bucket's iterator for a single-prefix range, or a
/// k-way merge of every bucket's iterator otherwise.
pub struct HashIter<I: Iterator<Item = Entry>> {
    inner: Inner<I>,
}

enum Inner<I: Iterator<Item = Entry>> {
    Single(I),
    Merged(MergeIter<OkIter<I>, Infallible>),
}

impl<I: Iterator<Item = Entry>> HashIter<I> {
    pub(crate) fn single(iter: I) -> Self {
        Self { inner: Inner::Single(iter) }
    }

    pub(crate) fn merged(iters: impl IntoIterator<Item = I>) -> Self {
        let sources = iters.into_iter().map(|i| i.map(Ok as fn(Entry) -> Result<Entry, Infallible>)).collect();
        Self { inner: Inner::Merged(MergeIter::new(sources)) }
    }
}

impl<I: Iterator<Item = Entry>> Iterator for HashIter<I> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        match &mut self.inner {
            Inner::Single(i) => i.next(),
            Inner::Merged(m) => m.next().map(|r| match r {
                Ok(e) => e,
                Err(never) => match never {},
            }),
        }
    }
}

impl<I: Iterator<Item = Entry>> std::fmt::Debug for HashIter<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Single(_) => "single bucket",
            Inner::Merged(_) => "merged buckets",
        };
        f.debug_struct("HashIter").field("kind", &kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_in_range_and_spread() {
        let mut counts = vec![0usize; 64];
        for i in 0u32..64_000 {
            let b = bucket_of(&i.to_be_bytes(), 4, 64);
            counts[b] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 700 && *max < 1300, "uneven buckets: {min}..{max}");
    }

    #[test]
    fn keys_sharing_a_prefix_share_a_bucket() {
        assert_eq!(bucket_of(b"user1:alpha", 5, 1024), bucket_of(b"user1:beta", 5, 1024));
        assert_eq!(bucket_of(b"ab", 5, 1024), bucket_of(b"ab", 5, 1024));
    }

    #[test]
    fn single_bucket_only_for_ranges_inside_one_prefix() {
        let n = 1024;
        let b = bucket_of(b"tenant", 3, n);
        assert_eq!(single_bucket(&KeyRange::prefix(b"tenant"), 3, n), Some(b));
        assert_eq!(single_bucket(&KeyRange::prefix(b"ten"), 3, n), Some(b));
        assert_eq!(single_bucket(&KeyRange::prefix(b"te"), 3, n), None);
        assert_eq!(single_bucket(&KeyRange::from_range(&b"tenant"[..]..&b"teo"[..]), 3, n), Some(b));
        assert_eq!(single_bucket(&KeyRange::from_range(&b"tenant"[..]..=&b"teo"[..]), 3, n), None);
        assert_eq!(single_bucket(&KeyRange::from_range(&b"tenant"[..]..), 3, n), None);
        assert_eq!(single_bucket(&KeyRange::all(), 3, n), None);
    }
}
