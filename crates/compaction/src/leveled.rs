//! Leveled compaction: L0 into L1 by file count, each deeper level under a byte target.

use std::cmp::Ordering;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::state::key_hull;
use crate::{CompactionPolicy, CompactionTask, Error, LevelState, LeveledOptions, TableMeta, TaskKind};

/// Leveled compaction, as in LevelDB and RocksDB's default.
///
/// * **L0 → L1** when L0 holds [`l0_trigger`](LeveledOptions::l0_trigger) tables: every L0
///   table plus the L1 tables their key range overlaps are merged into L1. If one of them is
///   already compacting, L0 waits (taking only newer L0 tables would put newer data below
///   older). When the L0 tables overlap neither each other nor L1 they are moved, not
///   rewritten. With [`intra_l0_merge`](LeveledOptions::intra_l0_merge), while L0 holds
///   fewer bytes than the L1 tables it overlaps, L0 tables are merged into one L0 table
///   instead: the newest `l0_trigger` or more of a like size (an older table made by such a
///   merge joins only once it holds at most half the bytes above it), or, when there are
///   none but L0 holds twice its trigger, all of L0. Otherwise L0 waits for more flushes.
/// * **Ln → Ln+1** (`1 <= n < num_levels - 1`) when Ln holds more than its byte target,
///   `base_level_bytes * level_multiplier^(n-1)`. The table pushed down is the one whose
///   overlapping bytes in Ln+1, relative to its own size, are fewest; among equals a
///   per-level round-robin cursor over the key space takes turns, so repeated compactions of
///   a level sweep it instead of hammering its first table. A table that overlaps nothing
///   below is moved down without being rewritten.
/// * The level with the highest score (L0: tables / trigger; Ln: bytes / target) goes first;
///   the last level has no target.
///
/// A table that is compacting is never picked, nor one whose overlap in the output level
/// includes a compacting table.
///
/// # Interior state
///
/// [`pick`](CompactionPolicy::pick) takes `&self` and is otherwise pure, but remembers, per
/// level, the largest key of the table it last pushed down (behind a [`Mutex`]): that cursor
/// only decides between equally good candidates.
#[derive(Debug)]
pub struct Leveled {
    options: LeveledOptions,
    /// Per level: the `max_key` of the table last picked there (round robin among equals).
    cursors: Mutex<Vec<Option<Bytes>>>,
}

/// One candidate for Ln → Ln+1: a table and the tables it overlaps below.
struct Candidate<'a> {
    table: &'a TableMeta,
    overlap: Vec<&'a TableMeta>,
    overlap_bytes: u64,
}

impl Candidate<'_> {
    /// Orders by overlap bytes relative to the table's own size, fewest first.
    fn cmp_ratio(&self, other: &Self) -> Ordering {
        let lhs = u128::from(self.overlap_bytes) * u128::from(other.table.file_size.max(1));
        let rhs = u128::from(other.overlap_bytes) * u128::from(self.table.file_size.max(1));
        lhs.cmp(&rhs)
    }
}

impl Leveled {
    /// The policy with `options`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when an option is out of range.
    pub fn new(options: LeveledOptions) -> Result<Self, Error> {
        options.validate()?;
        Ok(Self { options, cursors: Mutex::new(vec![None; options.num_levels]) })
    }

    /// The policy's options.
    #[must_use]
    pub const fn options(&self) -> &LeveledOptions {
        &self.options
    }

    fn last_level(&self) -> usize {
        self.options.num_levels - 1
    }

