//! Size-tiered (universal) compaction: merge sorted runs of similar size.

use std::ops::Range;

use crate::{CompactionPolicy, CompactionTask, Error, LevelState, SizeTieredOptions, TableMeta, TaskKind};

/// Size-tiered compaction, as RocksDB's universal compaction.
///
/// Every table of L0 is one sorted run; L0 is ordered newest first. A merge always takes runs
/// that are adjacent in age and writes one run back to L0 (`output_level` 0, one output table:
/// `target_table_size` is `u64::MAX`), so the engine's newest-first order of L0 keeps reads
/// correct. Nothing happens while there are fewer than
/// [`run_trigger`](SizeTieredOptions::run_trigger) runs. Then, in order:
///
/// 1. **Space amplification**: when the bytes of every run but the oldest exceed
///    [`max_size_amplification_percent`](SizeTieredOptions::max_size_amplification_percent)
///    of the oldest run, all runs are merged into one.
/// 2. **Size ratio**: starting from the newest run, a candidate grows by the next older run
///    while that run is at most `(100 + size_ratio_percent)%` of the candidate's bytes, up to
///    [`max_merge_width`](SizeTieredOptions::max_merge_width) runs; it is merged when it holds
///    at least [`min_merge_width`](SizeTieredOptions::min_merge_width) runs, otherwise the
///    search starts again from the next run.
/// 3. **Run count**: when more than `run_trigger` runs are still not compacting, the newest
///    runs are merged regardless of size so that at most `run_trigger` remain.
///
/// Runs being compacted break adjacency: no merge spans them.
#[derive(Debug, Clone, Default)]
pub struct SizeTiered {
    options: SizeTieredOptions,
}

impl SizeTiered {
    /// The policy with `options`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when an option is out of range.
    pub fn new(options: SizeTieredOptions) -> Result<Self, Error> {
        options.validate()?;
        Ok(Self { options })
    }

    /// The policy's options.
    #[must_use]
    pub const fn options(&self) -> &SizeTieredOptions {
        &self.options
    }

    fn space_amplification(&self, runs: &[TableMeta], state: &LevelState) -> Option<Range<usize>> {
        let (oldest, newer) = runs.split_last()?;
        if newer.is_empty() || runs.iter().any(|t| state.is_compacting(t.id)) {
            return None;
        }
        let newer_bytes: u128 = newer.iter().map(|t| u128::from(t.file_size)).sum();
        let bound = u128::from(oldest.file_size) * u128::from(self.options.max_size_amplification_percent);
        (newer_bytes * 100 > bound).then_some(0..runs.len())
    }

    /// The first window of adjacent, non-compacting runs, newest first, that the size ratio
    /// (`None`: any size) lets grow to at least `min_width` runs, capped at `max_width`.
    fn similar_runs(
        runs: &[TableMeta],
        state: &LevelState,
        ratio_percent: Option<u64>,
        min_width: usize,
        max_width: usize,
    ) -> Option<Range<usize>> {
        for start in 0..runs.len() {
            if state.is_compacting(runs[start].id) {
                continue;
            }
            let mut candidate_bytes = u128::from(runs[start].file_size);
            let mut end = start + 1;
            while end < runs.len() && end - start < max_width {
                let next = &runs[end];
                if state.is_compacting(next.id) {
                    break;
                }
                if let Some(ratio) = ratio_percent
                    && candidate_bytes * (100 + u128::from(ratio)) < u128::from(next.file_size) * 100
                {
                    break;
                }
                candidate_bytes += u128::from(next.file_size);
                end += 1;
            }
            if end - start >= min_width {
                return Some(start..end);
            }
        }
        None
    }

    fn merge(runs: &[TableMeta], range: Range<usize>, reason: String) -> CompactionTask {
        CompactionTask {
            kind: TaskKind::Merge,
            inputs: vec![(0, runs[range].iter().map(|t| t.id).collect())],
            output_level: 0,
            target_table_size: u64::MAX,
            reason,
        }
    }
}

