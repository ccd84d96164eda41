//! The cache of decoded pages.

use std::sync::Arc;

use super::lru::Lru;
use crate::CacheStats;
use crate::parquet::page::DecodedRows;

/// Names one page of one open table: (the table's cache id, row group, page of the key column).
///
/// NOTE: the cache id is unique per opening of a table, never reused, so pages of a deleted
/// and rewritten table id can never be served for the new table; stale pages just age out.
pub(crate) type PageKey = (u64, u32, u32);

/// Decoded pages, bounded in bytes.
pub(crate) struct BlockCache(Lru<PageKey, DecodedRows>);

impl BlockCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        Self(Lru::new(capacity_bytes))
    }

    pub(crate) fn get(&self, key: &PageKey) -> Option<Arc<DecodedRows>> {
        self.0.get(key)
    }

    pub(crate) fn insert(&self, key: PageKey, page: Arc<DecodedRows>) {
        let charge = page.memory_size();
        self.0.insert(key, page, charge);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.0.stats()
    }
}
