//! The contract of a table store.

use std::path::Path;

use strata_core::{Bytes, Entry, KeyRange, SeqNo, VersionedValue};

use crate::{Result, StoreStats, TableId, TableMeta};

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

    /// Deletes table `id`. Scans opened before keep reading their table where the platform
    /// allows reading a removed file (Unix).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) when there is no table `id`;
    /// [`Error::Io`](crate::Error::Io) when removing it fails.
    fn delete(&self, id: TableId) -> Result<()>;

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
