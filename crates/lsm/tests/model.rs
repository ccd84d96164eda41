//! The engine against a `BTreeMap` model: random puts, deletes, batches, gets, scans,
//! snapshot reads (checked against a copy of the model taken when the snapshot was),
//! flushes, `compact_range`, reopens, ingests of Parquet files and checkpoints (each
//! opened and compared with the model). It runs for several memtable variants and for all
//! three compaction policies. Policies are tuned small so background compactions run
//! often and data reaches deep levels; snapshots make compaction keep old versions, and
//! tombstones must hide keys in deeper levels until they are dropped at the bottom.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

use strata::testing::model::{check, options, policies};
use strata::{Db, MemtableKind, Options};

fn open(dir: &Path, options: Options) -> strata::Result<Db> {
    Db::open(dir, options)
}

#[test]
fn model_skiplist() {
    check(MemtableKind::SkipList, &policies()[0], &open);
}

#[test]
fn model_vector() {
    check(MemtableKind::Vector, &policies()[0], &open);
}

#[test]
fn model_hash_linked_list() {
    check(MemtableKind::HashLinkedList, &policies()[0], &open);
}

#[test]
fn model_with_leveled_compaction() {
    check(MemtableKind::EnhancedSkipList, &policies()[0], &open);
}

#[test]
fn model_with_size_tiered_compaction() {
    check(MemtableKind::EnhancedSkipList, &policies()[1], &open);
}

#[test]
fn model_with_fifo_compaction() {
    check(MemtableKind::EnhancedSkipList, &policies()[2], &open);
}

/// Compactions really happen under these settings, and a full compaction leaves leveled
/// data in one deep level.
#[test]
fn compaction_runs_and_compact_range_reaches_the_bottom() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), options(MemtableKind::EnhancedSkipList, &policies()[0])).expect("open");
    for i in 0..20_000u32 {
        db.put(format!("key{:05}", i % 7_000), vec![b'v'; 64]).expect("put");
    }
    db.flush().expect("flush");
    let before = db.stats();
    db.compact_range(..).expect("compact_range");
    let after = db.stats();
    assert!(after.compactions > before.compactions || before.compactions > 0, "no compaction ran");
    let nonempty: Vec<usize> = after.levels.iter().enumerate().filter(|(_, l)| l.tables > 0).map(|(i, _)| i).collect();
    assert_eq!(nonempty.len(), 1, "after compact_range(..) all data sits in one level: {:?}", after.levels);
    assert!(nonempty[0] >= 1, "leveled compaction moves data out of L0");
    assert_eq!(db.iter(..).count(), 7_000);
}
