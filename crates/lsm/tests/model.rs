//! The engine against a `BTreeMap` model: random puts, deletes, batches, gets, range scans,
//! snapshot reads, flushes and reopens, for several memtable variants. Snapshot reads are
//! checked against a copy of the model taken when the snapshot was.

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use strata::{Db, KeyRange, MemtableKind, Options, WriteBatch, WriteOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Get(Vec<u8>),
    Scan(Bound<Vec<u8>>, Bound<Vec<u8>>),
    TakeSnapshot,
    /// Read through snapshot `i % live snapshots`.
    SnapshotGet(usize, Vec<u8>),
    SnapshotScan(usize),
    DropSnapshot(usize),
    Flush,
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // Few distinct keys, so overwrites, deletes and versions pile up.
    (0u8..40).prop_map(|k| format!("key{k:02}").into_bytes())
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    // Mostly small values, sometimes large ones so memtables fill and rotate.
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..16),
        1 => prop::collection::vec(any::<u8>(), 2_000..6_000),
    ]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![key().prop_map(Bound::Included), key().prop_map(Bound::Excluded), Just(Bound::Unbounded)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        10 => key().prop_map(Op::Delete),
        6 => prop::collection::vec((key(), prop::option::of(value())), 1..6).prop_map(Op::Batch),
        20 => key().prop_map(Op::Get),
        4 => (bound(), bound()).prop_map(|(s, e)| Op::Scan(s, e)),
        3 => Just(Op::TakeSnapshot),
        6 => (any::<usize>(), key()).prop_map(|(i, k)| Op::SnapshotGet(i, k)),
        2 => any::<usize>().prop_map(Op::SnapshotScan),
        2 => any::<usize>().prop_map(Op::DropSnapshot),
        3 => Just(Op::Flush),
        2 => Just(Op::Reopen),
    ]
}

fn options(kind: MemtableKind) -> Options {
    Options { memtable_type: kind, max_memtable_size: 64 << 10, max_immutable_memtables: 2, ..Options::default() }
}

fn scan_model(model: &Model, range: &KeyRange) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn collect(iter: impl Iterator<Item = strata::Result<(strata::Bytes, strata::Bytes)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(|kv| {
        let (k, v) = kv.expect("scan failed");
        (k.to_vec(), v.to_vec())
    })
    .collect()
}

fn run(kind: MemtableKind, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = Some(Db::open(dir.path(), options(kind)).expect("open"));
    let mut model = Model::new();
    let mut snapshots: Vec<(strata::Snapshot<_, _, _>, Model)> = Vec::new();
    for op in ops {
        let d = db.as_ref().expect("open");
        match op {
            Op::Put(k, v) => {
                d.put(k.clone(), v.clone()).expect("put");
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                d.delete(k.clone()).expect("delete");
                model.remove(k);
            }
            Op::Batch(ops) => {
                let mut batch = WriteBatch::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => batch.put(k.clone(), v.clone()),
                        None => batch.delete(k.clone()),
                    };
                }
                d.write(batch, WriteOptions::default()).expect("batch");
                for (k, v) in ops {
                    match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                }
            }
            Op::Get(k) => {
                let got = d.get(k).expect("get").map(|v| v.to_vec());
                prop_assert_eq!(got, model.get(k).cloned(), "get {:?}", String::from_utf8_lossy(k));
            }
            Op::Scan(s, e) => {
                let range = KeyRange::new(s.clone().map(Into::into), e.clone().map(Into::into));
                prop_assert_eq!(collect(d.iter(range.clone())), scan_model(&model, &range), "scan {:?}", range);
            }
            Op::TakeSnapshot => snapshots.push((d.snapshot(), model.clone())),
            Op::SnapshotGet(i, k) if !snapshots.is_empty() => {
                let (snap, seen) = &snapshots[i % snapshots.len()];
                let got = snap.get(k).expect("snapshot get").map(|v| v.to_vec());
                prop_assert_eq!(got, seen.get(k).cloned(), "snapshot get {:?}", String::from_utf8_lossy(k));
            }
            Op::SnapshotScan(i) if !snapshots.is_empty() => {
                let (snap, seen) = &snapshots[i % snapshots.len()];
                prop_assert_eq!(collect(snap.iter(..)), scan_model(seen, &KeyRange::all()), "snapshot scan");
            }
            Op::DropSnapshot(i) if !snapshots.is_empty() => {
                let n = snapshots.len();
                snapshots.remove(i % n);
            }
            Op::SnapshotGet(..) | Op::SnapshotScan(_) | Op::DropSnapshot(_) => {}
            Op::Flush => d.flush().expect("flush"),
            Op::Reopen => {
                // Snapshots do not survive a reopen.
                snapshots.clear();
                db.take().expect("open").close().expect("close");
                db = Some(Db::open(dir.path(), options(kind)).expect("reopen"));
            }
        }
    }
    let d = db.as_ref().expect("open");
    prop_assert_eq!(collect(d.iter(..)), scan_model(&model, &KeyRange::all()), "final scan");
    snapshots.clear();
    db.take().expect("open").close().expect("close");
    let d = Db::open(dir.path(), options(kind)).expect("final reopen");
    prop_assert_eq!(collect(d.iter(..)), scan_model(&model, &KeyRange::all()), "scan after the final reopen");
    Ok(())
}

fn check(kind: MemtableKind) {
    let mut runner = TestRunner::new(Config { cases: 12, failure_persistence: None, ..Config::default() });
    let result = runner.run(&prop::collection::vec(op(), 1..300), |ops| run(kind, &ops));
    if let Err(e) = result {
        panic!("{kind}: the engine disagrees with the model: {e}");
    }
}

#[test]
fn model_skiplist() {
    check(MemtableKind::SkipList);
}

#[test]
fn model_enhanced_skiplist() {
    check(MemtableKind::EnhancedSkipList);
}

#[test]
fn model_vector() {
    check(MemtableKind::Vector);
}

#[test]
fn model_hash_linked_list() {
    check(MemtableKind::HashLinkedList);
}