impl CompactionPolicy for SizeTiered {
    fn name(&self) -> &'static str {
        "size_tiered"
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        let runs = state.level(0);
        let o = &self.options;
        if runs.len() < o.run_trigger {
            return None;
        }
        if let Some(all) = self.space_amplification(runs, state) {
            let reason = format!(
                "space amplification over {}%: {} runs merged into one",
                o.max_size_amplification_percent,
                runs.len()
            );
            return Some(Self::merge(runs, all, reason));
        }
        if let Some(range) =
            Self::similar_runs(runs, state, Some(o.size_ratio_percent), o.min_merge_width, o.max_merge_width)
        {
            let reason = format!("{} runs within size ratio {}%", range.len(), o.size_ratio_percent);
            return Some(Self::merge(runs, range, reason));
        }
        let idle = runs.iter().filter(|t| !state.is_compacting(t.id)).count();
        if idle > o.run_trigger {
            let width = (idle - o.run_trigger + 1).min(o.max_merge_width);
            if let Some(range) = Self::similar_runs(runs, state, None, width.max(2), width.max(2)) {
                let reason = format!("{idle} sorted runs over the trigger {}", o.run_trigger);
                return Some(Self::merge(runs, range, reason));
            }
        }
        None
    }

    fn num_levels(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sim::{Tree, sim_key};

    fn runs(sizes: &[u64]) -> LevelState {
        let n = sizes.len() as u64;
        let l0 = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| TableMeta {
                id: i as u64 + 1,
                file_size: size,
                min_key: sim_key(0),
                max_key: sim_key(100),
                min_seq: (n - i as u64) * 10,
                max_seq: (n - i as u64) * 10 + 9,
                entries: 1,
                tombstones: 0,
                created_at_ms: 0,
                range_tombstones: Vec::new(),
            })
            .collect();
        LevelState { levels: vec![l0], ..Default::default() }
    }

    fn ids(task: &CompactionTask) -> Vec<u64> {
        task.input_ids().collect()
    }

    #[test]
    fn nothing_below_the_trigger() {
        assert_eq!(SizeTiered::default().pick(&runs(&[10, 10, 10])), None);
    }

    #[test]
    fn space_amplification_merges_everything() {
        // 10 + 10 + 10 over 10 is 300% > 200%.
        let task = SizeTiered::default().pick(&runs(&[10, 10, 10, 10])).unwrap();
        assert_eq!(ids(&task), [1, 2, 3, 4]);
        assert!(task.reason.contains("space amplification"));
        assert_eq!((task.output_level, task.target_table_size), (0, u64::MAX));
    }

    #[test]
    fn similar_sizes_merge_from_the_newest() {
        // Amplification 400/1000 is fine; runs 1+2 are similar, 3 (100) is not similar to 2.
        let task = SizeTiered::default().pick(&runs(&[1, 1, 100, 300, 1000])).unwrap();
        assert_eq!(ids(&task), [1, 2]);
        // A compacting run in the middle breaks adjacency.
        let mut state = runs(&[50, 50, 50, 50, 50, 10_000]);
        state.compacting.insert(3);
        assert_eq!(ids(&SizeTiered::default().pick(&state).unwrap()), [1, 2]);
        state.compacting.insert(2);
        assert_eq!(ids(&SizeTiered::default().pick(&state).unwrap()), [4, 5]);
    }

    #[test]
    fn too_many_runs_merge_regardless_of_size() {
        // Sizes grow by 3x: no size-ratio merge, amplification below 200%.
        let task = SizeTiered::default().pick(&runs(&[1, 3, 9, 27, 81, 243, 10_000])).unwrap();
        assert_eq!(ids(&task), [1, 2, 3, 4]);
        assert!(task.reason.contains("over the trigger"));
    }

    #[test]
    fn conformance() {
        crate::testing::conformance(&SizeTiered::default());
    }

    fn options() -> impl Strategy<Value = SizeTieredOptions> {
        (2usize..8, 0u64..50, 2usize..5, 0usize..6, 50u64..400).prop_map(|(trigger, ratio, min, extra, amp)| {
            SizeTieredOptions {
                run_trigger: trigger,
                size_ratio_percent: ratio,
                min_merge_width: min,
                max_merge_width: min + extra,
                max_size_amplification_percent: amp,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Merges take adjacent runs, ratio merges stay within the width bounds, and once the
        /// policy is satisfied there are at most `run_trigger` runs, with space amplification
        /// within its bound whenever the trigger is reached.
        #[test]
        fn respects_its_bounds(
            options in options(),
            flushes in prop::collection::vec((1u64..5_000, 1u64..2_000), 1..80),
        ) {
            let policy = SizeTiered::new(options).unwrap();
            let mut tree = Tree::new(100);
            for (width, keys) in flushes {
                tree.flush(0, width, keys as f64, keys);
                let mut tasks = 0;
                while let Some(task) = policy.pick(&tree.state) {
                    let width = task.input_count();
                    let all = width == tree.state.level(0).len();
                    prop_assert!(width >= 2);
                    prop_assert!(all || width <= options.max_merge_width, "width {} > max", width);
                    if task.reason.contains("size ratio") {
                        prop_assert!(width >= options.min_merge_width);
                    }
                    let l0 = tree.state.level(0);
                    let at: Vec<usize> = task.input_ids().map(|id| l0.iter().position(|t| t.id == id).unwrap()).collect();
                    prop_assert!(at.windows(2).all(|w| w[1] == w[0] + 1), "not adjacent: {:?}", at);
                    tree.apply(&task);
                    tasks += 1;
                    prop_assert!(tasks < 10_000);
                }
                let l0 = tree.state.level(0);
                prop_assert!(l0.len() <= options.run_trigger, "{} runs", l0.len());
                prop_assert!(l0.windows(2).all(|w| w[0].max_seq > w[1].max_seq), "L0 not newest first");
                if l0.len() >= options.run_trigger {
                    let (oldest, newer) = l0.split_last().unwrap();
                    let newer: u64 = newer.iter().map(|t| t.file_size).sum();
                    prop_assert!(u128::from(newer) * 100 <= u128::from(oldest.file_size) * u128::from(options.max_size_amplification_percent));
                }
            }
        }
    }
}
