//! A database whose manifest lives in a `ManifestStore` (here in memory; `strata-object`
//! runs the same on S3): a writer reopens with everything it wrote, a second writer fences
//! the first, writers racing to open leave exactly one able to commit, and a read-only
//! opener follows the writer with `refresh`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;
use std::sync::{Arc, Barrier};

use strata::{Components, Db, Error, ErrorKind, FileSystem, ManifestStore, MemManifestStore, Options};
use strata_sstable::testing::MemFs;

const TABLES: &str = "/bucket/tables";

fn options() -> Options {
    Options { max_memtable_size: 64 << 10, ..Options::default() }
}

fn open(fs: &Arc<dyn FileSystem>, manifests: &Arc<MemManifestStore>, local: &str) -> strata::Result<Db> {
    let components = Components::from_options(Arc::clone(fs), Path::new(TABLES), &options())?;
    let manifests: Arc<dyn ManifestStore> = manifests.clone();
    Db::open_with_manifest_store(Arc::clone(fs), local, options(), components, manifests)
}

fn open_reader(fs: &Arc<dyn FileSystem>, manifests: &Arc<MemManifestStore>, local: &str) -> Db {
    let components = Components::from_options(Arc::clone(fs), Path::new(TABLES), &options()).unwrap();
    let manifests: Arc<dyn ManifestStore> = manifests.clone();
    Db::open_read_only(Arc::clone(fs), local, options(), components, manifests).unwrap()
}

fn get(db: &Db, key: &str) -> Option<String> {
    db.get(key).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[test]
fn a_writer_reopens_with_flushed_and_logged_writes() {
    let fs = MemFs::shared();
    let manifests = Arc::new(MemManifestStore::new());
    let db = open(&fs, &manifests, "/w").unwrap();
    for i in 0..2000 {
        db.put(format!("k{i:05}"), format!("v{i}")).unwrap();
    }
    db.flush().unwrap();
    db.put("logged", "only in the log").unwrap();
    db.delete("k00007").unwrap();
    db.close().unwrap();

    let db = open(&fs, &manifests, "/w").unwrap();
    assert_eq!(get(&db, "k01999").as_deref(), Some("v1999"));
    assert_eq!(get(&db, "logged").as_deref(), Some("only in the log"));
    assert_eq!(get(&db, "k00007"), None);
    assert_eq!(db.iter(..).count(), 2000);
    // Nothing but the log and the lock is local: the manifest is in the store.
    let local = fs.list_dir(Path::new("/w")).unwrap();
    assert!(local.iter().all(|n| !n.starts_with("MANIFEST") && n != "CURRENT"), "{local:?}");
    assert!(manifests.latest().unwrap().is_some());
}

#[test]
fn a_second_writer_fences_the_first() {
    let fs = MemFs::shared();
    let manifests = Arc::new(MemManifestStore::new());
    let first = open(&fs, &manifests, "/a").unwrap();
    first.put("before", "1").unwrap();
    first.flush().unwrap();

    let second = open(&fs, &manifests, "/b").unwrap();
    assert_eq!(get(&second, "before").as_deref(), Some("1"), "what the first writer flushed is there");

    // The first writer's next commit fails, and it refuses writes from then on.
    first.put("lost", "x").unwrap();
    let err = first.flush().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fenced, "{err}");
    assert!(matches!(err, Error::Fenced { epoch: 1, by: 2, .. }), "{err:?}");
    assert_eq!(first.put("after", "y").unwrap_err().kind(), ErrorKind::Fenced);
    assert_eq!(get(&first, "before").as_deref(), Some("1"), "a fenced writer still reads");

    // The second writer works, and its tables are numbered in its own epoch's range.
    second.put("second", "2").unwrap();
    second.flush().unwrap();
    assert_eq!(get(&second, "lost"), None);
    let ids: Vec<u64> = second.tables().iter().flatten().map(|t| t.id).collect();
    assert!(ids.iter().any(|&id| id >= 2 << 40), "{ids:?}");
    drop(first);
    drop(second);
    let third = open(&fs, &manifests, "/c").unwrap();
    assert_eq!(get(&third, "second").as_deref(), Some("2"));
    assert_eq!(get(&third, "before").as_deref(), Some("1"));
}

