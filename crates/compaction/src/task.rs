//! What a policy asks the executor to do.

use crate::TableId;

/// The shape of a compaction task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Rewrite the inputs into new tables of `output_level`, dropping versions no reader can
    /// see. The inputs include every table of the output level the others overlap.
    Merge,
    /// Re-level the inputs into `output_level` without rewriting them (a "trivial move"): they
    /// overlap nothing there.
    Move,
    /// Delete the inputs (FIFO's expiry). No table is written.
    Drop,
}

impl TaskKind {
    /// The kind's name, for logs and stats.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Move => "move",
            Self::Drop => "drop",
        }
    }
}

/// One unit of compaction work, picked by a [`CompactionPolicy`](crate::CompactionPolicy)
/// and carried out by [`execute`](crate::execute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionTask {
    /// What to do with the inputs.
    pub kind: TaskKind,
    /// The input tables as `(level, ids)`, one entry per level, shallowest level first. For
    /// [`TaskKind::Merge`] this includes the overlapping tables of the output level.
    pub inputs: Vec<(usize, Vec<TableId>)>,
    /// The level the outputs (or moved tables) go to; meaningless for [`TaskKind::Drop`].
    pub output_level: usize,
    /// The executor splits outputs into tables of about this many payload bytes
    /// (`u64::MAX`: one output table).
    pub target_table_size: u64,
    /// Why the policy picked this task, for logs.
    pub reason: String,
}

impl CompactionTask {
    /// Every input table id, level by level.
    pub fn input_ids(&self) -> impl Iterator<Item = TableId> + '_ {
        self.inputs.iter().flat_map(|(_, ids)| ids.iter().copied())
    }

    /// Every input as `(level, id)`.
    pub fn input_tables(&self) -> impl Iterator<Item = (usize, TableId)> + '_ {
        self.inputs.iter().flat_map(|(level, ids)| ids.iter().map(move |&id| (*level, id)))
    }

    /// Number of input tables.
    #[must_use]
    pub fn input_count(&self) -> usize {
        self.inputs.iter().map(|(_, ids)| ids.len()).sum()
    }
}