    /// L0's task: into L1, moved when nothing overlaps, or within L0 while L0 is small
    /// beside what it overlaps in L1. `for_reads` ([`pick_for_reads`](CompactionPolicy::pick_for_reads))
    /// merges all of L0 within L0 there, not only a tier of `l0_trigger` tables, so that
    /// reads find one L0 table.
    fn pick_l0(&self, state: &LevelState, for_reads: bool) -> Option<CompactionTask> {
        let l0 = state.level(0);
        // NOTE: all of L0 or nothing. Leaving an older overlapping L0 table behind while a
        // newer one goes down would let the older version win reads.
        if l0.is_empty() || l0.iter().any(|t| state.is_compacting(t.id)) {
            return None;
        }
        let (lo, hi) = key_hull(l0)?;
        let overlap: Vec<&TableMeta> = state.overlapping(1, &lo, &hi).collect();
        if overlap.iter().any(|t| state.is_compacting(t.id)) {
            return None;
        }
        let l0_ids: Vec<_> = l0.iter().map(|t| t.id).collect();
        let reason = if for_reads {
            format!("reads visit {} overlapping L0 tables", l0.len())
        } else {
            format!("L0 holds {} tables (trigger {})", l0.len(), self.options.l0_trigger)
        };
        if l0_is_movable(l0, state) {
            return Some(CompactionTask {
                kind: TaskKind::Move,
                inputs: vec![(0, l0_ids)],
                output_level: 1,
                target_table_size: self.options.target_table_size,
                reason: format!("{reason}; no overlap below, moved"),
            });
        }
        let l0_bytes: u64 = l0.iter().map(|t| t.file_size).sum();
        let overlap_bytes: u64 = overlap.iter().map(|t| t.file_size).sum();
        if self.options.intra_l0_merge && l0.len() > 1 && l0_bytes < overlap_bytes {
            let reason = format!("{reason}; {l0_bytes} bytes against {overlap_bytes} they overlap in L1");
            if for_reads {
                return Some(within_l0(l0, format!("{reason}; all of it merged within L0")));
            }
            return self.pick_within_l0(l0, reason);
        }
        let mut inputs = vec![(0, l0_ids)];
        if !overlap.is_empty() {
            inputs.push((1, overlap.iter().map(|t| t.id).collect()));
        }
        Some(CompactionTask {
            kind: TaskKind::Merge,
            inputs,
            output_level: 1,
            target_table_size: self.options.target_table_size,
            reason,
        })
    }

    /// A merge of L0 tables into one L0 table, for an L0 too small to be worth merging into
    /// L1: the newest [`newest_tier`] of at least `l0_trigger` tables, so that a table made
    /// by an earlier such merge is not rewritten for every few flushes that land above it;
    /// else, once L0 holds twice its trigger, all of L0. Otherwise nothing: L0 waits for more
    /// flushes.
    fn pick_within_l0(&self, l0: &[TableMeta], reason: String) -> Option<CompactionTask> {
        let width = self.options.l0_trigger.max(2);
        let (tables, reason) = match newest_tier(l0, width) {
            Some(tier) => (&l0[tier], format!("{reason}; its newest tables of a like size merged within L0")),
            None if l0.len() >= 2 * width => (l0, format!("{reason}; all of it merged within L0")),
            None => return None,
        };
        Some(within_l0(tables, reason))
    }

    fn pick_level(&self, state: &LevelState, level: usize, level_bytes: u64) -> Option<CompactionTask> {
        let below = level + 1;
        let mut best: Vec<Candidate<'_>> = Vec::new();
        for table in state.level(level).iter().filter(|t| !state.is_compacting(t.id)) {
            let overlap: Vec<&TableMeta> = state.overlapping(below, &table.min_key, &table.max_key).collect();
            if overlap.iter().any(|t| state.is_compacting(t.id)) {
                continue;
            }
            let overlap_bytes = overlap.iter().map(|t| t.file_size).sum();
            let candidate = Candidate { table, overlap, overlap_bytes };
            match best.first().map(|b| candidate.cmp_ratio(b)) {
                None | Some(Ordering::Equal) => best.push(candidate),
                Some(Ordering::Less) => best = vec![candidate],
                Some(Ordering::Greater) => {}
            }
        }
        let chosen = self.round_robin(level, best)?;
        let target = self.options.level_target(level);
        let reason = format!(
            "L{level} holds {level_bytes} bytes over its target {target}; table {} overlaps {} bytes in L{below}",
            chosen.table.id, chosen.overlap_bytes
        );
        if chosen.overlap.is_empty() {
            return Some(CompactionTask {
                kind: TaskKind::Move,
                inputs: vec![(level, vec![chosen.table.id])],
                output_level: below,
                target_table_size: self.options.target_table_size,
                reason: format!("{reason}, moved"),
            });
        }
        Some(CompactionTask {
            kind: TaskKind::Merge,
            inputs: vec![(level, vec![chosen.table.id]), (below, chosen.overlap.iter().map(|t| t.id).collect())],
            output_level: below,
            target_table_size: self.options.target_table_size,
            reason,
        })
    }

