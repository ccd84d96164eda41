//! The contract of a table store.

use std::path::Path;

use std::ops::Bound;

use strata_core::{Bytes, Entry, KeyRange, SeqNo, VersionedValue};

use crate::{Result, StoreStats, TableId, TableMeta};

/// A run of rows of one table that its store can put into a new table as it is, without
/// decoding it: a Parquet row group. Compaction copies a unit whose key range no other input
/// touches and that holds nothing to drop, instead of merging its rows one by one
/// ([`SsTableStore::copy_units`], [`TablePart::Copy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyUnit {
    /// The table holding the rows.
    pub table: TableId,
    /// Which unit of the table (for Parquet, the row group's index).
    pub index: usize,
    /// The first and last user key of the rows, exactly.
    pub min_key: Bytes,
    /// See `min_key`.
    pub max_key: Bytes,
    /// Rows (versions) in the unit.
    pub rows: u64,
    /// Distinct user keys among the rows; `rows` when every key has one version. 0 when the
    /// table does not record it (then the unit is never copied).
    pub distinct_keys: u64,
    /// Rows that are point tombstones (as [`TableMeta::tombstones`] counts them).
    pub tombstones: u64,
    /// Rows that are range tombstones.
    pub range_tombstones: u64,
    /// The smallest and largest sequence number of the rows.
    pub min_seq: SeqNo,
    /// See `min_seq`.
    pub max_seq: SeqNo,
    /// What the rows count for in output size budgets (as [`Entry::charged_len`] summed).
    pub charged_bytes: u64,
    /// Whether the unit is laid out as a table written for the level asked of
    /// [`SsTableStore::copy_units`] would be (for Parquet: the same codec, filter sizing and
    /// Parquet column types), so copying it keeps the per-level layout; only such units are
    /// copied.
    pub fits_level: bool,
}

impl CopyUnit {
    /// Whether a merge would keep every row of the unit as it is, given that no other input
    /// holds a key in its range: one version per key (each is then the newest of its key) and
    /// no tombstone (which a bottommost merge would drop).
    #[must_use]
    pub fn holds_nothing_to_drop(&self) -> bool {
        // NOTE: distinct_keys is 0 (never equal to a non-zero row count) when unknown.
        self.distinct_keys == self.rows && self.tombstones == 0 && self.range_tombstones == 0
    }

    /// The unit's user keys as a range, for a scan of exactly its rows (when no other unit of
    /// the table shares a key with it).
    #[must_use]
    pub fn key_range(&self) -> KeyRange {
        KeyRange::new(Bound::Included(self.min_key.clone()), Bound::Included(self.max_key.clone()))
    }
}

/// One item of the stream a table is written from by
/// [`SsTableStore::write_table_parts`]: an entry, or a whole unit copied from another table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TablePart {
    /// One entry, in internal key order after everything before it.
    Entry(Entry),
    /// Every row of a unit from [`SsTableStore::copy_units`], whose keys all sort after
    /// everything before it and before everything after it (no user key is shared).
    Copy(CopyUnit),
}

/// A store of immutable sorted tables, addressed by [`TableId`].
///
/// A table is written once from a stream of entries in internal key order (user key
/// ascending, then sequence number descending) and then only read, until it is deleted.
/// Every method takes `&self`; implementations synchronize inside, so one store is shared by
/// the engine's readers, flush thread and compaction threads.
///
/// `testing::conformance` (feature `testing`) checks these promises for any
/// implementation.
pub trait SsTableStore: Send + Sync {
    /// The iterator [`scan`](Self::scan) returns. It owns what it needs (`'static`), so the
    /// engine can keep it after the call and across threads.
    type Scan: Iterator<Item = Result<Entry>> + Send + 'static;

    /// Writes table `id` from `entries`, which must be strictly increasing in internal key
    /// order, and returns its summary. The table becomes visible atomically and durably: after
    /// `Ok`, it survives a crash; after `Err`, no table `id` exists.
    ///
    /// The stream may itself fail (compaction feeds it from table scans); its first error ends
    /// the write.
    ///
    /// A range tombstone (an entry of kind `RangeDelete`: key the first key deleted, value the
    /// end) is stored as a row like any other, and listed in the summary's
    /// `range_tombstones`, whose `max_key` reaches the furthest tombstone end
    /// ([`extent_end`](crate::extent_end)).
    ///
    /// # Errors
    ///
    /// * [`Error::OutOfOrder`](crate::Error::OutOfOrder) when an entry is not after the previous
    ///   one in internal key order (an exact duplicate included);
    /// * [`Error::EmptyTable`](crate::Error::EmptyTable) when the stream holds no entry;
    /// * [`Error::EntryTooLarge`](crate::Error::EntryTooLarge) for a key or value over the limit;
    /// * [`Error::TableExists`](crate::Error::TableExists) when table `id` already exists;
    /// * [`Error::Source`](crate::Error::Source) wrapping the stream's own error;
    /// * [`Error::Io`](crate::Error::Io) when writing or syncing fails.
    fn write_table(&self, id: TableId, entries: &mut dyn Iterator<Item = Result<Entry>>) -> Result<TableMeta>;

