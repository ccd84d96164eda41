//! Recovery from damaged logs and manifests: a torn log tail recovers to the last intact
//! record; damage with valid records after it, and a damaged manifest, are a clear
//! `Error::Corruption`, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use strata::{Db, Error, Options, WalRecovery};

fn options() -> Options {
    // Big enough that nothing is flushed: every write stays in the log.
    Options { max_memtable_size: 64 << 20, ..Options::default() }
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

/// Writes `n` keys without flushing, so they live only in the newest log segment, and
/// leaves in `dir` the files as a crash would: copied while the database was open, before a
/// clean close could seal the log. The log is written with `write`, so it ends with its last
/// record and the damage each test makes lands where it says; a mapped log's reserved
/// space has its own tests below.
fn write_keys(dir: &Path, n: u32) -> PathBuf {
    write_keys_with(dir, n, options().wal_mmap(false))
}

fn write_keys_with(dir: &Path, n: u32, options: Options) -> PathBuf {
    let live = tempfile::tempdir().expect("temp dir");
    let db = Db::open(live.path(), options).expect("open");
    for i in 0..n {
        db.put(key(i), format!("value{i}")).expect("put");
    }
    for entry in fs::read_dir(live.path()).expect("list") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name");
        if name != "LOCK" {
            fs::copy(&path, dir.join(name)).expect("copy");
        }
    }
    drop(db);
    newest_log(dir)
}

fn newest_log(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal") && fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .collect();
    logs.sort();
    logs.pop().expect("a non-empty log segment")
}

fn present(db: &Db, n: u32) -> u32 {
    let mut count = 0;
    for i in 0..n {
        if let Some(v) = db.get(key(i)).expect("get") {
            assert_eq!(v, format!("value{i}").as_bytes(), "wrong value for {}", key(i));
            assert_eq!(count, i, "key {i} present after a missing one: not a prefix");
            count += 1;
        }
    }
    count
}

#[test]
fn a_torn_log_tail_recovers_to_the_last_intact_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = write_keys(dir.path(), 100);
    let len = fs::metadata(&log).expect("stat").len();
    // Cut the last record in half: as if the machine died mid-write.
    OpenOptions::new().write(true).open(&log).expect("open log").set_len(len - 5).expect("truncate");
    let db = Db::open(dir.path(), options()).expect("reopen after a torn tail");
    assert_eq!(present(&db, 100), 99, "everything but the torn record must be recovered");
    // The database keeps working, and the recovered state is durable.
    db.put("after", "torn").expect("write after recovery");
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("second reopen");
    assert_eq!(present(&db, 100), 99);
    assert_eq!(db.get("after").expect("get").as_deref(), Some(&b"torn"[..]));
}

/// The records of a mapped log copied while it was open: up to the last nonzero byte (the
/// values written here end with a digit), then the zeros of the space reserved ahead.
fn mapped_log(dir: &Path, n: u32) -> (PathBuf, usize) {
    let log = write_keys_with(dir, n, options());
    let data = fs::read(&log).expect("read log");
    let end = data.iter().rposition(|&b| b != 0).expect("records") + 1;
    assert!(data.len() - end >= 4096, "the log has reserved space past its records: {} of {}", end, data.len());
    (log, end)
}

#[test]
fn a_mapped_log_left_with_its_reserved_space_recovers_every_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    mapped_log(dir.path(), 100);
    let db = Db::open(dir.path(), options()).expect("reopen a log that ends in reserved zeros");
    assert_eq!(present(&db, 100), 100);
    db.put("after", "reserved").expect("write after recovery");
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("second reopen");
    assert_eq!(present(&db, 100), 100);
    assert_eq!(db.get("after").expect("get").as_deref(), Some(&b"reserved"[..]));
}

#[test]
fn a_record_torn_before_a_mapped_logs_reserved_space_is_a_torn_tail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, end) = mapped_log(dir.path(), 100);
    // The last record's final bytes were never copied: they read as the reserved zeros.
    let mut data = fs::read(&log).expect("read log");
    data[end - 5..end].fill(0);
    fs::write(&log, &data).expect("write log");
    let db = Db::open(dir.path(), options()).expect("reopen after a torn record");
    assert_eq!(present(&db, 100), 99, "everything but the torn record must be recovered");
}

