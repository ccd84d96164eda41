//! Replays the seed corpora of the engine's fuzz targets (`wal_record`, `manifest`,
//! `engine_ops`) on stable Rust, so every input the fuzzer kept, and every regression
//! input, is checked by plain `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

#[test]
fn replay_wal_record_corpus() {
    strata_core::testing::replay_corpus("wal_record", 10, strata::testing::fuzz_wal_bytes);
}

#[test]
fn replay_manifest_corpus() {
    strata_core::testing::replay_corpus("manifest", 10, strata::testing::fuzz_manifest_bytes);
}

#[test]
fn replay_engine_ops_corpus() {
    strata_core::testing::replay_corpus("engine_ops", 10, strata::testing::fuzz_engine_ops);
}

/// Regression for a fuzz find: `compact_range` planned a merge of an L0 table that a
/// background compaction then moved to L1, and running the stale task failed with
/// `TableNotInState`. A claimed task's inputs must still be at their levels. The race is
/// timing-dependent, so the input is replayed several times.
#[test]
fn compact_range_after_a_background_move_does_not_fail() {
    let data = include_bytes!("../../../fuzz/corpus/engine_ops/regression-compact-range-after-background-move");
    for _ in 0..10 {
        strata::testing::fuzz_engine_ops(data);
    }
}
