//! Snapshots: reads at a fixed sequence number, held until dropped.

use std::sync::Arc;

use bytes::Bytes;
use strata_compaction::CompactionPolicy;
use strata_core::{KeyRange, SeqNo};
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::Result;
use crate::iter::DbIter;
use crate::rev_iter::DbRevIter;
use crate::state::{Inner, lock};

/// A consistent view of the database as of the moment it was taken: later writes are
/// invisible to it. While it lives, compaction keeps every version it can see. Release it
/// by dropping it.
pub struct Snapshot<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> {
    inner: Arc<Inner<M, S, C>>,
    seq: SeqNo,
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Snapshot<M, S, C> {
    pub(crate) fn new(inner: &Arc<Inner<M, S, C>>) -> Self {
        let mut snapshots = lock(&inner.snapshots);
        // Registered under the lock, so a compaction reading the list after this sees it.
        let seq = inner.visible_seq.load(std::sync::atomic::Ordering::Acquire);
        *snapshots.entry(seq).or_insert(0) += 1;
        drop(snapshots);
        Self { inner: Arc::clone(inner), seq }
    }

    /// The sequence number this snapshot reads at.
    #[must_use]
    pub const fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The value of `key` as of this snapshot.
    ///
    /// # Errors
    ///
    /// I/O errors and [`crate::Error::Corruption`] from the tables read.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get_at(key.as_ref(), self.seq)
    }

    /// Keys and values in `range` as of this snapshot, in key order.
    pub fn iter(&self, range: impl Into<KeyRange>) -> DbIter<M, S> {
        self.inner.iter_at(&range.into(), self.seq)
    }

    /// Keys starting with `prefix` as of this snapshot, in key order.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter<M, S> {
        self.iter(KeyRange::prefix(prefix.as_ref()))
    }

    /// Keys and values in `range` as of this snapshot, in descending key order.
    pub fn iter_rev(&self, range: impl Into<KeyRange>) -> DbRevIter<M, S> {
        self.inner.iter_rev_at(&range.into(), self.seq)
    }

    /// Keys starting with `prefix` as of this snapshot, in descending key order.
    pub fn prefix_rev(&self, prefix: impl AsRef<[u8]>) -> DbRevIter<M, S> {
        self.iter_rev(KeyRange::prefix(prefix.as_ref()))
    }
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Drop for Snapshot<M, S, C> {
    fn drop(&mut self) {
        let mut snapshots = lock(&self.inner.snapshots);
        if let Some(count) = snapshots.get_mut(&self.seq) {
            *count -= 1;
            if *count == 0 {
                snapshots.remove(&self.seq);
                drop(snapshots);
                // Compactions may now drop what only this snapshot saw.
                self.inner.notify_bg();
            }
        }
    }
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> std::fmt::Debug
    for Snapshot<M, S, C>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.seq).finish()
    }
}
