//! Range iteration: a streaming merge of every memtable and table that can hold keys of
//! the range, filtered by the visibility rule at a snapshot.
//!
//! The iterator owns what it reads (the super version it was built from), so it keeps
//! working, on an unchanging view, while writes, flushes and compactions go on.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use strata_core::{Entry, KeyRange, MergeIter, RangeDelIndex, SeqNo, ValueKind, VisibleIter};
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::state::{MemHandle, SuperVersion};
use crate::version::TableHandle;
use crate::{Error, Result};

/// Entries a memtable source copies in its first refill. Seeks read a few dozen entries
/// merged from every source, so copying a full chunk from each memtable up front was most
/// of a seek's cost (a profile of `seekrandom` showed 40 % in the skip list's range walk).
const MEM_FIRST_CHUNK: usize = 16;
/// The most entries a memtable source copies per refill; refills double up to this.
const MEM_CHUNK: usize = 256;

/// Older versions of one key a memtable source steps over before it seeks past the key
/// instead (a hot key updated thousands of times holds as many versions).
const MAX_VERSION_SKIPS: usize = 8;

/// A memtable read in chunks, so the iterator owns its position instead of borrowing the
/// memtable.
///
/// Like every source of the merge, it yields at most one version per key: the newest one the
/// snapshot sees, which is the only one of this source that can decide the key. Older versions
/// are skipped, by seeking past the key once there are more than [`MAX_VERSION_SKIPS`].
struct MemSource<M> {
    mem: Arc<MemHandle<M>>,
    range: KeyRange,
    snapshot: SeqNo,
    buf: VecDeque<Entry>,
    /// The last key yielded (the next refill starts after it).
    last: Option<Bytes>,
    /// Entries the next refill copies.
    chunk: usize,
    done: bool,
}

impl<M: Memtable> MemSource<M> {
    /// Copies the next chunk of entries into one buffer that they all share, so a refill
    /// costs one allocation instead of two per entry (a key and a value): the memtable lends
    /// its bytes through [`Memtable::visit_range`].
    fn refill(&mut self) {
        let end = || self.range.end().map(Bytes::copy_from_slice);
        let mut range = match &self.last {
            None => self.range.clone(),
            Some(k) => KeyRange::new(Bound::Excluded(k.clone()), end()),
        };
        let snapshot = self.snapshot;
        let chunk = self.chunk;
        let mut bytes: Vec<u8> = Vec::new();
        // Per entry taken: where its key starts, where its value starts and ends, its
        // sequence number and kind.
        let mut taken: Vec<(usize, usize, usize, SeqNo, ValueKind)> = Vec::with_capacity(chunk);
        let mut full = false;
        loop {
            let mut skipped = 0;
            let mut seek_past = None;
            let last = self.last.as_deref();
            self.mem.mem.visit_range(&range, &mut |key, seq, kind, value| {
                if seq > snapshot {
                    return true;
                }
                let prev = match taken.last() {
                    Some(&(k, v, ..)) => Some(&bytes[k..v]),
                    None => last,
                };
                if prev == Some(key) {
                    // An older version of the key just taken.
                    skipped += 1;
                    if skipped > MAX_VERSION_SKIPS {
                        seek_past = Some(Bytes::copy_from_slice(key));
                        return false;
                    }
                    return true;
                }
                skipped = 0;
                let k = bytes.len();
                bytes.extend_from_slice(key);
                let v = bytes.len();
                bytes.extend_from_slice(value);
                taken.push((k, v, bytes.len(), seq, kind));
                full = taken.len() == chunk;
                !full
            });
            match seek_past {
                Some(key) if !full => range = KeyRange::new(Bound::Excluded(key), end()),
                _ => break,
            }
        }
        if full {
            self.chunk = (self.chunk * 2).min(MEM_CHUNK);
        } else {
            self.done = true;
        }
        let bytes = Bytes::from(bytes);
        self.buf.extend(taken.into_iter().map(|(k, v, e, seq, kind)| Entry {
            key: bytes.slice(k..v),
            seq,
            kind,
            value: bytes.slice(v..e),
        }));
    }
}

