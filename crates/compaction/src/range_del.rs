//! Work that range tombstones call for beyond the merge itself: dropping tables a newer range
//! tombstone deletes whole (no I/O), and carrying tombstones down until they meet what they
//! hide and can go. Pure functions of the level state, like the policies.

use strata_core::{RangeDelIndex, SeqNo};

use crate::executor::no_snapshot_between;
use crate::{CompactionTask, LevelState, TableId, TableMeta, TaskKind, is_bottommost};

/// The sequence number of a range tombstone in `range_dels` that deletes all of `table` in
/// every view: it covers the table's whole extent, is newer than every version in it, and
/// no snapshot lies between the table's oldest version and it.
#[must_use]
pub fn wholly_deleted(range_dels: &RangeDelIndex, table: &TableMeta, snapshots: &[SeqNo]) -> Option<SeqNo> {
    let t = range_dels.min_covering_span_above(&table.min_key, &table.max_key, table.max_seq)?;
    no_snapshot_between(snapshots, table.min_seq, t).then_some(t)
}

/// A delete-only compaction: a [`TaskKind::Drop`] of every table (not being compacted) that a
/// newer range tombstone of another table deletes wholly (see [`wholly_deleted`]), or `None`
/// when there is none. It reads and writes nothing: a large range delete frees its space as
/// soon as its tombstone is in a table, instead of after compactions carry it down.
/// `snapshots` are the live snapshots, ascending.
#[must_use]
pub fn range_delete_drop_task(state: &LevelState, snapshots: &[SeqNo]) -> Option<CompactionTask> {
    let tables = || state.levels.iter().flatten();
    if tables().all(|t| t.range_tombstones.is_empty()) {
        return None;
    }
    let range_dels = RangeDelIndex::new(tables().flat_map(|t| t.range_tombstones.iter().cloned()));
    let mut inputs: Vec<(usize, Vec<TableId>)> = Vec::new();
    for (level, level_tables) in state.levels.iter().enumerate() {
        let ids: Vec<TableId> = level_tables
            .iter()
            .filter(|t| !state.compacting.contains(&t.id) && wholly_deleted(&range_dels, t, snapshots).is_some())
            .map(|t| t.id)
            .collect();
        if !ids.is_empty() {
            inputs.push((level, ids));
        }
    }
    if inputs.is_empty() {
        return None;
    }
    let count: usize = inputs.iter().map(|(_, ids)| ids.len()).sum();
    Some(CompactionTask {
        kind: TaskKind::Drop,
        inputs,
        output_level: 0,
        target_table_size: u64::MAX,
        reason: format!("{count} table(s) wholly deleted by a newer range tombstone"),
    })
}

