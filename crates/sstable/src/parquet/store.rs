//! `ParquetStore`: tables as Parquet files in one directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::fs::{FileSystem, StdFs};
use strata_core::{Bytes, Entry, KeyRange, SeqNo, VersionedValue};

use super::names::{is_temp_file, table_file_name, table_id_from_file_name, temp_path};
use super::scan::ParquetScan;
use super::table::{OpenTable, layout_for};
use super::writer::write_table;
use crate::cache::block_cache::BlockCache;
use crate::cache::table_cache::TableCache;
use crate::stats::Counters;
use crate::{
    CopyUnit, Error, ParquetOptions, Result, SsTableStore, StoreStats, TableExport, TableId, TableMeta, TablePart,
};

/// The chunk size of a table copy.
const COPY_CHUNK: usize = 1 << 20;

struct Shared {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    options: ParquetOptions,
    tables: TableCache,
    /// Shared with the scans, which read their first pages through it.
    blocks: Arc<BlockCache>,
    counters: Arc<Counters>,
    next_cache_id: AtomicU64,
}

/// An [`SsTableStore`] keeping table `id` as the Parquet file `{id:06}.parquet` in a directory.
///
/// Every file operation (creating, writing, syncing, renaming, reading, listing, deleting)
/// goes through the store's [`FileSystem`], so tests can inject faults underneath
/// ([`open_with_fs`](Self::open_with_fs)). File naming, temporary files included, is described
/// in [`is_temp_file`](crate::is_temp_file) and [`table_file_name`](crate::table_file_name).
///
/// Cloning is cheap and shares the caches. See [`crate::parquet`] for the file layout.
#[derive(Clone)]
pub struct ParquetStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ParquetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetStore")
            .field("dir", &self.shared.dir)
            .field("fs", &self.shared.fs)
            .finish_non_exhaustive()
    }
}

impl ParquetStore {
    /// Opens the store in `dir` on the real file system ([`StdFs`]); see
    /// [`open_with_fs`](Self::open_with_fs).
    ///
    /// # Errors
    ///
    /// As [`open_with_fs`](Self::open_with_fs).
    pub fn open(dir: impl AsRef<Path>, options: ParquetOptions) -> Result<Self> {
        Self::open_with_fs(StdFs::shared(), dir, options)
    }

