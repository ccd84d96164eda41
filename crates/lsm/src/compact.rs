//! Running compactions: the policy picks, the executor merges, the manifest records.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use strata_compaction::{CompactionPolicy, CompactionTask, ExecContext, LevelState, PolicyConfig, TaskKind};
use strata_core::SeqNo;
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableId};

use crate::manifest::VersionEdit;
use crate::state::{Inner, SuperVersion, lock};
use crate::version::Version;
use crate::{Error, Result};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// Asks the policy for work (or takes a forced task) and claims its tables. `None` when
    /// there is nothing to do.
    pub(crate) fn claim_compaction(&self, background: bool) -> Option<CompactionTask> {
        let snapshots = self.live_snapshots();
        let mut bg = lock(&self.bg);
        if bg.ingesting {
            // The ingest wakes every waiter when it is done.
            return None;
        }
        let version = Arc::clone(&self.current().version);
        let state = version.level_state(&bg.compacting, now_ms());
        let (task, forced, for_reads) = match bg.forced.pop_front() {
            Some(task) => (task, true, false),
            // Dropping tables a range delete emptied costs no I/O and frees the most: first.
            // Carrying range tombstones down to what they hide waits until the policy has
            // nothing to do.
            None if background => {
                let picked = strata_compaction::range_delete_drop_task(&state, &snapshots)
                    .or_else(|| self.policy.pick(&state))
                    .or_else(|| self.range_tombstone_cleanup(&state, &snapshots));
                // Seeks get their task only when the tree has nothing else to do.
                let for_reads = picked.is_none();
                let Some(task) = picked.or_else(|| self.seek_compaction(&state)) else {
                    // Nothing to do in this tree, which `Db::wait_for_compactions` waits for
                    // (with nothing running either). The epoch moves on, the tree unchanged,
                    // so that waiters wake; the next worker to find nothing sees it settled.
                    if bg.running_compactions == 0 && bg.settled_epoch != Some(bg.epoch) {
                        bg.epoch += 1;
                        bg.settled_epoch = Some(bg.epoch);
                        drop(bg);
                        self.bg_cv.notify_all();
                    }
                    return None;
                };
                (task, false, for_reads)
            }
            None => return None,
        };
        let ids: Vec<_> = task.inputs.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
        // NOTE: each input must still be at the level the task names, not merely exist: a
        // background move can push a table down between compact_range planning its task and
        // claiming it (found by the engine_ops fuzz target as TableNotInState).
        let in_place = |level: usize, id: &TableId| {
            version.levels.get(level).is_some_and(|tables| tables.iter().any(|t| t.meta.id == *id))
        };
        let stale = task.inputs.iter().any(|(level, ids)| ids.iter().any(|id| !in_place(*level, id)))
            || (forced && output_level_gained_overlap(&version, &task));
        if stale || ids.iter().any(|id| bg.compacting.contains(id)) {
            // A forced task raced with another compaction or an ingest; the caller will ask
            // again.
            return None;
        }
        if task.inputs.iter().any(|(level, _)| *level == 0) {
            // Whatever takes L0 changes what the seeks counted so far were paying for.
            self.stats.l0_extra_seeks.store(0, Ordering::Relaxed);
        }
        if for_reads {
            self.stats.seek_compactions.fetch_add(1, Ordering::Relaxed);
        }
        bg.running.push((task.output_level, ids.clone()));
        bg.compacting.extend(ids);
        bg.running_compactions += 1;
        Some(task)
    }

    /// The policy's task for reads once the extra L0 tables iterators visited have paid for
    /// its input bytes (`Options::seek_compaction_bytes` each; a move or a drop costs nothing).
    fn seek_compaction(&self, state: &LevelState) -> Option<CompactionTask> {
        let per_seek = self.options.seek_compaction_bytes;
        let seeks = self.stats.l0_extra_seeks.load(Ordering::Relaxed);
        if per_seek == 0 || seeks == 0 {
            return None;
        }
        let task = self.policy.pick_for_reads(state)?;
        let bytes: u64 = match task.kind {
            TaskKind::Move | TaskKind::Drop => 0,
            TaskKind::Merge => task
                .inputs
                .iter()
                .flat_map(|(level, ids)| state.level(*level).iter().filter(|t| ids.contains(&t.id)))
                .map(|t| t.file_size)
                .sum(),
        };
        (seeks.saturating_mul(per_seek) >= bytes).then_some(task)
    }

    /// [`strata_compaction::range_tombstone_cleanup_task`] for sorted levels; none under FIFO,
    /// which never merges.
    fn range_tombstone_cleanup(&self, state: &LevelState, snapshots: &[SeqNo]) -> Option<CompactionTask> {
        let target = match &self.options.compaction {
            PolicyConfig::Fifo { .. } => return None,
            PolicyConfig::Leveled { target_table_size, .. } => *target_table_size,
            PolicyConfig::SizeTiered { .. } => u64::MAX,
        };
        strata_compaction::range_tombstone_cleanup_task(state, snapshots, target)
    }

    /// Runs a claimed task to completion and releases its tables; `waited_for` when a caller
    /// waits for it (`compact_range`), which gives it every subcompaction allowed
    /// ([`Self::subcompactions`]).
    pub(crate) fn run_compaction(&self, task: &CompactionTask, waited_for: bool) -> Result<()> {
        let result = self.execute_task(task, waited_for);
        let mut bg = lock(&self.bg);
        for (_, ids) in &task.inputs {
            for id in ids {
                bg.compacting.remove(id);
            }
        }
        let first = task.input_ids().next();
        if let Some(i) = bg.running.iter().position(|(_, ids)| ids.first().copied() == first) {
            bg.running.swap_remove(i);
        }
        bg.running_compactions -= 1;
        drop(bg);
        self.notify_bg();
        result
    }

    /// The nice value a background compaction runs `task` at: `None` (the process's
    /// priority) for a task that takes tables out of L0, `Options::compaction_nice` for any
    /// other. Writers are held back by L0 alone (its slowdown and stop triggers), so a merge
    /// out of L0 that yields its core to them only makes them wait longer.
    ///
    /// NOTE: with every merge at nice 10, 1 KiB values and one writer on two cores, an L0
    /// merge got the CPU only once L0 reached the slowdown trigger: overwrite of 1M keys
    /// ran at 135k to 221k writes/s with writers held back 0.7 to 3.4 s, against 202k to
    /// 220k and 0 to 0.5 s with L0 merges at the process's priority (four runs each).
    /// Loads of 100-byte values were unchanged.
    pub(crate) fn compaction_nice(&self, task: &CompactionTask) -> Option<i32> {
        merge_nice(task, self.options.compaction_nice)
    }

    /// How many key ranges a compaction merges at once. A compaction someone waits for gets
    /// every one `max_subcompactions` allows: one run by `compact_range`, any while a
    /// `compact_range` call waits (the flush it starts with can set off a background merge
    /// of L0, which it then waits for), or any while L0 holds `l0_slowdown_trigger` tables or
    /// more (writers are being held back). Any other runs in the background while reads and
    /// writes go on, and leaves them a core: it takes at most one fewer range than the
    /// machine has cores.
    ///
    /// NOTE: on two cores, two ranges in the background took both, and a foreground thread
    /// shared its core with a merge: YCSB-E right after readwhilewriting (whose writes leave
    /// an L0 merge running through it), Strata alone, 1M keys, three runs each, p99.9 of 111,
    /// 117 and 176 µs with two ranges against 100, 95 and 104 µs with one. Raising the
    /// merge's nice value from 10 to 19 did not help (156, 174, 148).
    pub(crate) fn subcompactions(&self, waited_for: bool, version: &Version) -> usize {
        let held_back = version.table_count(0) >= self.options.l0_slowdown_trigger;
        let range_waiting = lock(&self.bg).compact_range_waiters > 0;
        subcompactions(self.options.max_subcompactions, waited_for || held_back || range_waiting, cores())
    }

    fn execute_task(&self, task: &CompactionTask, waited_for: bool) -> Result<()> {
        let started = std::time::Instant::now();
        let sv = self.current();
        let version = Arc::clone(&sv.version);
        // The memtables of this super version and the tables of its version together hold
        // everything written so far; later writes and ingests are numbered after both.
        let unflushed = sv.immutables.iter().chain([&sv.active]).map(|m| m.min_seq()).min().unwrap_or(SeqNo::MAX);
        drop(sv);
        let state = version.level_state(&lock(&self.bg).compacting, now_ms());
        let snapshots = self.live_snapshots();
        let next_id = || self.allocate_file_number();
        let ctx = ExecContext {
            snapshots: &snapshots,
            bottommost: strata_compaction::is_bottommost(&state, task),
            next_table_id: &next_id,
            rate_limiter: self.rate_limiter.as_ref(),
            max_subcompactions: self.subcompactions(waited_for, &version),
            copy_row_groups: self.options.copy_row_groups,
            zero_seqs_below: unflushed,
        };
        let output = strata_compaction::execute(&*self.store, task, &state, &ctx).map_err(Error::from)?;
        // Only a merge writes tables: a move's outputs are its inputs.
        if task.kind == TaskKind::Merge
            && let Err(problem) = output.added.iter().try_for_each(|(level, t)| self.check_new_table(*level, t))
        {
            for (_, t) in &output.added {
                // NOTE: best effort; a table no manifest names is removed at the next open.
                let _ = self.store.delete(t.id);
            }
            return Err(problem);
        }
        let edit = VersionEdit {
            added: output.added.clone(),
            removed: output.removed.clone(),
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::Relaxed)),
            last_seq: None,
            writer_epoch: None,
        };
        // NOTE: when this fails the outputs are kept. The edit may have reached the manifest
        // file even though its sync failed (and the next open would then replay it), so
        // deleting them here could lose data; the next open deletes them if they are orphans.
        self.log_and_install(&edit, |sv, version| {
            // Counted as the version is installed, before anyone waiting on the tree wakes: a
            // `compact_range` whose task a background worker ran returns once it sees the
            // new tree, and its caller's stats must include the merge.
            self.stats.compactions.fetch_add(1, Ordering::Relaxed);
            self.stats.compaction_bytes_read.fetch_add(output.bytes_read, Ordering::Relaxed);
            self.stats.compaction_bytes_written.fetch_add(output.bytes_written, Ordering::Relaxed);
            self.stats.compaction_rows_rewritten.fetch_add(output.rows_rewritten, Ordering::Relaxed);
            self.stats.compaction_rows_copied.fetch_add(output.rows_copied, Ordering::Relaxed);
            SuperVersion { active: Arc::clone(&sv.active), immutables: sv.immutables.clone(), version }
        })?;
        tracing::info!(
            kind = task.kind.as_str(),
            // Evaluated only when the event is logged.
            inputs = %input_counts(task),
            output_level = task.output_level,
            outputs = output.added.len(),
            bytes_read = output.bytes_read,
            bytes_written = output.bytes_written,
            rows_copied = output.rows_copied,
            ms = started.elapsed().as_millis(),
            reason = %task.reason,
            "compaction finished"
        );
        Ok(())
    }
}