    /// Among equally good candidates (in key order), the first after the level's cursor,
    /// wrapping around; advances the cursor.
    fn round_robin<'a>(&self, level: usize, mut tied: Vec<Candidate<'a>>) -> Option<Candidate<'a>> {
        if tied.is_empty() {
            return None;
        }
        let mut cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        if cursors.len() <= level {
            cursors.resize(level + 1, None);
        }
        let index =
            cursors[level].as_ref().and_then(|cursor| tied.iter().position(|c| c.table.min_key > *cursor)).unwrap_or(0);
        let chosen = tied.swap_remove(index);
        cursors[level] = Some(chosen.table.max_key.clone());
        Some(chosen)
    }
}

/// The newest run of at least `width` tables adjacent in age in `l0` (newest first) whose
/// sizes are alike, as the positions in `l0`: from a start, each older table joins while it
/// holds at most half the bytes of the tables that joined before it (the first two always
/// join), so a table that an earlier merge made of several flushes stays out until as many
/// bytes have landed above it again. Starts are tried from the newest table on.
fn newest_tier(l0: &[TableMeta], width: usize) -> Option<std::ops::Range<usize>> {
    (0..l0.len()).find_map(|start| {
        let mut bytes = 0u64;
        let mut end = start;
        for table in &l0[start..] {
            if end - start >= 2 && table.file_size.saturating_mul(2) > bytes {
                break;
            }
            bytes = bytes.saturating_add(table.file_size);
            end += 1;
        }
        (end - start >= width).then_some(start..end)
    })
}

/// A merge of `tables` (adjacent in age) into one L0 table.
fn within_l0(tables: &[TableMeta], reason: String) -> CompactionTask {
    CompactionTask {
        kind: TaskKind::Merge,
        inputs: vec![(0, tables.iter().map(|t| t.id).collect())],
        output_level: 0,
        target_table_size: u64::MAX,
        reason,
    }
}

/// Whether every L0 table can go to L1 as it is: they overlap neither each other nor L1.
fn l0_is_movable(l0: &[TableMeta], state: &LevelState) -> bool {
    let mut sorted: Vec<&TableMeta> = l0.iter().collect();
    sorted.sort_by(|a, b| a.min_key.cmp(&b.min_key));
    let disjoint = sorted.windows(2).all(|w| w[0].max_key < w[1].min_key);
    disjoint && l0.iter().all(|t| state.overlapping(1, &t.min_key, &t.max_key).next().is_none())
}

impl Default for Leveled {
    fn default() -> Self {
        let options = LeveledOptions::default();
        Self { options, cursors: Mutex::new(vec![None; options.num_levels]) }
    }
}

impl Clone for Leveled {
    fn clone(&self) -> Self {
        let cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Self { options: self.options, cursors: Mutex::new(cursors) }
    }
}

