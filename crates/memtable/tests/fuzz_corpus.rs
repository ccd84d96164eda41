//! Replays the `memtable_ops` fuzz corpus on stable Rust, so every input the fuzzer ever
//! kept (and every regression input) is checked by plain `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

#[test]
fn replay_memtable_ops_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/memtable_ops");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            strata_memtable::testing::fuzz_memtable_ops(&data);
            count += 1;
        }
    }
    assert!(count >= 10, "the seed corpus in {} has only {count} inputs", dir.display());
}
