//! `hash_skiplist`: a hash of the key prefix selects a bucket; each bucket is a lock-free
//! skip list.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(1) hash + O(log b) in a bucket of b entries; lock-free |
//! | get | O(1) hash + O(log b) |
//! | prefix scan | one bucket, when the range lies inside one prefix |
//! | full or cross-prefix scan | a k-way merge of every non-empty bucket: O(log k) per entry |
//!
//! Buckets are created on first use. Choose it when reads are point lookups or scans
//! within one prefix (a tenant, a table id), set `prefix_len` to that prefix's length, and
//! full-order scans are rare (flushes still need one, and pay for the merge).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use strata_core::{KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::hash::{HashIter, bucket_of, single_bucket};
use crate::skiplist::{self, SkipListIter, SkipListMemtable};
use crate::{Memtable, MemtableOptions};

/// The `hash_skiplist` memtable. See the [module docs](self).
pub struct HashSkipListMemtable {
    buckets: Box<[OnceLock<Box<SkipListMemtable>>]>,
    prefix_len: usize,
    len: AtomicUsize,
    /// Bytes of created buckets and their entries.
    bytes: AtomicUsize,
}

impl std::fmt::Debug for HashSkipListMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashSkipListMemtable")
            .field("buckets", &self.buckets.len())
            .field("prefix_len", &self.prefix_len)
            .field("len", &self.len())
            .finish()
    }
}

impl HashSkipListMemtable {
    /// Default bucket count.
    pub const DEFAULT_BUCKETS: usize = 4096;

    /// An empty memtable hashing the first `options.prefix_len` key bytes into
    /// `options.bucket_count` buckets (default [`Self::DEFAULT_BUCKETS`]).
    #[must_use]
    pub fn new(options: &MemtableOptions) -> Self {
        let n = options.bucket_count.unwrap_or(Self::DEFAULT_BUCKETS).max(1);
        Self {
            buckets: (0..n).map(|_| OnceLock::new()).collect(),
            prefix_len: options.prefix_len,
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    fn bucket(&self, key: &[u8]) -> &SkipListMemtable {
        let slot = &self.buckets[bucket_of(key, self.prefix_len, self.buckets.len())];
        slot.get_or_init(|| {
            let bucket = Box::<SkipListMemtable>::default();
            self.bytes.fetch_add(size_of::<SkipListMemtable>() + bucket.approximate_memory_usage(), Ordering::Relaxed);
            bucket
        })
    }
}

impl Memtable for HashSkipListMemtable {
    type Iter<'a> = HashIter<SkipListIter<'a>>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.bucket(key).insert(key, seq, kind, value);
        self.len.fetch_add(1, Ordering::Relaxed);
        let value_len = if kind.is_delete() { 0 } else { value.len() };
        self.bytes.fetch_add(skiplist::entry_bytes(key.len(), value_len), Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        self.buckets[bucket_of(key, self.prefix_len, self.buckets.len())].get()?.get(key, snapshot)
    }

    fn range(&self, range: &KeyRange) -> Self::Iter<'_> {
        match single_bucket(range, self.prefix_len, self.buckets.len()) {
            Some(b) => match self.buckets[b].get() {
                Some(bucket) => HashIter::single(bucket.range(range)),
                None => HashIter::merged(std::iter::empty()),
            },
            None => HashIter::merged(self.buckets.iter().filter_map(OnceLock::get).map(|s| s.range(range))),
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
