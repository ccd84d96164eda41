//! The cache of decoded pages, sharded so concurrent readers do not meet on one lock.
//!
//! A page is cached as two parts: its keys with their sequence numbers and kinds (small, needed
//! by every lookup that reaches the page), and its values (most of the bytes, needed only by a
//! lookup that finds its key). Key parts are cached at high priority, so with data larger than
//! the cache a point lookup usually finds its page's keys in memory and reads one value page.
//!
//! Once a shard is full, a part is cached only on its second miss within a while (the
//! [`Doorkeeper`], the admission half of TinyLFU): with data many times the cache, most pages a
//! point lookup reads are not read again before they would be evicted, and decoding, inserting
//! and later freeing them cost more than the lookup itself. A lookup told not to cache reads
//! the page in place instead. Pages read again soon (a hot key, a working set near the cache's
//! size) pass the doorkeeper and are cached as before.

use std::any::Any;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::doorkeeper::Doorkeeper;
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
    /// One page of the value column (keyed by its own page index, not the key page's):
    /// point lookups and scans cache the same value pages.
    Values,
    /// The values of a key page as a scan reads them: never cached under, only asked of the
    /// admission filter, so a scan that reaches several value pages of one key page asks
    /// once for all of them (see [`ScanAdmission`]).
    ScanValues,
}

/// Whether a scan caches the value pages it decodes for one key page: asked of the block
/// cache once, at the first value page that misses, and kept for the rest of the key page.
///
/// NOTE: a scan reads two to four value pages per key page. Asking the admission filter once
/// per value page filled it with twice the tags, so it remembered half as many key pages and
/// admitted fewer of a short-scan workload's pages; asking once per key page leaves it as it
/// was when a scan cached a key page's values as one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanAdmission {
    /// Not asked yet.
    Ask,
    /// Cache what misses.
    Cache,
    /// Cache nothing (past a long scan's first pages, or declined).
    Skip,
}

/// What the cache holds: a page part, charged its heap bytes.
pub(crate) trait CachedPart: Any + Send + Sync {
    /// Heap bytes held, for the cache's budget.
    fn memory_size(&self) -> usize;
}

/// The share of the budget key parts may hold before they are evicted ahead of value pages.
const HIGH_PRIORITY_SHARE: f64 = 0.5;

/// The most shards; a power of two, so a shard is picked with a mask.
const MAX_SHARDS: usize = 16;
/// The least budget a shard gets: fewer, larger shards for small caches, so a large page (say
/// of 1 MiB values) still fits in its shard.
const MIN_SHARD_BYTES: usize = 4 << 20;

/// What a point lookup does about a page part ([`BlockCache::probe`]).
pub(crate) enum Probe<T> {
    /// The part is cached.
    Hit(Arc<T>),
    /// The part missed and is admitted: decode it and cache it.
    Admit,
    /// The part missed and is not to be cached: read what the lookup needs in place.
    InPlace,
}

/// A shard counts as full, and admission starts, once less than this share of its budget is free.
const FULL_SLACK_SHARE: usize = 32;
/// Bytes of budget per part the doorkeeper remembers: about a sixteenth as many parts as the
/// cache holds (a key part is about 2 KiB, a value page of 32 100-byte values about 3.5 KiB), so a
/// part is admitted when it misses twice within a thousand or so lookups at a 64 MiB cache.
/// With data many times the cache and uniform reads every admission is churn (it evicts a part
/// as likely to be read as itself, and costs a whole decode and an insert where a read in place
/// decodes up to one value). Remembering as many parts as the cache holds admitted about one
/// lookup in seven at 10M keys; a quarter of them made readrandom 16 to 28 % faster there; a
/// sixteenth made it 24 % faster again at 1M keys (206.0k and 208.4k against 257.1k and
/// 256.1k/s, alternating; YCSB-C +17 %, seekrandom +9 %, level with a 256 MiB cache that
/// holds the data; an eighth gained 9 %). The price is adaptation: a new working set the size
/// of the cache, read in random order, is 90 % cached after about 26 rereads of each part
/// (nine with a quarter, five with all) — about a second at 200,000 lookups a second for a
/// 64 MiB cache.
const BYTES_PER_REMEMBERED_MISS: usize = 32768;

