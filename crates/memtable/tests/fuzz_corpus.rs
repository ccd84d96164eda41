//! Replays the `memtable_ops` fuzz corpus on stable Rust, so every input the fuzzer ever
//! kept (and every regression input) is checked by plain `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

#[test]
fn replay_memtable_ops_corpus() {
    strata_core::testing::replay_corpus("memtable_ops", 10, strata_memtable::testing::fuzz_memtable_ops);
}
