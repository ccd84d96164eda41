//! Scans over keys updated many times: every source of a scan yields one version per key
//! (the memtable seeks past a key's older versions once there are more than a few), and
//! what a scan returns stays exactly the model's at the latest view and at every snapshot,
//! with the versions spread over memtables, L0 tables and sorted levels; reverse scans too.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::ops::Bound;

use strata::{Db, KeyRange, Options, PolicyConfig};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

fn scan(db_iter: impl Iterator<Item = strata::Result<(bytes::Bytes, bytes::Bytes)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    db_iter.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
}

fn model_scan(model: &Model, range: &KeyRange) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn model_scan_rev(model: &Model, range: &KeyRange) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().rev().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn scans_over_keys_with_thousands_of_versions_match_the_model_at_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { max_memtable_size: 256 << 10, ..Options::default() }).unwrap();
    let mut model = Model::new();
    let mut snapshots = Vec::new();
    let hot = [key(50), key(51), key(99)];
    for round in 0..3000u32 {
        let i = round % 100;
        let value = format!("v{round}").into_bytes();
        db.put(key(i), value.clone()).unwrap();
        model.insert(key(i), value);
        for (n, k) in hot.iter().enumerate() {
            // Hot keys: an update every round, a deletion now and then.
            if round % 97 == n as u32 * 7 {
                db.delete(k.clone()).unwrap();
                model.remove(k);
            } else {
                let value = format!("hot{n} {round}").into_bytes();
                db.put(k.clone(), value.clone()).unwrap();
                model.insert(k.clone(), value);
            }
        }
        if round % 700 == 350 {
            snapshots.push((db.snapshot(), model.clone()));
        }
        if round == 1000 {
            db.flush().unwrap();
        }
        if round == 2000 {
            db.compact_range(..).unwrap();
        }
    }
    let ranges = [
        KeyRange::all(),
        KeyRange::from_range(key(50)..),
        KeyRange::new(Bound::Excluded(key(50).into()), Bound::Unbounded),
        KeyRange::from_range(key(49)..=key(51)),
        KeyRange::new(Bound::Excluded(key(51).into()), Bound::Included(key(99).into())),
        KeyRange::from_range(key(99)..),
    ];
    for range in &ranges {
        assert_eq!(scan(db.iter(range.clone())), model_scan(&model, range), "latest view of {range:?}");
        // Seeks that read a few entries, as a short scan does.
        let first: Vec<_> = scan(db.iter(range.clone()).take(3));
        assert_eq!(first, model_scan(&model, range).into_iter().take(3).collect::<Vec<_>>());
        assert_eq!(scan(db.iter_rev(range.clone())), model_scan_rev(&model, range), "reverse, {range:?}");
        let last: Vec<_> = scan(db.iter_rev(range.clone()).take(3));
        assert_eq!(last, model_scan_rev(&model, range).into_iter().take(3).collect::<Vec<_>>());
        for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
            assert_eq!(scan(snapshot.iter(range.clone())), model_scan(seen, range), "snapshot {i} of {range:?}");
            let back = model_scan_rev(seen, range);
            assert_eq!(scan(snapshot.iter_rev(range.clone())), back, "snapshot {i} of {range:?}, reverse");
        }
    }
    db.flush().unwrap();
    for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
        assert_eq!(scan(snapshot.iter(..)), model_scan(seen, &KeyRange::all()), "snapshot {i} after a flush");
    }
    assert_eq!(scan(db.iter(..)), model_scan(&model, &KeyRange::all()));
}

/// A scan walks its memtables in place (it holds them, not a copy): one started on a full
/// memtable keeps returning that memtable's entries, unchanged, after the memtable was
/// flushed and dropped from the database, after later writes, and after the database is
/// closed.
#[test]
fn a_scan_outlives_its_memtables_flush_and_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut model = Model::new();
    for i in 0..2000u32 {
        let value = vec![(i % 251) as u8; (i % 300) as usize];
        db.put(key(i), value.clone()).unwrap();
        model.insert(key(i), value);
    }
    let mut iter = db.iter(..);
    let mut seen = scan(iter.by_ref().take(10));
    db.flush().unwrap();
    for i in 0..2000u32 {
        db.put(key(i), b"newer".to_vec()).unwrap();
    }
    db.flush().unwrap();
    db.compact_range(..).unwrap();
    seen.extend(scan(iter.by_ref().take(990)));
    drop(db);
    seen.extend(scan(iter));
    assert_eq!(seen, model_scan(&model, &KeyRange::all()));
}

/// A level of many tables, each holding two versions of every key (a snapshot keeps the
/// older): a scan steps over each key's older version and stays in the table it is reading,
/// at the latest view and at the snapshot.
#[test]
fn scans_step_over_older_versions_inside_each_table_of_a_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut compaction = PolicyConfig::by_name("leveled").unwrap();
    if let PolicyConfig::Leveled { target_table_size, .. } = &mut compaction {
        *target_table_size = 8 << 10;
    }
    let db = Db::open(dir.path(), Options { max_memtable_size: 64 << 10, compaction, ..Options::default() }).unwrap();
    let mut model = Model::new();
    for i in 0..3000u32 {
        db.put(key(i), format!("old{i}").into_bytes()).unwrap();
        model.insert(key(i), format!("old{i}").into_bytes());
    }
    let snapshot = db.snapshot();
    let old = model.clone();
    for i in 0..3000u32 {
        db.put(key(i), format!("new{i}").into_bytes()).unwrap();
        model.insert(key(i), format!("new{i}").into_bytes());
    }
    db.compact_range(..).unwrap();
    let tables: usize = db.tables().iter().map(Vec::len).max().unwrap();
    assert!(tables >= 3, "the keys should span several tables of one level, not {tables}");
    assert_eq!(scan(db.iter(..)), model_scan(&model, &KeyRange::all()), "latest view");
    assert_eq!(scan(snapshot.iter(..)), model_scan(&old, &KeyRange::all()), "snapshot");
    assert_eq!(scan(db.iter_rev(..)), model_scan_rev(&model, &KeyRange::all()), "latest view, reverse");
    assert_eq!(scan(snapshot.iter_rev(..)), model_scan_rev(&old, &KeyRange::all()), "snapshot, reverse");
}
