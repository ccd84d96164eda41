//! Compactions a caller asks for (`Db::compact_range`), as opposed to ones a policy picks.

use std::collections::BTreeSet;

use strata_core::KeyRange;

use crate::{CompactionTask, LevelState, TableId, TaskKind};

/// The next step of compacting `range` down a tree of `num_levels` levels: merge every
/// table that holds keys of `range` above the deepest non-empty level into that level, in
/// one rewrite, with outputs cut at `target_table_size`. `None` when nothing is left to do.
///
/// The output level is at least `min_level` (clamped to the last level): pass the policy's
/// [`settled_level`](crate::CompactionPolicy::settled_level) for the tree's bytes, so data
/// that starts in L0 goes straight to where the policy would leave it. Merged into L1
/// instead, it would be pushed down again at once and every byte written twice.
///
/// * L0 is always taken whole. Its tables are ordered by age and may overlap; merging only
///   those that touch the range could merge an older and a newer table around a skipped
///   one, and the result would then shadow the skipped table's newer versions.
/// * Every table of a level between that overlaps the moved key span joins the merge: it is
///   newer than the target level, and left behind it would shadow the newer data moved past
///   it. Deeper levels are sorted runs, so their overlapping tables are enough.
/// * With one level (size-tiered, FIFO, a single run of runs) the runs are merged into one,
///   unsplit, so a second call finds nothing left to do.
///
/// Tables in `state.compacting` are not excluded: the caller claims the task and finds out
/// then whether its inputs are free.
#[must_use]
pub fn compact_range_task(
    state: &LevelState,
    num_levels: usize,
    range: &KeyRange,
    target_table_size: u64,
    min_level: usize,
) -> Option<CompactionTask> {
    let all = |level: usize| -> Vec<TableId> { state.level(level).iter().map(|t| t.id).collect() };
    let touches = |level: usize| state.level(level).iter().any(|t| range.overlaps(&t.min_key, &t.max_key));
    if num_levels <= 1 {
        let ids = all(0);
        return (ids.len() > 1 && touches(0)).then(|| CompactionTask {
            kind: TaskKind::Merge,
            inputs: vec![(0, ids)],
            output_level: 0,
            target_table_size: u64::MAX,
            reason: "compact_range".into(),
        });
    }
    let deepest = (1..num_levels).rev().find(|&l| !state.level(l).is_empty()).unwrap_or(1);
    let target = deepest.max(min_level).min(num_levels - 1);
    if !(0..target).any(touches) {
        return None;
    }
    let mut chosen: Vec<BTreeSet<TableId>> = vec![BTreeSet::new(); target + 1];
    chosen[0].extend(all(0));
    for (level, set) in chosen.iter_mut().enumerate().skip(1) {
        set.extend(state.level(level).iter().filter(|t| range.overlaps(&t.min_key, &t.max_key)).map(|t| t.id));
    }
    // Grow the deeper levels' choice to the key span of everything chosen, until it settles.
    loop {
        let metas = chosen
            .iter()
            .enumerate()
            .flat_map(|(level, ids)| state.level(level).iter().filter(move |t| ids.contains(&t.id)));
        let (Some(lo), Some(hi)) =
            (metas.clone().map(|t| t.min_key.clone()).min(), metas.map(|t| t.max_key.clone()).max())
        else {
            return None;
        };
        let mut grew = false;
        for (level, set) in chosen.iter_mut().enumerate().skip(1) {
            for t in state.overlapping(level, &lo, &hi) {
                grew |= set.insert(t.id);
            }
        }
        if !grew {
            break;
        }
    }
    let inputs = chosen
        .into_iter()
        .enumerate()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(level, ids)| (level, ids.into_iter().collect()))
        .collect();
    Some(CompactionTask {
        kind: TaskKind::Merge,
        inputs,
        output_level: target,
        target_table_size,
        reason: "compact_range".into(),
    })
}

#[cfg(test)]
mod tests {
    use strata_core::Bytes;

    use super::*;
    use crate::TableMeta;

    fn table(id: TableId, lo: &str, hi: &str, seq: u64) -> TableMeta {
        TableMeta {
            id,
            file_size: 100,
            entries: 1,
            tombstones: 0,
            min_key: Bytes::copy_from_slice(lo.as_bytes()),
            max_key: Bytes::copy_from_slice(hi.as_bytes()),
            min_seq: seq,
            max_seq: seq,
            created_at_ms: 0,
            range_tombstones: Vec::new(),
        }
    }

    #[test]
    fn takes_all_of_l0_and_the_overlapping_span_of_deeper_levels() {
        let state = LevelState {
            levels: vec![
                vec![table(5, "m", "p", 50), table(4, "a", "b", 40)],
                vec![table(3, "a", "c", 30), table(6, "x", "z", 30)],
                vec![table(1, "a", "f", 10), table(2, "g", "q", 10)],
            ],
            ..LevelState::default()
        };
        let task = compact_range_task(&state, 7, &KeyRange::from("n".."o"), 1 << 20, 1).expect("work to do");
        assert_eq!(task.output_level, 2);
        // L0 whole; its span a..p pulls in table 3 of L1 and both tables of L2, not table 6.
        assert_eq!(task.inputs, vec![(0, vec![4, 5]), (1, vec![3]), (2, vec![1, 2])]);
    }

    #[test]
    fn goes_straight_to_the_settled_level() {
        let state = LevelState {
            levels: vec![vec![table(2, "c", "z", 20), table(1, "a", "m", 10)], vec![], vec![], vec![]],
            ..LevelState::default()
        };
        let task = compact_range_task(&state, 4, &KeyRange::all(), 1 << 20, 2).expect("work to do");
        assert_eq!((task.output_level, task.inputs.clone()), (2, vec![(0, vec![1, 2])]));
        // Never past the last level, and never above data that already lies deeper.
        assert_eq!(compact_range_task(&state, 4, &KeyRange::all(), 1 << 20, 9).map(|t| t.output_level), Some(3));
        let mut deeper = state.clone();
        deeper.levels[3].push(table(3, "b", "d", 1));
        let task = compact_range_task(&deeper, 4, &KeyRange::all(), 1 << 20, 2).expect("work to do");
        assert_eq!((task.output_level, task.inputs), (3, vec![(0, vec![1, 2]), (3, vec![3])]));
    }

    #[test]
    fn nothing_to_do_when_the_range_is_already_at_the_bottom() {
        let state = LevelState { levels: vec![vec![], vec![], vec![table(1, "a", "z", 1)]], ..LevelState::default() };
        assert_eq!(compact_range_task(&state, 7, &KeyRange::all(), 1 << 20, 1), None);
        let one_level = LevelState { levels: vec![vec![table(1, "a", "z", 1)]], ..LevelState::default() };
        assert_eq!(compact_range_task(&one_level, 1, &KeyRange::all(), 1 << 20, 1), None);
    }
}
