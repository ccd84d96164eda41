//! `vector`: an append-only vector, sorted when it is read in order or sealed.
//!
//! | operation | cost |
//! |---|---|
//! | insert | amortized O(1): a push |
//! | get | O(log n) on the sorted part plus a scan of the unsorted tail; once the tail exceeds [`SCAN_LIMIT`] entries the vector is sorted first |
//! | scan | sorts the unsorted tail first (O(n) merge of a sorted prefix and a sorted tail), then O(1) per entry |
//!
//! Choose it for bulk loads: write everything, then read or flush once. Inserts are the
//! cheapest of all variants, but reads interleaved with writes pay for sorting. A single
//! reader-writer lock guards the vector; iterators copy a chunk at a time under the read
//! lock (see `cursor`).

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::Memtable;
use crate::cursor::{ChunkSource, ChunkedIter};
use crate::slot::{Slot, start_index};

/// The longest unsorted tail a point lookup scans before it sorts the vector instead.
pub const SCAN_LIMIT: usize = 1024;

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// `slots[..sorted]` is in internal key order.
    sorted: usize,
}

impl State {
    fn sort(&mut self) {
        if self.sorted < self.slots.len() {
            // The stable sort finds the sorted prefix as one run and merges the tail into it.
            self.slots.sort_by(Slot::cmp_slot);
            self.sorted = self.slots.len();
        }
    }
}

/// The `vector` memtable. See the [module docs](self).
#[derive(Default)]
pub struct VectorMemtable {
    state: RwLock<State>,
    bytes: AtomicUsize,
}

impl std::fmt::Debug for VectorMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorMemtable").field("len", &self.len()).finish()
    }
}

impl VectorMemtable {
    /// An empty memtable.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A read guard on a vector whose unsorted tail is at most `limit` entries long.
    fn read_sorted(&self, limit: usize) -> RwLockReadGuard<'_, State> {
        {
            let state = self.read();
            if state.slots.len() - state.sorted <= limit {
                return state;
            }
        }
        self.state.write().unwrap_or_else(PoisonError::into_inner).sort();
        // Entries appended between the sort and this read land in the tail; they are newer
        // than anything a reader that started before them can see.
        self.read()
    }
}

impl Memtable for VectorMemtable {
    type Iter<'a> = ChunkedIter<'a, Self>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let slot = Slot::new(key, seq, kind, value);
        let payload = slot.heap_bytes();
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let before = state.slots.capacity();
        state.slots.push(slot);
        let grown = state.slots.capacity() - before;
        drop(state);
        self.bytes.fetch_add(grown * size_of::<Slot>() + payload, Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let state = self.read_sorted(SCAN_LIMIT);
        let sorted = &state.slots[..state.sorted];
        let i = sorted.partition_point(|x| x.cmp_to(key, snapshot) == std::cmp::Ordering::Less);
        let mut best = sorted.get(i).filter(|s| &s.key[..] == key);
        for slot in &state.slots[state.sorted..] {
            if &slot.key[..] == key && slot.seq <= snapshot && best.is_none_or(|b| slot.seq > b.seq) {
                best = Some(slot);
            }
        }
        best.map(Slot::to_version)
    }

    fn range(&self, range: &KeyRange) -> ChunkedIter<'_, Self> {
        // Sort now so every entry inserted before this call is in the sorted part the
        // iterator reads.
        drop(self.read_sorted(0));
        ChunkedIter::new(self, range)
    }

    fn key_before(&self, start: Bound<&[u8]>, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        let state = self.read_sorted(0);
        let sorted = &state.slots[..state.sorted];
        crate::memtable::step_back(start, end, back, |end| {
            let i = end.map_or(sorted.len(), |key| {
                sorted.partition_point(|x| x.cmp_to(key, SeqNo::MAX) == std::cmp::Ordering::Less)
            });
            i.checked_sub(1).map(|i| Bytes::copy_from_slice(&sorted[i].key))
        })
    }

    fn len(&self) -> usize {
        self.read().slots.len()
    }

    fn approximate_memory_usage(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        false
    }

    fn seal(&self) {
        self.state.write().unwrap_or_else(PoisonError::into_inner).sort();
    }
}

impl ChunkSource for VectorMemtable {
    fn fill_chunk(&self, range: &KeyRange, after: Option<(&[u8], SeqNo)>, max: usize, out: &mut VecDeque<Entry>) {
        let state = self.read();
        let sorted = &state.slots[..state.sorted];
        let start = start_index(sorted, range.start(), after);
        for slot in sorted[start..].iter().take(max) {
            if range.is_past_end(&slot.key) {
                return;
            }
            out.push_back(slot.to_entry());
        }
    }
}
