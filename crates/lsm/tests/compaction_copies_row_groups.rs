//! Compactions copy whole the row groups nothing else touches (`Options::copy_row_groups`):
//! a database loaded in key order, then updated in a narrow key range and compacted, copies
//! most of its rows, counts them in its stats, and reads exactly what a database that
//! rewrites every row reads, before and after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, KeyRange, Options, TableOptions};

mod common;

use common::{Rows, rows};

/// 20,000 keys in order, compacted to the bottom; then 300 updates, deletes and a range
/// delete inside 2 % of the keys, compacted again.
fn load(copy_row_groups: bool) -> (strata::Stats, Rows, Rows) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        enable_background_compaction: false,
        max_memtable_size: 256 << 10,
        copy_row_groups,
        table: TableOptions { row_group_rows: 500, ..TableOptions::default() },
        ..Options::default()
    };
    let db = Db::open(dir.path(), options.clone()).unwrap();
    for i in 0..20_000u32 {
        db.put(format!("key{i:08}"), format!("value-{i}-{}", "x".repeat(40))).unwrap();
    }
    db.compact_range(KeyRange::all()).unwrap();
    for i in 0..300u32 {
        let k = 10_000 + i;
        match i % 10 {
            0 => db.delete(format!("key{k:08}")).unwrap(),
            _ => db.put(format!("key{k:08}"), format!("new-{i}")).unwrap(),
        }
    }
    db.delete_range(format!("key{:08}", 10_100), format!("key{:08}", 10_120)).unwrap();
    db.compact_range(KeyRange::all()).unwrap();
    let before = rows(&db);
    let stats = db.stats();
    drop(db);
    let db = Db::open(dir.path(), options).unwrap();
    (stats, before, rows(&db))
}

#[test]
fn a_narrow_update_is_compacted_by_copying_the_rest() {
    let (copied, want, want_reopened) = load(true);
    let (rewritten, got, got_reopened) = load(false);
    assert_eq!(got, want);
    assert_eq!(got_reopened, want_reopened);
    assert_eq!(want, want_reopened);
    assert_eq!(want.len(), 20_000 - 30 - 18);
    assert_eq!(rewritten.compaction_rows_copied, 0);
    assert!(
        copied.compaction_rows_copied > 15_000,
        "most rows lie where the update does not reach: {} copied, {} rewritten",
        copied.compaction_rows_copied,
        copied.compaction_rows_rewritten
    );
    assert!(copied.compaction_rows_rewritten < rewritten.compaction_rows_rewritten);
}
