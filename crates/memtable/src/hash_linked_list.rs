//! `hash_linked_list`: a hash of the key prefix selects a bucket; each bucket is a sorted,
//! lock-free linked list.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(1) hash + O(b) walk of a bucket of b entries; lock-free |
//! | get | O(1) hash + O(b) |
//! | prefix scan | one bucket, when the range lies inside one prefix |
//! | full or cross-prefix scan | a k-way merge of every non-empty bucket: O(log k) per entry |
//!
//! The bucket array is allocated up front (one pointer per bucket) and each entry costs one
//! small node, so overhead is the lowest of the hash variants while buckets stay short.
//! Choose it when each prefix holds few keys (b stays small) and reads are point lookups or
//! single-prefix scans; with many keys per prefix the bucket walks grow linearly.

use std::sync::atomic::{AtomicUsize, Ordering};

use strata_core::{KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::hash::{HashIter, bucket_of, single_bucket};
use crate::list::{ListIter, SortedList, entry_bytes};
use crate::{Memtable, MemtableOptions};

/// The `hash_linked_list` memtable. See the [module docs](self).
pub struct HashLinkedListMemtable {
    buckets: Box<[SortedList]>,
    prefix_len: usize,
    len: AtomicUsize,
    bytes: AtomicUsize,
}

impl std::fmt::Debug for HashLinkedListMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashLinkedListMemtable")
            .field("buckets", &self.buckets.len())
            .field("prefix_len", &self.prefix_len)
            .field("len", &self.len())
            .finish()
    }
}

impl HashLinkedListMemtable {
    /// Default bucket count.
    pub const DEFAULT_BUCKETS: usize = 65_536;

    /// An empty memtable hashing the first `options.prefix_len` key bytes into
    /// `options.bucket_count` buckets (default [`Self::DEFAULT_BUCKETS`]).
    #[must_use]
    pub fn new(options: &MemtableOptions) -> Self {
        let n = options.bucket_count.unwrap_or(Self::DEFAULT_BUCKETS).max(1);
        Self {
            buckets: (0..n).map(|_| SortedList::default()).collect(),
            prefix_len: options.prefix_len,
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    fn bucket(&self, key: &[u8]) -> &SortedList {
        &self.buckets[bucket_of(key, self.prefix_len, self.buckets.len())]
    }
}

impl Memtable for HashLinkedListMemtable {
    type Iter<'a> = HashIter<ListIter<'a>>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let value = if kind.is_delete() { &[][..] } else { value };
        self.bucket(key).insert(key, seq, kind, value);
        self.len.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(entry_bytes(key.len(), value.len()), Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        self.bucket(key).get(key, snapshot)
    }

    fn range(&self, range: &KeyRange) -> Self::Iter<'_> {
        match single_bucket(range, self.prefix_len, self.buckets.len()) {
            Some(b) => HashIter::single(self.buckets[b].range(range)),
            None => HashIter::merged(self.buckets.iter().filter(|b| !b.is_empty()).map(|b| b.range(range))),
        }
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn approximate_memory_usage(&self) -> usize {
        size_of_val(&*self.buckets) + self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        true
    }
}
