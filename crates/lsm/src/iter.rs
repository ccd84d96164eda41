//! Range iteration: a streaming merge of every memtable and table that can hold keys of
//! the range, filtered by the visibility rule at a snapshot.
//!
//! The iterator owns what it reads (the super version it was built from), so it keeps
//! working, on an unchanging view, while writes, flushes and compactions go on.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use strata_core::{Entry, KeyRange, LastKey, MergeIter, RangeDelIndex, SeqNo, VisibleIter};
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::state::{MemHandle, SuperVersion};
use crate::version::TableHandle;
use crate::{Error, Result};

/// Older versions of one key a memtable source steps over before it seeks past the key
/// instead (a hot key updated thousands of times holds as many versions).
const MAX_VERSION_SKIPS: usize = 8;

/// What a source does with the next entry it read.
enum Step {
    /// Yield it: the newest version of its key the snapshot sees.
    Yield,
    /// Step over it: newer than the snapshot, or an older version of the key just yielded.
    Skip,
    /// Step over it and reopen the source past its key: one more older version than
    /// [`MAX_VERSION_SKIPS`].
    SeekPast,
}

/// The rule every source of the merge applies: it yields at most one version per key, the
/// newest one the snapshot sees, which is the only one of this source that can decide the key.
struct NewestVersions {
    snapshot: SeqNo,
    /// The last key yielded.
    last: LastKey,
    /// Older versions of `last` stepped over so far.
    skipped: usize,
}

impl NewestVersions {
    fn new(snapshot: SeqNo) -> Self {
        Self { snapshot, last: LastKey::default(), skipped: 0 }
    }

    fn step(&mut self, e: &Entry) -> Step {
        if e.seq > self.snapshot {
            return Step::Skip;
        }
        if self.last.is(&e.key) {
            self.skipped += 1;
            if self.skipped > MAX_VERSION_SKIPS {
                self.skipped = 0;
                return Step::SeekPast;
            }
            return Step::Skip;
        }
        self.skipped = 0;
        self.last.set(&e.key);
        Step::Yield
    }
}

/// A memtable's own range iterator, held together with the memtable it walks, so the
/// source owns its position: it walks on from where it stopped instead of seeking again,
/// and copies only the entries the merge takes (and the one it looks ahead at).
///
/// Yields the newest visible version of each key ([`NewestVersions`]); past more than
/// [`MAX_VERSION_SKIPS`] older versions of one key it walks again from past the key.
struct MemSource<M: Memtable + 'static> {
    /// Borrows `*mem`. Declared first so it is dropped first.
    iter: M::Iter<'static>,
    mem: Arc<MemHandle<M>>,
    range: KeyRange,
    versions: NewestVersions,
}

impl<M: Memtable + 'static> MemSource<M> {
    fn new(mem: &Arc<MemHandle<M>>, range: KeyRange, snapshot: SeqNo) -> Self {
        // SAFETY: the iterator is stored beside a clone of `mem`, in `iter`, which is
        // dropped first.
        let iter = unsafe { Self::walk(mem, &range) };
        Self { iter, mem: Arc::clone(mem), range, versions: NewestVersions::new(snapshot) }
    }

    /// The memtable's iterator over `range`, with its borrow extended to `'static`.
    ///
    /// # Safety
    ///
    /// The iterator must be dropped while an `Arc` to the same memtable is still held: store
    /// it in a source's `iter`, beside such a clone in `mem`, and never hand it out.
    unsafe fn walk(mem: &Arc<MemHandle<M>>, range: &KeyRange) -> M::Iter<'static> {
        // SAFETY: the memtable lives inside the `Arc` allocation, which does not move or get
        // freed while any `Arc` to it exists, and the caller keeps one for as long as the
        // iterator lives (the source's field order drops `iter` before `mem`).
        let m: &'static M = unsafe { &*std::ptr::addr_of!((*Arc::as_ptr(mem)).mem) };
        m.range(range)
    }

    /// Restarts the walk just past every version of `key`.
    fn seek_past(&mut self, key: Bytes) {
        let range = KeyRange::new(Bound::Excluded(key), self.range.end().map(Bytes::copy_from_slice));
        // SAFETY: stored in `iter`, beside `mem`, the `Arc` it borrows through; the iterator it
        // replaces is dropped here, while `mem` is still held.
        self.iter = unsafe { Self::walk(&self.mem, &range) };
    }
}

impl<M: Memtable + 'static> Iterator for MemSource<M> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            let e = self.iter.next()?;
            match self.versions.step(&e) {
                Step::Yield => return Some(Ok(e)),
                Step::Skip => {}
                Step::SeekPast => self.seek_past(e.key),
            }
        }
    }
}

/// The tables of one sorted level (or one L0 table), opened one at a time as the scan reaches
/// them. Yields the newest visible version of each key ([`NewestVersions`]); after
/// [`MAX_VERSION_SKIPS`] older versions of one key it reopens the table's scan past the key, so the thousands of versions an update-heavy workload leaves on a hot key cost one
/// page lookup instead of a decode each.
struct LevelSource<S: SsTableStore> {
    store: Arc<S>,
    tables: VecDeque<Arc<TableHandle>>,
    range: KeyRange,
    /// The table being scanned, and its scan.
    current: Option<(Arc<TableHandle>, S::Scan)>,
    versions: NewestVersions,
}