    /// Opens the store in `dir`, doing all its file I/O through `fs`. Creates the directory if
    /// needed and removes the temporary files (`*.parquet.tmp`, see
    /// [`is_temp_file`](crate::is_temp_file)) that a crashed or failed write left behind.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming a bad option; [`Error::Io`] when the directory cannot
    /// be created or listed, or a temporary file cannot be removed.
    pub fn open_with_fs(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>, options: ParquetOptions) -> Result<Self> {
        options.validate()?;
        let dir = dir.as_ref().to_owned();
        fs.create_dir_all(&dir).map_err(Error::io(&dir))?;
        for name in fs.list_dir(&dir).map_err(Error::io(&dir))? {
            if is_temp_file(&name) {
                let path = dir.join(&name);
                fs.remove_file(&path).map_err(Error::io(&path))?;
            }
        }
        let shared = Shared {
            fs,
            tables: TableCache::new(options.table_cache_bytes),
            blocks: Arc::new(BlockCache::new(options.block_cache_bytes, options.block_cache_admission)),
            options,
            dir,
            counters: Arc::new(Counters::default()),
            next_cache_id: AtomicU64::new(0),
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    /// The file of table `id`.
    #[must_use]
    pub fn table_path(&self, id: TableId) -> PathBuf {
        self.shared.dir.join(table_file_name(id))
    }

    /// The ids of the tables whose files are in the directory, ascending. Temporary files of
    /// unfinished writes and files that are not tables are not listed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be listed.
    pub fn list_tables(&self) -> Result<Vec<TableId>> {
        let dir = &self.shared.dir;
        let names = self.shared.fs.list_dir(dir).map_err(Error::io(dir))?;
        let mut ids: Vec<TableId> = names.iter().filter_map(|n| table_id_from_file_name(n)).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Opens table `id` (through the table cache) and summarizes it: metadata, row
    /// groups, pages, filter size and codec.
    ///
    /// # Errors
    ///
    /// As [`SsTableStore::open`].
    pub fn describe(&self, id: TableId) -> Result<crate::parquet::TableDescription> {
        Ok(self.table(id)?.describe())
    }

    /// The measured false-positive rate of table `id`'s Bloom filters: the fraction of
    /// `probes` pseudo-random key hashes (what absent keys look like to a filter) that its
    /// row groups' filters let through, weighted by row-group size.
    ///
    /// # Errors
    ///
    /// As [`SsTableStore::open`].
    pub fn measure_filter_false_positives(&self, id: TableId, probes: u32) -> Result<f64> {
        Ok(self.table(id)?.filter_false_positive_rate(probes, id))
    }

    /// The file system the store does its I/O through.
    #[must_use]
    pub fn fs(&self) -> &Arc<dyn FileSystem> {
        &self.shared.fs
    }

    /// The directory holding the tables.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the store was opened with.
    #[must_use]
    pub fn options(&self) -> &ParquetOptions {
        &self.shared.options
    }

    /// The open table `id`, for the test helpers in [`crate::testing`].
    #[cfg(feature = "testing")]
    pub(crate) fn open_table_for_tests(&self, id: TableId) -> Result<Arc<OpenTable>> {
        self.table(id)
    }

    fn table(&self, id: TableId) -> Result<Arc<OpenTable>> {
        let s = &*self.shared;
        if let Some(t) = s.tables.get(id) {
            return Ok(t);
        }
        let cache_id = s.next_cache_id.fetch_add(1, Ordering::Relaxed);
        let path = self.table_path(id);
        let table =
            Arc::new(OpenTable::open(&*s.fs, &path, id, cache_id, Arc::clone(&s.counters), s.options.mmap_reads)?);
        Counters::add(&s.counters.tables_opened, 1);
        s.tables.insert(Arc::clone(&table));
        Ok(table)
    }
}

impl ParquetStore {
    /// Deletes table `id`'s file, as an orphan or not (see [`SsTableStore::delete_orphan`]).
    fn remove(&self, id: TableId, orphan: bool) -> Result<()> {
        self.shared.tables.remove(id);
        let path = self.table_path(id);
        // NOTE: the removal is not synced. A table is deleted once no manifest names it, so if
        // a crash brings the name back, the next open finds an orphan and deletes it again;
        // a directory sync here cost milliseconds to whichever thread dropped the table last
        // (a reader, as often as not).
        let fs = &self.shared.fs;
        let removed = if orphan { fs.remove_orphan_file(&path) } else { fs.remove_file(&path) };
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound { file: path }),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    fn write_with(
        &self,
        id: TableId,
        options: &ParquetOptions,
        parts: &mut dyn Iterator<Item = Result<TablePart>>,
    ) -> Result<TableMeta> {
        // A table cached under this id (deleted and now rewritten) must not answer for the new one.
        self.shared.tables.remove(id);
        let meta = write_table(&*self.shared.fs, &self.table_path(id), id, options, parts, &|t| self.table(t))?;
        Counters::add(&self.shared.counters.tables_written, 1);
        Ok(meta)
    }
}

impl SsTableStore for ParquetStore {
    type Scan = ParquetScan;

    fn write_table(&self, id: TableId, entries: &mut dyn Iterator<Item = Result<Entry>>) -> Result<TableMeta> {
        self.write_with(id, &self.shared.options, &mut entries.map(|e| e.map(TablePart::Entry)))
    }

    fn write_table_at(
        &self,
        id: TableId,
        level: usize,
        entries: &mut dyn Iterator<Item = Result<Entry>>,
    ) -> Result<TableMeta> {
        self.write_table_parts(id, level, &mut entries.map(|e| e.map(TablePart::Entry)))
    }

    fn write_table_parts(
        &self,
        id: TableId,
        level: usize,
        parts: &mut dyn Iterator<Item = Result<TablePart>>,
    ) -> Result<TableMeta> {
        let o = &self.shared.options;
        if o.filter_per_level.is_empty() && o.compression_per_level.is_empty() {
            return self.write_with(id, o, parts);
        }
        let options = ParquetOptions {
            filter: o.filter_for_level(level),
            compression: o.compression_for_level(level),
            ..o.clone()
        };
        self.write_with(id, &options, parts)
    }

    fn copy_units(&self, id: TableId, level: usize) -> Result<Vec<CopyUnit>> {
        let o = &self.shared.options;
        let layout = layout_for(o.compression_for_level(level), o.filter_for_level(level));
        Ok(self.table(id)?.copy_units(&layout))
    }

    fn open(&self, id: TableId) -> Result<TableMeta> {
        Ok(self.table(id)?.meta.clone())
    }

    fn get(&self, id: TableId, key: &[u8], snapshot: SeqNo) -> Result<Option<VersionedValue>> {
        self.get_hashed(id, key, self.key_hash(key), snapshot)
    }

    fn key_hash(&self, key: &[u8]) -> u64 {
        strata_bloom::BloomFilter::key_hash(key)
    }

    fn get_hashed(&self, id: TableId, key: &[u8], hash: u64, snapshot: SeqNo) -> Result<Option<VersionedValue>> {
        Counters::add(&self.shared.counters.gets, 1);
        self.table(id)?.get(key, hash, snapshot, &self.shared.blocks, &self.shared.counters)
    }

    fn scan(&self, id: TableId, range: &KeyRange) -> Result<ParquetScan> {
        let s = &*self.shared;
        Ok(ParquetScan::new(self.table(id)?, Arc::clone(&s.blocks), Arc::clone(&s.counters), range))
    }

    fn scan_once(&self, id: TableId, range: &KeyRange) -> Result<ParquetScan> {
        Ok(self.scan(id, range)?.releasing_behind())
    }

    fn split_keys(&self, id: TableId, parts: usize) -> Result<Vec<Bytes>> {
        Ok(self.table(id)?.split_keys(parts))
    }

    fn key_before(&self, id: TableId, end: Option<&[u8]>, back: usize) -> Result<Option<Bytes>> {
        Ok(self.table(id)?.key_before(end, back))
    }

    fn delete(&self, id: TableId) -> Result<()> {
        self.remove(id, false)
    }

    fn delete_orphan(&self, id: TableId) -> Result<()> {
        self.remove(id, true)
    }

    fn export_table(&self, id: TableId, dest_dir: &Path) -> Result<TableExport> {
        let fs = &*self.shared.fs;
        let src = self.table_path(id);
        if !fs.exists(&src) {
            return Err(Error::NotFound { file: src });
        }
        let dest = dest_dir.join(table_file_name(id));
        // A table file is synced before it is renamed into place, and a link shares its
        // inode, so a link needs no sync of its own (the caller syncs the directory).
        if fs.hard_link(&src, &dest).is_ok() {
            return Ok(TableExport::Linked);
        }
        // Copy under the temporary name, so a crash or failure never leaves a partial file
        // under a table's name (the store deletes temporary files at open).
        let tmp = temp_path(&dest);
        let copied = copy_file(fs, &src, &tmp).and_then(|bytes| {
            fs.rename(&tmp, &dest).map_err(Error::io(&dest))?;
            Ok(bytes)
        });
        if copied.is_err() {
            let _ = fs.remove_file(&tmp);
        }
        copied.map(TableExport::Copied)
    }

    fn list_tables(&self) -> Result<Vec<TableId>> {
        Self::list_tables(self)
    }

    fn table_file(&self, id: TableId) -> Option<PathBuf> {
        Some(self.table_path(id))
    }

    fn stats(&self) -> StoreStats {
        self.shared.counters.snapshot(self.shared.tables.stats(), self.shared.blocks.stats())
    }
}

/// Copies `src` to a new file `dest` and syncs it; returns the bytes copied.
fn copy_file(fs: &dyn FileSystem, src: &Path, dest: &Path) -> Result<u64> {
    use std::io::Write;
    let input = fs.open_read(src).map_err(Error::io(src))?;
    let len = input.len().map_err(Error::io(src))?;
    let mut output = fs.create(dest).map_err(Error::io(dest))?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut offset = 0u64;
    while offset < len {
        let n = usize::try_from(len - offset).map_or(COPY_CHUNK, |rest| rest.min(COPY_CHUNK));
        input.read_exact_at(&mut buf[..n], offset).map_err(Error::io(src))?;
        output.write_all(&buf[..n]).map_err(Error::io(dest))?;
        offset += n as u64;
    }
    output.sync().map_err(Error::io(dest))?;
    Ok(len)
}
