//! `skiplist`: a lock-free `crossbeam-skiplist` map.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(log n), lock-free; three heap allocations (node, key, value) |
//! | get | O(log n), lock-free, no allocation for the search |
//! | scan | O(log n) seek, then O(1) per entry |
//!
//! Choose it when many threads write at once and you want a well-proven structure. Each
//! node, key and value is a separate allocation, so it uses more memory per entry and
//! inserts more slowly than [`crate::EnhancedSkipListMemtable`], which packs everything into
//! an arena.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use crossbeam_skiplist::map::Range;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::Memtable;
use crate::key::{KeyView, OwnedKey};
use crate::slab::Slab;

type Value = (ValueKind, Box<[u8]>);

/// Bytes of one crossbeam node besides key and value payloads: the key and value structs,
/// the reference count and height word, and the tower, whose height is geometric with
/// p = 1/2 (mean 2 pointers).
const NODE_OVERHEAD: usize =
    size_of::<OwnedKey>() + size_of::<Value>() + size_of::<usize>() + 2 * size_of::<*const u8>();

/// Bytes one entry adds to the map.
pub(crate) const fn entry_bytes(key_len: usize, value_len: usize) -> usize {
    NODE_OVERHEAD + key_len + value_len
}

/// Bytes of an empty map: the skip list head with its full tower, and the map's bookkeeping.
const EMPTY_MAP: usize = 32 * size_of::<*const u8>() + 64;

/// The `skiplist` memtable. See the [module docs](self).
#[derive(Default)]
pub struct SkipListMemtable {
    map: SkipMap<OwnedKey, Value>,
    bytes: AtomicUsize,
}

impl SkipListMemtable {
    /// An empty memtable.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for SkipListMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipListMemtable").field("len", &self.map.len()).finish()
    }
}

type Bounds = (Bound<OwnedKey>, Bound<OwnedKey>);

/// The iterator of [`SkipListMemtable`].
pub struct SkipListIter<'a> {
    /// `None` for an empty range, which crossbeam must not see (its start lies past its end).
    inner: Option<Range<'a, OwnedKey, Bounds, OwnedKey, Value>>,
    slab: Slab,
}

impl Iterator for SkipListIter<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let e = self.inner.as_mut()?.next()?;
        let (key, (kind, value)) = (e.key(), e.value());
        Some(self.slab.copy(&key.key, key.seq, *kind, value))
    }
}

impl std::fmt::Debug for SkipListIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipListIter").finish_non_exhaustive()
    }
}

/// A bound on internal keys `(user key, sequence)`.
pub(crate) type InternalBound<'a> = Bound<(&'a [u8], SeqNo)>;

/// Internal-key bounds covering every version of every user key in `range`.
///
/// Versions sort newest first, so all versions of `k` lie between `(k, MAX)` and `(k, 0)`.
pub(crate) fn internal_bounds(range: &KeyRange) -> (InternalBound<'_>, InternalBound<'_>) {
    let start = match range.start() {
        Bound::Included(k) => Bound::Included((k, SeqNo::MAX)),
        Bound::Excluded(k) => Bound::Excluded((k, 0)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match range.end() {
        Bound::Included(k) => Bound::Included((k, 0)),
        Bound::Excluded(k) => Bound::Excluded((k, SeqNo::MAX)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (start, end)
}

fn owned(b: InternalBound<'_>) -> Bound<OwnedKey> {
    b.map(|(k, seq)| OwnedKey { key: k.into(), seq })
}

impl Memtable for SkipListMemtable {
    type Iter<'a> = SkipListIter<'a>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let value: Box<[u8]> = if kind.is_delete() { Box::default() } else { value.into() };
        let added = entry_bytes(key.len(), value.len());
        self.map.insert(OwnedKey { key: key.into(), seq }, (kind, value));
        self.bytes.fetch_add(added, Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let target = (key, snapshot);
        let e = self.map.lower_bound(Bound::Included(&target as &dyn KeyView))?;
        let found = e.key();
        if &found.key[..] != key {
            return None;
        }
        let (kind, value) = e.value();
        Some(VersionedValue { seq: found.seq, kind: *kind, value: Bytes::copy_from_slice(value) })
    }

    fn range(&self, range: &KeyRange) -> SkipListIter<'_> {
        let (start, end) = internal_bounds(range);
        let inner = (!range.is_empty()).then(|| self.map.range((owned(start), owned(end))));
        SkipListIter { inner, slab: Slab::default() }
    }

    fn key_before(&self, start: Bound<&[u8]>, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        crate::memtable::step_back(start, end, back, |end| {
            // `(end, MAX)` sorts before every version of `end`.
            let e = match end {
                Some(key) => self.map.upper_bound(Bound::Excluded(&(key, SeqNo::MAX) as &dyn KeyView))?,
                None => self.map.back()?,
            };
            Some(Bytes::copy_from_slice(&e.key().key))
        })
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn approximate_memory_usage(&self) -> usize {
        EMPTY_MAP + self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        true
    }
}
