//! A Parquet store with faults that report no error, for tests of the checks above the store.

use std::path::PathBuf;

use strata_core::{Bytes, Entry, KeyRange, SeqNo, VersionedValue};

use crate::{ParquetStore, Result, SsTableStore, StoreStats, TableId, TableMeta};

/// A [`ParquetStore`] whose point lookups miss one key (as a filter that lost its bits
/// would) and whose scans may end early (as a reader that stopped without an error would).
/// Everything else, `table_file` included, is the inner store's.
#[derive(Debug)]
pub struct SilentFaults {
    /// The store that does the work.
    pub inner: ParquetStore,
    /// `get` answers `None` for this key.
    pub forget_key: Option<Bytes>,
    /// Each scan ends after this many rows (`usize::MAX`: never early).
    pub scan_rows: usize,
}

impl SilentFaults {
    /// `inner` with no fault yet.
    #[must_use]
    pub const fn new(inner: ParquetStore) -> Self {
        Self { inner, forget_key: None, scan_rows: usize::MAX }
    }
}

impl SsTableStore for SilentFaults {
    type Scan = std::iter::Take<<ParquetStore as SsTableStore>::Scan>;

    fn write_table(&self, id: TableId, entries: &mut dyn Iterator<Item = Result<Entry>>) -> Result<TableMeta> {
        self.inner.write_table(id, entries)
    }
    fn open(&self, id: TableId) -> Result<TableMeta> {
        self.inner.open(id)
    }
    fn get(&self, id: TableId, key: &[u8], snapshot: SeqNo) -> Result<Option<VersionedValue>> {
        if self.forget_key.as_deref() == Some(key) { Ok(None) } else { self.inner.get(id, key, snapshot) }
    }
    fn scan(&self, id: TableId, range: &KeyRange) -> Result<Self::Scan> {
        Ok(self.inner.scan(id, range)?.take(self.scan_rows))
    }
    fn delete(&self, id: TableId) -> Result<()> {
        self.inner.delete(id)
    }
    fn list_tables(&self) -> Result<Vec<TableId>> {
        SsTableStore::list_tables(&self.inner)
    }
    fn table_file(&self, id: TableId) -> Option<PathBuf> {
        SsTableStore::table_file(&self.inner, id)
    }
    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
}
