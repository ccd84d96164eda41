//! A least-recently-used map bounded by the bytes its values are charged.
//!
//! Lookups take a shared lock only: a hit stamps the entry with a fresh tick from an atomic
//! clock instead of reordering anything. The recency order (a `BTreeMap` by tick) is fixed
//! up lazily when evicting: an entry whose stamp is newer than its place in the order was
//! used since, so it is moved to its new place instead of being evicted. Eviction is still
//! exactly least-recently-used, and the hot path of a point lookup never takes a write lock.

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

struct Slot<V> {
    value: Arc<V>,
    charge: usize,
    /// The tick of the last use, stamped under the shared lock.
    used_at: AtomicU64,
    /// The tick under which the entry sits in `Inner::order`.
    ordered_at: u64,
}

struct Inner<K, V> {
    map: HashMap<K, Slot<V>, BuildHasherDefault<IntHasher>>,
    /// Recency order by `ordered_at`: the smallest is the least recently used, unless its
    /// `used_at` says it was used since.
    order: BTreeMap<u64, K>,
    used: usize,
}

/// A byte-bounded LRU cache; values are shared (`Arc`) so an evicted value stays valid for
/// whoever still holds it.
pub(crate) struct Lru<K, V> {
    capacity: usize,
    inner: RwLock<Inner<K, V>>,
    clock: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        let inner = Inner { map: HashMap::default(), order: BTreeMap::new(), used: 0 };
        Self {
            capacity,
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

    /// Caches `value` unless it alone exceeds the budget, evicting the least recently used.
    pub(crate) fn insert(&self, key: K, value: Arc<V>, charge: usize) {
        if charge > self.capacity {
            return;
        }
        let mut guard = self.write();
        let inner = &mut *guard;
        let tick = self.tick();
        let slot = Slot { value, charge, used_at: AtomicU64::new(tick), ordered_at: tick };
        if let Some(old) = inner.map.insert(key.clone(), slot) {
            inner.order.remove(&old.ordered_at);
            inner.used -= old.charge;
        }
        inner.order.insert(tick, key);
        inner.used += charge;
        while inner.used > self.capacity {
            let Some((ordered_at, victim)) = inner.order.pop_first() else { break };
            let Some(slot) = inner.map.get_mut(&victim) else { continue };
            let used_at = slot.used_at.load(Ordering::Relaxed);
            if used_at != ordered_at {
                // Used since it was ordered: move it to its place instead of evicting it. Under
                // the write lock no lookup stamps it again, so this ends.
                slot.ordered_at = used_at;
                inner.order.insert(used_at, victim);
                continue;
            }
            if let Some(slot) = inner.map.remove(&victim) {
                inner.used -= slot.charge;
            }
        }
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut guard = self.write();
        let inner = &mut *guard;
        if let Some(slot) = inner.map.remove(key) {
            inner.order.remove(&slot.ordered_at);
            inner.used -= slot.charge;
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
}
