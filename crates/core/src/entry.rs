//! One version of one key.

use std::cmp::Ordering;

use bytes::Bytes;

use crate::{SeqNo, ValueKind, compare_internal};

/// One version of one key: the unit memtables hold, tables store and iterators yield.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The user key.
    pub key: Bytes,
    /// The sequence number of the write that made this version.
    pub seq: SeqNo,
    /// Whether this version is a value or a tombstone.
    pub kind: ValueKind,
    /// The value; empty for a tombstone.
    pub value: Bytes,
}

impl Entry {
    /// A version that puts `value` at `key`.
    pub fn put(key: impl Into<Bytes>, seq: SeqNo, value: impl Into<Bytes>) -> Self {
        Self { key: key.into(), seq, kind: ValueKind::Put, value: value.into() }
    }

    /// A tombstone for `key`.
    pub fn delete(key: impl Into<Bytes>, seq: SeqNo) -> Self {
        Self { key: key.into(), seq, kind: ValueKind::Delete, value: Bytes::new() }
    }

    /// A range tombstone over `[start, end)` at `seq` (see [`crate::RangeTombstone`]).
    pub fn range_delete(start: impl Into<Bytes>, end: impl Into<Bytes>, seq: SeqNo) -> Self {
        Self { key: start.into(), seq, kind: ValueKind::RangeDelete, value: end.into() }
    }

    /// Compares two entries in internal key order (see [`compare_internal`]).
    #[inline]
    #[must_use]
    pub fn cmp_internal(&self, other: &Self) -> Ordering {
        compare_internal(&self.key, self.seq, &other.key, other.seq)
    }

    /// The version without its key: what a point lookup answers.
    #[must_use]
    pub fn into_version(self) -> VersionedValue {
        VersionedValue { seq: self.seq, kind: self.kind, value: self.value }
    }

    /// Bytes of key and value this entry carries.
    #[must_use]
    pub fn payload_len(&self) -> usize {
        self.key.len() + self.value.len()
    }

    /// Bytes this entry stands for in size budgets (output table sizes, write rate limits):
    /// key and value plus 9 for its sequence number and kind, before compression.
    #[must_use]
    pub fn charged_len(&self) -> u64 {
        self.payload_len() as u64 + 9
    }
}

/// The answer of a point lookup: the newest version visible at the snapshot.
///
/// A tombstone is an answer too (`kind == ValueKind::Delete`): the key is deleted, and a
/// reader must not look further in older data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionedValue {
    /// The sequence number of the version.
    pub seq: SeqNo,
    /// Value or tombstone.
    pub kind: ValueKind,
    /// The value; empty for a tombstone.
    pub value: Bytes,
}

impl VersionedValue {
    /// The value, or `None` for a tombstone.
    #[must_use]
    pub fn into_value(self) -> Option<Bytes> {
        match self.kind {
            ValueKind::Put => Some(self.value),
            ValueKind::Delete | ValueKind::RangeDelete => None,
        }
    }
}
