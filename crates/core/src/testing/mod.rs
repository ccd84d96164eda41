//! Test support shared by the Strata crates (feature `testing`).
//!
//! - The test file systems, one family beside the [`crate::fs::FileSystem`] trait they
//!   implement: [`MemFs`] holds files in memory; [`FaultFs`] wraps any file system (the real
//!   one or a `MemFs`), fails the Nth create, write, sync, directory sync, rename or delete
//!   with `EIO` or `ENOSPC`, counts every operation, and simulates a power cut.
//! - [`replay_corpus`]: the fuzz targets' seed corpora, replayed by plain `cargo test`.
#![allow(clippy::missing_panics_doc, reason = "test support: it panics on a failed check, as a test does")]

use std::path::{Path, PathBuf};

mod fault_fs;
mod mem_fs;

pub use fault_fs::{Fault, FaultError, FaultFs, OpCounts, OpKind};
pub use mem_fs::MemFs;

/// The seed corpus of fuzz target `target` in this repository (`fuzz/corpus/<target>`).
#[must_use]
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Runs `run` on every input of fuzz target `target`'s seed corpus, so what the fuzzer kept
/// (and every regression input) is checked by plain `cargo test` on stable Rust. Panics when
/// the corpus holds fewer than `at_least` inputs, or cannot be read.
pub fn replay_corpus(target: &str, at_least: usize, mut run: impl FnMut(&[u8])) {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())).path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in &paths {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        run(&data);
    }
    assert!(paths.len() >= at_least, "the seed corpus in {} has only {} inputs", dir.display(), paths.len());
}
