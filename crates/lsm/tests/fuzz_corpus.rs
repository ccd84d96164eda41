//! Replays the seed corpora of the engine's fuzz targets (`wal_record`, `manifest`,
//! `engine_ops`) on stable Rust, so every input the fuzzer kept, and every regression
//! input, is checked by plain `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

fn replay(target: &str, run: fn(&[u8]), at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            eprintln!("{target}: {}", path.display());
            run(&data);
            count += 1;
        }
    }
    assert!(count >= at_least, "the seed corpus in {} has only {count} inputs", dir.display());
}

#[test]
fn replay_wal_record_corpus() {
    replay("wal_record", strata::testing::fuzz_wal_bytes, 10);
}

#[test]
fn replay_manifest_corpus() {
    replay("manifest", strata::testing::fuzz_manifest_bytes, 10);
}

#[test]
fn replay_engine_ops_corpus() {
    replay("engine_ops", strata::testing::fuzz_engine_ops, 10);
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