/// Work that carries range tombstones down until they reach the bottom and go, once no
/// snapshot needs what they hide: for a table on a sorted level (1 and deeper) holding range
/// tombstones that every live snapshot sees (`snapshots` ascending),
///
/// * a merge of it alone into its own level when nothing older lies under its key range
///   (the merge drops the tombstones and everything they hide), or
/// * a merge with the overlapping tables of the next level into that level (a move when
///   none overlap), so the tombstones meet the data they hide.
///
/// `None` when no table qualifies, or its neighbours are being compacted. Without it a range
/// delete whose data a snapshot kept would leave that data on disk until ordinary
/// compactions happen to rewrite the range, which at the bottom level is never. Each task
/// moves a tombstone one level down or drops it, so repeated calls end. `target_table_size`
/// sizes the outputs.
#[must_use]
pub fn range_tombstone_cleanup_task(
    state: &LevelState,
    snapshots: &[SeqNo],
    target_table_size: u64,
) -> Option<CompactionTask> {
    let seen_by_all = |t: &TableMeta| t.range_tombstones.iter().all(|r| no_snapshot_between(snapshots, 0, r.seq));
    for (level, tables) in state.levels.iter().enumerate().skip(1) {
        for t in tables {
            if t.range_tombstones.is_empty() || state.compacting.contains(&t.id) || !seen_by_all(t) {
                continue;
            }
            let deeper = state.levels.iter().skip(level + 1).flatten().any(|d| d.overlaps_table(t));
            let reason = || format!("range tombstones of table {} meet what they hide", t.id);
            if !deeper {
                let task = CompactionTask {
                    kind: TaskKind::Merge,
                    inputs: vec![(level, vec![t.id])],
                    output_level: level,
                    target_table_size,
                    reason: reason(),
                };
                if is_bottommost(state, &task) {
                    return Some(task);
                }
                continue;
            }
            if level + 1 >= state.levels.len() {
                continue;
            }
            let next: Vec<TableId> =
                state.level(level + 1).iter().filter(|d| d.overlaps_table(t)).map(|d| d.id).collect();
            if next.iter().any(|id| state.compacting.contains(id)) {
                continue;
            }
            let (kind, inputs) = if next.is_empty() {
                (TaskKind::Move, vec![(level, vec![t.id])])
            } else {
                (TaskKind::Merge, vec![(level, vec![t.id]), (level + 1, next)])
            };
            return Some(CompactionTask { kind, inputs, output_level: level + 1, target_table_size, reason: reason() });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::executor::tests::meta;

    #[test]
    fn range_tombstones_are_carried_down_then_dropped_once_no_snapshot_needs_them() {
        let mut holder = meta(1, "b", "m", 10);
        holder.range_tombstones = vec![strata_core::RangeTombstone::new("c", "m", 1)];
        let below = meta(2, "a", "f", 10);
        let elsewhere = meta(3, "x", "z", 10);
        let state = |levels: Vec<Vec<TableMeta>>| LevelState { levels, compacting: HashSet::new(), now_ms: 0 };
        // Data below: merge down with the overlapping table of the next level.
        let two = state(vec![vec![], vec![holder.clone()], vec![below.clone(), elsewhere.clone()]]);
        let task = range_tombstone_cleanup_task(&two, &[], 100).expect("carry down");
        assert_eq!((task.kind, task.output_level, task.inputs), (TaskKind::Merge, 2, vec![(1, vec![1]), (2, vec![2])]));
        // Nothing overlapping right below, but deeper: a move.
        let gap = state(vec![vec![], vec![holder.clone()], vec![elsewhere.clone()], vec![below.clone()]]);
        assert_eq!(range_tombstone_cleanup_task(&gap, &[], 100).map(|t| t.kind), Some(TaskKind::Move));
        // At the bottom: a rewrite of the table alone.
        let bottom = state(vec![vec![], vec![elsewhere.clone()], vec![holder.clone()]]);
        let task = range_tombstone_cleanup_task(&bottom, &[], 100).expect("rewrite at the bottom");
        assert_eq!((task.kind, task.output_level, task.inputs), (TaskKind::Merge, 2, vec![(2, vec![1])]));
        // A snapshot older than the tombstone still needs what it hides; L0 is the policy's.
        let mut old = holder.clone();
        old.range_tombstones = vec![strata_core::RangeTombstone::new("c", "m", 5)];
        assert!(range_tombstone_cleanup_task(&state(vec![vec![], vec![old.clone()]]), &[3], 100).is_none());
        assert!(range_tombstone_cleanup_task(&state(vec![vec![], vec![old]]), &[5], 100).is_some());
        assert!(range_tombstone_cleanup_task(&state(vec![vec![holder]]), &[], 100).is_none());
    }

    #[test]
    fn tables_under_a_newer_range_tombstone_are_dropped_without_io() {
        let mut deleter = meta(1, "a", "z", 10);
        deleter.min_seq = 50;
        deleter.max_seq = 50;
        deleter.range_tombstones = vec![strata_core::RangeTombstone::new("b", "m", 50)];
        let mut inside = meta(2, "c", "k", 100);
        inside.max_seq = 40;
        let straddling = meta(3, "k", "p", 100);
        let mut newer = meta(4, "d", "e", 100);
        newer.min_seq = 60;
        newer.max_seq = 60;
        let state = LevelState {
            levels: vec![vec![deleter, newer], vec![inside.clone(), straddling]],
            compacting: HashSet::new(),
            now_ms: 0,
        };
        let task = range_delete_drop_task(&state, &[]).expect("table 2 lies under the tombstone");
        assert_eq!((task.kind, task.inputs.clone()), (TaskKind::Drop, vec![(1, vec![2])]));
        // A snapshot between the table's versions and the tombstone still sees the table.
        assert!(range_delete_drop_task(&state, &[45]).is_none());
        assert!(range_delete_drop_task(&state, &[55]).is_some());
        // Nor is a table being compacted dropped.
        let busy = LevelState { compacting: HashSet::from([2]), ..state };
        assert!(range_delete_drop_task(&busy, &[]).is_none());
    }
}
