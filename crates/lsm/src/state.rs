//! The shared state behind a `Db` handle and its background threads.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};

use strata_bloom::{BloomFilter, ConcurrentFilter};
use strata_core::fs::{FileLock, FileSystem};
use strata_core::{RangeDelIndex, RangeTombstone, RateLimiter, SeqNo, ValueKind};
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableId};

use crate::manifest::{Manifest, TreeState};
use crate::stats::Counters;
use crate::version::{Deleter, Version};
use crate::wal::WalWriter;
use crate::write::WriteQueue;
use crate::{Error, Options};

/// A memtable and the log segment that holds its writes.
pub(crate) struct MemHandle<M> {
    pub(crate) mem: M,
    pub(crate) wal_number: u64,
    /// The memory the memtable held when empty (a hash variant's bucket array, an arena's
    /// first block): the flush trigger counts only what writes added on top.
    pub(crate) empty_bytes: usize,
    /// Whether the memtable holds a range tombstone: reads skip the lock below when not.
    has_range_dels: AtomicBool,
    /// The memtable's range tombstones (also entries in it, which flushes carry into the
    /// table) and their fragment index, built at the first read after a change.
    range_dels: RwLock<(Vec<RangeTombstone>, Option<Arc<RangeDelIndex>>)>,
    /// The lowest sequence number inserted (`SeqNo::MAX` while empty). After an ingest a
    /// table can hold numbers newer than this, so a compaction must not treat its keys as
    /// the oldest of all (see `ExecContext::zero_seqs_below`).
    min_seq: AtomicU64,
    /// Every key inserted (`Options::memtable_filter_ratio`), so point reads skip a memtable
    /// that cannot hold theirs. Filled before the write is published through `visible_seq`
    /// (release), which a reader loads (acquire) before it asks.
    filter: Option<ConcurrentFilter>,
}

impl<M: Memtable> MemHandle<M> {
    /// Wraps an empty memtable, with a filter of `filter_bits` bits in front of it (none for
    /// 0, or for a memtable that already holds entries, which the filter would not know).
    pub(crate) fn new(mem: M, wal_number: u64, filter_bits: usize) -> Self {
        let empty_bytes = mem.approximate_memory_usage();
        let filter = (filter_bits > 0 && mem.is_empty()).then(|| ConcurrentFilter::with_num_bits(filter_bits));
        Self {
            mem,
            wal_number,
            empty_bytes,
            has_range_dels: AtomicBool::new(false),
            range_dels: RwLock::new((Vec::new(), None)),
            min_seq: AtomicU64::new(SeqNo::MAX),
            filter,
        }
    }

    /// Whether the memtable may hold `key`. `hash` keeps the key's [`BloomFilter::key_hash`]:
    /// the first memtable asked computes it, the next ones reuse it.
    pub(crate) fn may_contain(&self, key: &[u8], hash: &mut Option<u64>) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain_hash(*hash.get_or_insert_with(|| BloomFilter::key_hash(key))))
    }

    /// Records that inserts numbered from `first` on follow (once per write group: the
    /// group's numbers rise from its first).
    pub(crate) fn note_first_seq(&self, first: SeqNo) {
        self.min_seq.fetch_min(first, Ordering::AcqRel);
    }

    /// The lowest sequence number inserted; `SeqNo::MAX` while empty.
    pub(crate) fn min_seq(&self) -> SeqNo {
        self.min_seq.load(Ordering::Acquire)
    }

    /// Inserts one operation of a batch; a range delete is also indexed for readers.
    pub(crate) fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        if kind == ValueKind::RangeDelete {
            let mut guard = self.range_dels.write().unwrap_or_else(PoisonError::into_inner);
            guard.0.push(RangeTombstone::new(key.to_vec(), value.to_vec(), seq));
            guard.1 = None;
            self.has_range_dels.store(true, Ordering::Release);
        }
        if let Some(filter) = &self.filter {
            filter.insert_hash(BloomFilter::key_hash(key));
        }
        self.mem.insert(key, seq, kind, value);
    }

    /// Whether the memtable holds a range tombstone.
    pub(crate) fn has_range_dels(&self) -> bool {
        self.has_range_dels.load(Ordering::Acquire)
    }

    /// The fragment index of the memtable's range tombstones; `None` when it has none.
    pub(crate) fn range_dels(&self) -> Option<Arc<RangeDelIndex>> {
        if !self.has_range_dels() {
            return None;
        }
        if let Some(index) = &self.range_dels.read().unwrap_or_else(PoisonError::into_inner).1 {
            return Some(Arc::clone(index));
        }
        let mut guard = self.range_dels.write().unwrap_or_else(PoisonError::into_inner);
        let (list, index) = &mut *guard;
        Some(Arc::clone(index.get_or_insert_with(|| Arc::new(RangeDelIndex::new(list.iter().cloned())))))
    }

    /// Bytes written into the memtable, as its memory accounting sees them.
    pub(crate) fn filled_bytes(&self) -> usize {
        self.mem.approximate_memory_usage().saturating_sub(self.empty_bytes)
    }
}

