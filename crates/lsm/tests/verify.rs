//! `Db::verify`: a sound database verifies clean, also while a writer and background
//! compactions change its tree; a damaged table is reported as corruption naming its file,
//! and the other tables are still checked; a key the point-read path cannot find (a damaged
//! filter, say) is reported though a scan finds it. With `verify_new_tables`, the same
//! checks keep a bad new table from being installed.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata::{
    Components, Db, Error, ErrorKind, FileSystem, Options, ParquetStore, PolicyConfig, StdFs, VerifyOptions,
    VerifyProgress,
};
use strata_compaction::AnyPolicy;
use strata_memtable::{AnyMemtable, MemtableKind};
use strata_sstable::testing::{MemFs, SilentFaults};

fn options() -> Options {
    // Small memtables and tables: many tables on several levels.
    let compaction = PolicyConfig::Leveled {
        l0_trigger: 2,
        base_level_bytes: 64 << 10,
        level_multiplier: 4,
        target_table_size: 32 << 10,
        num_levels: 5,
        intra_l0_merge: false,
    };
    Options { max_memtable_size: 64 << 10, compaction, ..Options::default() }
}

/// Puts, overwrites, deletes and a range delete over 3,000 keys, all in tables: the last
/// writes in one L0 table above the compacted levels.
fn populate(db: &Db) {
    for round in 0..3u64 {
        for i in 0..3_000u64 {
            let key = format!("key{:05}", (i * 7919) % 3_000);
            if (i + round) % 11 == 0 {
                db.delete(key).unwrap();
            } else {
                db.put(key, format!("value-{round}-{i}-{}", "x".repeat((i % 40) as usize))).unwrap();
            }
        }
        db.delete_range(format!("key{:05}", 100 * round), format!("key{:05}", 100 * round + 50)).unwrap();
        db.flush().unwrap();
    }
    db.wait_for_compactions().unwrap();
    for i in (0..3_000u64).step_by(13) {
        db.put(format!("key{i:05}"), "newest").unwrap();
    }
    db.flush().unwrap();
}

#[test]
fn a_sound_database_verifies_clean_and_every_row_and_key_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    populate(&db);
    let tables = db.tables();
    let levels_used = tables.iter().filter(|l| !l.is_empty()).count();
    assert!(levels_used >= 2, "tables on several levels: {:?}", tables.iter().map(Vec::len).collect::<Vec<_>>());
    let rows: u64 = tables.iter().flatten().map(|t| t.entries).sum();
    let seen = Arc::new(Mutex::new(Vec::<VerifyProgress>::new()));
    let log = Arc::clone(&seen);
    let report = db.verify(&VerifyOptions::default().progress(move |p| log.lock().unwrap().push(p)));
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.tables, tables.iter().map(Vec::len).sum::<usize>());
    assert_eq!(report.rows, rows);
    assert!(report.lookups > 0 && report.lookups <= rows, "one lookup per key of each table: {}", report.lookups);
    let seen = seen.lock().unwrap();
    let last = seen.last().expect("progress reported");
    assert_eq!((last.tables_done, last.tables, last.rows_done, last.rows), (report.tables, report.tables, rows, rows));
    assert!(seen.windows(2).all(|w| w[0].rows_done <= w[1].rows_done), "progress only moves forward");

    let quick = db.verify(&VerifyOptions::default().point_lookups(false));
    assert!(quick.is_ok(), "{:?}", quick.problems);
    assert_eq!((quick.rows, quick.lookups), (rows, 0));
}

#[test]
fn a_damaged_table_is_corruption_naming_its_file_and_the_others_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (victim, tables) = {
        let db = Db::open(dir.path(), options()).unwrap();
        populate(&db);
        // The last flush may set off a merge, which would delete the victim's file.
        db.wait_for_compactions().unwrap();
        let tables = db.tables().into_iter().flatten().collect::<Vec<_>>();
        let victim = tables.iter().max_by_key(|t| t.file_size).unwrap().id;
        db.close().unwrap();
        (victim, tables)
    };
    assert!(tables.len() >= 2, "more than the damaged table");
    let path = dir.path().join(strata_sstable::table_file_name(victim));
    let mut bytes = std::fs::read(&path).unwrap();
    // A third of the way in: the table's data pages, which the footer and metadata at the
    // end do not describe byte by byte, so opening the database does not notice.
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    let report = db.verify(&VerifyOptions::default());
    assert_eq!(report.tables, tables.len(), "every table was checked");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert!(problem.is_corruption(), "{problem:?}");
    match problem {
        Error::Corruption { file, .. } => assert_eq!(file, &path, "{problem}"),
        other => panic!("expected corruption naming {}, got {other:?}", path.display()),
    }
    let rows_elsewhere: u64 = tables.iter().filter(|t| t.id != victim).map(|t| t.entries).sum();
    assert!(report.rows >= rows_elsewhere, "the other tables were read whole: {} < {rows_elsewhere}", report.rows);
}

