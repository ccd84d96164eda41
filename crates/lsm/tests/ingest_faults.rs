//! `Db::ingest` under injected I/O faults and power cuts (on an in-memory [`FaultFs`]): a
//! failed table write leaves nothing behind and the database working; a failed manifest
//! write leaves, after a power cut and a reopen, either the whole ingest or none of it and
//! no orphan tables; a power cut right after a successful ingest loses none of it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use strata::testing::{FaultError, FaultFs, OpKind};
use strata::{Db, IngestOptions, Options, PolicyConfig};
use strata_sstable::testing::MemFs;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const DIR: &str = "/db";

fn options() -> Options {
    Options {
        max_memtable_size: 64 << 10,
        // No background compaction: the faults must hit the ingest's own file operations,
        // not a compaction's that happens to run at the same time.
        enable_background_compaction: false,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 64 << 10,
            level_multiplier: 4,
            target_table_size: 32 << 10,
            num_levels: 4,
            intra_l0_merge: false,
        },
        ..Options::default()
    }
}

/// 20,000 rows of `in{i}` (sorted when `sorted`), on the real file system: the input is
/// the user's file, read with std::fs.
fn input(dir: &Path, sorted: bool) -> std::path::PathBuf {
    let path = dir.join(if sorted { "sorted.parquet" } else { "unsorted.parquet" });
    let order: Vec<u64> =
        if sorted { (0..20_000).collect() } else { (0..20_000).map(|i| (i * 7919) % 20_000).collect() };
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values(order.iter().map(|i| format!("in{i:06}"))));
    let values: ArrayRef =
        Arc::new(StringArray::from_iter_values(order.iter().map(|i| format!("value-{i}-{}", "x".repeat(40)))));
    let batch = RecordBatch::try_from_iter([("key", keys), ("value", values)]).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path
}

fn ingested() -> Model {
    (0..20_000u64)
        .map(|i| (format!("in{i:06}").into_bytes(), format!("value-{i}-{}", "x".repeat(40)).into_bytes()))
        .collect()
}

fn contents(db: &Db) -> Model {
    db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().unwrap()
}

/// A database with some data of its own, synced to tables.
fn setup(fs: &FaultFs) -> (Db, Model) {
    let db = Db::open_on(fs.shared(), DIR, options()).unwrap();
    let mut model = Model::new();
    for i in 0..3000u64 {
        // Keys interleave with the input's, so the ingest lands in L0.
        let (k, v) = (format!("in{:06}", i * 7), format!("own{i}"));
        db.put(k.clone(), v.clone()).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
    }
    db.flush().unwrap();
    (db, model)
}

fn table_files(fs: &FaultFs) -> Vec<String> {
    let mut names: Vec<String> =
        fs.shared().list_dir(Path::new(DIR)).unwrap().into_iter().filter(|n| n.contains(".parquet")).collect();
    names.sort();
    names
}

/// The files in the directory of an unsorted ingest's sort runs.
fn run_files(fs: &FaultFs) -> Vec<String> {
    fs.shared().list_dir(&Path::new(DIR).join("ingest-runs")).unwrap_or_default()
}

fn live_files(db: &Db) -> Vec<String> {
    let mut names: Vec<String> = db.live_tables().iter().map(|id| format!("{id:06}.parquet")).collect();
    names.sort();
    names
}

