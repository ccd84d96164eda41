//! Seek compaction (`Options::seek_compaction_bytes`): a tree left with several overlapping L0
//! tables under L0's trigger is compacted once iterators visiting them have paid for the
//! task, not before, and never when the option is off; what reads see does not change.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::time::{Duration, Instant};

use strata::{Db, KeyRange, Options};

mod common;

use common::rows;

const FLUSHES: u64 = 3;
const KEYS_PER_FLUSH: u64 = 2_000;

fn key(n: u64) -> String {
    format!("key{n:08}")
}

/// Three flushes of interleaved keys (each spans the whole key range), settled: L0 holds
/// three overlapping tables, one under the default trigger of four.
fn three_l0_tables(seek_compaction_bytes: u64) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { seek_compaction_bytes, ..Options::default() };
    let db = Db::open(dir.path(), options).unwrap();
    for flush in 0..FLUSHES {
        for i in 0..KEYS_PER_FLUSH {
            db.put(key(i * FLUSHES + flush), format!("value-{flush}-{i}-{}", "x".repeat(60))).unwrap();
        }
        db.flush().unwrap();
    }
    db.wait_for_compactions().unwrap();
    assert_eq!(db.tables()[0].len(), FLUSHES as usize, "L0 holds one table per flush");
    (dir, db)
}

/// `count` short scans from keys spread over the range, as YCSB-E makes them.
fn seek(db: &Db, count: u64) {
    for i in 0..count {
        let start = key((i * 7_919) % (FLUSHES * KEYS_PER_FLUSH - 5));
        assert_eq!(db.iter(KeyRange::from(start.into_bytes()..)).take(5).count(), 5);
    }
}

/// Once the background threads have looked for work again (an idle one does every 200 ms),
/// L0 is as it was and no seek compaction ran.
fn assert_no_seek_compaction(db: &Db) {
    std::thread::sleep(Duration::from_millis(700));
    db.wait_for_compactions().unwrap();
    assert_eq!(db.tables()[0].len(), FLUSHES as usize);
    assert_eq!(db.stats().seek_compactions, 0);
}

#[test]
fn seeks_through_several_l0_tables_compact_them_once_they_have_paid() {
    let (_dir, db) = three_l0_tables(Options::default().seek_compaction_bytes);
    let want = rows(&db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.stats().seek_compactions == 0 {
        assert!(Instant::now() < deadline, "no seek compaction after a minute of seeks");
        seek(&db, 100);
        std::thread::sleep(Duration::from_millis(10));
    }
    db.wait_for_compactions().unwrap();
    assert!(db.tables()[0].len() <= 1, "L0 still holds {} tables", db.tables()[0].len());
    assert_eq!(rows(&db), want);
}

#[test]
fn a_few_seeks_do_not_pay_for_a_compaction() {
    // Each seek pays one byte per extra table: ten seeks pay 20 bytes, far less than the
    // tables hold.
    let (_dir, db) = three_l0_tables(1);
    seek(&db, 10);
    assert_no_seek_compaction(&db);
}

#[test]
fn no_seek_compaction_when_the_option_is_off() {
    let (_dir, db) = three_l0_tables(0);
    seek(&db, 2_000);
    assert_no_seek_compaction(&db);
}
