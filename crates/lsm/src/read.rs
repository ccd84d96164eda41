//! Point lookups: newest data first, stopping at the first version visible at the
//! snapshot (a tombstone is an answer too).
//!
//! Order: the active memtable, sealed memtables newest first, L0 tables newest first
//! (each skipped unless its key range covers the key and it holds data old enough), then
//! at most one table per deeper level, found by binary search on key ranges. Inside a
//! table the store consults its Bloom filters, statistics and page index before reading
//! one page.
//!
//! Range tombstones are gathered on the way: each memtable and each table consulted (its key
//! range covering the key, whatever its filter says) adds the newest tombstone covering the
//! key that the snapshot sees, and the version found is an answer only if it is newer than
//! all of them. Newer sources come first, so every tombstone that can delete the version
//! found has been seen by then.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use strata_compaction::CompactionPolicy;
use strata_core::{KeyRange, SeqNo, VersionedValue};
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::state::Inner;
use crate::version::TableHandle;
use crate::{DbIter, DbRevIter, Result};

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// An iterator over `range` at `snapshot`; the overlapping L0 tables it merges beyond the
    /// first count towards a compaction for reads (`Options::seek_compaction_bytes`).
    pub(crate) fn iter_at(&self, range: &KeyRange, snapshot: SeqNo) -> DbIter<M, S> {
        let iter = DbIter::new(self.current(), &self.store, range, snapshot);
        if iter.l0_sources > 1 && self.options.seek_compaction_bytes > 0 {
            self.stats.l0_extra_seeks.fetch_add(iter.l0_sources as u64 - 1, Ordering::Relaxed);
        }
        iter
    }

    /// A reverse iterator over `range` at `snapshot`.
    pub(crate) fn iter_rev_at(&self, range: &KeyRange, snapshot: SeqNo) -> DbRevIter<M, S> {
        DbRevIter::new(self.current(), &self.store, range, snapshot)
    }

    pub(crate) fn get_at(&self, key: &[u8], snapshot: SeqNo) -> Result<Option<Bytes>> {
        Ok(self.lookup(key, snapshot)?.and_then(VersionedValue::into_value))
    }

    fn lookup(&self, key: &[u8], snapshot: SeqNo) -> Result<Option<VersionedValue>> {
        let sv = self.current();
        // The newest range tombstone covering the key, among the sources consulted so far.
        let mut covered: Option<SeqNo> = None;
        let answer = |v: VersionedValue, covered: Option<SeqNo>| covered.is_none_or(|t| t < v.seq).then_some(v);
        // The memtable filters' hash, computed at the first filter asked.
        let mut mem_hash = None;
        for m in std::iter::once(&sv.active).chain(&sv.immutables) {
            if let Some(index) = m.range_dels() {
                covered = covered.max(index.max_covering(key, snapshot));
            }
            if m.may_contain(key, &mut mem_hash)
                && let Some(v) = m.mem.get(key, snapshot)
            {
                return Ok(answer(v, covered));
            }
        }
        let version = &sv.version;
        // The filter hash is computed once, at the first table consulted, and reused for
        // every table after it.
        let mut hash = None;
        let mut consult = |t: &TableHandle, covered: &mut Option<SeqNo>| {
            if !t.range_dels.is_empty() {
                *covered = (*covered).max(t.range_dels.max_covering(key, snapshot));
            }
            let h = *hash.get_or_insert_with(|| self.store.key_hash(key));
            self.store.get_hashed(t.meta.id, key, h, snapshot)
        };
        for t in version.level(0) {
            if t.meta.min_seq <= snapshot
                && t.meta.may_contain_key(key)
                && let Some(v) = consult(t, &mut covered)?
            {
                return Ok(answer(v, covered));
            }
        }
        for level in 1..version.levels.len() {
            if let Some(t) = version.table_for_key(level, key).filter(|t| t.meta.min_seq <= snapshot)
                && let Some(v) = consult(t, &mut covered)?
            {
                return Ok(answer(v, covered));
            }
        }
        Ok(None)
    }
}
