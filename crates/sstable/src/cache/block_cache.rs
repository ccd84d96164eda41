//! The cache of decoded pages, sharded so concurrent readers do not meet on one lock.

use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use super::lru::{IntHasher, Lru};
use crate::CacheStats;
use crate::parquet::page::DecodedPage;

/// Names one page of one open table: (the table's cache id, row group, page of the key column).
///
/// NOTE: the cache id is unique per opening of a table, never reused, so pages of a deleted
/// and rewritten table id can never be served for the new table; stale pages just age out.
pub(crate) type PageKey = (u64, u32, u32);

/// The most shards; a power of two, so a shard is picked with a mask.
const MAX_SHARDS: usize = 16;
/// The least budget a shard gets: fewer, larger shards for small caches, so a large page (say
/// of 1 MiB values) still fits in its shard.
const MIN_SHARD_BYTES: usize = 4 << 20;

/// Decoded pages, bounded in bytes (each page charged its heap size), in up to 16 shards picked
/// by a hash of the page key, each its own LRU with its own lock and an equal share of the
/// budget.
pub(crate) struct BlockCache {
    shards: Box<[Lru<PageKey, DecodedPage>]>,
    capacity: usize,
}

impl BlockCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        let n = (capacity_bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS);
        // Round down to a power of two for the mask.
        let n = 1usize << n.ilog2();
        let shards = (0..n).map(|_| Lru::new(capacity_bytes / n)).collect();
        Self { shards, capacity: capacity_bytes }
    }

    fn shard(&self, key: &PageKey) -> &Lru<PageKey, DecodedPage> {
        // NOTE: the shard takes the hash's high bits; the shard's map uses the same hasher but
        // hashbrown picks buckets from the low bits, so the two choices stay independent.
        let h = BuildHasherDefault::<IntHasher>::default().hash_one(key);
        &self.shards[(h >> 58) as usize & (self.shards.len() - 1)]
    }

    /// The budget in bytes; 0 when the store runs without a block cache.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn get(&self, key: &PageKey) -> Option<Arc<DecodedPage>> {
        self.shard(key).get(key)
    }

    pub(crate) fn insert(&self, key: PageKey, page: Arc<DecodedPage>) {
        let charge = page.memory_size();
        self.shard(&key).insert(key, page, charge);
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
    use strata_core::ValueKind;

    fn page(value_len: usize) -> Arc<DecodedPage> {
        let col = |data: Vec<u8>| BinaryColumn { offsets: vec![0, data.len() as u32], data: data.into(), skip: 0 };
        Arc::new(DecodedPage::new(col(b"k".to_vec()), vec![1], vec![ValueKind::Put], col(vec![7; value_len])).unwrap())
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
            let key = (1, p / 100, p % 100);
            used.insert((BuildHasherDefault::<IntHasher>::default().hash_one(key) >> 58) & 15);
            cache.insert(key, page(1000));
            assert!(cache.get(&key).is_some());
        }
        assert_eq!(used.len(), 16, "keys spread over every shard");
        let s = cache.stats();
        assert_eq!((s.entries, s.hits, s.capacity), (1000, 1000, 64 << 20));
        assert!(s.bytes >= 1000 * 1000 && s.bytes < 1000 * 1400, "charged {} bytes", s.bytes);

        // A page larger than its shard's share is not cached; a disabled cache holds nothing.
        cache.insert((2, 0, 0), page(5 << 20));
        assert!(cache.get(&(2, 0, 0)).is_none());
        let off = BlockCache::new(0);
        off.insert((1, 0, 0), page(1));
        assert!(off.get(&(1, 0, 0)).is_none());
    }
}
