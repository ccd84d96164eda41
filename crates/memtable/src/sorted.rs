//! `sorted`: a sorted array searched by binary search.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(log n) search, then a shift of up to [`RUN`] entries |
//! | get | O(log n), two binary searches |
//! | scan | O(log n) seek, then O(1) per entry, copied out in chunks |
//!
//! The array is cut into runs of at most [`RUN`] entries, each sorted, in order: one flat
//! array would shift half of everything on every random insert, which is quadratic and
//! unusable past a few tens of thousands of entries. A full run splits in two.
//!
//! A single reader-writer lock guards the array: inserts are serialized, reads proceed in
//! parallel. Iterators copy a chunk at a time under the read lock (see `cursor`), so a slow
//! reader never blocks writers for long.
//!
//! Choose it for read-mostly memtables that want compact, cache-friendly lookups and cheap
//! ordered scans, with a modest write rate from few threads.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::Memtable;
use crate::cursor::{ChunkSource, ChunkedIter};
use crate::slot::{Slot, start_index};

/// The most entries one run holds before it splits.
pub const RUN: usize = 256;

#[derive(Default)]
struct Runs {
    runs: Vec<Vec<Slot>>,
    len: usize,
}

impl Runs {
    /// Bytes of the run vectors: the outer array and every run's capacity.
    fn container_bytes(&self) -> usize {
        self.runs.capacity() * size_of::<Vec<Slot>>()
            + self.runs.iter().map(|r| r.capacity()).sum::<usize>() * size_of::<Slot>()
    }

    /// The greatest key before `end` (of all when `None`).
    fn key_before(&self, end: Option<&[u8]>) -> Option<Bytes> {
        let last = self.runs.len().checked_sub(1)?;
        let r = end.map_or(last, |key| self.run_for(key, SeqNo::MAX));
        // Runs are in order, so the last entry before `end` is in run `r` or ends one before it.
        self.runs[..=r]
            .iter()
            .rev()
            .find_map(|run| {
                let n = end.map_or(run.len(), |key| {
                    run.partition_point(|x| x.cmp_to(key, SeqNo::MAX) == std::cmp::Ordering::Less)
                });
                run[..n].last()
            })
            .map(|slot| Bytes::copy_from_slice(&slot.key))
    }

    /// The run that holds, or would hold, internal key `(key, seq)`: the last run whose
    /// first entry is not after it.
    fn run_for(&self, key: &[u8], seq: SeqNo) -> usize {
        self.runs
            .partition_point(|r| r.first().is_some_and(|f| f.cmp_to(key, seq) != std::cmp::Ordering::Greater))
            .saturating_sub(1)
    }
}

/// The `sorted` memtable. See the [module docs](self).
#[derive(Default)]
pub struct SortedMemtable {
    inner: RwLock<Runs>,
    bytes: AtomicUsize,
}

impl std::fmt::Debug for SortedMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SortedMemtable").field("len", &self.len()).finish()
    }
}

impl SortedMemtable {
    /// An empty memtable.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Runs> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Memtable for SortedMemtable {
    type Iter<'a> = ChunkedIter<'a, Self>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let slot = Slot::new(key, seq, kind, value);
        let payload = slot.heap_bytes();
        let mut guard = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let runs = &mut *guard;
        let before = runs.container_bytes();
        if runs.runs.is_empty() {
            runs.runs.push(Vec::with_capacity(4));
        }
        let r = runs.run_for(key, seq);
        let run = &mut runs.runs[r];
        let pos = run.partition_point(|x| x.cmp_slot(&slot) == std::cmp::Ordering::Less);
        run.insert(pos, slot);
        if run.len() > RUN {
            let upper = run.split_off(run.len() / 2);
            runs.runs.insert(r + 1, upper);
        }
        runs.len += 1;
        let after = runs.container_bytes();
        drop(guard);
        // Containers only grow, so `after >= before`.
        self.bytes.fetch_add(after - before + payload, Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let runs = self.read();
        if runs.runs.is_empty() {
            return None;
        }
        // The first version at or after (key, snapshot) may open the next run.
        let r = runs.run_for(key, snapshot);
        for run in &runs.runs[r..(r + 2).min(runs.runs.len())] {
            let i = run.partition_point(|x| x.cmp_to(key, snapshot) == std::cmp::Ordering::Less);
            if let Some(slot) = run.get(i) {
                return (&slot.key[..] == key).then(|| slot.to_version());
            }
        }
        None
    }

    fn range(&self, range: &KeyRange) -> ChunkedIter<'_, Self> {
        ChunkedIter::new(self, range)
    }

    fn key_before(&self, start: Bound<&[u8]>, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        let runs = self.read();
        crate::memtable::step_back(start, end, back, |end| runs.key_before(end))
    }

    fn len(&self) -> usize {
        self.read().len
    }

    fn approximate_memory_usage(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        false
    }
}

impl ChunkSource for SortedMemtable {
    fn fill_chunk(&self, range: &KeyRange, after: Option<(&[u8], SeqNo)>, max: usize, out: &mut VecDeque<Entry>) {
        let runs = self.read();
        if runs.runs.is_empty() {
            return;
        }
        let mut r = match after {
            Some((k, s)) => runs.run_for(k, s),
            None => match range.start() {
                std::ops::Bound::Included(k) | std::ops::Bound::Excluded(k) => runs.run_for(k, SeqNo::MAX),
                std::ops::Bound::Unbounded => 0,
            },
        };
        let mut i = start_index(&runs.runs[r], range.start(), after);
        while out.len() < max {
            let Some(run) = runs.runs.get(r) else { return };
            let Some(slot) = run.get(i) else {
                (r, i) = (r + 1, 0);
                continue;
            };
            if range.is_past_end(&slot.key) {
                return;
            }
            i += 1;
            // Versions of an excluded start key can continue into the next run.
            if range.is_before_start(&slot.key) {
                continue;
            }
            out.push_back(slot.to_entry());
        }
    }
}