impl<M: Memtable> Iterator for MemSource<M> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if self.buf.is_empty() && !self.done {
            self.refill();
        }
        let e = self.buf.pop_front()?;
        self.last = Some(e.key.clone());
        Some(Ok(e))
    }
}

/// The tables of one sorted level (or one L0 table), opened one at a time as the scan reaches
/// them. Yields at most one version per key, the newest the snapshot sees, as [`MemSource`];
/// after [`MAX_VERSION_SKIPS`] older versions of one key it reopens the table's scan past the
/// key, so the thousands of versions an update-heavy workload leaves on a hot key cost one
/// page lookup instead of a decode each.
struct LevelSource<S: SsTableStore> {
    store: Arc<S>,
    tables: VecDeque<Arc<TableHandle>>,
    range: KeyRange,
    snapshot: SeqNo,
    /// The table being scanned, and its scan.
    current: Option<(Arc<TableHandle>, S::Scan)>,
    /// The last key yielded.
    last: Option<Bytes>,
    /// Older versions of `last` stepped over so far.
    skipped: usize,
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
                    Some(Ok(e)) if e.seq > self.snapshot => continue,
                    Some(Ok(e)) if self.last.as_deref() == Some(&e.key[..]) => {
                        // An older version of the key just yielded.
                        self.skipped += 1;
                        if self.skipped > MAX_VERSION_SKIPS {
                            self.skipped = 0;
                            let (table, past) = (Arc::clone(table), self.last.clone());
                            if let Err(e) = self.start(table, past) {
                                return Some(Err(e));
                            }
                        }
                        continue;
                    }
                    Some(Ok(e)) => {
                        self.skipped = 0;
                        self.last = Some(e.key.clone());
                        return Some(Ok(e));
                    }
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

enum Source<M, S: SsTableStore> {
    Mem(MemSource<M>),
    Level(LevelSource<S>),
}

impl<M: Memtable, S: SsTableStore> Iterator for Source<M, S> {
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
pub struct DbIter<M: Memtable, S: SsTableStore> {
    inner: VisibleIter<MergeIter<Source<M, S>, Error>>,
    /// The range tombstones of every source, as the snapshot sees them; `None` when there
    /// are none (the usual case, which then costs nothing per entry).
    range_dels: Option<RangeDelIndex>,
    snapshot: SeqNo,
    _pin: Arc<SuperVersion<M>>,
}

impl<M: Memtable, S: SsTableStore> DbIter<M, S> {
    pub(crate) fn new(sv: Arc<SuperVersion<M>>, store: &Arc<S>, range: &KeyRange, snapshot: SeqNo) -> Self {
        let mut sources = Vec::new();
        let mut tombstones = Vec::new();
        for m in std::iter::once(&sv.active).chain(&sv.immutables) {
            if let Some(index) = m.range_dels() {
                tombstones.extend(index.tombstones().iter().cloned());
            }
        }
        let mem_source = |m: &Arc<MemHandle<M>>| {
            Source::Mem(MemSource {
                mem: Arc::clone(m),
                range: range.clone(),
                snapshot,
                buf: VecDeque::new(),
                last: None,
                chunk: MEM_FIRST_CHUNK,
                done: false,
            })
        };
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
                    snapshot,
                    current: None,
                    last: None,
                    skipped: 0,
                })
            };
            if level == 0 {
                // L0 tables overlap: each is its own source, newest first.
                sources.extend(tables.iter().filter(covers).map(|t| level_source(VecDeque::from([Arc::clone(t)]))));
            } else {
                let tables: VecDeque<_> = tables.iter().filter(covers).cloned().collect();
                if !tables.is_empty() {
                    sources.push(level_source(tables));
                }
            }
        }
        tombstones.retain(|t| t.seq <= snapshot && range.overlaps(&t.start, &t.end));
        let range_dels = (!tombstones.is_empty()).then(|| RangeDelIndex::new(tombstones));
        Self { inner: VisibleIter::new(MergeIter::new(sources), snapshot), range_dels, snapshot, _pin: sv }
    }
}

impl<M: Memtable, S: SsTableStore> Iterator for DbIter<M, S> {
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

impl<M: Memtable, S: SsTableStore> std::fmt::Debug for DbIter<M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIter").field("snapshot", &self.inner.snapshot()).finish_non_exhaustive()
    }
}
