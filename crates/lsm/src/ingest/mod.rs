//! Bulk ingest of external Parquet files ([`Db::ingest`](crate::Db::ingest)).
//!
//! 1. **Check** (writes go on): open every file and check its schema; read the key column
//!    alone to learn whether the input is sorted (and, when repeats are an error, to find
//!    them).
//! 2. **Sort** (writes go on), only for unsorted input: an external sort with bounded memory
//!    into temporary tables, on local disk in [`RUNS_DIR`] whatever the table store (see
//!    [`sort`]).
//! 3. **Commit** (writes wait; reads go on): under the log lock, flush the memtables if they
//!    hold a key inside the input's key range (they are older than the ingest, and reads
//!    look at memtables first); take the next sequence number; write the rows into tables,
//!    every row at that one sequence number; then, under the manifest lock, choose the
//!    deepest level whose tables, and the tables of every level above it, overlap nothing,
//!    as RocksDB's `IngestExternalFile` does, and commit all tables in one manifest edit.
//!    Only then does the visible sequence number move on, so the ingest appears to readers
//!    all at once, like one write batch, and a snapshot taken before it never sees it.
//!
//! Writers wait during the commit because every row carries the ingest's sequence number,
//! which must be the newest when the tables become visible; for sorted input that step is
//! most of the work (reading the input and writing the tables). Reads never wait.
//!
//! On any error every table written so far is deleted and nothing is committed; a crash
//! leaves them as orphans, which the next open deletes, with any sort run left in
//! [`RUNS_DIR`].

mod input;
mod sort;

/// The directory, in the database's, of an unsorted ingest's sort runs.
pub(crate) const RUNS_DIR: &str = "ingest-runs";

use std::fmt;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use strata_compaction::CompactionPolicy;
use strata_core::{Entry, KeyRange, SeqNo};
use strata_memtable::Memtable;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore, TableId, TableMeta};

use self::input::InputFile;
use self::sort::{MergedRuns, Sorted, SortedRows, Sorter, TempTables, check_keys, memory_rows};
use crate::manifest::VersionEdit;
use crate::state::{Inner, SuperVersion, lock};
use crate::version::Version;
use crate::{Error, Result};

/// What to do when the input holds the same key more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateKeys {
    /// The last row wins: the rows of a later file win over an earlier file's, and within a
    /// file a later row wins over an earlier one (the default).
    #[default]
    LastWins,
    /// A repeated key fails the ingest with [`Error::InvalidInput`] naming the key and the
    /// files; nothing is ingested.
    Error,
}

/// What to do with columns other than the key and value columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExtraColumns {
    /// Fail with [`Error::InvalidInput`] listing them (the default): data would be lost.
    #[default]
    Reject,
    /// Ignore them: they are not read.
    Ignore,
}

/// A step of an ingest, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestPhase {
    /// Reading the keys to learn whether the input is sorted.
    Checking,
    /// Reading unsorted input into sorted runs.
    Sorting,
    /// Writing the tables (rows counted after duplicates are dropped for unsorted input).
    Writing,
}

/// A progress report: `done` of `total` input rows through `phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestProgress {
    /// The current step.
    pub phase: IngestPhase,
    /// Rows through this step so far.
    pub done: u64,
    /// Rows in the input files.
    pub total: u64,
}

/// A progress callback for [`IngestOptions::progress`].
pub type ProgressFn = Arc<dyn Fn(IngestProgress) + Send + Sync>;

/// How [`Db::ingest`](crate::Db::ingest) reads its input.
#[derive(Clone)]
#[non_exhaustive]
pub struct IngestOptions {
    /// The key column: binary or string. Default `key`.
    pub key_column: String,
    /// The value column: binary or string. Default `value`.
    pub value_column: String,
    /// Other columns: rejected (default) or ignored.
    pub extra_columns: ExtraColumns,
    /// Repeated keys: last row wins (default) or an error.
    pub duplicates: DuplicateKeys,
    /// Bytes of rows an unsorted input is sorted in memory at a time before a sorted run is
    /// spilled to a temporary table. At least 1 MiB; default 64 MiB. Sorted input is
    /// streamed and needs no buffer.
    pub sort_memory: usize,
    /// Called as the ingest makes progress (about every 8,192 rows).
    pub progress: Option<ProgressFn>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            key_column: "key".into(),
            value_column: "value".into(),
            extra_columns: ExtraColumns::Reject,
            duplicates: DuplicateKeys::LastWins,
            sort_memory: 64 << 20,
            progress: None,
        }
    }
}