/// A task's inputs for the log, for example `4 from L0, 6 from L1`.
fn input_counts(task: &CompactionTask) -> String {
    let counts: Vec<String> = task.inputs.iter().map(|(level, ids)| format!("{} from L{level}", ids.len())).collect();
    counts.join(", ")
}

/// Whether a table that is not an input of `task` now sits on its output level inside the
/// inputs' key span. A forced task is planned (`compact_range`) before it is claimed; an
/// ingest committed in between may have put tables there, and merging over them would
/// leave two overlapping tables on one level. (A planned task takes every table of the
/// output level in its span, so this is never true of a fresh one.)
fn output_level_gained_overlap(version: &crate::version::Version, task: &CompactionTask) -> bool {
    if task.output_level == 0 || task.kind == strata_compaction::TaskKind::Drop {
        return false;
    }
    let inputs: std::collections::HashSet<TableId> = task.input_ids().collect();
    let metas = version.levels.iter().flatten().filter(|t| inputs.contains(&t.meta.id)).map(|t| &t.meta);
    let (Some(lo), Some(hi)) = (metas.clone().map(|m| &m.min_key).min(), metas.map(|m| &m.max_key).max()) else {
        return false;
    };
    version.level(task.output_level).iter().any(|t| !inputs.contains(&t.meta.id) && t.meta.overlaps(lo, hi))
}

