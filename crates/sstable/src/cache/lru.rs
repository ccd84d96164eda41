//! A byte-bounded cache that evicts approximately the least recently used entry (CLOCK, also
//! called second chance).
//!
//! Lookups take a shared lock only: a hit sets the entry's reference bit instead of
//! reordering anything, and touches no counter shared between entries. Entries wait for
//! eviction in a FIFO queue; eviction takes the front entry and, if its bit is set, clears it
//! and queues the entry again at the back. So an entry is evicted only after a whole pass of
//! the queue without a use (a new entry starts with its bit set: it was just used), and the
//! queue costs O(1) per insert and eviction. One insert gives at most [`MAX_SECOND_CHANCES`]
//! second chances before it evicts, so no insert sweeps a whole shard under its lock. The
//! exact LRU it replaces kept an ordered map by use time, whose upkeep was 5 % of point reads
//! with data past the cache.
//!
//! Entries are inserted at a priority. High-priority entries (the block cache gives them the
//! small key, sequence and kind part of a page, which every lookup in the page needs) are
//! evicted only once they hold more than their pool's share of the budget, or when nothing of
//! low priority is left: like RocksDB's high-priority pool for index and filter blocks.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::CacheStats;

/// A fast hasher for the caches' small integer keys (table ids, page coordinates).
///
/// NOTE: the keys are ours, never chosen by a remote party, so no DoS-resistant hash is needed;
/// SipHash showed up in profiles of the lookup path.
#[derive(Default)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        // A final multiply-and-fold spreads the bits into the high ones hashbrown uses.
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// Referenced entries an insert sends to the back of the queue before it evicts one anyway.
///
/// NOTE: while lookups hit nearly every cached page (a scan-heavy workload over a cache that
/// the admission filter keeps well used), an unbounded pass clears the bit of every entry of a
/// shard before it evicts one: about 1,000 entries and 55 µs under the shard's write lock,
/// once every thousand operations or so, which set YCSB-E's p99.9. A bounded pass evicts the
/// next entry after this many second chances even if it was used; the bits it clears still
/// age the queue's front, so later inserts find unused entries there.
const MAX_SECOND_CHANCES: u64 = 32;

struct Slot<V: ?Sized> {
    value: Arc<V>,
    charge: usize,
    high: bool,
    /// Whether the entry was used since the eviction queue last passed it: set by lookups under
    /// the shared lock, cleared by eviction under the write lock.
    referenced: AtomicBool,
    /// The generation of the entry's item in its eviction queue; an item of another generation
    /// is stale (the entry was replaced or removed since) and is dropped.
    queued_as: u64,
}

/// The entries waiting for eviction, one FIFO queue per priority, as `(generation, key)`,
/// front first.
struct Queues<K> {
    low: VecDeque<(u64, K)>,
    high: VecDeque<(u64, K)>,
    /// The last generation handed out.
    generation: u64,
}

impl<K> Queues<K> {
    fn of(&mut self, high: bool) -> &mut VecDeque<(u64, K)> {
        if high { &mut self.high } else { &mut self.low }
    }

    /// Queues `key` at the back of its priority's queue; returns the item's generation.
    fn push(&mut self, key: K, high: bool) -> u64 {
        self.generation += 1;
        let generation = self.generation;
        self.of(high).push_back((generation, key));
        generation
    }

    fn len(&self) -> usize {
        self.low.len() + self.high.len()
    }
}

struct Inner<K, V: ?Sized> {
    map: HashMap<K, Slot<V>, BuildHasherDefault<IntHasher>>,
    queues: Queues<K>,
    used: usize,
    /// Bytes charged to high-priority entries (part of `used`).
    used_high: usize,
}

impl<K: Hash + Eq + Clone, V: ?Sized> Inner<K, V> {
    /// Uncharges a slot that left the map. Its queue item stays behind, stale, and is dropped
    /// when it reaches the front (or by [`Self::compact_queues`]).
    fn forget(&mut self, slot: &Slot<V>) {
        self.used -= slot.charge;
        if slot.high {
            self.used_high -= slot.charge;
        }
    }

