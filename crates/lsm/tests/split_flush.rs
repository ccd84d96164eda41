//! A flush someone waits for (`Db::flush`, and `compact_range`, which flushes first) writes a
//! large memtable as several L0 tables of disjoint key ranges at once; every version of a key
//! stays in one of them, and what reads see, before and after a reopen and a compaction, is
//! what one table would have given. Small memtables, memtables holding a range tombstone and
//! `max_subcompactions = 1` keep one table per flush.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, Options};

mod common;

use common::{Rows, rows};

/// Keys written; three versions of each, so a cut between versions would show.
const KEYS: u64 = 20_000;
const VERSIONS: u64 = 3;

fn key(n: u64) -> String {
    format!("key{n:08}")
}

fn value(n: u64, version: u64) -> String {
    format!("value-{n}-{version}-{}", "v".repeat(80))
}

/// `KEYS` keys in `VERSIONS` versions each, newest last: about 8 MiB of memtable, over the
/// 4 MiB a split needs.
fn fill(db: &Db) -> Rows {
    for version in 0..VERSIONS {
        for n in 0..KEYS {
            db.put(key(n), value(n, version)).unwrap();
        }
    }
    (0..KEYS).map(|n| (key(n).into_bytes(), value(n, VERSIONS - 1).into_bytes())).collect()
}

#[test]
fn a_waited_for_flush_of_a_large_memtable_writes_disjoint_tables_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { max_subcompactions: 2, ..Options::default() };
    let db = Db::open(dir.path(), options.clone()).unwrap();
    let expected = fill(&db);
    db.flush().unwrap();

    let mut l0 = db.tables()[0].clone();
    assert_eq!(l0.len(), 2, "one table per key range");
    l0.sort_by(|a, b| a.min_key.cmp(&b.min_key));
    assert!(l0[0].max_key < l0[1].min_key, "the ranges are disjoint: no key's versions are split");
    assert_eq!(l0.iter().map(|t| t.entries).sum::<u64>(), KEYS * VERSIONS, "every version is written once");
    // Cut at about half the entries.
    let share = l0[0].entries as f64 / (KEYS * VERSIONS) as f64;
    assert!((0.4..=0.6).contains(&share), "first range holds {share:.2} of the entries");
    assert_eq!(db.stats().flushes, 1, "one flush, two tables");

    assert_eq!(rows(&db), expected);
    for n in (0..KEYS).step_by(997) {
        assert_eq!(db.get(key(n)).unwrap().as_deref(), Some(value(n, VERSIONS - 1).as_bytes()));
    }
    drop(db);
    let db = Db::open(dir.path(), options).unwrap();
    assert_eq!(rows(&db), expected, "after a reopen");
    db.compact_range(..).unwrap();
    assert!(db.tables()[0].is_empty());
    assert_eq!(rows(&db), expected, "after a full compaction");
}

#[test]
fn small_memtables_range_tombstones_and_one_subcompaction_keep_one_table_per_flush() {
    // Under 4 MiB.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for n in 0..1_000 {
        db.put(key(n), value(n, 0)).unwrap();
    }
    db.flush().unwrap();
    assert_eq!(db.tables()[0].len(), 1);

    // A range tombstone would be seen by the range it starts in only.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut expected = fill(&db);
    db.delete_range(key(100), key(19_900)).unwrap();
    expected.retain(|(k, _)| k.as_slice() < key(100).as_bytes() || k.as_slice() >= key(19_900).as_bytes());
    db.flush().unwrap();
    assert_eq!(db.tables()[0].len(), 1);
    assert_eq!(rows(&db), expected);

    // One key range at most.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { max_subcompactions: 1, ..Options::default() }).unwrap();
    let expected = fill(&db);
    db.flush().unwrap();
    assert_eq!(db.tables()[0].len(), 1);
    assert_eq!(rows(&db), expected);
}

#[test]
fn a_flush_no_one_waits_for_writes_one_table() {
    // A memtable filled past its size is flushed in the background, with nobody waiting.
    let dir = tempfile::tempdir().unwrap();
    let options = Options { max_memtable_size: 6 << 20, enable_background_compaction: false, ..Options::default() };
    let db = Db::open(dir.path(), options).unwrap();
    let expected = fill(&db);
    db.wait_for_compactions().unwrap();
    let flushed = db.stats().flushes;
    assert!(flushed >= 1, "the memtable filled and was flushed");
    assert_eq!(db.tables()[0].len() as u64, flushed, "one table per background flush");
    assert_eq!(rows(&db), expected);
}
