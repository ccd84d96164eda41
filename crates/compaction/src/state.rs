//! What a policy sees of the tree: the tables' metadata by level.

use std::collections::HashSet;

use bytes::Bytes;
use strata_sstable::TableMeta;

use crate::TableId;

/// The tree's shape, as a policy sees it.
///
/// * `levels[0]` is L0: its tables may overlap and are ordered **newest first** (by
///   `max_seq` descending). Under size-tiered and FIFO compaction every table of L0 is one
///   sorted run.
/// * `levels[i]` for `i >= 1`: tables sorted by `min_key` whose key ranges do not overlap.
/// * `compacting`: tables that are inputs of a task still running; a policy never picks them.
/// * `now_ms`: the current time in milliseconds since the Unix epoch (FIFO's age limit).
#[derive(Debug, Clone, Default)]
pub struct LevelState {
    /// Tables by level; see the type's documentation for the order within a level.
    pub levels: Vec<Vec<TableMeta>>,
    /// Tables that are inputs of running tasks.
    pub compacting: HashSet<TableId>,
    /// The current time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

impl LevelState {
    /// The tables of `level` (empty when the level does not exist).
    #[must_use]
    pub fn level(&self, level: usize) -> &[TableMeta] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }

    /// Total bytes of the tables of `level`.
    #[must_use]
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.level(level).iter().map(|t| t.file_size).sum()
    }

    /// Total bytes of every table.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.levels.iter().flatten().map(|t| t.file_size).sum()
    }

    /// Number of tables in all levels.
    #[must_use]
    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// The level and summary of table `id`.
    #[must_use]
    pub fn find(&self, id: TableId) -> Option<(usize, &TableMeta)> {
        self.levels
            .iter()
            .enumerate()
            .find_map(|(level, tables)| tables.iter().find(|t| t.id == id).map(|t| (level, t)))
    }

    /// Whether table `id` is an input of a running task.
    #[must_use]
    pub fn is_compacting(&self, id: TableId) -> bool {
        self.compacting.contains(&id)
    }

    /// The tables of `level` whose key range shares a key with `[min, max]`.
    pub fn overlapping<'a>(
        &'a self,
        level: usize,
        min: &'a [u8],
        max: &'a [u8],
    ) -> impl Iterator<Item = &'a TableMeta> + 'a {
        self.level(level).iter().filter(move |t| t.overlaps(min, max))
    }

    /// Number of sorted runs a point lookup may visit: one per L0 table plus one per
    /// non-empty deeper level.
    #[must_use]
    pub fn sorted_runs(&self) -> usize {
        self.level(0).len() + self.levels.iter().skip(1).filter(|l| !l.is_empty()).count()
    }
}

/// The order of tables within `level`, the one rule every holder of levels sorts by: L0
/// newest first (largest `max_seq` first, then larger id), deeper levels by smallest key.
#[must_use]
pub fn level_order(level: usize, a: &TableMeta, b: &TableMeta) -> std::cmp::Ordering {
    if level == 0 { b.max_seq.cmp(&a.max_seq).then(b.id.cmp(&a.id)) } else { a.min_key.cmp(&b.min_key) }
}

/// The smallest `min_key` and largest `max_key` of `tables`, or `None` when there are none.
pub(crate) fn key_hull<'a>(tables: impl IntoIterator<Item = &'a TableMeta>) -> Option<(Bytes, Bytes)> {
    tables.into_iter().fold(None, |hull, t| match hull {
        None => Some((t.min_key.clone(), t.max_key.clone())),
        Some((lo, hi)) => Some((lo.min(t.min_key.clone()), hi.max(t.max_key.clone()))),
    })
}
