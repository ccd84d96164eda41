//! Regression tests for bugs the fault walk (`tests/fault_injection.rs`) found, each named
//! after what broke.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

use strata::testing::{FaultError, FaultFs, OpKind};
use strata::{Db, Options};
use strata_sstable::testing::MemFs;

const DIR: &str = "/db";

fn options() -> Options {
    Options { max_memtable_size: 64 << 10, enable_background_compaction: false, ..Options::default() }
}

fn tables(fs: &FaultFs) -> usize {
    let names = strata::FileSystem::list_dir(fs, Path::new(DIR)).expect("list");
    names.iter().filter(|n| n.ends_with(".parquet")).count()
}

/// A compaction whose manifest sync failed deleted its output tables, although the edit
/// naming them could already be in the manifest file and be replayed at the next open.
#[test]
fn compaction_outputs_are_kept_when_the_manifest_sync_fails() {
    let fs = FaultFs::new(MemFs::shared());
    let db = Db::open_on(fs.shared(), DIR, options()).expect("open");
    for round in 0..2 {
        for i in 0..200 {
            db.put(format!("key{i:04}"), format!("value{i}-round{round}")).expect("put");
        }
        db.flush().expect("flush");
    }
    assert_eq!(tables(&fs), 2);
    fs.fail_next_on(OpKind::Sync, "MANIFEST", FaultError::Eio);
    assert!(db.compact_range(..).is_err(), "the injected manifest failure must surface");
    assert!(tables(&fs) > 2, "the compaction's outputs were deleted although the manifest may name them");
    drop(db);

    // A restart without a crash, then a power cut: every value is the newest one.
    let db = Db::open_on(fs.shared(), DIR, options()).expect("reopen");
    for i in 0..200 {
        assert_eq!(db.get(format!("key{i:04}")).expect("get").as_deref(), Some(format!("value{i}-round1").as_bytes()));
    }
    drop(db);
    fs.crash().expect("crash");
    let db = Db::open_on(fs.shared(), DIR, options()).expect("reopen after the crash");
    assert_eq!(db.iter(..).count(), 200);
}
