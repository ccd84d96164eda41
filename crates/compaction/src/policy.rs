//! The contract of a compaction policy.

use crate::{CompactionTask, LevelState};

/// Decides what to compact next: a pure function of the tree's shape.
///
/// A policy does no I/O, so it is tested and simulated without disks
/// ([`simulate`](crate::simulate), `strata sim`). The engine calls [`pick`](Self::pick)
/// whenever the tree changes (a flush, a finished task) and again while it returns tasks,
/// marking the inputs of each task as [`LevelState::compacting`] until the task's manifest
/// edit is applied.
///
/// Every implementation promises, and `testing::conformance` (feature
/// `testing`) checks:
///
/// * a task's inputs exist at the levels it states, are listed once, and none is compacting;
/// * a [`Merge`](crate::TaskKind::Merge) into a level `>= 1` includes every table of that level
///   its other inputs overlap, so the level stays free of overlaps;
/// * a [`Move`](crate::TaskKind::Move) overlaps nothing in its output level;
/// * newer data never ends below older data: tables leaving L0 take every older L0 table they
///   overlap along, and merges within L0 take runs adjacent in age;
/// * nothing is picked on an empty state, and `output_level < num_levels()`.
pub trait CompactionPolicy: Send + Sync {
    /// The policy's name as written in configuration (`"leveled"`, `"size_tiered"`, `"fifo"`).
    fn name(&self) -> &'static str;

    /// The next task to run, or `None` when the tree is in shape (or every candidate is
    /// already compacting).
    ///
    /// Pure but for bookkeeping that only changes *which* of several equally good tasks is
    /// picked (the leveled policy's round-robin cursor).
    fn pick(&self, state: &LevelState) -> Option<CompactionTask>;

    /// How many levels the policy uses (L0 included); flushes go to L0.
    fn num_levels(&self) -> usize;

    /// The level a tree of `bytes` bytes settles in: the shallowest level the policy would
    /// not push those bytes out of. A forced full compaction
    /// ([`compact_range_task`](crate::compact_range_task)) merges into it, or deeper where
    /// data already lies deeper, so it writes every byte once instead of once per level on
    /// the way down.
    ///
    /// The default is L1 (L0 for a one-level policy).
    fn settled_level(&self, bytes: u64) -> usize {
        let _ = bytes;
        self.num_levels().clamp(1, 2) - 1
    }

    /// A task that leaves fewer overlapping tables for reads to visit, for a tree that is in
    /// shape by [`pick`](Self::pick)'s measure but that reads keep finding in several pieces:
    /// the engine asks for it once the extra tables its seeks visited have paid for the
    /// task's bytes (`Options::seek_compaction_bytes`), and only while `pick` has nothing.
    /// The same promises as `pick` hold.
    ///
    /// The default is `None`: the policy has no such task.
    fn pick_for_reads(&self, state: &LevelState) -> Option<CompactionTask> {
        let _ = state;
        None
    }
}

impl<P: CompactionPolicy + ?Sized> CompactionPolicy for &P {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        (**self).pick(state)
    }

    fn num_levels(&self) -> usize {
        (**self).num_levels()
    }

    fn settled_level(&self, bytes: u64) -> usize {
        (**self).settled_level(bytes)
    }

    fn pick_for_reads(&self, state: &LevelState) -> Option<CompactionTask> {
        (**self).pick_for_reads(state)
    }
}

impl<P: CompactionPolicy + ?Sized> CompactionPolicy for Box<P> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        (**self).pick(state)
    }

    fn num_levels(&self) -> usize {
        (**self).num_levels()
    }

    fn settled_level(&self, bytes: u64) -> usize {
        (**self).settled_level(bytes)
    }

    fn pick_for_reads(&self, state: &LevelState) -> Option<CompactionTask> {
        (**self).pick_for_reads(state)
    }
}