/// See [`Inner::subcompactions`]: `max` when `waited_for`, else at most `cores - 1` (at
/// least 1).
pub(crate) fn subcompactions(max: usize, waited_for: bool, cores: usize) -> usize {
    if waited_for { max } else { max.min(cores.saturating_sub(1)).max(1) }
}

/// See [`Inner::compaction_nice`]: `None` for a task with inputs in L0 or when `configured`
/// is 0, else `configured`.
pub(crate) fn merge_nice(task: &CompactionTask, configured: i32) -> Option<i32> {
    let out_of_l0 = task.inputs.iter().any(|(level, _)| *level == 0);
    (!out_of_l0 && configured > 0).then_some(configured)
}

/// The cores this process may run on (1 when the system cannot say), read once.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

#[cfg(test)]
mod tests {
    use strata_compaction::{CompactionTask, TaskKind};

    use super::{merge_nice, subcompactions};

    #[test]
    fn merges_out_of_l0_keep_the_process_priority() {
        let task = |inputs: Vec<(usize, Vec<u64>)>, output_level| CompactionTask {
            kind: TaskKind::Merge,
            inputs,
            output_level,
            target_table_size: 1 << 20,
            reason: String::new(),
        };
        assert_eq!(merge_nice(&task(vec![(0, vec![1, 2]), (1, vec![3])], 1), 10), None, "L0 into L1");
        assert_eq!(merge_nice(&task(vec![(0, vec![1, 2])], 0), 10), None, "within L0");
        assert_eq!(merge_nice(&task(vec![(1, vec![3]), (2, vec![4])], 2), 10), Some(10), "L1 into L2");
        assert_eq!(merge_nice(&task(vec![(1, vec![3]), (2, vec![4])], 2), 0), None, "nice 0 spawns nothing");
    }

    #[test]
    fn background_merges_leave_the_foreground_a_core() {
        // (max_subcompactions, waited for, cores) -> ranges
        let cases = [
            ((2, false, 2), 1),
            ((2, true, 2), 2),
            ((2, false, 1), 1),
            ((2, true, 1), 2),
            ((4, false, 8), 4),
            ((8, false, 4), 3),
            ((1, false, 8), 1),
            ((1, true, 8), 1),
            ((3, false, 0), 1),
        ];
        for ((max, waited, cores), want) in cases {
            assert_eq!(subcompactions(max, waited, cores), want, "max {max}, waited for {waited}, {cores} cores");
        }
    }
}
