//! Running compactions: the policy picks, the executor merges, the manifest records.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use strata_compaction::{CompactionPolicy, CompactionTask, ExecContext};
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableId};

use crate::manifest::VersionEdit;
use crate::state::{Inner, SuperVersion, lock};
use crate::{Error, Result};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// Asks the policy for work (or takes a forced task) and claims its tables. `None` when
    /// there is nothing to do.
    pub(crate) fn claim_compaction(&self, background: bool) -> Option<CompactionTask> {
        let mut bg = lock(&self.bg);
        let version = Arc::clone(&self.current().version);
        let state = version.level_state(&bg.compacting, now_ms());
        let task = match bg.forced.pop_front() {
            Some(task) => Some(task),
            None if background => self.policy.pick(&state),
            None => None,
        }?;
        let ids: Vec<_> = task.inputs.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
        // NOTE: each input must still be at the level the task names, not merely exist: a
        // background move can push a table down between compact_range planning its task and
        // claiming it (found by the engine_ops fuzz target as TableNotInState).
        let in_place = |level: usize, id: &TableId| {
            version.levels.get(level).is_some_and(|tables| tables.iter().any(|t| t.meta.id == *id))
        };
        let stale = task.inputs.iter().any(|(level, ids)| ids.iter().any(|id| !in_place(*level, id)));
        if stale || ids.iter().any(|id| bg.compacting.contains(id)) {
            // A forced task raced with another compaction; the caller will ask again.
            return None;
        }
        bg.compacting.extend(ids);
        bg.running_compactions += 1;
        Some(task)
    }

    /// Runs a claimed task to completion and releases its tables.
    pub(crate) fn run_compaction(&self, task: &CompactionTask) -> Result<()> {
        let result = self.execute_task(task);
        let mut bg = lock(&self.bg);
        for (_, ids) in &task.inputs {
            for id in ids {
                bg.compacting.remove(id);
            }
        }
        bg.running_compactions -= 1;
        drop(bg);
        self.notify_bg();
        result
    }

    fn execute_task(&self, task: &CompactionTask) -> Result<()> {
        let version = Arc::clone(&self.current().version);
        let state = version.level_state(&lock(&self.bg).compacting, now_ms());
        let snapshots = self.live_snapshots();
        let next_id = || self.allocate_file_number();
        let ctx = ExecContext {
            snapshots: &snapshots,
            bottommost: strata_compaction::is_bottommost(&state, task),
            next_table_id: &next_id,
            rate_limiter: self.rate_limiter.as_ref(),
            max_subcompactions: self.options.max_subcompactions,
        };
        let output = strata_compaction::execute(&*self.store, task, &state, &ctx).map_err(Error::from)?;
        let edit = VersionEdit {
            added: output.added.clone(),
            removed: output.removed.clone(),
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::Relaxed)),
            last_seq: None,
        };
        // NOTE: when this fails the outputs are kept. The edit may have reached the manifest
        // file even though its sync failed (and the next open would then replay it), so
        // deleting them here could lose data; the next open deletes them if they are orphans.
        self.log_and_install(&edit, |sv, version| SuperVersion {
            active: Arc::clone(&sv.active),
            immutables: sv.immutables.clone(),
            version,
        })?;
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        self.stats.compaction_bytes_read.fetch_add(output.bytes_read, Ordering::Relaxed);
        self.stats.compaction_bytes_written.fetch_add(output.bytes_written, Ordering::Relaxed);
        Ok(())
    }
}