/// Decoded pages, bounded in bytes (each page charged its heap size), in up to 16 shards picked
/// by a hash of the page key, each its own LRU with its own lock and an equal share of the
/// budget.
pub(crate) struct BlockCache {
    shards: Box<[Lru<PageKey, dyn Any + Send + Sync>]>,
    capacity: usize,
    /// The parts that missed recently and were not cached; `None` without admission.
    doorkeeper: Option<Doorkeeper>,
    /// Misses the doorkeeper did not let in.
    declined: AtomicU64,
}

impl BlockCache {
    /// A cache of `capacity_bytes`; `admission` turns on the doorkeeper of full shards.
    pub(crate) fn new(capacity_bytes: usize, admission: bool) -> Self {
        let n = (capacity_bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS);
        // Round down to a power of two for the mask.
        let n = 1usize << n.ilog2();
        let share = capacity_bytes / n;
        let shards =
            (0..n).map(|_| Lru::with_high_pool(share, (share as f64 * HIGH_PRIORITY_SHARE) as usize)).collect();
        // A cache of no bytes admits nothing anyway.
        let doorkeeper =
            (admission && capacity_bytes > 0).then(|| Doorkeeper::new(capacity_bytes / BYTES_PER_REMEMBERED_MISS));
        Self { shards, capacity: capacity_bytes, doorkeeper, declined: AtomicU64::new(0) }
    }

    fn hash(key: &PageKey) -> u64 {
        BuildHasherDefault::<IntHasher>::default().hash_one(key)
    }

    fn shard(&self, key: &PageKey) -> &Lru<PageKey, dyn Any + Send + Sync> {
        self.shard_of(Self::hash(key))
    }

    /// The shard of a key whose hash is `h`.
    fn shard_of(&self, h: u64) -> &Lru<PageKey, dyn Any + Send + Sync> {
        // NOTE: the shard takes the hash's high bits; the shard's map uses the same hasher but
        // hashbrown picks buckets from the low bits, so the two choices stay independent.
        &self.shards[(h >> 58) as usize & (self.shards.len() - 1)]
    }

    /// What a point lookup does about the part under `key`: use the cached part, or decode
    /// and cache it, or read it in place ([`Probe`]). Without a block cache every part is read
    /// in place.
    pub(crate) fn probe<T: CachedPart>(&self, key: &PageKey) -> Probe<T> {
        if self.capacity == 0 {
            return Probe::InPlace;
        }
        match self.get(key) {
            Some(part) => Probe::Hit(part),
            None if self.admit(key) => Probe::Admit,
            None => Probe::InPlace,
        }
    }

    /// Whether a part that just missed under `key` should be decoded and cached: never without
    /// a block cache, always while its shard has room, else only when the same key missed
    /// recently and was not cached then (see [`Doorkeeper`]). A part not admitted is read in
    /// place by the caller and counted as declined.
    pub(crate) fn admit(&self, key: &PageKey) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let Some(doorkeeper) = &self.doorkeeper else { return true };
        let h = Self::hash(key);
        if !self.shard_of(h).is_full(self.capacity / self.shards.len() / FULL_SLACK_SHARE) || doorkeeper.take(h) {
            return true;
        }
        doorkeeper.record(h);
        self.declined.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Records a miss of the part under `key` read in place without asking [`Self::admit`]
    /// (the value page a lookup read along with a key part that was not admitted), so its
    /// next miss admits it.
    pub(crate) fn remember_miss(&self, key: &PageKey) {
        if let Some(doorkeeper) = &self.doorkeeper {
            doorkeeper.record(Self::hash(key));
        }
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
        let mut total = CacheStats {
            capacity: self.capacity as u64,
            declined: self.declined.load(Ordering::Relaxed),
            ..CacheStats::default()
        };
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
        assert_eq!(BlockCache::new(0, true).shards(), 1);
        assert_eq!(BlockCache::new(1 << 20, true).shards(), 1);
        assert_eq!(BlockCache::new(12 << 20, true).shards(), 2);
        assert_eq!(BlockCache::new(64 << 20, true).shards(), 16);
        assert_eq!(BlockCache::new(1 << 30, true).shards(), 16);

        let cache = BlockCache::new(64 << 20, true);
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
        let off = BlockCache::new(0, true);
        off.insert(key(1, 0, 0), page(1));
        assert!(off.get::<BinaryColumn>(&key(1, 0, 0)).is_none());
    }

