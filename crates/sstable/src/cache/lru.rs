//! A least-recently-used map bounded by the bytes its values are charged.
//!
//! Lookups take a shared lock only: a hit stamps the entry with a fresh tick from an atomic
//! clock instead of reordering anything. The recency order (a `BTreeMap` by tick) is fixed
//! up lazily when evicting: an entry whose stamp is newer than its place in the order was
//! used since, so it is moved to its new place instead of being evicted. Eviction is still
//! exactly least-recently-used, and the hot path of a point lookup never takes a write lock.
//!
//! Entries are inserted at a priority. High-priority entries (the block cache gives them the
//! small key, sequence and kind part of a page, which every lookup in the page needs) are
//! evicted only once they hold more than their pool's share of the budget, or when nothing of
//! low priority is left: like RocksDB's high-priority pool for index and filter blocks.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
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

struct Slot<V: ?Sized> {
    value: Arc<V>,
    charge: usize,
    high: bool,
    /// The tick of the last use, stamped under the shared lock.
    used_at: AtomicU64,
    /// The tick under which the entry sits in `Inner::order`.
    ordered_at: u64,
}

struct Inner<K, V: ?Sized> {
    map: HashMap<K, Slot<V>, BuildHasherDefault<IntHasher>>,
    /// Recency order of the low-priority entries by `ordered_at`: the smallest is the least
    /// recently used, unless its `used_at` says it was used since.
    order: BTreeMap<u64, K>,
    /// The same for the high-priority entries.
    order_high: BTreeMap<u64, K>,
    used: usize,
    /// Bytes charged to high-priority entries (part of `used`).
    used_high: usize,
}

impl<K: Hash + Eq + Clone, V: ?Sized> Inner<K, V> {
    fn order_of(&mut self, high: bool) -> &mut BTreeMap<u64, K> {
        if high { &mut self.order_high } else { &mut self.order }
    }

    fn forget(&mut self, slot: &Slot<V>) {
        self.order_of(slot.high).remove(&slot.ordered_at);
        self.used -= slot.charge;
        if slot.high {
            self.used_high -= slot.charge;
        }
    }
}

/// A byte-bounded LRU cache; values are shared (`Arc`) so an evicted value stays valid for
/// whoever still holds it.
pub(crate) struct Lru<K, V: ?Sized> {
    capacity: usize,
    /// The bytes high-priority entries may hold before they are evicted ahead of low ones.
    high_capacity: usize,
    inner: RwLock<Inner<K, V>>,
    clock: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq + Clone, V: ?Sized> Lru<K, V> {
    /// A cache of `capacity` bytes with no high-priority pool (every entry evicted in use order).
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_high_pool(capacity, 0)
    }

    /// A cache of `capacity` bytes in which high-priority entries are evicted first only once
    /// they hold more than `high_capacity` bytes.
    pub(crate) fn with_high_pool(capacity: usize, high_capacity: usize) -> Self {
        let inner = Inner {
            map: HashMap::default(),
            order: BTreeMap::new(),
            order_high: BTreeMap::new(),
            used: 0,
            used_high: 0,
        };
        Self {
            capacity,
            high_capacity,
            inner: RwLock::new(inner),
            clock: AtomicU64::new(0),
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

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<V>> {
        let guard = self.read();
        let Some(slot) = guard.map.get(key) else {
            drop(guard);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        slot.used_at.store(self.tick(), Ordering::Relaxed);
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
        let mut guard = self.write();
        let inner = &mut *guard;
        let tick = self.tick();
        let slot = Slot { value, charge, high, used_at: AtomicU64::new(tick), ordered_at: tick };
        if let Some(old) = inner.map.insert(key.clone(), slot) {
            inner.forget(&old);
        }
        inner.order_of(high).insert(tick, key);
        inner.used += charge;
        if high {
            inner.used_high += charge;
        }
        while inner.used > self.capacity {
            let from_high = inner.used_high > self.high_capacity || inner.order.is_empty();
            let Some((ordered_at, victim)) = inner.order_of(from_high).pop_first() else { break };
            let Some(slot) = inner.map.get_mut(&victim) else { continue };
            let used_at = slot.used_at.load(Ordering::Relaxed);
            if used_at != ordered_at {
                // Used since it was ordered: move it to its place instead of evicting it. Under
                // the write lock no lookup stamps it again, so this ends.
                slot.ordered_at = used_at;
                inner.order_of(from_high).insert(used_at, victim);
                continue;
            }
            if let Some(slot) = inner.map.remove(&victim) {
                inner.used -= slot.charge;
                if slot.high {
                    inner.used_high -= slot.charge;
                }
            }
        }
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut guard = self.write();
        let inner = &mut *guard;
        if let Some(slot) = inner.map.remove(key) {
            inner.forget(&slot);
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let guard = self.read();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: guard.map.len() as u64,
            bytes: guard.used as u64,
            capacity: self.capacity as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_the_byte_budget() {
        let lru: Lru<u32, &str> = Lru::new(100);
        lru.insert(1, Arc::new("a"), 40);
        lru.insert(2, Arc::new("b"), 40);
        assert!(lru.get(&1).is_some()); // 2 is now the least recently used
        lru.insert(3, Arc::new("c"), 40);
        assert!(lru.get(&2).is_none());
        assert!(lru.get(&1).is_some() && lru.get(&3).is_some());
        let s = lru.stats();
        assert_eq!((s.hits, s.misses, s.entries, s.bytes), (3, 1, 2, 80));
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
    fn eviction_follows_use_order_across_many_touches() {
        let lru: Lru<u32, u32> = Lru::new(10);
        for k in 0..10 {
            lru.insert(k, Arc::new(k), 1);
        }
        // Use in the order 9, 7, 5, ..., 1, then 8, 6, ..., 0: the evens are now the newest.
        for k in (1..10).step_by(2).rev().chain((0..10).step_by(2).rev()) {
            assert!(lru.get(&k).is_some());
        }
        for (i, k) in (10..15).enumerate() {
            lru.insert(k, Arc::new(k), 1);
            // Each insert evicts the least recently used odd key: 9 first, then 7, ...
            assert!(lru.get(&(9 - 2 * i as u32)).is_none(), "after inserting {k}");
        }
        assert!((0..10).step_by(2).all(|k| lru.get(&k).is_some()));
        assert_eq!(lru.stats().bytes, 10);
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
