//! A lock-free, insert-only sorted singly linked list: the structure under `linked_list`
//! and each bucket of `hash_linked_list`.
//!
//! An insert walks to the first node at or after its key and links in front of it with one
//! compare-and-swap; if another insert won the race, it walks on from the same predecessor.
//! Nodes are never unlinked, so every pointer a reader loaded stays valid until the list is
//! dropped, and no reclamation scheme is needed.

use std::cmp::Ordering as CmpOrdering;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue, compare_internal};

struct Node {
    next: AtomicPtr<Node>,
    seq: SeqNo,
    kind: ValueKind,
    /// The key followed by the value, in one allocation.
    data: Box<[u8]>,
    key_len: usize,
}

impl Node {
    fn key(&self) -> &[u8] {
        &self.data[..self.key_len]
    }

    fn value(&self) -> &[u8] {
        &self.data[self.key_len..]
    }

    fn cmp_to(&self, key: &[u8], seq: SeqNo) -> CmpOrdering {
        compare_internal(self.key(), self.seq, key, seq)
    }
}

/// Bytes one entry costs: the node and its key-and-value allocation.
pub(crate) const fn entry_bytes(key_len: usize, value_len: usize) -> usize {
    size_of::<Node>() + key_len + value_len
}

/// The list. See the [module docs](self).
pub(crate) struct SortedList {
    head: AtomicPtr<Node>,
}

// SAFETY: nodes are heap allocations owned by the list; after publication only their
// atomic `next` pointers change, so the list can be shared and sent across threads.
unsafe impl Send for SortedList {}
// SAFETY: see `Send`.
unsafe impl Sync for SortedList {}

impl Default for SortedList {
    fn default() -> Self {
        Self { head: AtomicPtr::new(ptr::null_mut()) }
    }
}

impl SortedList {
    /// Walks from `link` to the first node at or after `(key, seq)`; returns the link that
    /// points at it and the node (null at the end).
    fn find<'a>(&'a self, mut link: &'a AtomicPtr<Node>, key: &[u8], seq: SeqNo) -> (&'a AtomicPtr<Node>, *mut Node) {
        loop {
            let cur = link.load(Ordering::Acquire);
            // SAFETY: non-null pointers in the list point at published nodes it owns.
            match unsafe { cur.as_ref() } {
                Some(node) if node.cmp_to(key, seq) == CmpOrdering::Less => link = &node.next,
                _ => return (link, cur),
            }
        }
    }

    pub(crate) fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let mut data = Vec::with_capacity(key.len() + value.len());
        data.extend_from_slice(key);
        data.extend_from_slice(value);
        let node = Box::into_raw(Box::new(Node {
            next: AtomicPtr::new(ptr::null_mut()),
            seq,
            kind,
            data: data.into_boxed_slice(),
            key_len: key.len(),
        }));
        let mut link = &self.head;
        loop {
            let (at, cur) = self.find(link, key, seq);
            // SAFETY: `node` is ours until the CAS below publishes it.
            unsafe { (*node).next.store(cur, Ordering::Relaxed) };
            // Release publishes the node's contents with the pointer.
            match at.compare_exchange(cur, node, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                // A node was linked at `at` meanwhile; it cannot have moved `at` past our key
                // (nothing is unlinked), so resume from there.
                Err(_) => link = at,
            }
        }
    }

    pub(crate) fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let (_, cur) = self.find(&self.head, key, snapshot);
        // SAFETY: as in `find`.
        let node = unsafe { cur.as_ref() }?;
        (node.key() == key).then(|| VersionedValue {
            seq: node.seq,
            kind: node.kind,
            value: Bytes::copy_from_slice(node.value()),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire).is_null()
    }

    pub(crate) fn range(&self, range: &KeyRange) -> ListIter<'_> {
        let mut link = &self.head;
        let next = loop {
            let cur = link.load(Ordering::Acquire);
            // SAFETY: as in `find`.
            match unsafe { cur.as_ref() } {
                Some(node) if range.is_before_start(node.key()) => link = &node.next,
                _ => break cur,
            }
        };
        ListIter { _list: self, next, range: range.clone() }
    }
}

impl Drop for SortedList {
    fn drop(&mut self) {
        let mut cur = *self.head.get_mut();
        while !cur.is_null() {
            // SAFETY: every node was made by `Box::into_raw` in `insert` and is freed once:
            // `&mut self` means no reader or writer is left.
            let mut node = unsafe { Box::from_raw(cur) };
            cur = *node.next.get_mut();
        }
    }
}

/// The iterator over one sorted linked list (a `linked_list` memtable or one bucket of a
/// `hash_linked_list`).
pub struct ListIter<'a> {
    _list: &'a SortedList,
    next: *mut Node,
    range: KeyRange,
}

// SAFETY: the iterator reads immutable node contents and atomic links of a list it
// borrows, which is `Sync`.
unsafe impl Send for ListIter<'_> {}

impl Iterator for ListIter<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        // SAFETY: null or a published node of the borrowed list.
        let node = unsafe { self.next.as_ref() }?;
        if self.range.is_past_end(node.key()) {
            self.next = ptr::null_mut();
            return None;
        }
        self.next = node.next.load(Ordering::Acquire);
        Some(Entry {
            key: Bytes::copy_from_slice(node.key()),
            seq: node.seq,
            kind: node.kind,
            value: Bytes::copy_from_slice(node.value()),
        })
    }
}

impl std::fmt::Debug for ListIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListIter").field("range", &self.range).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a failed step is a failed test")]

    use super::*;

    /// Concurrent inserts (some racing for one link), versions of one key, then a read of
    /// every entry, a range, and the drop that frees every node: each unsafe path of the list,
    /// in few enough steps for Miri (`scripts/miri.sh`).
    #[test]
    fn concurrent_inserts_are_found_in_order_and_freed() {
        let list = SortedList::default();
        let (threads, per) = (4u64, if cfg!(miri) { 40 } else { 500 });
        std::thread::scope(|s| {
            for t in 0..threads {
                let list = &list;
                s.spawn(move || {
                    for i in 0..per {
                        let n = i * threads + t;
                        list.insert(format!("k{n:06}").as_bytes(), n + 1, ValueKind::Put, &n.to_le_bytes());
                        // Every thread also writes a version of one shared key.
                        list.insert(b"shared", n + 1, ValueKind::Put, &n.to_le_bytes());
                    }
                });
            }
        });
        for n in 0..threads * per {
            let found = list.get(format!("k{n:06}").as_bytes(), SeqNo::MAX).unwrap();
            assert_eq!((found.seq, &found.value[..]), (n + 1, &n.to_le_bytes()[..]));
            assert_eq!(list.get(b"shared", n + 1).unwrap().seq, n + 1, "the version at {}", n + 1);
        }
        let entries: Vec<Entry> = list.range(&KeyRange::all()).collect();
        assert_eq!(entries.len() as u64, 2 * threads * per);
        assert!(
            entries.windows(2).all(|w| compare_internal(&w[0].key, w[0].seq, &w[1].key, w[1].seq).is_lt()),
            "the list is out of internal key order"
        );
    }
}
