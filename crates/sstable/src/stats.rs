//! Counters a store exposes.

#[cfg(feature = "parquet")]
use std::sync::atomic::{AtomicU64, Ordering};

/// Hits, misses and size of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their item.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Items held now.
    pub entries: u64,
    /// Bytes charged now.
    pub bytes: u64,
    /// The byte budget.
    pub capacity: u64,
    /// Misses whose item was read without being cached: the block cache was full and had not
    /// seen the item miss recently (its admission filter). Always 0 for the table cache.
    pub declined: u64,
}

/// Counters of a table store since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Point lookups.
    pub gets: u64,
    /// Lookups answered "absent" by a Bloom filter without reading data.
    pub filter_negatives: u64,
    /// Lookups answered "absent" by the table's key range or the row-group and page statistics.
    pub range_negatives: u64,
    /// Data pages decoded from disk (by point lookups and scans): their keys, sequence numbers
    /// and kinds. A cold point lookup reads one, a warm one none.
    pub pages_read: u64,
    /// Value pages read from disk (decoded whole, or read in place for one value). A point
    /// lookup reads one only when it finds its key (as a put) and the value page holding it
    /// is not cached; a scan reads each value page its rows reach that is not cached.
    pub value_pages_read: u64,
    /// Bytes read from table files after opening them (page data, page indexes).
    pub bytes_read: u64,
    /// Tables opened (footer, page index and filters loaded).
    pub tables_opened: u64,
    /// Tables written.
    pub tables_written: u64,
    /// The cache of open tables.
    pub table_cache: CacheStats,
    /// The cache of decoded pages.
    pub block_cache: CacheStats,
}

/// The live counters behind [`StoreStats`].
#[cfg(feature = "parquet")]
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) gets: AtomicU64,
    pub(crate) filter_negatives: AtomicU64,
    pub(crate) range_negatives: AtomicU64,
    pub(crate) pages_read: AtomicU64,
    pub(crate) value_pages_read: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) tables_opened: AtomicU64,
    pub(crate) tables_written: AtomicU64,
}

#[cfg(feature = "parquet")]
impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, table_cache: CacheStats, block_cache: CacheStats) -> StoreStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            gets: r(&self.gets),
            filter_negatives: r(&self.filter_negatives),
            range_negatives: r(&self.range_negatives),
            pages_read: r(&self.pages_read),
            value_pages_read: r(&self.value_pages_read),
            bytes_read: r(&self.bytes_read),
            tables_opened: r(&self.tables_opened),
            tables_written: r(&self.tables_written),
            table_cache,
            block_cache,
        }
    }
}