    #[test]
    fn key_parts_stay_while_value_parts_churn() {
        let cache = BlockCache::new(1 << 20, true);
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

    /// The doorkeeper remembers fewer parts than the cache holds (so uniform reads over data
    /// many times the cache rarely churn it), yet a new working set as large as the cache,
    /// read in random order, still displaces the old one within about 26 rereads of each part
    /// (15 when the doorkeeper remembered an eighth as many parts as the cache holds, nine
    /// with a quarter, five with all of them, 49 with a thirty-second).
    #[test]
    fn a_new_working_set_the_size_of_the_cache_is_admitted_within_about_thirty_rereads() {
        let cache = BlockCache::new(4 << 20, true);
        let held = |set: u64, n: u32| (0..n).filter(|&p| cache.get::<BinaryColumn>(&key(set, 0, p)).is_some()).count();
        let read = |set: u64, p: u32| {
            let k = key(set, 0, p);
            if cache.get::<BinaryColumn>(&k).is_none() && cache.admit(&k) {
                cache.insert(k, page(1000));
            }
        };
        for p in 0..8000 {
            read(1, p);
        }
        // The cache's worth of the new set: 90 % of the parts the old set filled it with.
        let old = held(1, 8000);
        let n = u32::try_from(old * 9 / 10).unwrap();
        let mut x = 1u64;
        let mut rounds = 0;
        while held(2, n) < n as usize * 9 / 10 {
            rounds += 1;
            assert!(rounds <= 35, "after 35 rereads only {} of {n} parts of the new set are cached", held(2, n));
            for _ in 0..n {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                read(2, ((x >> 33) % u64::from(n)) as u32);
            }
        }
        assert!(rounds >= 18, "the new set took {rounds} rounds: the doorkeeper admits too freely to keep churn down");
    }

    #[test]
    fn a_full_cache_admits_a_part_on_its_second_miss() {
        let cache = BlockCache::new(1 << 20, true);
        // Room left: everything is admitted, nothing declined.
        for p in 0..100 {
            assert!(cache.admit(&key(1, 0, p)));
            cache.insert(key(1, 0, p), page(1000));
        }
        assert_eq!(cache.stats().declined, 0);
        for p in 100..2000 {
            cache.insert(key(1, 0, p), page(1000));
        }
        // Full: a first miss is declined, the same key's next miss admitted.
        let fresh = key(2, 0, 0);
        assert!(!cache.admit(&fresh));
        assert!(cache.admit(&fresh));
        assert_eq!(cache.stats().declined, 1);
        // Parts missed alternately are each admitted on their second miss.
        let (a, b) = (key(3, 0, 0), key(3, 0, 1));
        assert!(!cache.admit(&a) && !cache.admit(&b));
        assert!(cache.admit(&a) && cache.admit(&b));
        // An admission uses the remembered miss up; many other misses later, a miss is
        // forgotten.
        assert!(!cache.admit(&fresh));
        for p in 0..10 * (1 << 20) / BYTES_PER_REMEMBERED_MISS as u32 {
            cache.admit(&key(4, 0, p));
        }
        assert!(!cache.admit(&fresh));
        // A miss remembered without asking admits the next time.
        let remembered = key(5, 0, 0);
        cache.remember_miss(&remembered);
        assert!(cache.admit(&remembered));

        // Without admission everything is admitted.
        let plain = BlockCache::new(1 << 20, false);
        for p in 0..2000 {
            plain.insert(key(1, 0, p), page(1000));
        }
        assert!((0..100).all(|p| plain.admit(&key(5, 0, p))));
        assert_eq!(plain.stats().declined, 0);
        // A cache of no bytes admits nothing, remembered or not: a caller reads in place.
        let off = BlockCache::new(0, true);
        off.remember_miss(&fresh);
        assert!(!off.admit(&fresh) && !off.admit(&fresh));
    }
}