    /// [`write_table`](Self::write_table) for a table that will sit on `level` of the tree
    /// (0 for a flush, the output level for a compaction). A store may size its filters or
    /// choose its compression by level (the Parquet store gives deeper, larger levels fewer
    /// filter bits per key when asked to, see `ParquetOptions::filter_per_level`). The
    /// level is a hint for the table's layout only: the manifest, not the table, records
    /// where a table sits, and a table may later move to another level unchanged. The
    /// default ignores the hint.
    ///
    /// # Errors
    ///
    /// As [`write_table`](Self::write_table).
    fn write_table_at(
        &self,
        id: TableId,
        level: usize,
        entries: &mut dyn Iterator<Item = Result<Entry>>,
    ) -> Result<TableMeta> {
        let _ = level;
        self.write_table(id, entries)
    }

    /// The units of table `id` that [`write_table_parts`](Self::write_table_parts) can copy
    /// whole, in key order, covering every row of the table, each saying whether it fits a
    /// table written for `level` ([`CopyUnit::fits_level`]); empty when the store cannot copy
    /// from this table (the default), then compaction rewrites every row.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    fn copy_units(&self, id: TableId, level: usize) -> Result<Vec<CopyUnit>> {
        let _ = (id, level);
        Ok(Vec::new())
    }

    /// [`write_table_at`](Self::write_table_at) from a stream of entries and copied units. The
    /// table holds exactly the rows it would hold were each copied unit's rows given as
    /// entries in its place.
    ///
    /// The default rewrites a copied unit's rows from a scan of its key range, so a store
    /// that hands out units but cannot copy them stays correct; the Parquet store copies a
    /// row group's column chunks, page index, Bloom filters and statistics byte for byte.
    ///
    /// # Errors
    ///
    /// As [`write_table`](Self::write_table); [`Error::OutOfOrder`](crate::Error::OutOfOrder)
    /// also when a copied unit does not sort strictly between its neighbours' user keys.
    fn write_table_parts(
        &self,
        id: TableId,
        level: usize,
        parts: &mut dyn Iterator<Item = Result<TablePart>>,
    ) -> Result<TableMeta> {
        let mut copying: Option<Self::Scan> = None;
        let mut entries = std::iter::from_fn(|| {
            loop {
                if let Some(scan) = &mut copying {
                    match scan.next() {
                        Some(item) => return Some(item),
                        None => copying = None,
                    }
                }
                match parts.next()? {
                    Ok(TablePart::Entry(e)) => return Some(Ok(e)),
                    Ok(TablePart::Copy(unit)) => match self.scan(unit.table, &unit.key_range()) {
                        Ok(scan) => copying = Some(scan),
                        Err(e) => return Some(Err(e)),
                    },
                    Err(e) => return Some(Err(e)),
                }
            }
        });
        self.write_table_at(id, level, &mut entries)
    }

    /// Opens table `id` (or finds it already open) and returns its summary. Opening checks the
    /// table's structure and checksums of its metadata; later reads check the data they touch.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) when there is no table `id`;
    /// [`Error::Corruption`](crate::Error::Corruption) naming the file when it is damaged;
    /// [`Error::Io`](crate::Error::Io) when reading fails.
    fn open(&self, id: TableId) -> Result<TableMeta>;

    /// The newest version of `key` with a sequence number `<= snapshot`, or `None` when the
    /// table holds no such version. A tombstone is an answer (`kind == Delete`): the key is
    /// deleted as of that version and older tables must not be consulted.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); and [`Error::Corruption`](crate::Error::Corruption) when data
    /// read for the lookup is damaged. Never a wrong answer instead.
    fn get(&self, id: TableId, key: &[u8], snapshot: SeqNo) -> Result<Option<VersionedValue>>;

    /// The hash of `key` this store's filters probe with, so an engine that consults many
    /// tables for one key hashes it once and passes it to
    /// [`get_hashed`](Self::get_hashed). The default (for stores without filters) is 0.
    fn key_hash(&self, key: &[u8]) -> u64 {
        let _ = key;
        0
    }

    /// [`get`](Self::get) with `hash` from [`key_hash`](Self::key_hash) for the same `key`:
    /// the same answer, without hashing the key again. The default ignores the hash.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    fn get_hashed(&self, id: TableId, key: &[u8], hash: u64, snapshot: SeqNo) -> Result<Option<VersionedValue>> {
        let _ = hash;
        self.get(id, key, snapshot)
    }

    /// Every version of every key in `range`, in internal key order, streamed. The iterator
    /// yields an error at most once, then ends.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); errors while iterating are yielded as items.
    fn scan(&self, id: TableId, range: &KeyRange) -> Result<Self::Scan>;

    /// As [`scan`](Self::scan), for a reader that reads `range` once, start to end, and will
    /// not come back to it soon: a compaction. The store may free what the scan has passed
    /// (the Parquet store releases a memory-mapped row group's pages from the process's
    /// resident memory once the scan leaves it). By default, [`scan`](Self::scan).
    ///
    /// # Errors
    ///
    /// As [`scan`](Self::scan).
    fn scan_once(&self, id: TableId, range: &KeyRange) -> Result<Self::Scan> {
        self.scan(id, range)
    }

    /// Up to `parts - 1` keys, ascending, that cut table `id` into `parts` pieces of about
    /// equal size: each is greater than the table's `min_key` and at most its `max_key`,
    /// and need not be a key the table holds. A merge split into key ranges
    /// (subcompactions) cuts there, so it can be split even when every input spans the
    /// whole key space, as fresh L0 tables of random keys do.
    ///
    /// The default returns none: such merges are then cut only at tables' first keys.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    fn split_keys(&self, id: TableId, parts: usize) -> Result<Vec<Bytes>> {
        let _ = (id, parts);
        Ok(Vec::new())
    }

    /// Where a reverse read of table `id` can start a step that ends before `end` (the end of
    /// the table when `None`) and reads about `back + 1` of the store's pages: a key before
    /// `end`, at or before the table's last key before `end`. A reverse iterator reads a
    /// window `[key, end)` forward per step, so the closer the key, the less a step reads;
    /// it starts with steps of one page and then doubles the pages of each step up to 16. The key
    /// need not be one the table holds. The engine asks only about tables that hold a key
    /// before `end`.
    ///
    /// The Parquet store gives the first key of the page `back` pages before the one holding
    /// the table's last key before `end` (of the table's first page when there are fewer),
    /// from the page index. The default returns `None`, and the engine then starts the step
    /// at the table's first key, reading the table's keys before `end` in one window.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    fn key_before(&self, id: TableId, end: Option<&[u8]>, back: usize) -> Result<Option<Bytes>> {
        let _ = (id, end, back);
        Ok(None)
    }

    /// Deletes table `id`. Scans opened before keep reading their table where the platform
    /// allows reading a removed file (Unix).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) when there is no table `id`;
    /// [`Error::Io`](crate::Error::Io) when removing it fails.
    fn delete(&self, id: TableId) -> Result<()>;

    /// Deletes table `id`, which the manifest read at open did not name: an orphan, found
    /// when the database opens. A store whose deletions wait out a grace period may count it
    /// from that manifest's commit (see
    /// [`FileSystem::remove_orphan_file`](strata_core::fs::FileSystem::remove_orphan_file)).
    /// The default is [`delete`](Self::delete).
    ///
    /// # Errors
    ///
    /// As [`delete`](Self::delete).
    fn delete_orphan(&self, id: TableId) -> Result<()> {
        self.delete(id)
    }

    /// Puts a durable copy of table `id` into `dest_dir`, under the name a store of the same
    /// kind opened on `dest_dir` would look for it, sharing the file (a hard link) where the
    /// file system allows, else copying it. Checkpoints use it: tables are immutable, so a
    /// link is as good as a copy, and outlives the deletion of the original name.
    ///
    /// After `Ok` the file is synced (the caller syncs `dest_dir`); after `Err` no file of
    /// that name was left in `dest_dir` by this call.
    ///
    /// The default fails with [`Error::Unsupported`](crate::Error::Unsupported), for stores
    /// whose tables are not files.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) when there is no table `id`;
    /// [`Error::Io`](crate::Error::Io) when linking and copying both fail;
    /// [`Error::Unsupported`](crate::Error::Unsupported) as above.
    fn export_table(&self, id: TableId, dest_dir: &Path) -> Result<TableExport> {
        let _ = (id, dest_dir);
        Err(crate::Error::Unsupported { what: "exporting tables (checkpoints)" })
    }

    /// The ids of every table the store holds, ascending: the engine deletes, at open, the
    /// tables no manifest names (outputs of a flush or compaction a crash interrupted), and
    /// never hands out a new table id at or below the highest one found.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the listing fails.
    fn list_tables(&self) -> Result<Vec<TableId>>;

    /// The file that holds table `id`, for messages that name it (the engine's verification
    /// names it in what it finds); `None`, the default, for a store without files.
    fn table_file(&self, id: TableId) -> Option<std::path::PathBuf> {
        let _ = id;
        None
    }

    /// Counters since the store was created.
    fn stats(&self) -> StoreStats;
}

/// How [`SsTableStore::export_table`] put a table into the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableExport {
    /// A hard link: no bytes were copied, and the file is shared with the source.
    Linked,
    /// A full copy of this many bytes (the file system has no hard links, or the
    /// destination is on another device).
    Copied(u64),
}