#[test]
fn of_writers_racing_to_open_exactly_one_commits() {
    for round in 0..20 {
        let fs = MemFs::shared();
        let manifests = Arc::new(MemManifestStore::new());
        drop(open(&fs, &manifests, "/setup").unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["/x", "/y"]
            .into_iter()
            .map(|dir| {
                let (fs, manifests, barrier) = (Arc::clone(&fs), Arc::clone(&manifests), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    open(&fs, &manifests, dir)
                })
            })
            .collect();
        // Both opens finish before either writes: a writer that committed before the other
        // had opened was the sole writer then, and rightly not fenced. The loser is fenced
        // either while opening (its first commit is part of the open) or at its first commit
        // after.
        let opened: Vec<strata::Result<_>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let results: Vec<strata::Result<()>> = opened
            .into_iter()
            .enumerate()
            .map(|(i, db)| {
                let db = db?;
                db.put(format!("from{i}"), "v").unwrap();
                db.flush()
            })
            .collect();
        let committed = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(committed, 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(loser.kind(), ErrorKind::Fenced, "round {round}: {loser}");
    }
}

#[test]
fn a_reader_follows_the_writer_when_it_refreshes() {
    let fs = MemFs::shared();
    let manifests = Arc::new(MemManifestStore::new());
    let writer = open(&fs, &manifests, "/w").unwrap();
    writer.put("a", "1").unwrap();
    writer.flush().unwrap();

    let reader = open_reader(&fs, &manifests, "/r");
    assert_eq!(get(&reader, "a").as_deref(), Some("1"));
    writer.put("b", "2").unwrap();
    writer.put("a", "3").unwrap();
    assert_eq!(get(&reader, "b"), None, "unflushed writes are the writer's alone");
    writer.flush().unwrap();
    assert_eq!(get(&reader, "a").as_deref(), Some("1"), "a reader serves its manifest until it refreshes");
    let before = reader.snapshot();
    assert!(reader.refresh().unwrap());
    assert!(!reader.refresh().unwrap(), "nothing new the second time");
    assert_eq!(get(&reader, "a").as_deref(), Some("3"));
    assert_eq!(get(&reader, "b").as_deref(), Some("2"));
    assert_eq!(before.get("a").unwrap().as_deref(), Some(&b"1"[..]), "a snapshot keeps its view");

    assert_eq!(reader.put("c", "4").unwrap_err().kind(), ErrorKind::ReadOnly);
    assert!(matches!(reader.flush(), Err(Error::OpenedReadOnly)));
    assert_eq!(writer.refresh().unwrap_err().kind(), ErrorKind::InvalidArgument);
    // A reader does not fence the writer.
    writer.put("d", "5").unwrap();
    writer.flush().unwrap();
    drop(before);
    reader.close().unwrap();
}

#[test]
fn opening_an_empty_store_without_create_if_missing_is_not_found() {
    let fs = MemFs::shared();
    let manifests: Arc<dyn ManifestStore> = Arc::new(MemManifestStore::new());
    let opts = Options { create_if_missing: false, ..options() };
    let components = Components::from_options(Arc::clone(&fs), Path::new(TABLES), &opts).unwrap();
    let err = Db::open_with_manifest_store(Arc::clone(&fs), "/w", opts.clone(), components, Arc::clone(&manifests))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let components = Components::from_options(Arc::clone(&fs), Path::new(TABLES), &opts).unwrap();
    let err = Db::open_read_only(Arc::clone(&fs), "/r", opts, components, manifests).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn a_damaged_manifest_object_is_corruption_naming_it() {
    let fs = MemFs::shared();
    let manifests = Arc::new(MemManifestStore::new());
    drop(open(&fs, &manifests, "/w").unwrap());
    let (number, mut bytes) = manifests.latest().unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    assert!(manifests.put_if_absent(number + 1, &bytes).unwrap());
    match open(&fs, &manifests, "/w") {
        Err(Error::Corruption { file, .. }) => {
            assert!(file.to_string_lossy().ends_with(&format!("MANIFEST-{:06}", number + 1)), "{file:?}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}
