//! The `Db` handle: opening, the public read and write API, and shutdown.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use strata_compaction::{AnyPolicy, CompactionPolicy};
use strata_core::fs::{FileSystem, StdFs};
use strata_core::{KeyRange, ManifestStore};
use strata_memtable::{AnyMemtable, Memtable};
use strata_sstable::{ParquetStore, SsTableStore, TableId};

use crate::iter::DbIter;
use crate::manifest::Manifest;
use crate::recovery::{ManifestSource, recover};
use crate::rev_iter::DbRevIter;
use crate::snapshot::Snapshot;
use crate::state::{BgState, Inner, ManifestState, MemHandle, SuperVersion, WalState, lock};
use crate::stats::{LevelStats, Stats};
use crate::version::{Deleter, Version};
use crate::wal::WalWriter;
use crate::{Error, Options, Result, WriteBatch, WriteOptions, background};

/// The pluggable parts of a database, for [`Db::open_with_components`].
pub struct Components<M, S, C> {
    /// Makes an empty memtable; called at open and whenever a full memtable is sealed.
    pub memtable: Box<dyn Fn() -> M + Send + Sync>,
    /// Where tables live. It should keep its files in the database directory or its own.
    pub store: S,
    /// Picks compactions.
    pub policy: C,
}

/// An open database. See the [crate docs](crate) for an example.
///
/// `M` is the memtable, `S` the table store and `C` the compaction policy; the defaults
/// choose each at run time from [`Options`]. A `Db` is `Send + Sync`: share it between
/// threads with an `Arc` (or `&`).
pub struct Db<M = AnyMemtable, S = ParquetStore, C = AnyPolicy>
where
    M: Memtable + 'static,
    S: SsTableStore + 'static,
    C: CompactionPolicy + 'static,
{
    inner: Arc<Inner<M, S, C>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Db {
    /// Opens (or creates) the database in `dir` with the memtable, compression and
    /// compaction policy named in `options`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming a bad option; [`Error::Locked`] when another process
    /// has the directory open; [`Error::Corruption`] when the manifest or a sealed log
    /// segment is damaged; [`Error::Io`].
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        Self::open_on(StdFs::shared(), dir, options)
    }

    /// Opens the database named by [`Options::data_dir`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when `data_dir` is not set, or as [`Db::open`].
    pub fn open_with(options: Options) -> Result<Self> {
        let dir = options
            .data_dir
            .clone()
            .ok_or_else(|| Error::InvalidOption { field: "data_dir", reason: "is required by Db::open_with".into() })?;
        Self::open(dir, options)
    }

    /// Opens the database doing all file I/O through `fs` (tests inject faults this way).
    ///
    /// # Errors
    ///
    /// As [`Db::open`].
    pub fn open_on(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        options.validate()?;
        let dir = dir.as_ref();
        fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Take the lock before the store touches the directory (it removes temp files).
        let lock = take_lock(&fs, dir)?;
        let components = Components::from_options(Arc::clone(&fs), dir, &options)?;
        Self::open_inner(fs, dir, options, components, lock, &ManifestSource::Local)
    }
}

impl Components<AnyMemtable, ParquetStore, AnyPolicy> {
    /// The components [`Db::open`] uses: the memtable and compaction policy named in
    /// `options`, and a Parquet table store in `table_dir` doing its I/O through `fs`. For
    /// callers that put the tables somewhere else (object storage, for one) and open with
    /// [`Db::open_with_manifest_store`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a bad option; the store's errors opening `table_dir`.
    #[expect(
        clippy::expect_used,
        clippy::missing_panics_doc,
        reason = "the memtable factory cannot fail: the same construction succeeded on validated options first"
    )]
    pub fn from_options(fs: Arc<dyn FileSystem>, table_dir: &Path, options: &Options) -> Result<Self> {
        options.validate()?;
        let kind = options.memtable_type;
        let mem_options = options.memtable_options();
        // Validated above, so construction cannot fail.
        AnyMemtable::new(kind, &mem_options)?;
        let memtable =
            Box::new(move || AnyMemtable::new(kind, &mem_options).expect("invariant: options validated at open"));
        let store = ParquetStore::open_with_fs(fs, table_dir, options.parquet_options(true))?;
        let policy = AnyPolicy::new(&options.compaction)?;
        Ok(Self { memtable, store, policy })
    }
}