    /// Drops stale queue items once they outnumber the live ones, so replacing or removing
    /// entries in a cache that never fills cannot grow the queues without bound.
    fn compact_queues(&mut self) {
        if self.queues.len() <= 2 * self.map.len() + 64 {
            return;
        }
        let map = &self.map;
        let live = |high: bool| {
            move |(generation, key): &(u64, K)| {
                map.get(key).is_some_and(|s| s.queued_as == *generation && s.high == high)
            }
        };
        self.queues.low.retain(live(false));
        self.queues.high.retain(live(true));
    }
}

/// A byte-bounded cache that evicts by CLOCK (see the module docs); values are shared (`Arc`)
/// so an evicted value stays valid for whoever still holds it.
pub(crate) struct Lru<K, V: ?Sized> {
    capacity: usize,
    /// The bytes high-priority entries may hold before they are evicted ahead of low ones.
    high_capacity: usize,
    inner: RwLock<Inner<K, V>>,
    /// A copy of the bytes charged (`Inner::used`), written under the write lock, so whether
    /// the cache is full can be asked without taking the lock.
    used: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq + Clone, V: ?Sized> Lru<K, V> {
    /// A cache of `capacity` bytes with no high-priority pool (every entry in one eviction queue).
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_high_pool(capacity, 0)
    }

