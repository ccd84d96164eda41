//! Request and cache counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of object-store requests and local cache use, since the [`Remote`](crate::Remote)
/// was connected. Every request is counted once, however many times the client retried it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectStats {
    /// GET requests (ranged or whole).
    pub gets: u64,
    /// Bytes the GETs returned.
    pub get_bytes: u64,
    /// PUT requests, each part of a multipart upload counted once, manifest commits and
    /// doom markers.
    pub puts: u64,
    /// Bytes uploaded.
    pub put_bytes: u64,
    /// HEAD requests.
    pub heads: u64,
    /// LIST requests.
    pub lists: u64,
    /// DELETE requests (of tables, and of their doom markers).
    pub deletes: u64,
    /// Reads the local disk cache served.
    pub cache_hits: u64,
    /// Reads the local disk cache could not serve (each became a GET).
    pub cache_misses: u64,
    /// Bytes in the local disk cache now.
    pub cache_bytes: u64,
    /// Cache entries that failed their checksum and were dropped (and fetched again).
    pub cache_corrupt: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) gets: AtomicU64,
    pub(crate) get_bytes: AtomicU64,
    pub(crate) puts: AtomicU64,
    pub(crate) put_bytes: AtomicU64,
    pub(crate) heads: AtomicU64,
    pub(crate) lists: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) cache_corrupt: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, cache_bytes: u64) -> ObjectStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ObjectStats {
            gets: l(&self.gets),
            get_bytes: l(&self.get_bytes),
            puts: l(&self.puts),
            put_bytes: l(&self.put_bytes),
            heads: l(&self.heads),
            lists: l(&self.lists),
            deletes: l(&self.deletes),
            cache_hits: l(&self.cache_hits),
            cache_misses: l(&self.cache_misses),
            cache_bytes,
            cache_corrupt: l(&self.cache_corrupt),
        }
    }
}
