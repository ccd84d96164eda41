//! The cache of decoded pages, sharded so concurrent readers do not meet on one lock.
//!
//! A page is cached as two parts: its keys with their sequence numbers and kinds (small, needed
//! by every lookup that reaches the page), and its values (most of the bytes, needed only by a
//! lookup that finds its key). Key parts are cached at high priority, so with data larger than
//! the cache a point lookup usually finds its page's keys in memory and reads one value page.

use std::any::Any;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use super::lru::{IntHasher, Lru};
use crate::CacheStats;

/// Names one part of one page of one open table: (the table's cache id, row group, page of the
/// key column, [`Part`]).
///
/// NOTE: the cache id is unique per opening of a table, never reused, so pages of a deleted
/// and rewritten table id can never be served for the new table; stale pages just age out.
pub(crate) type PageKey = (u64, u32, u32, Part);

/// Which part of a page a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    /// Keys, sequence numbers and kinds: cached at high priority.
    Keys,
    /// Values.
    Values,
}

/// What the cache holds: a page part, charged its heap bytes.
pub(crate) trait CachedPart: Any + Send + Sync {
    /// Heap bytes held, for the cache's budget.
    fn memory_size(&self) -> usize;
}

/// The share of the budget key parts may hold before they are evicted ahead of value parts.
const HIGH_PRIORITY_SHARE: f64 = 0.5;

/// The most shards; a power of two, so a shard is picked with a mask.
const MAX_SHARDS: usize = 16;
/// The least budget a shard gets: fewer, larger shards for small caches, so a large page (say
/// of 1 MiB values) still fits in its shard.
const MIN_SHARD_BYTES: usize = 4 << 20;

/// Decoded pages, bounded in bytes (each page charged its heap size), in up to 16 shards picked
/// by a hash of the page key, each its own LRU with its own lock and an equal share of the
/// budget.
pub(crate) struct BlockCache {
    shards: Box<[Lru<PageKey, dyn Any + Send + Sync>]>,
    capacity: usize,
}

impl BlockCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        let n = (capacity_bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS);
        // Round down to a power of two for the mask.
        let n = 1usize << n.ilog2();
        let share = capacity_bytes / n;
        let shards =
            (0..n).map(|_| Lru::with_high_pool(share, (share as f64 * HIGH_PRIORITY_SHARE) as usize)).collect();
        Self { shards, capacity: capacity_bytes }
    }

    fn shard(&self, key: &PageKey) -> &Lru<PageKey, dyn Any + Send + Sync> {
        // NOTE: the shard takes the hash's high bits; the shard's map uses the same hasher but
        // hashbrown picks buckets from the low bits, so the two choices stay independent.
        let h = BuildHasherDefault::<IntHasher>::default().hash_one(key);
        &self.shards[(h >> 58) as usize & (self.shards.len() - 1)]
    }

    /// The budget in bytes; 0 when the store runs without a block cache.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The part cached under `key`, if it is a `T`.
    pub(crate) fn get<T: CachedPart>(&self, key: &PageKey) -> Option<Arc<T>> {
        // NOTE: a part of another type under the same key cannot happen (the key names the
        // part, and each part has one type); if it ever did, it would read as a miss.
        self.shard(key).get(key).and_then(|part| part.downcast::<T>().ok())
    }

    /// Caches `part`; key parts at high priority.
    pub(crate) fn insert<T: CachedPart>(&self, key: PageKey, part: Arc<T>) {
        let charge = part.memory_size();
        self.shard(&key).insert_at(key, part, charge, key.3 == Part::Keys);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let mut total = CacheStats { capacity: self.capacity as u64, ..CacheStats::default() };
        for s in &*self.shards {
            let st = s.stats();
            total.hits += st.hits;
            total.misses += st.misses;
            total.entries += st.entries;
            total.bytes += st.bytes;
        }
        total
    }

    #[cfg(test)]
    fn shards(&self) -> usize {
        self.shards.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parquet::decode::BinaryColumn;

    fn page(value_len: usize) -> Arc<BinaryColumn> {
        let data = vec![7; value_len];
        Arc::new(BinaryColumn { offsets: vec![0, data.len() as u32], data: data.into(), skip: 0 })
    }

    fn key(id: u64, rg: u32, page: u32) -> PageKey {
        (id, rg, page, Part::Values)
    }

    #[test]
    fn shards_split_the_budget_and_pages_are_charged_their_bytes() {
        assert_eq!(BlockCache::new(0).shards(), 1);
        assert_eq!(BlockCache::new(1 << 20).shards(), 1);
        assert_eq!(BlockCache::new(12 << 20).shards(), 2);
        assert_eq!(BlockCache::new(64 << 20).shards(), 16);
        assert_eq!(BlockCache::new(1 << 30).shards(), 16);

        let cache = BlockCache::new(64 << 20);
        let mut used = std::collections::HashSet::new();
        for p in 0..1000u32 {
            let key = key(1, p / 100, p % 100);
            used.insert((BuildHasherDefault::<IntHasher>::default().hash_one(key) >> 58) & 15);
            cache.insert(key, page(1000));
            assert!(cache.get::<BinaryColumn>(&key).is_some());
        }
        assert_eq!(used.len(), 16, "keys spread over every shard");
        let s = cache.stats();
        assert_eq!((s.entries, s.hits, s.capacity), (1000, 1000, 64 << 20));
        assert!(s.bytes >= 1000 * 1000 && s.bytes < 1000 * 1400, "charged {} bytes", s.bytes);

        // A page larger than its shard's share is not cached; a disabled cache holds nothing.
        cache.insert(key(2, 0, 0), page(5 << 20));
        assert!(cache.get::<BinaryColumn>(&key(2, 0, 0)).is_none());
        let off = BlockCache::new(0);
        off.insert(key(1, 0, 0), page(1));
        assert!(off.get::<BinaryColumn>(&key(1, 0, 0)).is_none());
    }

    #[test]
    fn key_parts_stay_while_value_parts_churn() {
        let cache = BlockCache::new(1 << 20);
        let keys = |p: u32| (1, 0, p, Part::Keys);
        for p in 0..100 {
            cache.insert(keys(p), page(1000));
        }
        for p in 0..10_000 {
            cache.insert(key(1, 1, p), page(1000));
        }
        assert!((0..100).all(|p| cache.get::<BinaryColumn>(&keys(p)).is_some()));
        // A part read back as another type is a miss, not a wrong value.
        assert!(cache.get::<crate::parquet::page::KeyPart>(&keys(0)).is_none());
    }
}