    /// A cache of `capacity` bytes in which high-priority entries are evicted first only once
    /// they hold more than `high_capacity` bytes.
    pub(crate) fn with_high_pool(capacity: usize, high_capacity: usize) -> Self {
        let inner = Inner {
            map: HashMap::default(),
            queues: Queues { low: VecDeque::new(), high: VecDeque::new(), generation: 0 },
            used: 0,
            used_high: 0,
        };
        Self {
            capacity,
            high_capacity,
            inner: RwLock::new(inner),
            used: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    // NOTE: no code path panics while holding the lock with the map half-updated, so a
    // poisoned lock still guards a consistent map.
    fn read(&self) -> RwLockReadGuard<'_, Inner<K, V>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<K, V>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<V>> {
        let guard = self.read();
        let Some(slot) = guard.map.get(key) else {
            drop(guard);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Read first: an entry in use stays referenced without a write to its cache line.
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        let value = Arc::clone(&slot.value);
        drop(guard);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    /// Caches `value` at low priority unless it alone exceeds the budget, evicting the least
    /// recently used.
    pub(crate) fn insert(&self, key: K, value: Arc<V>, charge: usize) {
        self.insert_at(key, value, charge, false);
    }

    /// Caches `value` at the given priority unless it alone exceeds the budget. Evicts the least
    /// recently used low-priority entry, or high-priority one while those hold more than their
    /// pool (or nothing of low priority is left).
    pub(crate) fn insert_at(&self, key: K, value: Arc<V>, charge: usize, high: bool) {
        if charge > self.capacity {
            return;
        }
        let mut chances = 0;
        // Evicted values are dropped once the lock is released: freeing a page takes no lock.
        // An insert nearly always evicts one entry, kept apart so that it allocates nothing.
        let (mut evicted, mut more_evicted) = (None, Vec::new());
        let mut guard = self.write();
        let inner = &mut *guard;
        let queued_as = inner.queues.push(key.clone(), high);
        let slot = Slot { value, charge, high, referenced: AtomicBool::new(true), queued_as };
        if let Some(old) = inner.map.insert(key, slot) {
            inner.forget(&old);
        }
        inner.used += charge;
        if high {
            inner.used_high += charge;
        }
        while inner.used > self.capacity {
            let from_high = inner.used_high > self.high_capacity || inner.queues.low.is_empty();
            let Some((generation, victim)) = inner.queues.of(from_high).pop_front() else { break };
            let Some(slot) = inner.map.get_mut(&victim) else { continue };
            if slot.queued_as != generation || slot.high != from_high {
                // Stale: the entry was replaced since, and its new item is elsewhere.
                continue;
            }
            let referenced = slot.referenced.get_mut();
            if *referenced && chances < MAX_SECOND_CHANCES {
                // Used since the last pass: a second chance at the back of the queue.
                *referenced = false;
                chances += 1;
                slot.queued_as = inner.queues.push(victim, from_high);
                continue;
            }
            if let Some(slot) = inner.map.remove(&victim) {
                inner.forget(&slot);
                if let Some(earlier) = evicted.replace(slot.value) {
                    more_evicted.push(earlier);
                }
            }
        }
        inner.compact_queues();
        self.used.store(inner.used, Ordering::Relaxed);
        drop(guard);
        drop((evicted, more_evicted));
    }

    /// Whether the entries charge all but `slack` bytes of the budget or more: a new entry
    /// may then evict one. Read without the lock, so it may lag a concurrent insert.
    pub(crate) fn is_full(&self, slack: usize) -> bool {
        self.used.load(Ordering::Relaxed).saturating_add(slack) >= self.capacity
    }

    /// Whether `key` is cached, without counting as a use.
    #[cfg(test)]
    fn contains(&self, key: &K) -> bool {
        self.read().map.contains_key(key)
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut guard = self.write();
        let inner = &mut *guard;
        if let Some(slot) = inner.map.remove(key) {
            inner.forget(&slot);
        }
        inner.compact_queues();
        self.used.store(inner.used, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let guard = self.read();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: guard.map.len() as u64,
            bytes: guard.used as u64,
            capacity: self.capacity as u64,
            declined: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_used_since_the_last_pass_outlives_one_that_was_not() {
        let lru: Lru<u32, &str> = Lru::new(100);
        lru.insert(1, Arc::new("a"), 40);
        lru.insert(2, Arc::new("b"), 40);
        // Over budget: one pass clears every bit (all were just inserted), then the oldest goes.
        lru.insert(3, Arc::new("c"), 40);
        assert!(!lru.contains(&1) && lru.contains(&2) && lru.contains(&3));
        // 2 is used since, 3 is not: 3 goes next, although it is newer.
        assert!(lru.get(&2).is_some());
        lru.insert(4, Arc::new("d"), 40);
        assert!(lru.contains(&2) && !lru.contains(&3) && lru.contains(&4));
        let s = lru.stats();
        assert_eq!((s.hits, s.misses, s.entries, s.bytes), (1, 0, 2, 80));
    }

    #[test]
    fn oversized_values_are_not_cached_and_replacing_recharges() {
        let lru: Lru<u32, u32> = Lru::new(10);
        lru.insert(1, Arc::new(1), 11);
        assert!(lru.get(&1).is_none());
        lru.insert(2, Arc::new(2), 6);
        lru.insert(2, Arc::new(3), 4);
        assert_eq!(lru.stats().bytes, 4);
        assert_eq!(*lru.get(&2).unwrap(), 3);
        lru.remove(&2);
        assert_eq!(lru.stats().entries, 0);
    }

    #[test]
    fn eviction_takes_unused_entries_in_queue_order() {
        let lru: Lru<u32, u32> = Lru::new(10);
        for k in 0..10 {
            lru.insert(k, Arc::new(k), 1);
        }
        // The first eviction clears every bit on its pass, then takes the oldest.
        lru.insert(10, Arc::new(10), 1);
        assert!(!lru.contains(&0) && (1..11).all(|k| lru.contains(&k)));
        // Use the evens: each later insert evicts the next unused key in queue order, an odd.
        for k in (2..10).step_by(2) {
            assert!(lru.get(&k).is_some());
        }
        for (i, k) in (11..16).enumerate() {
            lru.insert(k, Arc::new(k), 1);
            assert!(!lru.contains(&(1 + 2 * i as u32)), "after inserting {k}");
        }
        assert!((2..10).step_by(2).all(|k| lru.contains(&k)) && (10..16).all(|k| lru.contains(&k)));
        assert_eq!(lru.stats().bytes, 10);
    }

    #[test]
    fn an_insert_gives_a_bounded_number_of_second_chances() {
        let bound = MAX_SECOND_CHANCES as u32;
        let n = 4 * bound;
        let lru: Lru<u32, u32> = Lru::new(n as usize);
        for k in 0..n {
            lru.insert(k, Arc::new(k), 1);
        }
        // Every entry was used since the last pass. The insert clears the bits of the first
        // MAX_SECOND_CHANCES entries only, then evicts the next one although it was used.
        lru.insert(n, Arc::new(n), 1);
        assert!((0..bound).all(|k| lru.contains(&k)) && !lru.contains(&bound));
        assert!(((bound + 1)..=n).all(|k| lru.contains(&k)));
        {
            let inner = lru.read();
            let cleared = inner.map.values().filter(|s| !s.referenced.load(Ordering::Relaxed)).count();
            assert_eq!(cleared, MAX_SECOND_CHANCES as usize);
        }
        // Each later insert evicts one entry, and the entries whose bits were cleared go first
        // once the queue comes round to them unused.
        for k in (n + 1)..(2 * n) {
            lru.insert(k, Arc::new(k), 1);
            assert_eq!(lru.stats().entries, u64::from(n));
        }
        assert!((0..bound).all(|k| !lru.contains(&k)));
    }

    #[test]
    fn replacing_entries_of_a_cache_that_never_fills_keeps_its_queue_small() {
        let lru: Lru<u32, u32> = Lru::with_high_pool(1000, 500);
        for round in 0..10_000u32 {
            lru.insert_at(round % 3, Arc::new(round), 1, round % 2 == 0);
            if round % 7 == 0 {
                lru.remove(&(round % 5));
            }
        }
        let inner = lru.read();
        assert!(inner.queues.len() <= 2 * inner.map.len() + 65);
        assert_eq!(inner.used, inner.map.len());
        // Every live entry still has exactly one live item in the queue of its priority.
        for (key, slot) in &inner.map {
            let queue = if slot.high { &inner.queues.high } else { &inner.queues.low };
            assert_eq!(queue.iter().filter(|(g, k)| k == key && *g == slot.queued_as).count(), 1);
        }
    }

    #[test]
    fn high_priority_entries_outlive_low_ones_within_their_pool() {
        let lru: Lru<u32, u32> = Lru::with_high_pool(10, 4);
        for k in 0..4 {
            lru.insert_at(k, Arc::new(k), 1, true);
        }
        // Low-priority entries churn through the rest of the budget without evicting the pool.
        for k in 10..30 {
            lru.insert(k, Arc::new(k), 1);
        }
        assert!((0..4).all(|k| lru.get(&k).is_some()));
        assert!((10..24).all(|k| lru.get(&k).is_none()) && (24..30).all(|k| lru.get(&k).is_some()));
        // Past its share, the pool gives up its own least recently used entries first.
        lru.insert_at(4, Arc::new(4), 1, true);
        assert!(lru.get(&0).is_none() && (1..5).all(|k| lru.get(&k).is_some()));
        assert_eq!(lru.stats().bytes, 10);
        // With nothing of low priority left, high-priority entries go in use order.
        let lru: Lru<u32, u32> = Lru::with_high_pool(3, 1);
        for k in 0..4 {
            lru.insert_at(k, Arc::new(k), 1, true);
        }
        assert!(lru.get(&0).is_none() && (1..4).all(|k| lru.get(&k).is_some()));
        // Replacing an entry moves its charge between the pools: with 3 now of low priority the
        // budget is exceeded, the high-priority pool (1 and 2) is past its share, so 1 goes.
        lru.insert(3, Arc::new(3), 2);
        assert!(lru.get(&1).is_none() && lru.get(&2).is_some());
        assert_eq!(lru.stats().bytes, 3);
        lru.remove(&2);
        assert_eq!(lru.stats().bytes, 2);
    }
}
