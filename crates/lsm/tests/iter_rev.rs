//! Reverse iteration: `iter_rev` and `prefix_rev` return exactly what the forward iterator
//! does, last key first, with data spread over every memtable variant, L0 tables and sorted
//! levels, under deletes and range deletes; they keep their view while the tree changes; and
//! a damaged table is reported as corruption, not skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::ops::Bound;

use strata::{Db, Error, KeyRange, MemtableKind, Options, PolicyConfig};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn rows(iter: impl Iterator<Item = strata::Result<(bytes::Bytes, bytes::Bytes)>>) -> Rows {
    iter.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
}

fn model_rev(model: &Model, range: &KeyRange) -> Rows {
    model.iter().rev().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Small memtables and tables, so the keys end up in memtables, L0 and two sorted levels.
fn options(kind: MemtableKind) -> Options {
    let mut compaction = PolicyConfig::by_name("leveled").unwrap();
    if let PolicyConfig::Leveled { target_table_size, base_level_bytes, l0_trigger, .. } = &mut compaction {
        (*target_table_size, *base_level_bytes, *l0_trigger) = (16 << 10, 64 << 10, 4);
    }
    Options { memtable_type: kind, max_memtable_size: 64 << 10, compaction, ..Options::default() }
}

/// Writes 6,000 keys in three passes (puts, overwrites of every third, deletions of every
/// seventh) with two range deletes, leaving the last pass in the memtable.
fn load(db: &Db) -> Model {
    let mut model = Model::new();
    for i in 0..6_000u32 {
        let k = key(i * 7919 % 6_000);
        let v = format!("first {i} {}", "x".repeat((i % 40) as usize)).into_bytes();
        db.put(k.clone(), v.clone()).unwrap();
        model.insert(k, v);
    }
    db.delete_range(key(1_000), key(1_500)).unwrap();
    model.retain(|k, _| *k < key(1_000) || *k >= key(1_500));
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    for i in (0..6_000u32).step_by(3) {
        let v = format!("second {i}").into_bytes();
        db.put(key(i), v.clone()).unwrap();
        model.insert(key(i), v);
    }
    db.flush().unwrap();
    for i in (0..6_000u32).step_by(7) {
        db.delete(key(i)).unwrap();
        model.remove(&key(i));
    }
    db.delete_range(key(4_990), key(5_010)).unwrap();
    model.retain(|k, _| *k < key(4_990) || *k >= key(5_010));
    for i in (5_000..5_005u32).chain([1_200]) {
        let v = format!("after the range delete {i}").into_bytes();
        db.put(key(i), v.clone()).unwrap();
        model.insert(key(i), v);
    }
    model
}

fn ranges() -> Vec<KeyRange> {
    vec![
        KeyRange::all(),
        KeyRange::from_range(key(2_000)..key(2_100)),
        KeyRange::from_range(key(990)..=key(1_510)),
        KeyRange::new(Bound::Excluded(key(4_980).into()), Bound::Included(key(5_020).into())),
        KeyRange::new(Bound::Unbounded, Bound::Excluded(key(3).into())),
        KeyRange::from_range(key(5_990)..),
        KeyRange::from_range(key(7_000)..),
        KeyRange::from_range(key(10)..key(10)),
        KeyRange::prefix(b"key012"),
    ]
}

#[test]
fn reverse_scans_return_the_forward_scan_last_first_over_every_memtable_variant() {
    for kind in MemtableKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(kind)).unwrap();
        let model = load(&db);
        let levels: Vec<usize> = db.tables().iter().map(Vec::len).collect();
        assert!(levels.iter().filter(|&&n| n > 0).count() >= 2, "{kind}: tables on one level only: {levels:?}");
        for range in ranges() {
            let want = model_rev(&model, &range);
            let mut forward = rows(db.iter(range.clone()));
            forward.reverse();
            assert_eq!(forward, want, "{kind}: forward scan of {range:?}");
            assert_eq!(rows(db.iter_rev(range.clone())), want, "{kind}: reverse scan of {range:?}");
            let last: Rows = rows(db.iter_rev(range.clone()).take(2));
            assert_eq!(last[..], want[..want.len().min(2)], "{kind}: the last two of {range:?}");
        }
        let prefix: Rows = rows(db.prefix_rev("key05"));
        assert_eq!(prefix, model_rev(&model, &KeyRange::prefix(b"key05")), "{kind}: prefix_rev");
    }
}

/// A reverse iterator holds the tree it started on: its answers do not change while writes,
/// flushes and compactions go on, or after the database is dropped.
#[test]
fn a_reverse_scan_keeps_its_view_while_the_tree_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(MemtableKind::EnhancedSkipList)).unwrap();
    let model = load(&db);
    let want = model_rev(&model, &KeyRange::all());
    let mut iter = db.iter_rev(..);
    let mut seen = rows(iter.by_ref().take(100));
    for i in 0..6_000u32 {
        db.put(key(i), b"newer".to_vec()).unwrap();
    }
    db.delete_range(key(0), key(3_000)).unwrap();
    db.flush().unwrap();
    seen.extend(rows(iter.by_ref().take(1_000)));
    db.compact_range(..).unwrap();
    drop(db);
    seen.extend(rows(iter));
    assert_eq!(seen, want);
}

/// A flipped byte in a table's data is reported by the reverse scan that reads it, as
/// corruption naming the table's file, and the scan ends there.
#[test]
fn a_reverse_scan_of_a_damaged_table_reports_corruption_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options { block_cache_bytes: 0, ..Options::default() };
    let db = Db::open(dir.path(), opts()).unwrap();
    for i in 0..20_000u32 {
        db.put(key(i), vec![(i % 251) as u8; 100]).unwrap();
    }
    db.compact_range(..).unwrap();
    let tables = db.tables().concat();
    assert_eq!(tables.len(), 1, "one table after the full compaction");
    db.close().unwrap();
    let path = dir.path().join(strata_sstable::table_file_name(tables[0].id));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();

    let db = Db::open(dir.path(), opts()).unwrap();
    let mut iter = db.iter_rev(..);
    let failure = iter.by_ref().find_map(Result::err).expect("the damaged page is read");
    match &failure {
        Error::Corruption { file, .. } => assert_eq!(file, &path, "{failure}"),
        other => panic!("expected corruption naming {}, got {other:?}", path.display()),
    }
    assert!(iter.next().is_none(), "the scan ends after its error");
}
