//! Range deletes in the engine, beyond the model test: the space goes at once (a
//! delete-only compaction drops the tables a range delete covers whole, without reading
//! them), a snapshot keeps what it sees, and everything holds across a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::time::{Duration, Instant};

use strata::{Db, Options, PolicyConfig};

fn options() -> Options {
    Options {
        max_memtable_size: 64 << 10,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 4,
            base_level_bytes: 256 << 10,
            level_multiplier: 4,
            target_table_size: 32 << 10,
            num_levels: 4,
            intra_l0_merge: false,
        },
        ..Options::default()
    }
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// Loads keys `0..n`, compacted into sorted levels of many small tables.
fn loaded(dir: &std::path::Path, n: u32) -> Db {
    let db = Db::open(dir, options()).expect("open");
    for i in 0..n {
        db.put(key(i), vec![b'v'; 100]).expect("put");
    }
    db.compact_range(..).expect("compact");
    db
}

/// Tables whose whole extent lies in `[start, end)`.
fn tables_inside(db: &Db, start: &str, end: &str) -> usize {
    db.tables()
        .iter()
        .flatten()
        .filter(|t| &t.min_key[..] >= start.as_bytes() && &t.max_key[..] < end.as_bytes())
        .count()
}

fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn tables_under_a_range_delete_are_dropped_without_being_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = loaded(dir.path(), 20_000);
    let (start, end) = (key(5_000), key(15_000));
    let covered = tables_inside(&db, &start, &end);
    assert!(covered >= 10, "the load should leave many tables inside the range, found {covered}");
    let before = db.stats();

    db.delete_range(start.clone(), end.clone()).expect("delete_range");
    db.flush().expect("flush");
    assert!(
        wait_until(|| tables_inside(&db, &start, &end) == 0),
        "tables inside the deleted range are still live: {}",
        tables_inside(&db, &start, &end)
    );
    let after = db.stats();
    // Dropping reads nothing: whatever compaction ran meanwhile read less than the covered
    // tables hold (the flushed tombstone's table and its neighbours at most).
    let covered_bytes = covered as u64 * (16 << 10);
    assert!(
        after.compaction_bytes_read - before.compaction_bytes_read < covered_bytes,
        "compactions read {} bytes; the covered tables alone hold more than {covered_bytes}",
        after.compaction_bytes_read - before.compaction_bytes_read
    );
    assert_eq!(db.get(key(4_999)).expect("get").as_deref(), Some(&[b'v'; 100][..]));
    assert_eq!(db.get(key(10_000)).expect("get"), None);
    assert_eq!(db.get(key(15_000)).expect("get").as_deref(), Some(&[b'v'; 100][..]));
    assert_eq!(db.iter(..).count(), 10_000);
    assert_eq!(db.iter(key(4_990)..key(15_010)).count(), 20);

    drop(db);
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.iter(..).count(), 10_000);
    db.compact_range(..).expect("compact");
    assert_eq!(db.iter(..).count(), 10_000);
    assert_eq!(db.get(key(14_999)).expect("get"), None);
}

#[test]
fn a_snapshot_keeps_what_a_later_range_delete_hides() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = loaded(dir.path(), 8_000);
    let snapshot = db.snapshot();
    let (start, end) = (key(1_000), key(7_000));
    db.delete_range(start.clone(), end.clone()).expect("delete_range");
    db.put(key(3_000), "after").expect("put inside the range");
    db.flush().expect("flush");
    db.compact_range(..).expect("compact");
    // The snapshot still sees every key; the current view sees the range gone but the put.
    assert_eq!(snapshot.iter(..).count(), 8_000);
    assert_eq!(snapshot.get(key(3_000)).expect("get").as_deref(), Some(&[b'v'; 100][..]));
    assert_eq!(db.get(key(3_000)).expect("get").as_deref(), Some(&b"after"[..]));
    assert_eq!(db.iter(..).count(), 2_001);
    drop(snapshot);
    // With the snapshot gone, the background carries the tombstone to what it hides and
    // drops both: the bottom level then holds exactly the live keys.
    assert!(
        wait_until(|| db.tables().iter().flatten().all(|t| t.range_tombstones.is_empty())),
        "the range tombstone is still in a table: {:?}",
        db.tables()
    );
    assert_eq!(db.iter(..).count(), 2_001);
    let rows: u64 = db.tables().iter().flatten().map(|t| t.entries).sum();
    assert_eq!(rows, 2_001, "the bottom level holds exactly the live keys");
    assert!(db.tables().iter().flatten().all(|t| t.range_tombstones.is_empty()));
}

#[test]
fn inverted_and_empty_ranges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), options()).expect("open");
    db.put("b", "1").expect("put");
    let err = db.delete_range("c", "a").expect_err("start after end");
    assert_eq!(err.kind(), strata::ErrorKind::InvalidArgument);
    db.delete_range("b", "b").expect("an empty range is no operation");
    assert_eq!(db.get("b").expect("get").as_deref(), Some(&b"1"[..]));
}
