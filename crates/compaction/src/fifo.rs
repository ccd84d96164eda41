//! FIFO compaction: drop the oldest tables.

use crate::{CompactionPolicy, CompactionTask, Error, FifoOptions, LevelState, TableMeta, TaskKind};

/// FIFO compaction, for data that expires (logs, metrics): nothing is ever merged; the oldest
/// tables (smallest `max_seq`) are dropped while all tables together exceed
/// [`max_total_bytes`](FifoOptions::max_total_bytes), and tables older than
/// [`max_age_ms`](FifoOptions::max_age_ms) (by `created_at_ms` against
/// [`LevelState::now_ms`]) are dropped too.
///
/// Tables already being dropped (compacting) count as gone.
#[derive(Debug, Clone, Default)]
pub struct Fifo {
    options: FifoOptions,
}

impl Fifo {
    /// The policy with `options`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when an option is out of range.
    pub fn new(options: FifoOptions) -> Result<Self, Error> {
        options.validate()?;
        Ok(Self { options })
    }

    /// The policy's options.
    #[must_use]
    pub const fn options(&self) -> &FifoOptions {
        &self.options
    }
}

impl CompactionPolicy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        let mut live: Vec<(usize, &TableMeta)> = state
            .levels
            .iter()
            .enumerate()
            .flat_map(|(level, tables)| tables.iter().map(move |t| (level, t)))
            .filter(|(_, t)| !state.is_compacting(t.id))
            .collect();
        // Oldest first.
        live.sort_by_key(|(_, t)| (t.max_seq, t.id));
        let mut total: u64 = live.iter().map(|(_, t)| t.file_size).sum();
        let mut dropped: Vec<(usize, u64)> = Vec::new();
        let mut expired = 0;
        for (level, table) in &live {
            let too_old =
                self.options.max_age_ms.is_some_and(|age| state.now_ms.saturating_sub(table.created_at_ms) > age);
            if too_old {
                expired += 1;
            } else if total <= self.options.max_total_bytes {
                continue;
            }
            total -= table.file_size;
            dropped.push((*level, table.id));
        }
        if dropped.is_empty() {
            return None;
        }
        let reason = format!(
            "{} tables dropped ({expired} past the age limit), {total} bytes left of at most {}",
            dropped.len(),
            self.options.max_total_bytes
        );
        Some(CompactionTask {
            kind: TaskKind::Drop,
            inputs: group_by_level(dropped),
            output_level: 0,
            target_table_size: 0,
            reason,
        })
    }

    fn num_levels(&self) -> usize {
        1
    }
}

/// `(level, id)` pairs as one `(level, ids)` entry per level, shallowest first.
fn group_by_level(mut tables: Vec<(usize, u64)>) -> Vec<(usize, Vec<u64>)> {
    tables.sort_unstable();
    let mut grouped: Vec<(usize, Vec<u64>)> = Vec::new();
    for (level, id) in tables {
        match grouped.last_mut() {
            Some((l, ids)) if *l == level => ids.push(id),
            _ => grouped.push((level, vec![id])),
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sim::Tree;

    #[test]
    fn drops_oldest_first_and_by_age() {
        let policy = Fifo::new(FifoOptions { max_total_bytes: 250, max_age_ms: Some(1000) }).unwrap();
        let mut tree = Tree::new(1);
        for i in 0..3 {
            tree.flush(0, 1000, 100.0, 100);
            tree.state.now_ms += 10 * (i + 1);
        }
        let task = policy.pick(&tree.state).unwrap();
        assert_eq!((task.kind, task.inputs.clone()), (TaskKind::Drop, vec![(0, vec![1])]));
        tree.apply(&task);
        assert_eq!(policy.pick(&tree.state), None);
        tree.state.now_ms += 1000;
        let task = policy.pick(&tree.state).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![2, 3])]);
        assert!(task.reason.contains("2 past the age limit"), "{}", task.reason);
    }

    #[test]
    fn conformance() {
        crate::testing::conformance(&Fifo::default());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// After every flush and the drops it triggers, the tables fit the bound, and what is
        /// left is the newest data.
        #[test]
        fn never_exceeds_its_size_bound(
            bound in 1u64..100_000,
            flushes in prop::collection::vec(1u64..20_000, 1..100),
        ) {
            let policy = Fifo::new(FifoOptions { max_total_bytes: bound, max_age_ms: None }).unwrap();
            let mut tree = Tree::new(1);
            let mut dropped_max = 0;
            for keys in flushes {
                tree.flush(0, 1_000_000, keys as f64, keys);
                while let Some(task) = policy.pick(&tree.state) {
                    prop_assert_eq!(task.kind, TaskKind::Drop);
                    for (_, id) in task.input_tables() {
                        let (_, t) = tree.state.find(id).unwrap();
                        dropped_max = dropped_max.max(t.max_seq);
                    }
                    tree.apply(&task);
                }
                prop_assert!(tree.state.total_bytes() <= bound);
                prop_assert!(tree.state.levels.iter().flatten().all(|t| t.min_seq > dropped_max));
            }
        }
    }
}