impl fmt::Debug for IngestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestOptions")
            .field("key_column", &self.key_column)
            .field("value_column", &self.value_column)
            .field("extra_columns", &self.extra_columns)
            .field("duplicates", &self.duplicates)
            .field("sort_memory", &self.sort_memory)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl IngestOptions {
    /// Sets [`IngestOptions::key_column`].
    #[must_use]
    pub fn key_column(mut self, name: impl Into<String>) -> Self {
        self.key_column = name.into();
        self
    }

    /// Sets [`IngestOptions::value_column`].
    #[must_use]
    pub fn value_column(mut self, name: impl Into<String>) -> Self {
        self.value_column = name.into();
        self
    }

    /// Sets [`IngestOptions::extra_columns`].
    #[must_use]
    pub const fn extra_columns(mut self, extra: ExtraColumns) -> Self {
        self.extra_columns = extra;
        self
    }

    /// Sets [`IngestOptions::duplicates`].
    #[must_use]
    pub const fn duplicates(mut self, duplicates: DuplicateKeys) -> Self {
        self.duplicates = duplicates;
        self
    }

    /// Sets [`IngestOptions::sort_memory`].
    #[must_use]
    pub const fn sort_memory(mut self, bytes: usize) -> Self {
        self.sort_memory = bytes;
        self
    }

    /// Sets [`IngestOptions::progress`].
    #[must_use]
    pub fn progress(mut self, f: impl Fn(IngestProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| Err(Error::InvalidOption { field, reason: reason.into() });
        if self.key_column.is_empty() {
            return bad("key_column", "is empty");
        }
        if self.value_column.is_empty() {
            return bad("value_column", "is empty");
        }
        if self.key_column == self.value_column {
            return bad("value_column", "names the same column as key_column");
        }
        if self.sort_memory < 1 << 20 {
            return bad("sort_memory", &format!("{} is below the minimum of 1048576 bytes", self.sort_memory));
        }
        Ok(())
    }
}

/// What [`Db::ingest`](crate::Db::ingest) did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IngestSummary {
    /// Rows in the input files.
    pub input_rows: u64,
    /// Keys ingested: input rows less repeated keys.
    pub rows: u64,
    /// Tables written.
    pub tables: usize,
    /// The level the tables went to (`None` when the input was empty).
    pub level: Option<usize>,
    /// The sequence number every ingested row carries (`None` when the input was empty).
    pub seq: Option<SeqNo>,
    /// Bytes of the tables written.
    pub bytes: u64,
    /// Whether the input was already sorted (and so streamed, not sorted).
    pub sorted_input: bool,
    /// Sorted runs spilled to temporary tables (0 when sorted in memory or streamed).
    pub spilled_runs: usize,
}

/// Progress reporting with the total known.
pub(crate) struct Progress {
    total: u64,
    callback: Option<ProgressFn>,
}

impl Progress {
    pub(crate) fn report(&self, phase: IngestPhase, done: u64) {
        if let Some(f) = &self.callback {
            f(IngestProgress { phase, done, total: self.total });
        }
    }
}

/// Bytes as text for messages: printable ASCII as is, the rest as `\xNN`, at most 64 bytes.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(64) {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > 64 {
        out.push_str("...");
    }
    out
}

/// The ingest's input after steps 1 and 2.
enum Prepared {
    /// Sorted input, to be streamed from the files again.
    Stream,
    /// Sorted in memory or into runs.
    Sorted(Sorted),
}

/// Tables written for the ingest; deleted when dropped unless kept.
struct Outputs<'a, S: SsTableStore> {
    store: &'a S,
    metas: Vec<TableMeta>,
    /// Set once the tables are committed (or may be).
    keep: bool,
}

