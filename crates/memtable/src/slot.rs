//! An owned version as the lock-based memtables store it.

use std::cmp::Ordering;

use bytes::Bytes;
use strata_core::{Entry, SeqNo, ValueKind, VersionedValue, compare_internal};

/// One version: key and value in their own exact-size heap allocations.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) key: Box<[u8]>,
    pub(crate) seq: SeqNo,
    pub(crate) kind: ValueKind,
    pub(crate) value: Box<[u8]>,
}

impl Slot {
    pub(crate) fn new(key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Self {
        let value = if kind.is_delete() { Box::default() } else { value.into() };
        Self { key: key.into(), seq, kind, value }
    }

    /// Heap bytes of the payload (the slot struct itself is counted by its container).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.key.len() + self.value.len()
    }

    pub(crate) fn cmp_to(&self, key: &[u8], seq: SeqNo) -> Ordering {
        compare_internal(&self.key, self.seq, key, seq)
    }

    pub(crate) fn cmp_slot(&self, other: &Self) -> Ordering {
        self.cmp_to(&other.key, other.seq)
    }

    pub(crate) fn to_entry(&self) -> Entry {
        Entry {
            key: Bytes::copy_from_slice(&self.key),
            seq: self.seq,
            kind: self.kind,
            value: Bytes::copy_from_slice(&self.value),
        }
    }

    pub(crate) fn to_version(&self) -> VersionedValue {
        VersionedValue { seq: self.seq, kind: self.kind, value: Bytes::copy_from_slice(&self.value) }
    }
}

/// Index of the first slot of a sorted slice that lies at or after the range start
/// (or strictly after `after`, when given).
pub(crate) fn start_index(slots: &[Slot], start: std::ops::Bound<&[u8]>, after: Option<(&[u8], SeqNo)>) -> usize {
    use std::ops::Bound;
    if let Some((k, s)) = after {
        return slots.partition_point(|x| x.cmp_to(k, s) != Ordering::Greater);
    }
    match start {
        Bound::Included(k) => slots.partition_point(|x| &x.key[..] < k),
        Bound::Excluded(k) => slots.partition_point(|x| &x.key[..] <= k),
        Bound::Unbounded => 0,
    }
}