/// Everything a reader needs, swapped whole on every change so a read takes one `Arc`.
pub(crate) struct SuperVersion<M> {
    pub(crate) active: Arc<MemHandle<M>>,
    /// Sealed memtables waiting for flush, newest first.
    pub(crate) immutables: Vec<Arc<MemHandle<M>>>,
    pub(crate) version: Arc<Version>,
}

/// The log writer and the sequence counter, owned by the current write-group leader.
pub(crate) struct WalState {
    /// `None` for a read-only opener, which has no log.
    pub(crate) writer: Option<WalWriter>,
    /// The last sequence number assigned.
    pub(crate) last_seq: SeqNo,
    /// The last sequence number written to the log: below `last_seq` after an ingest, whose
    /// sequence number is in the manifest, not the log. The close seal records this one.
    pub(crate) logged_seq: SeqNo,
}

impl WalState {
    pub(crate) fn writer(&mut self) -> Result<&mut WalWriter, Error> {
        self.writer.as_mut().ok_or(Error::OpenedReadOnly)
    }
}

/// The manifest file and the tree state it describes.
pub(crate) struct ManifestState {
    pub(crate) manifest: Manifest,
    pub(crate) tree: TreeState,
}

/// Background work coordination.
#[derive(Default)]
pub(crate) struct BgState {
    pub(crate) shutdown: bool,
    /// Tables being compacted; policies must not pick them again.
    pub(crate) compacting: HashSet<TableId>,
    /// Compactions running now.
    pub(crate) running_compactions: usize,
    /// A flush is writing a table now.
    pub(crate) flushing: bool,
    /// Callers waiting in [`Db::flush`](crate::Db::flush) (or `compact_range`, which flushes
    /// first): while any wait, a large memtable is written as several tables at once.
    pub(crate) flush_waiters: usize,
    /// Callers in [`Db::compact_range`](crate::Db::compact_range): while any wait, a
    /// background compaction is waited for too, and takes every subcompaction allowed.
    pub(crate) compact_range_waiters: usize,
    /// Incremented whenever the tree or the memtables change, so waiters can re-check.
    pub(crate) epoch: u64,
    /// Forced compactions (`compact_range`) waiting for a worker.
    pub(crate) forced: VecDeque<strata_compaction::CompactionTask>,
    /// The running compactions' output levels and input tables: an ingest must not place
    /// its tables on a level where a running compaction will put overlapping outputs.
    pub(crate) running: Vec<(usize, Vec<TableId>)>,
    /// An ingest is choosing its level and committing: no compaction may start meanwhile.
    pub(crate) ingesting: bool,
    /// The epoch at which a background compaction worker last asked the policy for work and
    /// found none: the tree of that epoch needs no compaction.
    pub(crate) settled_epoch: Option<u64>,
}

