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
    ///
    /// Below L0 this is two binary searches, as the level is sorted and disjoint: a policy
    /// asks once per candidate table, and a large tree holds thousands of tables per level.
    pub fn overlapping<'a>(
        &'a self,
        level: usize,
        min: &'a [u8],
        max: &'a [u8],
    ) -> impl Iterator<Item = &'a TableMeta> + 'a {
        let tables = self.level(level);
        let span = if level == 0 {
            tables
        } else {
            let start = tables.partition_point(|t| t.max_key.as_ref() < min);
            let tables = &tables[start..];
            &tables[..tables.partition_point(|t| t.min_key.as_ref() <= max)]
        };
        span.iter().filter(move |t| t.overlaps(min, max))
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sim::sim_key;

    fn table(id: u64, lo: u64, hi: u64) -> TableMeta {
        TableMeta {
            id,
            file_size: 1,
            min_key: sim_key(lo),
            max_key: sim_key(hi),
            min_seq: 1,
            max_seq: 1,
            entries: 1,
            tombstones: 0,
            created_at_ms: 0,
            range_tombstones: Vec::new(),
        }
    }

    proptest! {
        /// The binary searches below L0 find exactly the tables a scan of the level finds.
        #[test]
        fn overlapping_finds_what_a_scan_finds(
            widths in prop::collection::vec((0u64..20, 1u64..20), 0..40),
            lo in 0u64..500,
            len in 0u64..200,
        ) {
            // A sorted, disjoint level: each table starts past the previous one's end.
            let mut at = 0;
            let mut level = Vec::new();
            for (i, (gap, width)) in widths.into_iter().enumerate() {
                level.push(table(i as u64, at + gap, at + gap + width - 1));
                at += gap + width;
            }
            let state = LevelState { levels: vec![level.clone(), level], ..LevelState::default() };
            let (min, max) = (sim_key(lo), sim_key(lo + len));
            let scanned: Vec<u64> = state.level(1).iter().filter(|t| t.overlaps(&min, &max)).map(|t| t.id).collect();
            let found: Vec<u64> = state.overlapping(1, &min, &max).map(|t| t.id).collect();
            prop_assert_eq!(&found, &scanned);
            let l0: Vec<u64> = state.overlapping(0, &min, &max).map(|t| t.id).collect();
            prop_assert_eq!(l0, scanned);
        }
    }
}
