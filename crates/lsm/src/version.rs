//! The live set of tables: an immutable `Version`, replaced whole on every change.
//!
//! Readers take an `Arc<Version>` and keep reading it however the tree changes underneath.
//! A table dropped by an edit is marked obsolete; its file is deleted when the last version
//! (or iterator) holding it lets go, so no reader ever loses a file it is using.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_compaction::{LevelState, level_order};
use strata_core::{KeyRange, RangeDelIndex};
use strata_sstable::{TableId, TableMeta};

use crate::manifest::{TreeState, VersionEdit};

/// Called with a table's id once it is obsolete and unreferenced.
pub(crate) type Deleter = Arc<dyn Fn(TableId) + Send + Sync>;

/// One live table.
pub(crate) struct TableHandle {
    pub(crate) meta: TableMeta,
    /// The table's range tombstones, fragmented for lookups (empty for most tables).
    pub(crate) range_dels: RangeDelIndex,
    obsolete: AtomicBool,
    deleter: Deleter,
}

impl TableHandle {
    pub(crate) fn new(meta: TableMeta, deleter: Deleter) -> Arc<Self> {
        let range_dels = RangeDelIndex::new(meta.range_tombstones.iter().cloned());
        Arc::new(Self { meta, range_dels, obsolete: AtomicBool::new(false), deleter })
    }

    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl Drop for TableHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            (self.deleter)(self.meta.id);
        }
    }
}

impl fmt::Debug for TableHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableHandle").field("id", &self.meta.id).finish_non_exhaustive()
    }
}

/// The tables of every level. L0 is ordered newest first (by largest sequence number) and
/// its tables may overlap; each deeper level is ordered by smallest key and its tables do
/// not overlap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Version {
    pub(crate) levels: Vec<Vec<Arc<TableHandle>>>,
}

impl Version {
    pub(crate) fn from_state(state: &TreeState, deleter: &Deleter) -> Self {
        let levels = state
            .levels
            .iter()
            .map(|ts| ts.iter().map(|m| TableHandle::new(m.clone(), deleter.clone())).collect())
            .collect();
        Self { levels }
    }

    /// The version after `edit`. Tables the edit removes and does not re-add (a move
    /// re-adds) are marked obsolete.
    pub(crate) fn apply(&self, edit: &VersionEdit, deleter: &Deleter) -> Self {
        let removed: HashSet<TableId> = edit.removed.iter().map(|&(_, id)| id).collect();
        let mut moved = Vec::new();
        let mut levels: Vec<Vec<Arc<TableHandle>>> = self
            .levels
            .iter()
            .map(|ts| {
                ts.iter()
                    .filter(|t| {
                        let gone = removed.contains(&t.meta.id);
                        if gone {
                            moved.push(Arc::clone(t));
                        }
                        !gone
                    })
                    .cloned()
                    .collect()
            })
            .collect();
        for (level, meta) in &edit.added {
            if levels.len() <= *level {
                levels.resize_with(level + 1, Vec::new);
            }
            let handle = match moved.iter().position(|t| t.meta.id == meta.id) {
                Some(i) => moved.swap_remove(i),
                None => TableHandle::new(meta.clone(), deleter.clone()),
            };
            levels[*level].push(handle);
        }
        for t in &moved {
            t.mark_obsolete();
        }
        for (level, tables) in levels.iter_mut().enumerate() {
            tables.sort_by(|a, b| level_order(level, &a.meta, &b.meta));
        }
        Self { levels }
    }

    /// The tables of `level`, in [`level_order`].
    pub(crate) fn level(&self, level: usize) -> &[Arc<TableHandle>] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }

    /// The one table of deeper level `level` (>= 1) whose key range holds `key`, by binary
    /// search. (L0 tables overlap; a lookup visits each of them.)
    pub(crate) fn table_for_key(&self, level: usize, key: &[u8]) -> Option<&Arc<TableHandle>> {
        debug_assert!(level >= 1, "L0 tables overlap: no single table holds a key");
        let tables = self.level(level);
        let i = tables.partition_point(|t| &t.meta.max_key[..] < key);
        tables.get(i).filter(|t| &t.meta.min_key[..] <= key)
    }

    /// The tables of `level` whose key range may share a key with `range`: for L0, whose
    /// tables overlap each other, all of them (each must still be checked); for deeper levels
    /// exactly the overlapping run, found by binary search.
    pub(crate) fn overlapping(&self, level: usize, range: &KeyRange) -> &[Arc<TableHandle>] {
        let tables = self.level(level);
        if level == 0 {
            return tables;
        }
        let start = tables.partition_point(|t| range.is_before_start(&t.meta.max_key));
        let end = start + tables[start..].partition_point(|t| !range.is_past_end(&t.meta.min_key));
        &tables[start..end]
    }

    /// What a compaction policy sees.
    pub(crate) fn level_state(&self, compacting: &HashSet<TableId>, now_ms: u64) -> LevelState {
        LevelState {
            levels: self.levels.iter().map(|ts| ts.iter().map(|t| t.meta.clone()).collect()).collect(),
            compacting: compacting.clone(),
            now_ms,
        }
    }

    pub(crate) fn table_count(&self, level: usize) -> usize {
        self.level(level).len()
    }

    pub(crate) fn all_ids(&self) -> HashSet<TableId> {
        self.levels.iter().flatten().map(|t| t.meta.id).collect()
    }
}