impl<S: SsTableStore> LevelSource<S> {
    /// Scans `table` over the source's range, from just past `past` when given. On failure
    /// the source ends after the error.
    fn start(&mut self, table: Arc<TableHandle>, past: Option<Bytes>) -> Result<()> {
        let range = match past {
            None => self.range.clone(),
            Some(key) => KeyRange::new(Bound::Excluded(key), self.range.end().map(Bytes::copy_from_slice)),
        };
        match self.store.scan(table.meta.id, &range) {
            Ok(scan) => {
                self.current = Some((table, scan));
                Ok(())
            }
            Err(e) => {
                (self.current, self.tables) = (None, VecDeque::new());
                Err(e.into())
            }
        }
    }
}

impl<S: SsTableStore> Iterator for LevelSource<S> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some((table, scan)) = &mut self.current {
                match scan.next() {
                    Some(Ok(e)) => match self.versions.step(&e) {
                        Step::Yield => return Some(Ok(e)),
                        Step::Skip => continue,
                        Step::SeekPast => {
                            let table = Arc::clone(table);
                            if let Err(e) = self.start(table, Some(e.key)) {
                                return Some(Err(e));
                            }
                            continue;
                        }
                    },
                    Some(Err(e)) => return Some(Err(e.into())),
                    None => self.current = None,
                }
            }
            let table = self.tables.pop_front()?;
            if let Err(e) = self.start(table, None) {
                return Some(Err(e));
            }
        }
    }
}

enum Source<M: Memtable + 'static, S: SsTableStore> {
    Mem(MemSource<M>),
    Level(LevelSource<S>),
}

impl<M: Memtable + 'static, S: SsTableStore> Iterator for Source<M, S> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        match self {
            Self::Mem(m) => m.next(),
            Self::Level(l) => l.next(),
        }
    }
}

/// A forward iterator over `(key, value)` pairs in key order, as of one snapshot.
///
/// Items are `Result`s: a table read can fail (I/O, corruption), and the iterator ends
/// after yielding such an error.
///
/// The `Bytes` it yields share memory instead of each holding its own: a pair from a table is
/// a slice of the decoded page, one from a memtable a slice of a buffer of up to 32 KiB that
/// the pairs copied next to it share. Keeping one pair keeps that memory alive; to keep a few
/// pairs of a long scan for long, copy them (`Bytes::copy_from_slice`).
pub struct DbIter<M: Memtable + 'static, S: SsTableStore> {
    inner: VisibleIter<MergeIter<Source<M, S>, Error>>,
    /// The range tombstones of every source, as the snapshot sees them; `None` when there
    /// are none (the usual case, which then costs nothing per entry).
    range_dels: Option<RangeDelIndex>,
    snapshot: SeqNo,
    /// L0 tables merged in as sources (`Options::seek_compaction_bytes`).
    pub(crate) l0_sources: usize,
    _pin: Arc<SuperVersion<M>>,
}

impl<M: Memtable + 'static, S: SsTableStore> DbIter<M, S> {
    pub(crate) fn new(sv: Arc<SuperVersion<M>>, store: &Arc<S>, range: &KeyRange, snapshot: SeqNo) -> Self {
        let mut sources = Vec::new();
        let mut tombstones = Vec::new();
        let mut l0_sources = 0;
        for m in std::iter::once(&sv.active).chain(&sv.immutables) {
            if let Some(index) = m.range_dels() {
                tombstones.extend(index.tombstones().iter().cloned());
            }
        }
        let mem_source = |m: &Arc<MemHandle<M>>| Source::Mem(MemSource::new(m, range.clone(), snapshot));
        sources.push(mem_source(&sv.active));
        sources.extend(sv.immutables.iter().map(mem_source));
        let covers =
            |t: &&Arc<TableHandle>| t.meta.min_seq <= snapshot && range.overlaps(&t.meta.min_key, &t.meta.max_key);
        for level in 0..sv.version.levels.len() {
            let tables = sv.version.overlapping(level, range);
            for t in tables.iter().filter(covers) {
                tombstones.extend(t.range_dels.tombstones().iter().cloned());
            }
            let level_source = |tables: VecDeque<Arc<TableHandle>>| {
                Source::Level(LevelSource {
                    store: Arc::clone(store),
                    tables,
                    range: range.clone(),
                    current: None,
                    versions: NewestVersions::new(snapshot),
                })
            };
            if level == 0 {
                // L0 tables overlap: each is its own source, newest first.
                let before = sources.len();
                sources.extend(tables.iter().filter(covers).map(|t| level_source(VecDeque::from([Arc::clone(t)]))));
                l0_sources = sources.len() - before;
            } else {
                let tables: VecDeque<_> = tables.iter().filter(covers).cloned().collect();
                if !tables.is_empty() {
                    sources.push(level_source(tables));
                }
            }
        }
        tombstones.retain(|t| t.seq <= snapshot && range.overlaps(&t.start, &t.end));
        let range_dels = (!tombstones.is_empty()).then(|| RangeDelIndex::new(tombstones));
        Self { inner: VisibleIter::new(MergeIter::new(sources), snapshot), range_dels, snapshot, l0_sources, _pin: sv }
    }
}

impl<M: Memtable + 'static, S: SsTableStore> Iterator for DbIter<M, S> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.inner.next()?;
            if let (Ok(e), Some(index)) = (&item, &self.range_dels)
                && index.deletes(&e.key, e.seq, self.snapshot)
            {
                continue;
            }
            return Some(item.map(|e| (e.key, e.value)));
        }
    }
}

impl<M: Memtable + 'static, S: SsTableStore> std::fmt::Debug for DbIter<M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIter").field("snapshot", &self.inner.snapshot()).finish_non_exhaustive()
    }
}
