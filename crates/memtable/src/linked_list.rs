//! `linked_list`: one sorted, lock-free singly linked list.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(n) walk to the insertion point, then one compare-and-swap |
//! | get | O(n) walk |
//! | scan | O(n) walk to the range start, then O(1) per entry |
//!
//! The smallest structure of all, and the slowest beyond a few thousand entries: every
//! insert and lookup walks the list. Inserts in descending key order are O(1) because they
//! land at the head. Inserts from many threads proceed in parallel (each links with a
//! compare-and-swap), though each still walks the list.
//!
//! Choose it only for tiny memtables, for instance per-tenant buffers of a few hundred
//! entries, or as the simplest correct baseline to compare the others against.

use std::sync::atomic::{AtomicUsize, Ordering};

use strata_core::{KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::Memtable;
use crate::list::{ListIter, SortedList, entry_bytes};

/// The `linked_list` memtable. See the [module docs](self).
#[derive(Default)]
pub struct LinkedListMemtable {
    list: SortedList,
    len: AtomicUsize,
    bytes: AtomicUsize,
}

impl std::fmt::Debug for LinkedListMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedListMemtable").field("len", &self.len()).finish()
    }
}

impl LinkedListMemtable {
    /// An empty memtable.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

/// The iterator of [`LinkedListMemtable`].
pub struct LinkedListIter<'a>(ListIter<'a>);

impl Iterator for LinkedListIter<'_> {
    type Item = strata_core::Entry;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl std::fmt::Debug for LinkedListIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedListIter").finish_non_exhaustive()
    }
}

impl Memtable for LinkedListMemtable {
    type Iter<'a> = LinkedListIter<'a>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let value = if kind.is_delete() { &[][..] } else { value };
        self.list.insert(key, seq, kind, value);
        self.len.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(entry_bytes(key.len(), value.len()), Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        self.list.get(key, snapshot)
    }

    fn range(&self, range: &KeyRange) -> LinkedListIter<'_> {
        LinkedListIter(self.list.range(range))
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn approximate_memory_usage(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        true
    }
}
