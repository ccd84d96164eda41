//! The cache of open tables.

use std::sync::Arc;

use super::lru::Lru;
use crate::parquet::table::OpenTable;
use crate::{CacheStats, TableId};

/// Open tables (file handle, footer, page index, filters), bounded by their memory.
pub(crate) struct TableCache(Lru<TableId, OpenTable>);

impl TableCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        Self(Lru::new(capacity_bytes))
    }

    pub(crate) fn get(&self, id: TableId) -> Option<Arc<OpenTable>> {
        self.0.get(&id)
    }

    pub(crate) fn insert(&self, table: Arc<OpenTable>) {
        let charge = table.memory_size();
        self.0.insert(table.meta.id, table, charge);
    }

    pub(crate) fn remove(&self, id: TableId) {
        self.0.remove(&id);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.0.stats()
    }
}
