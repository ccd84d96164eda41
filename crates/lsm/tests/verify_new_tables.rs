//! `Options::verify_new_tables`: each table a flush or a merge writes is checked before it is
//! installed. Sound tables pass through flushes and compactions; a table whose point-read
//! path loses a key fails its flush or compaction as corruption naming it, the table is
//! deleted, and the log segment or the inputs are kept, so nothing is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;
use std::sync::Arc;

use strata::{Components, Db, Error, ErrorKind, Options, ParquetStore, PolicyConfig, StdFs, VerifyOptions};
use strata_compaction::AnyPolicy;
use strata_memtable::{AnyMemtable, MemtableKind};
use strata_sstable::testing::SilentFaults;

fn options() -> Options {
    let compaction = PolicyConfig::Leveled {
        l0_trigger: 2,
        base_level_bytes: 64 << 10,
        level_multiplier: 4,
        target_table_size: 32 << 10,
        num_levels: 5,
        intra_l0_merge: false,
    };
    Options { max_memtable_size: 64 << 10, compaction, verify_new_tables: true, ..Options::default() }
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

/// A database whose store's point lookups miss `forgotten`.
fn open_faulty(dir: &Path, forgotten: &str) -> Db<AnyMemtable, SilentFaults, AnyPolicy> {
    let options = options();
    let fs = StdFs::shared();
    let inner = ParquetStore::open_with_fs(Arc::clone(&fs), dir, options.table_store_options()).unwrap();
    let store = SilentFaults { forget_key: Some(forgotten.to_owned().into()), ..SilentFaults::new(inner) };
    let policy = AnyPolicy::new(&options.compaction).unwrap();
    let memtable = || AnyMemtable::new(MemtableKind::SkipList, &Default::default()).unwrap();
    Db::open_with_components(fs, dir, options, Components { memtable: Box::new(memtable), store, policy }).unwrap()
}

/// The problem behind `e` (a background failure wraps it in `ReadOnly`): corruption naming
/// a table file, for a lookup of `forgotten`.
fn assert_names_a_table(e: &Error, forgotten: &str) {
    assert!(e.is_corruption(), "{e:?}");
    let cause = match e {
        Error::ReadOnly(cause) => cause.as_ref(),
        other => other,
    };
    match cause {
        Error::Corruption { file, reason } => {
            assert!(file.extension().is_some_and(|x| x == "parquet"), "names the new table: {e}");
            assert!(!file.exists(), "the table that failed its check is deleted: {}", file.display());
            assert!(reason.contains(&format!("a point lookup does not find key \"{forgotten}\"")), "{reason}");
        }
        other => panic!("expected corruption naming a table, got {other:?}"),
    }
}

fn assert_all_there(dir: &Path, n: u32) {
    let db = Db::open(dir, Options::default()).unwrap();
    for i in 0..n {
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(format!("value{i}").as_bytes()), "key {i}");
    }
    assert!(db.verify(&VerifyOptions::default()).is_ok());
    db.close().unwrap();
}

#[test]
fn sound_tables_pass_through_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for round in 0..4 {
        for i in 0..2_000u32 {
            db.put(key((i * 7919 + round) % 2_000), format!("value-{round}-{i}")).unwrap();
        }
        db.flush().unwrap();
    }
    db.wait_for_compactions().unwrap();
    db.compact_range(..).unwrap();
    let stats = db.stats();
    assert!(stats.flushes >= 4 && stats.compactions > 0, "flushes {} compactions {}", stats.flushes, stats.compactions);
    assert!(db.verify(&VerifyOptions::default()).is_ok());
    db.close().unwrap();
}

#[test]
fn a_flushed_table_that_loses_a_key_fails_the_flush_and_the_log_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open_faulty(dir.path(), "key00042");
        for i in 0..100 {
            db.put(key(i), format!("value{i}")).unwrap();
        }
        let e = db.flush().expect_err("the flushed table fails its check");
        assert_names_a_table(&e, "key00042");
        assert_eq!(db.put("later", "x").unwrap_err().kind(), ErrorKind::ReadOnly);
        let _ = db.close();
    }
    assert_all_there(dir.path(), 100);
}

#[test]
fn a_merged_table_that_loses_a_key_fails_the_compaction_and_the_inputs_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Two L0 tables, left for the faulty store's merge.
        let db = Db::open(dir.path(), Options { enable_background_compaction: false, ..options() }).unwrap();
        for half in 0..2 {
            for i in (half..1_000u32).step_by(2) {
                db.put(key(i), format!("value{i}")).unwrap();
            }
            db.flush().unwrap();
        }
        db.close().unwrap();
    }
    {
        let db = open_faulty(dir.path(), "key00042");
        let inputs = db.live_tables();
        assert_eq!(inputs.len(), 2);
        let e = db.compact_range(..).expect_err("the merged table fails its check");
        assert_names_a_table(&e, "key00042");
        assert!(inputs.is_subset(&db.live_tables()), "the inputs are still live");
        let _ = db.close();
    }
    assert_all_there(dir.path(), 1_000);
}