#[test]
fn a_failed_table_write_leaves_nothing_and_the_database_working() {
    let tmp = tempfile::tempdir().unwrap();
    for sorted in [true, false] {
        let file = input(tmp.path(), sorted);
        for nth_table in [0, 2] {
            let fs = FaultFs::new(MemFs::shared());
            let (db, model) = setup(&fs);
            // Fail the rename of the (nth_table + 1)-th table written from now on: spill
            // runs for unsorted input, then the final tables.
            fs.reset_counts();
            fs.fail_nth(OpKind::Rename, nth_table + 1, FaultError::Enospc);
            let options = IngestOptions::default().sort_memory(1 << 20);
            let err = db.ingest([&file], &options).unwrap_err();
            assert_eq!(err.kind(), strata::ErrorKind::Io, "sorted={sorted} nth={nth_table}: {err}");
            fs.clear_faults();
            assert!(contents(&db) == model, "a failed ingest changed the contents");
            assert_eq!(table_files(&fs), live_files(&db), "a failed ingest left table files");
            assert_eq!(run_files(&fs), Vec::<String>::new(), "a failed ingest left sort runs");
            // Not a background failure: writes and a retry work.
            db.put("after", "1").unwrap();
            db.ingest([&file], &options).unwrap();
            let mut want = model.clone();
            want.extend(ingested());
            want.insert(b"after".to_vec(), b"1".to_vec());
            assert!(contents(&db) == want);
        }
    }
}

#[test]
fn a_failed_manifest_write_is_all_or_nothing_after_a_power_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let file = input(tmp.path(), true);
    for kind in [OpKind::Write, OpKind::Sync] {
        let fs = FaultFs::new(MemFs::shared());
        let (db, model) = setup(&fs);
        fs.fail_next_on(kind, "MANIFEST", FaultError::Eio);
        let err = db.ingest([&file], &IngestOptions::default()).unwrap_err();
        assert_eq!(err.kind(), strata::ErrorKind::Io, "{kind:?}: {err}");
        // The running database did not install the ingest.
        assert!(contents(&db) == model);
        drop(db);
        fs.clear_faults();
        fs.crash().unwrap();
        let db = Db::open_on(fs.shared(), DIR, options()).unwrap();
        let got = contents(&db);
        let mut all = model.clone();
        all.extend(ingested());
        assert!(got == model || got == all, "{kind:?}: half an ingest after a power cut");
        assert_eq!(table_files(&fs), live_files(&db), "{kind:?}: orphan tables survived the reopen");
    }
}

#[test]
fn a_power_cut_after_an_ingest_loses_none_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    for sorted in [true, false] {
        let file = input(tmp.path(), sorted);
        let fs = FaultFs::new(MemFs::shared());
        let (db, mut model) = setup(&fs);
        db.ingest([&file], &IngestOptions::default().sort_memory(1 << 20)).unwrap();
        model.extend(ingested());
        // The power cut comes right after the call returned; dropping the handle first only
        // stops its threads (the ingest's tables and manifest edit were synced by then).
        drop(db);
        fs.crash().unwrap();
        let db = Db::open_on(fs.shared(), DIR, options()).unwrap();
        assert!(contents(&db) == model, "sorted={sorted}: the ingest was lost");
        assert_eq!(table_files(&fs), live_files(&db));
    }
}

/// Sort runs are not in the manifest and live in a directory of their own; an ingest cut
/// short by a crash of the process leaves them there, and the next open deletes them.
#[test]
fn sort_runs_a_crash_left_are_deleted_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let file = input(tmp.path(), false);
    let fs = FaultFs::new(MemFs::shared());
    let (db, mut model) = setup(&fs);
    db.ingest([&file], &IngestOptions::default().sort_memory(1 << 20)).unwrap();
    model.extend(ingested());
    assert_eq!(run_files(&fs), Vec::<String>::new(), "an ingest left its sort runs");
    drop(db);
    // What a process killed mid-sort leaves: a run, and a run half written.
    let runs = Path::new(DIR).join("ingest-runs");
    for name in ["999001.parquet", "999002.parquet.tmp"] {
        let mut f = fs.shared().create(&runs.join(name)).unwrap();
        f.write_all(b"PAR1 a sort run PAR1").unwrap();
        f.sync().unwrap();
    }
    assert_eq!(run_files(&fs).len(), 2);
    let db = Db::open_on(fs.shared(), DIR, options()).unwrap();
    assert_eq!(run_files(&fs), Vec::<String>::new(), "the open left sort runs behind");
    assert!(contents(&db) == model);
    assert_eq!(table_files(&fs), live_files(&db));
}
