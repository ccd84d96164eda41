//! `Db::checkpoint`: taken while a writer thread keeps writing, the checkpoint opens and
//! holds exactly the writes up to its sequence number; the source keeps working, and
//! compacting the source's tables away does not break the checkpoint (they are hard links).
//! On a file system without hard links the tables are copied instead.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata::{Db, ErrorKind, FileSystem, Options, PolicyConfig};
use strata_sstable::testing::MemFs;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The `i`-th write of the writer thread: a put of a key from a small set (so keys are
/// overwritten many times), or, every 7th write, a delete.
fn op(i: u64) -> (Vec<u8>, Option<Vec<u8>>) {
    let key = format!("key{:04}", (i * 7919) % 1500).into_bytes();
    if i % 7 == 3 {
        (key, None)
    } else {
        (key, Some(format!("value{i}-{}", "x".repeat((i % 50) as usize)).into_bytes()))
    }
}

/// The database after the first `n` writes.
fn model(n: u64) -> Model {
    let mut m = Model::new();
    for i in 0..n {
        match op(i) {
            (k, Some(v)) => m.insert(k, v),
            (k, None) => m.remove(&k),
        };
    }
    m
}

fn contents(db: &Db) -> Model {
    db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().unwrap()
}

fn check(db: &Db, want: &Model, what: &str) {
    let got = contents(db);
    assert_eq!(got.len(), want.len(), "{what}: key count");
    assert!(got == *want, "{what}: contents differ from the model");
    for i in (0..1500).step_by(37) {
        let key = format!("key{i:04}");
        assert_eq!(db.get(&key).unwrap().map(|v| v.to_vec()), want.get(key.as_bytes()).cloned(), "{what}: get {key}");
    }
}

fn options() -> Options {
    // Small memtables and tables, so the writer seals and flushes many memtables and
    // background compactions run (and delete tables) while the checkpoint is taken.
    let compaction = PolicyConfig::Leveled {
        l0_trigger: 2,
        base_level_bytes: 32 << 10,
        level_multiplier: 2,
        target_table_size: 16 << 10,
        num_levels: 5,
        intra_l0_merge: false,
    };
    Options { max_memtable_size: 64 << 10, compaction, ..Options::default() }
}

#[cfg(unix)]
fn link_count(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().nlink()
}

#[test]
fn checkpoint_under_concurrent_writes_matches_the_model_at_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("db");
    let dest = dir.path().join("checkpoint");
    let db = Arc::new(Db::open(&src, options()).unwrap());
    let base = db.stats().last_seq;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0;
            // Keep writing until told to stop, and at least long enough to span the checkpoint.
            while !stop.load(Ordering::Relaxed) || i < 20_000 {
                match op(i) {
                    (k, Some(v)) => db.put(k, v).unwrap(),
                    (k, None) => db.delete(k).unwrap(),
                }
                i += 1;
            }
            i
        })
    };
    // Let the writer get going (and fill a few memtables) before the checkpoint.
    while db.stats().last_seq < base + 5_000 {
        std::thread::yield_now();
    }
    let info = db.checkpoint(&dest).unwrap();
    let at_checkpoint = db.stats().last_seq;
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();

    // The writer is the only writer and writes one sequence number per call.
    assert!(info.seq > base + 5_000 && info.seq <= at_checkpoint, "checkpoint seq {} out of range", info.seq);
    assert!(written > info.seq - base, "writes continued after the checkpoint");
    assert!(info.tables > 0);
    assert_eq!(info.linked, info.tables, "same file system: every table is a hard link");
    assert_eq!(info.copied_bytes, 0);
    let want = model(info.seq - base);

    // The source has every write.
    check(&db, &model(written), "source");

    // The checkpoint's tables share their files with the source.
    #[cfg(unix)]
    for name in std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()) {
        if name.ends_with(".parquet") && src.join(&name).exists() {
            assert_eq!(link_count(&dest.join(&name)), 2, "{name} is not a hard link");
        }
    }

    // Compacting everything in the source drops (and deletes) the tables the checkpoint
    // links to; the checkpoint must not notice.
    db.compact_range(..).unwrap();
    let live = db.live_tables();
    let cp = Db::open(&dest, options()).unwrap();
    assert_eq!(cp.stats().last_seq, info.seq);
    check(&cp, &want, "checkpoint");
    let cp_tables = cp.live_tables();
    assert!(cp_tables.iter().any(|id| !live.contains(id)), "the source compaction replaced the checkpoint's tables");

    // Both databases keep working, independently.
    cp.put("only-in-checkpoint", "1").unwrap();
    db.put("only-in-source", "2").unwrap();
    assert_eq!(db.get("only-in-checkpoint").unwrap(), None);
    assert_eq!(cp.get("only-in-source").unwrap(), None);
    cp.compact_range(..).unwrap();
    drop(cp);
    let cp = Db::open(&dest, options()).unwrap();
    let mut want_after = want.clone();
    want_after.insert(b"only-in-checkpoint".to_vec(), b"1".to_vec());
    check(&cp, &want_after, "checkpoint after its own writes and a reopen");
    drop(cp);

    let mut source_want = model(written);
    source_want.insert(b"only-in-source".to_vec(), b"2".to_vec());
    let db = Arc::into_inner(db).unwrap();
    db.close().unwrap();
    let db = Db::open(&src, options()).unwrap();
    check(&db, &source_want, "source after a reopen");
}

#[test]
fn a_second_checkpoint_needs_an_empty_destination() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    db.put("a", "1").unwrap();
    let dest = dir.path().join("cp");
    db.checkpoint(&dest).unwrap();
    let before: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name()).collect();

    let err = db.checkpoint(&dest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
    let after: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "a refused checkpoint touched the destination");
    // Nor can a database be checkpointed into its own directory.
    assert_eq!(db.checkpoint(db.path()).unwrap_err().kind(), ErrorKind::InvalidArgument);

    // An existing empty directory is fine, and an empty database checkpoints too.
    let empty_db = Db::open(dir.path().join("empty"), options()).unwrap();
    let dest2 = dir.path().join("cp2");
    std::fs::create_dir(&dest2).unwrap();
    let info = empty_db.checkpoint(&dest2).unwrap();
    assert_eq!(info.tables, 0);
    let cp = Db::open(&dest2, options()).unwrap();
    assert_eq!(cp.iter(..).count(), 0);
}

#[test]
fn without_hard_links_tables_are_copied() {
    // MemFs has no hard links, so every table is copied.
    let mem = MemFs::new();
    let fs: Arc<dyn FileSystem> = Arc::new(mem);
    let db = Db::open_on(Arc::clone(&fs), "/db", options()).unwrap();
    for i in 0..3000 {
        let (k, v) = op(i);
        match v {
            Some(v) => db.put(k, v).unwrap(),
            None => db.delete(k).unwrap(),
        }
    }
    let info = db.checkpoint("/cp").unwrap();
    assert_eq!(info.seq, 3000);
    assert!(info.tables > 0);
    assert_eq!(info.linked, 0);
    assert!(info.copied_bytes > 0);
    drop(db);
    let cp = Db::open_on(Arc::clone(&fs), "/cp", options()).unwrap();
    check(&cp, &model(3000), "copied checkpoint");
}