impl CompactionPolicy for Leveled {
    fn name(&self) -> &'static str {
        "leveled"
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        // (score, level, bytes) of every level over its trigger or target.
        let mut scored: Vec<(f64, usize, u64)> = Vec::new();
        let l0_count = state.level(0).len();
        if l0_count >= self.options.l0_trigger {
            scored.push((l0_count as f64 / self.options.l0_trigger as f64, 0, state.level_bytes(0)));
        }
        for level in 1..self.last_level() {
            let bytes: u64 =
                state.level(level).iter().filter(|t| !state.is_compacting(t.id)).map(|t| t.file_size).sum();
            let target = self.options.level_target(level);
            if bytes > target {
                scored.push((bytes as f64 / target as f64, level, bytes));
            }
        }
        // Highest score first; the shallower level wins a tie.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().find_map(|(_, level, bytes)| {
            if level == 0 { self.pick_l0(state, false) } else { self.pick_level(state, level, bytes) }
        })
    }

    fn num_levels(&self) -> usize {
        self.options.num_levels
    }

    /// L0's task as [`pick`](CompactionPolicy::pick) would make it once L0 reached its
    /// trigger, for an L0 of two or more tables below it; a small L0 is merged within L0 into
    /// one table.
    fn pick_for_reads(&self, state: &LevelState) -> Option<CompactionTask> {
        if state.level(0).len() < 2 {
            return None;
        }
        self.pick_l0(state, true)
    }

    /// The first level from L1 whose byte target holds `bytes` (a level is compacted only
    /// once it holds more than its target), else the last level.
    fn settled_level(&self, bytes: u64) -> usize {
        (1..self.last_level()).find(|&level| bytes <= self.options.level_target(level)).unwrap_or(self.last_level())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sim::{Tree, sim_key};

    fn summary(id: u64, lo: u64, hi: u64, size: u64, seq: u64) -> TableMeta {
        TableMeta {
            id,
            file_size: size,
            min_key: sim_key(lo),
            max_key: sim_key(hi),
            min_seq: seq,
            max_seq: seq,
            entries: 1,
            tombstones: 0,
            created_at_ms: 0,
            range_tombstones: Vec::new(),
        }
    }

    fn small() -> Leveled {
        Leveled::new(LeveledOptions { base_level_bytes: 100, target_table_size: 50, ..Default::default() }).unwrap()
    }

    #[test]
    fn l0_waits_for_its_trigger_then_takes_all_of_l0_and_the_overlap() {
        let p = small();
        let mut state = LevelState {
            levels: vec![vec![], vec![summary(9, 0, 10, 10, 1), summary(8, 50, 60, 10, 1)]],
            ..Default::default()
        };
        for i in 0..3 {
            state.levels[0].insert(0, summary(i + 1, 5, 20, 10, 10 + i));
        }
        assert_eq!(p.pick(&state), None);
        state.levels[0].insert(0, summary(4, 5, 20, 10, 20));
        let task = p.pick(&state).unwrap();
        assert_eq!(task.kind, TaskKind::Merge);
        assert_eq!(task.inputs, vec![(0, vec![4, 3, 2, 1]), (1, vec![9])]);
        // An L1 table in the way that is compacting blocks L0, as does a compacting L0 table.
        state.compacting.insert(9);
        assert_eq!(p.pick(&state), None);
        state.compacting = [2].into();
        assert_eq!(p.pick(&state), None);
    }

    #[test]
    fn intra_l0_merge_keeps_l0_in_l0_until_it_holds_the_bytes_it_overlaps_below() {
        let p = Leveled::new(LeveledOptions { intra_l0_merge: true, ..small().options }).unwrap();
        // L0: four tables of 10 bytes; L1: 50 bytes under their key range, 10 beside it.
        let mut state = LevelState {
            levels: vec![
                (1..=4).map(|i| summary(i, 5, 20, 10, 10 + i)).rev().collect(),
                vec![summary(9, 0, 10, 30, 1), summary(8, 15, 18, 20, 1), summary(7, 50, 60, 10, 1)],
            ],
            ..Default::default()
        };
        let task = p.pick(&state).unwrap();
        assert_eq!(task.kind, TaskKind::Merge);
        assert_eq!(task.inputs, vec![(0, vec![4, 3, 2, 1])]);
        assert_eq!((task.output_level, task.target_table_size), (0, u64::MAX));
        // Forty bytes in L0 against thirty below: into L1.
        state.levels[1].remove(0);
        let task = p.pick(&state).unwrap();
        assert_eq!((task.output_level, task.inputs), (1, vec![(0, vec![4, 3, 2, 1]), (1, vec![8])]));
        // Fifty more bytes below: L0 stays in L0 again, and without the option it goes down.
        state.levels[1].insert(0, summary(6, 0, 6, 50, 1));
        assert_eq!(p.pick(&state).unwrap().output_level, 0);
        let into_l1 = Leveled::new(LeveledOptions { intra_l0_merge: false, ..small().options }).unwrap();
        assert_eq!(into_l1.pick(&state).unwrap().output_level, 1);
        // Tables that can be moved are moved.
        let movable = LevelState {
            levels: vec![vec![summary(1, 30, 40, 10, 5), summary(2, 0, 10, 10, 4)], vec![summary(3, 50, 99, 100, 1)]],
            ..Default::default()
        };
        let p = Leveled::new(LeveledOptions { l0_trigger: 2, intra_l0_merge: true, ..Default::default() }).unwrap();
        assert_eq!(p.pick(&movable).unwrap().kind, TaskKind::Move);
    }

    #[test]
    fn a_merge_within_l0_leaves_out_an_older_table_made_of_several_flushes() {
        let options = LeveledOptions { intra_l0_merge: true, base_level_bytes: 10_000, ..small().options };
        let p = Leveled::new(options).unwrap();
        // L0, newest first: three flushes of 10 bytes over an earlier merge of 40; 500 bytes below.
        let flush = |id: u64| summary(id, 5, 20, 10, 100 + id);
        let mut state = LevelState {
            levels: vec![
                vec![flush(3), flush(2), flush(1), summary(9, 5, 20, 40, 50)],
                vec![summary(8, 0, 30, 500, 1)],
            ],
            ..Default::default()
        };
        // Four tables reach the trigger, but only three are alike: L0 waits.
        assert_eq!(p.pick(&state), None);
        // A fourth flush makes four alike, merged without the older table.
        state.levels[0].insert(0, flush(4));
        let task = p.pick(&state).unwrap();
        assert_eq!((task.inputs, task.output_level), (vec![(0, vec![4, 3, 2, 1])], 0));
        // With eight flushes' worth above it, the older table joins (it holds at most half).
        for id in 5..=8 {
            state.levels[0].insert(0, flush(id));
        }
        let task = p.pick(&state).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![8, 7, 6, 5, 4, 3, 2, 1, 9])]);
        // A run of alike tables under a newer small one is found there.
        state.levels[0] = vec![summary(10, 5, 20, 1, 300), flush(4), flush(3), flush(2), flush(1)];
        assert_eq!(p.pick(&state).unwrap().inputs, vec![(0, vec![4, 3, 2, 1])]);
        // No four alike, but twice the trigger of tables: all of L0 is merged.
        let sizes = [1, 30, 1, 30, 1, 30, 1, 30];
        state.levels[0] = (0..8).map(|i| summary(20 + i, 5, 20, sizes[i as usize], 400 - i)).collect();
        assert_eq!(p.pick(&state).unwrap().inputs, vec![(0, (20..28).collect())]);
        state.levels[0].pop();
        assert_eq!(p.pick(&state), None);
    }

    #[test]
    fn reads_get_l0_in_one_piece_below_its_trigger() {
        let p = Leveled::new(LeveledOptions { intra_l0_merge: true, ..small().options }).unwrap();
        // L0: two overlapping tables of 10 bytes, under the trigger of four; 50 bytes below.
        let mut state = LevelState {
            levels: vec![
                vec![summary(2, 5, 20, 10, 12), summary(1, 8, 30, 10, 11)],
                vec![summary(9, 0, 10, 30, 1), summary(8, 15, 18, 20, 1), summary(7, 50, 60, 10, 1)],
            ],
            ..Default::default()
        };
        assert_eq!(p.pick(&state), None);
        // Small beside what it overlaps: all of L0 merged into one L0 table.
        let task = p.pick_for_reads(&state).unwrap();
        assert_eq!((task.kind, task.output_level), (TaskKind::Merge, 0));
        assert_eq!(task.inputs, vec![(0, vec![2, 1])]);
        // Larger than what it overlaps: into L1 with its overlap.
        state.levels[1].remove(0);
        let task = p.pick_for_reads(&state).unwrap();
        assert_eq!((task.output_level, task.inputs), (1, vec![(0, vec![2, 1]), (1, vec![8])]));
        // Nothing while an input is compacting, nor for a single L0 table.
        state.compacting.insert(8);
        assert_eq!(p.pick_for_reads(&state), None);
        state.compacting.clear();
        state.levels[0].pop();
        assert_eq!(p.pick_for_reads(&state), None);
        // Tables that overlap neither each other nor L1 are moved.
        state.levels[0] = vec![summary(3, 30, 40, 10, 5), summary(4, 0, 4, 10, 4)];
        assert_eq!(p.pick_for_reads(&state).unwrap().kind, TaskKind::Move);
    }

    #[test]
    fn data_settles_in_the_first_level_whose_target_holds_it() {
        // Targets: L1 100, L2 1,000, L3 10,000; L4 is the last level and has none.
        let p = Leveled::new(LeveledOptions { base_level_bytes: 100, num_levels: 5, ..Default::default() }).unwrap();
        assert_eq!(p.settled_level(0), 1);
        assert_eq!(p.settled_level(100), 1);
        assert_eq!(p.settled_level(101), 2);
        assert_eq!(p.settled_level(10_000), 3);
        assert_eq!(p.settled_level(10_001), 4);
        assert_eq!(p.settled_level(u64::MAX), 4);
        // A settled tree gives the policy nothing to do.
        let state = LevelState {
            levels: vec![vec![], vec![], vec![summary(1, 0, 10, 900, 1)], vec![], vec![]],
            ..Default::default()
        };
        assert_eq!(p.pick(&state), None);
    }

    #[test]
    fn tables_without_overlap_below_are_moved() {
        let p = Leveled::new(LeveledOptions { l0_trigger: 2, ..Default::default() }).unwrap();
        let state = LevelState {
            levels: vec![vec![summary(1, 30, 40, 10, 5), summary(2, 0, 10, 10, 4)], vec![summary(3, 20, 25, 10, 1)]],
            ..Default::default()
        };
        let task = p.pick(&state).unwrap();
        assert_eq!((task.kind, task.inputs.clone()), (TaskKind::Move, vec![(0, vec![1, 2])]));
        let p = small();
        let state = LevelState {
            levels: vec![vec![], vec![summary(1, 0, 10, 200, 5)], vec![summary(2, 20, 30, 10, 1)]],
            ..Default::default()
        };
        let task = p.pick(&state).unwrap();
        assert_eq!((task.kind, task.output_level), (TaskKind::Move, 2));
    }

    #[test]
    fn least_overlap_wins_and_ties_take_turns() {
        let p = small();
        // L1 over target; table 1 overlaps 100 bytes below, tables 2 and 3 overlap nothing... 4 and 5 tie at 10.
        let l1 = vec![
            summary(1, 0, 9, 100, 5),
            summary(2, 10, 19, 100, 5),
            summary(3, 20, 29, 100, 5),
            summary(4, 30, 39, 100, 5),
        ];
        let l2 = vec![
            summary(10, 0, 9, 100, 1),
            summary(11, 10, 19, 10, 1),
            summary(12, 20, 29, 50, 1),
            summary(13, 30, 39, 10, 1),
        ];
        let state = LevelState { levels: vec![vec![], l1, l2], ..Default::default() };
        let first = p.pick(&state).unwrap();
        let second = p.pick(&state).unwrap();
        let third = p.pick(&state).unwrap();
        assert_eq!(first.inputs, vec![(1, vec![2]), (2, vec![11])]);
        assert_eq!(second.inputs, vec![(1, vec![4]), (2, vec![13])]);
        assert_eq!(third.inputs, first.inputs);
        // A compacting overlap rules a candidate out.
        let mut busy = state.clone();
        busy.compacting.insert(11);
        assert_eq!(p.pick(&busy).unwrap().inputs, vec![(1, vec![4]), (2, vec![13])]);
    }

    #[test]
    fn the_last_level_is_never_compacted() {
        let p = Leveled::new(LeveledOptions { base_level_bytes: 1, num_levels: 2, ..Default::default() }).unwrap();
        let state = LevelState { levels: vec![vec![], vec![summary(1, 0, 9, 1000, 1)]], ..Default::default() };
        assert_eq!(p.pick(&state), None);
    }

    #[test]
    fn conformance() {
        crate::testing::conformance(&Leveled::default());
    }

    fn options() -> impl Strategy<Value = LeveledOptions> {
        (1usize..6, 1u64..200, 2u64..11, 1u64..100, 2usize..7, any::<bool>()).prop_map(
            |(t, base, mult, target, levels, intra)| LeveledOptions {
                l0_trigger: t,
                base_level_bytes: base * 1000,
                level_multiplier: mult,
                target_table_size: target * 1000,
                num_levels: levels,
                intra_l0_merge: intra,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// After any sequence of flushes, each followed by picks until none is left, every level
        /// below L0 is sorted, free of overlaps and within its byte target, and L0 is under its
        /// trigger (twice its trigger with merges within L0).
        #[test]
        fn levels_stay_disjoint_and_within_target(
            options in options(),
            flushes in prop::collection::vec((0u64..100_000, 1u64..100_000, 1u64..2_000), 1..60),
        ) {
            let policy = Leveled::new(options).unwrap();
            let mut tree = Tree::new(100);
            for (lo, width, keys) in flushes {
                let hi = (lo + width).min(100_000);
                tree.flush(lo, hi, keys as f64, keys);
                let mut tasks = 0;
                while let Some(task) = policy.pick(&tree.state) {
                    tree.apply(&task);
                    tasks += 1;
                    prop_assert!(tasks < 10_000, "no end to compaction");
                }
                let state = &tree.state;
                // A merge within L0 may wait for like-sized tables, up to twice the trigger.
                let l0_limit = if options.intra_l0_merge { 2 * options.l0_trigger.max(2) } else { options.l0_trigger };
                prop_assert!(state.level(0).len() < l0_limit);
                for level in 1..options.num_levels {
                    let tables = state.level(level);
                    prop_assert!(tables.windows(2).all(|w| w[0].max_key < w[1].min_key), "L{} overlaps", level);
                    if level < options.num_levels - 1 {
                        prop_assert!(state.level_bytes(level) <= options.level_target(level),
                            "L{} holds {} over target {}", level, state.level_bytes(level), options.level_target(level));
                    }
                }
            }
        }
    }
}