impl<S: SsTableStore> Drop for Outputs<'_, S> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for m in &self.metas {
            if let Err(e) = self.store.delete(m.id) {
                tracing::warn!(table = m.id, error = %e, "could not delete a table of a failed ingest; the next open will");
            }
        }
    }
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// The store of the sort runs: Parquet tables in [`RUNS_DIR`] of the database's
    /// directory, on its file system. Runs are read back once and deleted, so they are not
    /// synced and have no block cache; they stay local when the tables live in an object
    /// store, whose uploads they would double.
    fn runs_store(&self) -> Result<ParquetStore> {
        let options =
            ParquetOptions { block_cache_bytes: 0, table_cache_bytes: 0, ..self.options.parquet_options(false) };
        Ok(ParquetStore::open_with_fs(Arc::clone(&self.fs), self.dir.join(RUNS_DIR), options)?)
    }

    pub(crate) fn ingest(&self, paths: &[PathBuf], options: &IngestOptions) -> Result<IngestSummary> {
        options.validate()?;
        self.check_bg_error()?;
        // 1. Check.
        let files = paths.iter().map(|p| InputFile::open(p, options)).collect::<Result<Vec<_>>>()?;
        let input_rows = files.iter().map(|f| f.rows).sum();
        let progress = Progress { total: input_rows, callback: options.progress.clone() };
        let mut summary = IngestSummary { input_rows, ..IngestSummary::default() };
        if input_rows == 0 {
            return Ok(summary);
        }
        let check = check_keys(&files, options, &progress)?;
        summary.sorted_input = check.sorted;
        // 2. Sort.
        let next_id = || self.allocate_file_number();
        let runs = self.runs_store()?;
        let mut temps = TempTables::new(&runs);
        let (prepared, (min, max)) = match check.bounds {
            Some(bounds) if check.sorted => (Prepared::Stream, bounds),
            _ => {
                let (sorted, bounds) = Sorter::new(&files, &runs, options, &mut temps, &next_id).run(&progress)?;
                (Prepared::Sorted(sorted), bounds)
            }
        };
        summary.spilled_runs = temps.ids.len();
        // 3. Commit.
        let mut outputs = Outputs { store: &*self.store, metas: Vec::new(), keep: false };
        let mut wal = lock(&self.wal);
        self.check_bg_error()?;
        self.flush_overlapping_memtables(&mut wal, &min, &max)?;
        let seq = wal.last_seq + 1;
        let hint = self.ingest_level(&self.current().version, &[], &min, &max);
        let rows: Box<dyn Iterator<Item = Result<(Bytes, Bytes)>> + '_> = match &prepared {
            Prepared::Stream => Box::new(SortedRows::new(&files, &progress)),
            Prepared::Sorted(Sorted::Memory { arena, slots }) => Box::new(memory_rows(arena, slots)),
            Prepared::Sorted(Sorted::Runs(ids)) => {
                Box::new(MergedRuns::new(&runs, ids, &files, options.duplicates, &progress)?)
            }
        };
        self.write_ingest_tables(rows, seq, hint, &mut outputs)?;
        // On a problem `outputs` deletes the tables, and nothing is ingested.
        for meta in &outputs.metas {
            self.check_new_table(hint, meta)?;
        }
        drop(temps);
        let level = self.commit_ingest(&outputs.metas, seq, &min, &max);
        // Whether or not the edit reached the manifest, its tables must stay: a failed
        // manifest append may still be replayed at the next open (see `compact.rs`), and
        // the next open deletes them if it is not.
        outputs.keep = level.is_ok() || matches!(level, Err(Error::Io { .. }));
        let level = level?;
        wal.last_seq = seq;
        self.visible_seq.store(seq, Ordering::Release);
        drop(wal);
        summary.rows = outputs.metas.iter().map(|m| m.entries).sum();
        summary.tables = outputs.metas.len();
        summary.bytes = outputs.metas.iter().map(|m| m.file_size).sum();
        summary.level = Some(level);
        summary.seq = Some(seq);
        tracing::info!(rows = summary.rows, tables = summary.tables, level, seq, "ingested external Parquet files");
        Ok(summary)
    }

    /// Flushes every memtable when any holds a key in `[min, max]`: their writes are older
    /// than the ingest but would be read before its tables. The caller holds the log lock,
    /// so no write lands in between.
    fn flush_overlapping_memtables(&self, wal: &mut crate::state::WalState, min: &Bytes, max: &Bytes) -> Result<()> {
        let range = KeyRange::new(Bound::Included(min.clone()), Bound::Included(max.clone()));
        let sv = self.current();
        let overlaps = std::iter::once(&sv.active).chain(&sv.immutables).any(|m| m.mem.range(&range).next().is_some());
        if !overlaps {
            return Ok(());
        }
        if !sv.active.mem.is_empty() {
            self.rotate_memtable_locked(wal)?;
        }
        let boundary = self.current().active.wal_number;
        self.wait_until(|inner| Ok(inner.current().immutables.iter().all(|m| m.wal_number >= boundary)))
    }

    /// The deepest level where tables spanning `[min, max]` can go: neither that level nor
    /// any above it holds an overlapping table (their data is older and would be read
    /// first, or would break a level's no-overlap rule), nor will a running compaction put
    /// overlapping outputs there. L0, where tables may overlap and the newest is read
    /// first, is always possible.
    fn ingest_level(&self, version: &Version, running: &[(usize, Vec<TableId>)], min: &[u8], max: &[u8]) -> usize {
        let span = |ids: &[TableId]| {
            let metas = version.levels.iter().flatten().filter(|t| ids.contains(&t.meta.id)).map(|t| &t.meta);
            let lo = metas.clone().map(|m| m.min_key.clone()).min();
            lo.zip(metas.map(|m| m.max_key.clone()).max())
        };
        let mut target = 0;
        for level in 0..self.policy.num_levels().max(1) {
            let tables = version.level(level).iter().any(|t| t.meta.overlaps(min, max));
            let compacting = level > 0
                && running.iter().any(|(out, ids)| {
                    *out == level && span(ids).is_some_and(|(lo, hi)| &lo[..] <= max && &hi[..] >= min)
                });
            if tables || compacting {
                break;
            }
            target = level;
        }
        target
    }

    /// Writes `rows` (unique keys, ascending) as tables of about the compaction target size.
    fn write_ingest_tables(
        &self,
        rows: Box<dyn Iterator<Item = Result<(Bytes, Bytes)>> + '_>,
        seq: SeqNo,
        level: usize,
        outputs: &mut Outputs<'_, S>,
    ) -> Result<()> {
        let target = self.options.max_memtable_size as u64;
        let mut rows = rows.peekable();
        let mut failure: Option<Error> = None;
        while rows.peek().is_some() {
            let mut bytes = 0u64;
            let mut chunk = std::iter::from_fn(|| {
                if bytes >= target || failure.is_some() {
                    return None;
                }
                match rows.next()? {
                    Ok((key, value)) => {
                        bytes += (key.len() + value.len()) as u64;
                        Some(Ok(Entry::put(key, seq, value)))
                    }
                    Err(e) => {
                        // The table store sees the stream fail; the caller gets the reason,
                        // which names the input file.
                        let reason = e.to_string();
                        failure = Some(e);
                        Some(Err(strata_sstable::Error::Io {
                            file: PathBuf::new(),
                            source: std::io::Error::other(reason),
                        }))
                    }
                }
            });
            let id = self.allocate_file_number();
            let written = self.store.write_table_at(id, level, &mut chunk);
            if let Some(e) = failure.take() {
                return Err(e);
            }
            outputs.metas.push(written?);
        }
        Ok(())
    }

    /// Chooses the level and commits `tables` in one manifest edit; returns the level.
    fn commit_ingest(&self, tables: &[TableMeta], seq: SeqNo, min: &[u8], max: &[u8]) -> Result<usize> {
        {
            let mut bg = lock(&self.bg);
            bg.ingesting = true;
        }
        let mut chosen = 0;
        let result = self.log_and_install_with(
            |version| {
                let running = lock(&self.bg).running.clone();
                chosen = self.ingest_level(version, &running, min, max);
                Ok(VersionEdit {
                    added: tables.iter().map(|m| (chosen, m.clone())).collect(),
                    removed: Vec::new(),
                    log_number: None,
                    next_file_number: Some(self.next_file.load(Ordering::Relaxed)),
                    last_seq: Some(seq),
                    writer_epoch: None,
                })
            },
            |sv, version| SuperVersion { active: Arc::clone(&sv.active), immutables: sv.immutables.clone(), version },
        );
        lock(&self.bg).ingesting = false;
        self.notify_bg();
        result.map(|_| chosen)
    }
}
