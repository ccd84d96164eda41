//! A least-recently-used map bounded by the bytes its values are charged.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::CacheStats;

struct Slot<V> {
    value: Arc<V>,
    charge: usize,
    tick: u64,
}

struct Inner<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Recency order: the smallest tick is the least recently used.
    order: BTreeMap<u64, K>,
    tick: u64,
    used: usize,
}

/// A byte-bounded LRU cache; values are shared (`Arc`) so an evicted value stays valid for
/// whoever still holds it.
pub(crate) struct Lru<K, V> {
    capacity: usize,
    inner: Mutex<Inner<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        let inner = Inner { map: HashMap::new(), order: BTreeMap::new(), tick: 0, used: 0 };
        Self { capacity, inner: Mutex::new(inner), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // NOTE: no code path panics while holding the lock with the map half-updated, so a
        // poisoned lock still guards a consistent map.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.tick += 1;
        let tick = inner.tick;
        let Some(slot) = inner.map.get_mut(key) else {
            drop(guard);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if let Some(k) = inner.order.remove(&slot.tick) {
            inner.order.insert(tick, k);
        }
        slot.tick = tick;
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
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner.map.insert(key.clone(), Slot { value, charge, tick }) {
            inner.order.remove(&old.tick);
            inner.used -= old.charge;
        }
        inner.order.insert(tick, key);
        inner.used += charge;
        while inner.used > self.capacity {
            let Some((_, victim)) = inner.order.pop_first() else { break };
            if let Some(slot) = inner.map.remove(&victim) {
                inner.used -= slot.charge;
            }
        }
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(slot) = inner.map.remove(key) {
            inner.order.remove(&slot.tick);
            inner.used -= slot.charge;
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let guard = self.lock();
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
}