#[test]
fn verification_while_a_writer_and_compactions_change_the_tree_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), options()).unwrap());
    populate(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, written) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&written));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                db.put(format!("key{:05}", (i * 31) % 5_000), format!("later-{i}")).unwrap();
                i += 1;
            }
            written.store(i, Ordering::Relaxed);
        })
    };
    let mut checked = 0;
    for _ in 0..4 {
        let report = db.verify(&VerifyOptions::default());
        assert!(report.is_ok(), "{:?}", report.problems);
        checked += report.tables;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(written.load(Ordering::Relaxed) > 0 && checked > 0);
}

#[test]
fn a_key_the_point_read_path_cannot_find_is_reported() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = std::path::Path::new("/db");
    fs.create_dir_all(dir).unwrap();
    let options = options();
    let inner = ParquetStore::open_with_fs(Arc::clone(&fs), dir, options.table_store_options()).unwrap();
    let store = SilentFaults { forget_key: Some("key00042".into()), ..SilentFaults::new(inner) };
    let policy = AnyPolicy::new(&options.compaction).unwrap();
    let memtable = || AnyMemtable::new(MemtableKind::SkipList, &Default::default()).unwrap();
    let components = Components { memtable: Box::new(memtable), store, policy };
    let db = Db::<AnyMemtable, SilentFaults, AnyPolicy>::open_with_components(fs, dir, options, components).unwrap();
    for i in 0..100u64 {
        db.put(format!("key{i:05}"), format!("value{i}")).unwrap();
    }
    db.flush().unwrap();
    let report = db.verify(&VerifyOptions::default());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let text = report.problems[0].to_string();
    assert!(report.problems[0].is_corruption(), "{text}");
    assert!(text.contains("a point lookup does not find key \"key00042\""), "{text}");
    let table = db.live_tables().into_iter().next().unwrap();
    match &report.problems[0] {
        Error::Corruption { file, .. } => {
            assert_eq!(file, &db.store().inner.table_path(table), "the store names the file")
        }
        other => panic!("{other:?}"),
    }
    // Reading the tables whole does not see it.
    assert!(db.verify(&VerifyOptions::default().point_lookups(false)).is_ok());
}

/// [`options`] with every new table checked before it is installed.
fn checking() -> Options {
    Options { verify_new_tables: true, ..options() }
}

// `Options::verify_new_tables`: each table a flush or a merge writes is checked before it is
// installed. Sound tables pass through flushes and compactions; a table whose point-read
// path loses a key fails its flush or compaction as corruption naming it, the table is
// deleted, and the log segment or the inputs are kept, so nothing is lost.

fn key(i: u32) -> String {
    format!("key{i:05}")
}

/// A database whose store's point lookups miss `forgotten`.
fn open_faulty(dir: &Path, forgotten: &str) -> Db<AnyMemtable, SilentFaults, AnyPolicy> {
    let options = checking();
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
    let db = Db::open(dir.path(), checking()).unwrap();
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
        let db = Db::open(dir.path(), Options { enable_background_compaction: false, ..checking() }).unwrap();
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

#[test]
fn an_ingested_table_that_loses_a_key_fails_the_ingest_and_nothing_is_ingested() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.parquet");
    let keys: Vec<String> = (0..200).map(key).collect();
    let values: Vec<String> = (0..200).map(|i| format!("value{i}")).collect();
    let batch = RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys)) as ArrayRef),
        ("value", Arc::new(StringArray::from(values)) as ArrayRef),
    ])
    .unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&input).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let db = open_faulty(&dir.path().join("db"), "key00042");
    let e = db.ingest([&input], &strata::IngestOptions::default()).expect_err("the ingested table fails its check");
    assert_names_a_table(&e, "key00042");
    assert_eq!(db.get(key(7)).unwrap(), None, "nothing was ingested");
    assert!(db.tables().iter().all(Vec::is_empty), "no table of the failed ingest is installed");
    db.put("later", "x").unwrap();
    db.close().unwrap();
}