pub(crate) struct Inner<M, S, C> {
    pub(crate) dir: PathBuf,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) options: Options,
    pub(crate) store: Arc<S>,
    pub(crate) policy: C,
    pub(crate) new_memtable: Box<dyn Fn() -> M + Send + Sync>,
    pub(crate) super_version: RwLock<Arc<SuperVersion<M>>>,
    /// The highest sequence number whose write is complete and visible to readers.
    pub(crate) visible_seq: AtomicU64,
    pub(crate) next_file: AtomicU64,
    pub(crate) writers: Mutex<WriteQueue>,
    /// Whether a write group's leader waits for the log's fsync (queued writers then sleep
    /// rather than yield).
    pub(crate) wal_syncing: AtomicBool,
    /// The pace of writes while L0 is at or over its slowdown trigger; only a group's
    /// leader takes it.
    pub(crate) pacer: Mutex<crate::pacing::WritePacer>,
    /// Whether the last group was paced (so the next one that is not resets the pacer).
    pub(crate) pacing: AtomicBool,
    pub(crate) wal: Mutex<WalState>,
    pub(crate) manifest: Mutex<ManifestState>,
    /// Live snapshots: sequence number -> how many handles hold it.
    pub(crate) snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    pub(crate) bg: Mutex<BgState>,
    /// Signalled when background work may be available or has finished.
    pub(crate) bg_cv: Condvar,
    pub(crate) bg_error: Mutex<Option<Error>>,
    pub(crate) stats: Counters,
    /// `Options::compaction_rate_bytes_per_sec`, when set.
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) deleter: Deleter,
    pub(crate) _lock: Box<dyn FileLock>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C> Inner<M, S, C> {
    pub(crate) fn current(&self) -> Arc<SuperVersion<M>> {
        Arc::clone(&self.super_version.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the super version with `f(current)`, wakes every waiter, and returns the one
    /// replaced, for the caller to drop once it holds no lock.
    ///
    /// NOTE: dropping the last reference to a super version drops its version, and with it
    /// the handles of tables a compaction made obsolete, which delete their files (unmap,
    /// unlink). Dropped under the write lock, that held every reader's `current()` for as
    /// long; dropped under the manifest lock, every other edit.
    #[must_use = "drop the replaced super version outside any lock"]
    pub(crate) fn install(&self, f: impl FnOnce(&SuperVersion<M>) -> SuperVersion<M>) -> Arc<SuperVersion<M>> {
        let replaced = {
            let mut sv = self.super_version.write().unwrap_or_else(PoisonError::into_inner);
            let next = f(&sv);
            std::mem::replace(&mut *sv, Arc::new(next))
        };
        self.notify_bg();
        replaced
    }

    /// Marks a change waiters may be waiting for: bumps the epoch and wakes every waiter.
    /// Every change of the memtables, the tree, the running compactions, the failure state or
    /// shutdown goes through here, so a waiter that read the epoch before checking its
    /// condition cannot miss the change that makes it true.
    pub(crate) fn notify_bg(&self) {
        let mut bg = lock(&self.bg);
        bg.epoch += 1;
        drop(bg);
        self.bg_cv.notify_all();
    }

    /// The current change epoch and whether the database is shutting down.
    pub(crate) fn epoch(&self) -> (u64, bool) {
        let bg = lock(&self.bg);
        (bg.epoch, bg.shutdown)
    }

    /// Sleeps until the epoch moves past `epoch` (or shutdown starts).
    pub(crate) fn wait_past(&self, epoch: u64) {
        let bg = lock(&self.bg);
        drop(self.bg_cv.wait_while(bg, |bg| !bg.shutdown && bg.epoch == epoch).unwrap_or_else(PoisonError::into_inner));
    }

    /// Blocks until `ready` answers `true`, waking exactly when the state changes (no
    /// polling, no lost wake-ups: the epoch is read before `ready` runs). `ready` runs with
    /// no lock held, so it may take locks of its own.
    ///
    /// # Errors
    ///
    /// The background failure (as [`Error::ReadOnly`]) if one happens first; [`Error::Closed`]
    /// when the database shuts down before `ready` holds; `ready`'s own error.
    pub(crate) fn wait_until(&self, mut ready: impl FnMut(&Self) -> Result<bool, Error>) -> Result<(), Error> {
        loop {
            let (epoch, shutdown) = self.epoch();
            self.check_bg_error()?;
            if ready(self)? {
                return Ok(());
            }
            if shutdown {
                return Err(Error::Closed);
            }
            self.wait_past(epoch);
        }
    }

    pub(crate) fn allocate_file_number(&self) -> u64 {
        self.next_file.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records a background failure: from now on writes are refused with it.
    pub(crate) fn set_bg_error(&self, e: Error) {
        tracing::error!(error = %e, "background failure; writes are now refused");
        let mut slot = lock(&self.bg_error);
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        self.notify_bg();
    }

    pub(crate) fn check_bg_error(&self) -> Result<(), Error> {
        match &*lock(&self.bg_error) {
            // States rather than failures: said as they are.
            Some(e @ (Error::Fenced { .. } | Error::OpenedReadOnly)) => Err(e.clone()),
            Some(e) => Err(Error::ReadOnly(Arc::new(e.clone()))),
            None => Ok(()),
        }
    }

    /// Live snapshot sequence numbers, ascending.
    pub(crate) fn live_snapshots(&self) -> Vec<SeqNo> {
        lock(&self.snapshots).keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use strata_memtable::SkipListMemtable;

    use super::*;

    #[test]
    fn a_memtable_filter_finds_every_key_inserted_and_rules_out_most_others() {
        let handle = MemHandle::new(SkipListMemtable::new(), 1, 1 << 16);
        for i in 0..2_000u32 {
            handle.insert(format!("key{i}").as_bytes(), u64::from(i) + 1, ValueKind::Put, b"v");
        }
        for i in 0..2_000u32 {
            assert!(handle.may_contain(format!("key{i}").as_bytes(), &mut None));
        }
        let others = (0..10_000u32).filter(|i| handle.may_contain(format!("other{i}").as_bytes(), &mut None)).count();
        assert!(others < 500, "{others} of 10,000 absent keys passed the filter");
        // The hash is computed once and handed on.
        let mut hash = None;
        assert!(handle.may_contain(b"key7", &mut hash));
        assert_eq!(hash, Some(BloomFilter::key_hash(b"key7")));
    }

    #[test]
    fn without_a_filter_every_key_may_be_there() {
        let off = MemHandle::new(SkipListMemtable::new(), 1, 0);
        assert!(off.may_contain(b"anything", &mut None));
        // A memtable that already holds entries gets no filter: it would not know them.
        let full = SkipListMemtable::new();
        full.insert(b"old", 1, ValueKind::Put, b"v");
        let handle = MemHandle::new(full, 1, 1 << 16);
        assert!(handle.may_contain(b"old", &mut None));
        assert!(handle.may_contain(b"never-inserted", &mut None));
    }
}