fn take_lock(fs: &Arc<dyn FileSystem>, dir: &Path) -> Result<Box<dyn strata_core::fs::FileLock>> {
    let path = dir.join("LOCK");
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { dir: dir.to_owned() },
        _ => Error::io(&path, e),
    })
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Db<M, S, C> {
    /// Opens the database in `dir` with your own memtable, table store or compaction
    /// policy. See `examples/custom_components.rs`.
    ///
    /// # Errors
    ///
    /// As [`Db::open`].
    pub fn open_with_components(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: Options,
        components: Components<M, S, C>,
    ) -> Result<Self> {
        Self::open_locked(fs, dir.as_ref(), options, components, &ManifestSource::Local)
    }

    /// Opens the database whose manifest lives in `manifests` (object storage) rather than in
    /// `dir`, which then holds only the write-ahead log and the lock. The table store in
    /// `components` says where the tables live.
    ///
    /// Opening takes the store over: it commits the latest manifest again under the next
    /// writer epoch, so a writer that opened it earlier fails its next commit with
    /// [`Error::Fenced`]. Writes are durable in the local log until a flush puts them in a
    /// table the manifest names; a writer that opens with another local directory recovers
    /// only what was flushed (call [`Db::flush`] before handing over). The `strata-object`
    /// crate opens a database on S3 this way.
    ///
    /// # Errors
    ///
    /// As [`Db::open`]; [`Error::NotFound`] when the store holds no manifest and
    /// `create_if_missing` is off.
    pub fn open_with_manifest_store(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: Options,
        components: Components<M, S, C>,
        manifests: Arc<dyn ManifestStore>,
    ) -> Result<Self> {
        Self::open_locked(fs, dir.as_ref(), options, components, &ManifestSource::Remote(manifests))
    }

    /// Opens a read-only view of the database whose manifest lives in `manifests`, beside a
    /// writer that may be running in another process or on another machine. It serves gets,
    /// iterators and snapshots from the tables of the latest manifest (not the writer's
    /// unflushed writes), and follows the writer when [`Db::refresh`] is called. It writes
    /// nothing: no log, no manifest, and it deletes no table. `dir` is this opener's own
    /// local directory (it is locked, so each opener needs its own).
    ///
    /// Writes fail with [`Error::OpenedReadOnly`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the store holds no manifest; the store's I/O errors;
    /// [`Error::Corruption`] naming a manifest that does not decode.
    pub fn open_read_only(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: Options,
        components: Components<M, S, C>,
        manifests: Arc<dyn ManifestStore>,
    ) -> Result<Self> {
        Self::open_locked(fs, dir.as_ref(), options, components, &ManifestSource::ReadOnly(manifests))
    }

    /// Validates `options`, creates `dir` and takes its lock, then opens.
    fn open_locked(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        options: Options,
        components: Components<M, S, C>,
        source: &ManifestSource,
    ) -> Result<Self> {
        options.validate()?;
        fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = take_lock(&fs, dir)?;
        Self::open_inner(fs, dir, options, components, lock, source)
    }

    fn open_inner(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        options: Options,
        components: Components<M, S, C>,
        lock: Box<dyn strata_core::fs::FileLock>,
        source: &ManifestSource,
    ) -> Result<Self> {
        let Components { memtable, store, policy } = components;
        let store = Arc::new(store);
        let read_only = matches!(source, ManifestSource::ReadOnly(_));
        let recovered = recover(&fs, dir, &options, &*store, &*memtable, source)?;
        let deleter: Deleter = if read_only {
            // The writer owns the tables; a reader never deletes one.
            Arc::new(|_| {})
        } else {
            let store = Arc::clone(&store);
            Arc::new(move |id| {
                if let Err(e) = store.delete(id) {
                    tracing::warn!(table = id, error = %e, "could not delete an obsolete table");
                }
            })
        };
        let version = Arc::new(Version::from_state(&recovered.tree, &deleter));
        let writer =
            if read_only { None } else { Some(WalWriter::create(&fs, dir, recovered.wal_number, options.wal_mmap)?) };
        let active = Arc::new(MemHandle::new(memtable(), recovered.wal_number, options.memtable_filter_bits()));
        let last_seq = recovered.tree.visible_seq();
        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            fs,
            store,
            policy,
            new_memtable: memtable,
            super_version: RwLock::new(Arc::new(SuperVersion { active, immutables: Vec::new(), version })),
            visible_seq: AtomicU64::new(last_seq),
            next_file: AtomicU64::new(recovered.next_file),
            writers: Mutex::default(),
            wal_syncing: AtomicBool::new(false),
            pacer: Mutex::new(crate::pacing::WritePacer::new(options.delayed_write_rate)),
            pacing: AtomicBool::new(false),
            wal: Mutex::new(WalState { writer, last_seq, logged_seq: last_seq }),
            manifest: Mutex::new(ManifestState { manifest: recovered.manifest, tree: recovered.tree }),
            snapshots: Mutex::default(),
            bg: Mutex::new(BgState::default()),
            bg_cv: Condvar::new(),
            bg_error: Mutex::new(read_only.then_some(Error::OpenedReadOnly)),
            stats: crate::stats::Counters::default(),
            rate_limiter: (options.compaction_rate_bytes_per_sec > 0)
                .then(|| strata_core::RateLimiter::new(options.compaction_rate_bytes_per_sec)),
            deleter,
            _lock: lock,
            options,
        });
        if recovered.replay.torn_bytes > 0 {
            tracing::warn!(bytes = recovered.replay.torn_bytes, "dropped a torn log tail at open");
        }
        let mut threads = Vec::new();
        if read_only {
            return Ok(Self { inner, threads: Mutex::new(threads) });
        }
        let spawn = |name: String, f: fn(&Arc<Inner<M, S, C>>)| {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new().name(name).spawn(move || f(&inner)).map_err(|e| Error::io("<thread>", e))
        };
        threads.push(spawn("strata-flush".into(), background::flush_loop)?);
        for i in 0..inner.options.max_background_jobs {
            threads.push(spawn(format!("strata-compact-{i}"), background::compaction_loop)?);
        }
        Ok(Self { inner, threads: Mutex::new(threads) })
    }

    /// Follows the writer: when the manifest store holds a newer manifest than the one this
    /// read-only opener serves, serves that one from now on. Returns whether it changed.
    /// Iterators and snapshots taken before keep the tables they started with; the writer
    /// deletes obsolete tables only after a grace period (see `strata-object`), which
    /// bounds how long such a reader may take.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] on a database not opened with [`Db::open_read_only`]; the
    /// store's I/O errors; [`Error::Corruption`] naming a manifest that does not decode.
    pub fn refresh(&self) -> Result<bool> {
        let inner = &self.inner;
        let mut manifest = lock(&inner.manifest);
        let tree = match &mut manifest.manifest {
            Manifest::Remote(remote) if remote.epoch() == 0 => remote.refresh()?,
            _ => {
                return Err(Error::InvalidOption {
                    field: "refresh",
                    reason: "only a database opened with Db::open_read_only follows a writer".into(),
                });
            }
        };
        let Some(tree) = tree else {
            return Ok(false);
        };
        let version = Arc::new(Version::from_state(&tree, &inner.deleter));
        let seq = tree.visible_seq();
        manifest.tree = tree;
        let replaced = inner.install(|sv| SuperVersion {
            active: Arc::clone(&sv.active),
            immutables: sv.immutables.clone(),
            version,
        });
        inner.visible_seq.fetch_max(seq, Ordering::AcqRel);
        drop(manifest);
        drop(replaced);
        Ok(true)
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLarge`] / [`Error::ValueTooLarge`]; [`Error::Io`] when the log write
    /// fails; [`Error::ReadOnly`] after an earlier background failure.
    pub fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch, WriteOptions::default())
    }

    /// Deletes `key` (a no-op if it is absent).
    ///
    /// # Errors
    ///
    /// As [`Db::put`].
    pub fn delete(&self, key: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch, WriteOptions::default())
    }

    /// Deletes every key in `[start, end)` with one record, however many keys the range
    /// holds: reads at this write and after it no longer see them; snapshots taken before it
    /// still do; a later put inside the range is visible. The space is reclaimed by
    /// compaction, at once (without reading) for tables the range covers whole.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..10 {
    ///     db.put(format!("k{i}"), "v")?;
    /// }
    /// db.delete_range("k2", "k5")?;
    /// let keys: Vec<_> = db.iter(..).map(|kv| kv.map(|(k, _)| k)).collect::<Result<_, _>>()?;
    /// assert_eq!(keys, ["k0", "k1", "k5", "k6", "k7", "k8", "k9"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRange`] when `start` sorts after `end` (an empty range writes nothing);
    /// otherwise as [`Db::put`].
    pub fn delete_range(&self, start: impl Into<Bytes>, end: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_range(start, end);
        if batch.is_empty() {
            return Ok(());
        }
        self.write(batch, WriteOptions::default())
    }

    /// Applies `batch` atomically.
    ///
    /// # Errors
    ///
    /// As [`Db::put`]; on error none of the batch is applied.
    pub fn write(&self, batch: WriteBatch, options: WriteOptions) -> Result<()> {
        self.inner.write(batch, options)
    }

    /// The current value of `key`.
    ///
    /// # Errors
    ///
    /// I/O errors and [`Error::Corruption`] from the tables read.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get_at(key.as_ref(), self.inner.visible_seq.load(Ordering::Acquire))
    }

    /// A snapshot: reads through it see the database as it is now, whatever is written
    /// later. Released when dropped.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot<M, S, C> {
        Snapshot::new(&self.inner)
    }

    /// Keys and values in `range`, in key order, as of now. Accepts Rust ranges of
    /// byte-string-like keys (`"a".."m"`, `..`) or a [`KeyRange`].
    pub fn iter(&self, range: impl Into<KeyRange>) -> DbIter<M, S> {
        let snapshot = self.inner.visible_seq.load(Ordering::Acquire);
        self.inner.iter_at(&range.into(), snapshot)
    }

    /// Keys starting with `prefix`, in key order, as of now.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter<M, S> {
        self.iter(KeyRange::prefix(prefix.as_ref()))
    }

    /// Keys and values in `range`, in descending key order, as of now: the last key first.
    /// Takes ranges as [`iter`](Self::iter) does.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for (k, v) in [("t/1", "a"), ("t/2", "b"), ("t/3", "c"), ("u/1", "d")] {
    ///     db.put(k, v)?;
    /// }
    /// // The newest two entries under `t/`, newest first.
    /// let last: Vec<_> = db.prefix_rev("t/").take(2).collect::<Result<_, _>>()?;
    /// assert_eq!(last, [("t/3".into(), "c".into()), ("t/2".into(), "b".into())]);
    /// // The greatest key before `t/3`.
    /// let (key, _) = db.iter_rev(.."t/3").next().transpose()?.expect("a key before t/3");
    /// assert_eq!(key, "t/2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter_rev(&self, range: impl Into<KeyRange>) -> DbRevIter<M, S> {
        let snapshot = self.inner.visible_seq.load(Ordering::Acquire);
        self.inner.iter_rev_at(&range.into(), snapshot)
    }

    /// Keys starting with `prefix`, in descending key order, as of now.
    pub fn prefix_rev(&self, prefix: impl AsRef<[u8]>) -> DbRevIter<M, S> {
        self.iter_rev(KeyRange::prefix(prefix.as_ref()))
    }

    /// Seals the active memtable (if it holds anything) and waits until every sealed
    /// memtable is written to a table. While a caller waits here, a memtable of 4 MiB or more
    /// with no range tombstone is written as up to
    /// [`Options::max_subcompactions`](crate::Options::max_subcompactions) L0 tables of
    /// disjoint key ranges at once, on as many threads.
    ///
    /// # Errors
    ///
    /// A background failure of the flush, or [`Error::ReadOnly`].
    pub fn flush(&self) -> Result<()> {
        self.inner.check_bg_error()?;
        // Counted before the seal, so the flush thread sees a waiter when it takes the
        // memtable up and may spread it over several threads.
        lock(&self.inner.bg).flush_waiters += 1;
        let flushed = (|| {
            // Sealing takes the log lock, which a committing write group holds, so no group
            // is left half in the sealed memtable.
            if !self.inner.current().active.mem.is_empty() {
                self.inner.rotate_memtable()?;
            }
            self.inner.wait_until(|inner| Ok(inner.current().immutables.is_empty()))
        })();
        lock(&self.inner.bg).flush_waiters -= 1;
        flushed
    }

    /// Waits until background work is done: every sealed memtable flushed, no compaction
    /// running, and the compaction policy finding nothing to do in the tree. Writes may go
    /// on meanwhile; the call returns once it has seen a moment with nothing pending, so
    /// with a steady stream of writes it may wait for a long time. For a measurement of the
    /// bytes compaction writes that does not depend on where in its cycle it was stopped,
    /// before a backup of the files, or before timing reads. With
    /// [`Options::enable_background_compaction`](crate::Options::enable_background_compaction)
    /// off it waits for the flushes only.
    ///
    /// # Errors
    ///
    /// A background failure (as [`Error::ReadOnly`]); [`Error::Closed`] when the database
    /// shuts down first.
    pub fn wait_for_compactions(&self) -> Result<()> {
        let compactions = self.inner.options.enable_background_compaction;
        self.inner.wait_until(|inner| {
            if !inner.current().immutables.is_empty() {
                return Ok(false);
            }
            let bg = lock(&inner.bg);
            // NOTE: not `bg.flushing`: a flush leaves the immutables when it is installed,
            // and the flag is cleared after that without a wake-up.
            let idle = bg.running_compactions == 0 && bg.forced.is_empty();
            Ok(idle && (!compactions || bg.settled_epoch == Some(bg.epoch)))
        })
    }

    /// Compacts every table whose keys overlap `range` until the policy has nothing left
    /// to do there, after flushing the memtables. With leveled compaction the range ends
    /// up in the bottom level.
    ///
    /// # Errors
    ///
    /// A failure of the flush or of a compaction. A failed compaction stops writes, as it
    /// does when it runs in the background: later writes fail with [`Error::ReadOnly`].
    pub fn compact_range(&self, range: impl Into<KeyRange>) -> Result<()> {
        let range = range.into();
        // Counted before the flush: the table it adds to L0 can set off a background merge
        // of the tables this call would merge, and the call then waits for that merge.
        lock(&self.inner.bg).compact_range_waiters += 1;
        let compacted = self.compact_range_counted(&range);
        lock(&self.inner.bg).compact_range_waiters -= 1;
        compacted
    }

    /// [`Db::compact_range`] once it is counted among the waiters.
    fn compact_range_counted(&self, range: &KeyRange) -> Result<()> {
        self.flush()?;
        loop {
            let (epoch, shutdown) = self.inner.epoch();
            if shutdown {
                return Err(Error::Closed);
            }
            let state = self.inner.current().version.level_state(&HashSet::new(), crate::compact::now_ms());
            let levels = self.inner.policy.num_levels().max(1);
            let target_size = self.inner.options.max_memtable_size as u64;
            // Straight to where the policy leaves data of this size: through L1 it would be
            // pushed down again at once, writing every byte twice.
            let settled = self.inner.policy.settled_level(state.total_bytes());
            let Some(task) = strata_compaction::compact_range_task(&state, levels, range, target_size, settled) else {
                return Ok(());
            };
            lock(&self.inner.bg).forced.push_back(task);
            // Run it here rather than waiting for a worker: compact_range is a foreground call.
            if let Some(task) = self.inner.claim_compaction(false) {
                if let Err(e) = self.inner.run_compaction(&task, true) {
                    // The same failure in a background compaction stops writes; it does here too.
                    self.inner.set_bg_error(e.clone());
                    return Err(e);
                }
            } else {
                // Its tables are busy in a background compaction: wait for that to change
                // the tree (the epoch was read before planning, so no change is missed).
                self.inner.wait_past(epoch);
            }
            self.inner.check_bg_error()?;
        }
    }

    /// Makes `dest` an openable copy of the database as of one sequence number (returned
    /// in [`CheckpointInfo::seq`](crate::CheckpointInfo::seq)): every write up to it, none after. Writes and reads go on
    /// meanwhile; only the memtables are flushed first.
    ///
    /// Tables are hard-linked into `dest` where the file system allows (the same device),
    /// so a checkpoint costs little space until the source compacts those tables away, and
    /// copied otherwise. The checkpoint is independent of the source: deleting or
    /// compacting either leaves the other intact. Open it with [`Db::open`] like any
    /// database (its log is empty).
    ///
    /// `dest` must not exist or must be an empty directory. If the call fails, what it
    /// put in `dest` is removed again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `dest` is not empty; [`Error::Io`] when creating,
    /// linking, copying or syncing fails; a flush failure; [`Error::Table`] with
    /// `Unsupported` for a custom table store that cannot export its tables.
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<crate::CheckpointInfo> {
        self.inner.checkpoint(dest.as_ref())
    }

    /// Ingests Parquet files written by any tool (pyarrow, DuckDB, Spark, ...): each needs a
    /// binary or string key column and value column (named in `options`, `key` and `value`
    /// by default). Rows may come in any order and repeat keys ([`IngestOptions::duplicates`](crate::IngestOptions::duplicates)
    /// says whether the last row wins or the ingest fails).
    ///
    /// The rows become tables that every later read sees at once, as if they were one
    /// write batch: all at one new sequence number ([`IngestSummary::seq`](crate::IngestSummary::seq)), newer than
    /// every earlier write, so they replace earlier values of their keys, and a snapshot
    /// taken before the call does not see them. The tables go to the deepest level where
    /// they overlap no existing table (after a flush if the memtables hold keys in their
    /// range), as RocksDB's `IngestExternalFile` places files.
    ///
    /// It is atomic: on any error nothing is ingested and the tables written so far are
    /// deleted. Sorted input is streamed; unsorted input is sorted with at most
    /// [`IngestOptions::sort_memory`](crate::IngestOptions::sort_memory) bytes in memory, spilling sorted runs to temporary
    /// tables. Reads go on throughout; writes go on while the input is checked and sorted,
    /// and wait while the final tables are written and committed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the file for a missing or non-binary key or value
    /// column, a column that is neither (unless [`ExtraColumns::Ignore`](crate::ExtraColumns)),
    /// a null key or value, a key or value over the size limits, or a repeated key with
    /// [`DuplicateKeys::Error`](crate::DuplicateKeys); [`Error::Corruption`] naming the file
    /// when it is not readable Parquet; [`Error::InvalidOption`] for bad `options`;
    /// [`Error::Io`]; [`Error::ReadOnly`] after a background failure.
    pub fn ingest<P: AsRef<Path>>(
        &self,
        files: impl IntoIterator<Item = P>,
        options: &crate::IngestOptions,
    ) -> Result<crate::IngestSummary> {
        let files: Vec<PathBuf> = files.into_iter().map(|p| p.as_ref().to_owned()).collect();
        self.inner.ingest(&files, options)
    }

    /// Reads every live table whole and checks it, while reads and writes go on: each page
    /// passes its checksum and decoder, the rows are in order, and their count, tombstones,
    /// first and last keys and sequence numbers match the manifest's record of the table.
    /// With [`VerifyOptions::point_lookups`](crate::VerifyOptions::point_lookups) (the default), each key is also looked up by
    /// itself through the point-read path (Bloom filter, page index, key page) and must be
    /// found. Below L0, each level's tables must be in key order and share no key.
    ///
    /// The tables checked are those live when the call begins (flush first to include the
    /// memtables' writes). A problem in one table does not stop the others from being checked:
    /// [`VerifyReport::problems`](crate::VerifyReport::problems) lists every one, damage as [`Error::Corruption`] naming the
    /// table's file.
    #[must_use]
    pub fn verify(&self, options: &crate::VerifyOptions) -> crate::VerifyReport {
        self.inner.verify(options)
    }

    /// Counters and the shape of the tree.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let c = &self.inner.stats;
        let sv = self.inner.current();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            writes: load(&c.writes),
            write_groups: load(&c.write_groups),
            wal_syncs: load(&c.wal_syncs),
            user_bytes: load(&c.user_bytes),
            flush_stalls: load(&c.flush_stalls),
            l0_stop_stalls: load(&c.l0_stop_stalls),
            stall_micros: load(&c.stall_micros),
            slowdowns: load(&c.slowdowns),
            slowdown_micros: load(&c.slowdown_micros),
            memtables_sealed: load(&c.memtables_sealed),
            flushes: load(&c.flushes),
            flush_bytes: load(&c.flush_bytes),
            compactions: load(&c.compactions),
            compaction_bytes_read: load(&c.compaction_bytes_read),
            compaction_bytes_written: load(&c.compaction_bytes_written),
            compaction_rows_rewritten: load(&c.compaction_rows_rewritten),
            compaction_rows_copied: load(&c.compaction_rows_copied),
            seek_compactions: load(&c.seek_compactions),
            compaction_throttled_micros: self
                .inner
                .rate_limiter
                .as_ref()
                .map_or(0, |r| u64::try_from(r.waited().as_micros()).unwrap_or(u64::MAX)),
            active_memtable_bytes: sv.active.mem.approximate_memory_usage(),
            immutable_memtables: sv.immutables.len(),
            levels: sv
                .version
                .levels
                .iter()
                .map(|ts| LevelStats { tables: ts.len(), bytes: ts.iter().map(|t| t.meta.file_size).sum() })
                .collect(),
            last_seq: self.inner.visible_seq.load(Ordering::Acquire),
            snapshots: lock(&self.inner.snapshots).values().sum(),
            store: self.inner.store.stats(),
        }
    }

    /// The data directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the database was opened with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The table store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Waits for background work (pending flushes, running compactions) to finish, stops
    /// the background threads, and seals the log: a clean close records where the log ends,
    /// so damage found there at the next open is reported as corruption, never dropped as a
    /// torn write. Dropping the `Db` does the same.
    ///
    /// # Errors
    ///
    /// The first background failure, if one happened; else the failure to seal the log.
    pub fn close(self) -> Result<()> {
        let sealed = self.shutdown();
        match lock(&self.inner.bg_error).clone() {
            // Being read-only is how it was opened, not a failure.
            Some(Error::OpenedReadOnly) => sealed,
            Some(e) => Err(e),
            None => sealed,
        }
    }

    /// Stops the background threads and seals the log, once; later calls do nothing.
    fn shutdown(&self) -> Result<()> {
        let first = {
            let mut bg = lock(&self.inner.bg);
            !std::mem::replace(&mut bg.shutdown, true)
        };
        self.inner.notify_bg();
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
        if first { self.inner.seal_log() } else { Ok(()) }
    }

    /// The live tables of every level (L0 newest first, deeper levels by smallest key).
    #[must_use]
    pub fn tables(&self) -> Vec<Vec<strata_sstable::TableMeta>> {
        self.inner.current().version.levels.iter().map(|ts| ts.iter().map(|t| t.meta.clone()).collect()).collect()
    }

    /// Ids of every live table, for tests and tools.
    #[must_use]
    pub fn live_tables(&self) -> HashSet<TableId> {
        self.inner.current().version.all_ids()
    }

    /// The files of the data directory, for tests and tools.
    ///
    /// # Errors
    ///
    /// The I/O error of listing the directory.
    pub fn list_files(&self) -> Result<Vec<PathBuf>> {
        let names = self.inner.fs.list_dir(&self.inner.dir).map_err(|e| Error::io(&self.inner.dir, e))?;
        Ok(names.into_iter().map(|n| self.inner.dir.join(n)).collect())
    }
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Drop for Db<M, S, C> {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "could not seal the log at close; the next open treats its tail as possibly torn");
        }
    }
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> std::fmt::Debug for Db<M, S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a failed step is a failed test")]

    use super::*;

    #[test]
    fn background_merges_take_every_range_while_compact_range_waits() {
        let dir = tempfile::tempdir().unwrap();
        let db: Db = Db::open(dir.path(), Options { max_subcompactions: 2, ..Options::default() }).unwrap();
        let version = Arc::clone(&db.inner.current().version);
        // On two cores a background merge leaves the foreground one; with more it takes both.
        let background = db.inner.subcompactions(false, &version);
        assert_eq!(background, crate::compact::subcompactions(2, false, crate::compact::cores()));
        // While a compact_range call waits, a background merge is waited for too.
        lock(&db.inner.bg).compact_range_waiters += 1;
        assert_eq!(db.inner.subcompactions(false, &version), 2);
        lock(&db.inner.bg).compact_range_waiters -= 1;
        assert_eq!(db.inner.subcompactions(false, &version), background);

        // The call counts itself while it runs, and not after, whether it succeeds or fails.
        db.put("k", "v").unwrap();
        db.compact_range(..).unwrap();
        assert_eq!(lock(&db.inner.bg).compact_range_waiters, 0);
        lock(&db.inner.bg).shutdown = true;
        assert!(matches!(db.compact_range(..), Err(Error::Closed)));
        assert_eq!(lock(&db.inner.bg).compact_range_waiters, 0);
        lock(&db.inner.bg).shutdown = false;
    }
}