#[test]
fn a_cleanly_closed_mapped_log_keeps_no_reserved_space() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), options()).expect("open");
    for i in 0..100 {
        db.put(key(i), format!("value{i}")).expect("put");
    }
    db.close().expect("close");
    // A hundred small records take about 3 KiB; the first reservation is 256 KiB.
    let len = fs::metadata(newest_log(dir.path())).expect("stat").len();
    assert!(len < 16 << 10, "the log is cut back to its records: {len} bytes");
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(present(&db, 100), 100);
}

#[test]
fn garbage_after_the_last_record_is_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = write_keys(dir.path(), 50);
    let mut f = OpenOptions::new().append(true).open(&log).expect("open log");
    f.write_all(&[0xAB; 37]).expect("append garbage");
    drop(f);
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(present(&db, 50), 50);
}

#[test]
fn damage_followed_by_valid_records_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = write_keys(dir.path(), 200);
    let mut data = fs::read(&log).expect("read log");
    let at = data.len() * 3 / 4;
    data[at] ^= 0x5A;
    fs::write(&log, &data).expect("write log");

    // The records after the damage may have been acknowledged: refuse, naming the file.
    match Db::open(dir.path(), options()) {
        Err(Error::Corruption { file, reason }) => {
            assert_eq!(file, log, "the corruption must name the damaged segment");
            assert!(reason.contains("point_in_time"), "the error must say how to open anyway: {reason}");
        }
        Err(other) => panic!("damage in the middle of the log gave {other:?}, not Error::Corruption"),
        Ok(_) => panic!("damage followed by valid records was silently treated as a torn tail"),
    }
    assert_eq!(fs::read(&log).expect("read log"), data, "a refused open must leave the log as it was");

    // Point-in-time recovery opens, keeping exactly the prefix before the damage.
    let db = Db::open(dir.path(), options().wal_recovery(WalRecovery::PointInTime)).expect("point-in-time open");
    let n = present(&db, 200);
    assert!(n > 100 && n < 200, "recovered {n} of 200 keys; expected the prefix before the damage");
}

#[test]
fn a_corrupted_manifest_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), options()).expect("open");
    db.put("k", "v").expect("put");
    db.flush().expect("flush");
    db.close().expect("close");
    let manifest = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-")))
        .expect("a manifest");
    let original = fs::read(&manifest).expect("read manifest");
    for at in [0, 5, original.len() / 2, original.len() - 1] {
        let mut bad = original.clone();
        bad[at] ^= 0x01;
        fs::write(&manifest, &bad).expect("write manifest");
        match Db::open(dir.path(), options()) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, manifest, "the error must name the manifest"),
            other => panic!("flipping manifest byte {at} gave {other:?}, not Error::Corruption"),
        }
    }
    fs::write(&manifest, &original[..original.len() - 3]).expect("truncate manifest");
    assert!(matches!(Db::open(dir.path(), options()), Err(Error::Corruption { .. })));
    fs::write(&manifest, &original).expect("restore manifest");
    let db = Db::open(dir.path(), options()).expect("open with the manifest restored");
    assert_eq!(db.get("k").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_current_file_naming_nothing_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    Db::open(dir.path(), options()).expect("create").close().expect("close");
    fs::write(dir.path().join("CURRENT"), b"garbage").expect("write CURRENT");
    assert!(matches!(Db::open(dir.path(), options()), Err(Error::Corruption { .. })));
}

#[test]
fn a_missing_database_is_reported_when_creation_is_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = Db::open(dir.path(), Options { create_if_missing: false, ..options() }).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn invalid_options_fail_at_open_naming_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = Db::open(dir.path(), Options { max_immutable_memtables: 0, ..options() }).unwrap_err();
    assert!(err.to_string().contains("max_immutable_memtables"), "{err}");
}

/// Regression: an empty memtable's own footprint (an arena block, a hash variant's bucket
/// array) once counted toward the flush trigger, so with a small `max_memtable_size`
/// every write sealed a memtable and flushed a one-entry table.
#[test]
fn small_writes_do_not_flush_a_memtable_per_write() {
    for kind in strata::MemtableKind::ALL {
        let dir = tempfile::tempdir().expect("temp dir");
        let db =
            Db::open(dir.path(), Options { memtable_type: kind, max_memtable_size: 64 << 10, ..Options::default() })
                .expect("open");
        for i in 0..100u32 {
            db.put(key(i), "v").expect("put");
        }
        // Before the fix each write sealed one. A hash_skiplist may seal once: each bucket it
        // creates really costs about 1 KiB, and these 100 keys have 100 distinct prefixes.
        let sealed = db.stats().memtables_sealed;
        assert!(sealed <= 1, "{kind}: 100 tiny writes sealed {sealed} memtables");
    }
}
