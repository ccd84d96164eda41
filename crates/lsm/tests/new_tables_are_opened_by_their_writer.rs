//! A table written by a flush or a compaction is opened by the thread that wrote it, before
//! the table is installed: the first read of it finds it open (metadata, page index and
//! filters read) instead of paying for opening it in the foreground.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::testing::model::{options, policies};
use strata::{Db, MemtableKind};

#[test]
fn flushed_and_compacted_tables_are_open_before_the_first_read() {
    let dir = tempfile::tempdir().unwrap();
    // The model test's small leveled configuration: many flushes and compactions.
    let options = options(MemtableKind::SkipList, &policies()[0]);
    let db = Db::open(dir.path(), options).unwrap();
    for i in 0..5000u32 {
        db.put(format!("key{i:05}"), vec![b'v'; 100]).unwrap();
    }
    db.flush().unwrap();
    db.compact_range(..).unwrap();
    let tables: Vec<_> = db.tables().into_iter().flatten().collect();
    assert!(tables.len() > 4, "the load made {} tables", tables.len());
    let before = db.stats().store;
    assert!(before.tables_opened >= before.tables_written, "{before:?}");
    for t in &tables {
        let key = t.min_key.clone();
        assert_eq!(db.get(&key).unwrap().unwrap().len(), 100);
    }
    let after = db.stats().store;
    assert_eq!(after.tables_opened, before.tables_opened, "a read opened a table");
    assert!(after.table_cache.hits >= before.table_cache.hits + tables.len() as u64);
}
