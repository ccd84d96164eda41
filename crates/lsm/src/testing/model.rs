//! The engine against a `BTreeMap` model, for any way of opening it (a local directory,
//! or `strata-object`'s object store): random puts, deletes, range deletes, batches, gets,
//! scans forward and in reverse, snapshot reads (checked against a copy of the model taken when the snapshot was),
//! flushes, `compact_range`, reopens, ingests of Parquet files and checkpoints (each opened
//! and compared with the model). Policies are tuned small so background compactions run
//! often and data reaches deep levels; snapshots make compaction keep old versions, and
//! tombstones must hide keys in deeper levels until they are dropped at the bottom.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::{Db, KeyRange, MemtableKind, Options, PolicyConfig, WriteBatch, WriteOptions};

/// Opens the database under test in a directory with the given options (again, for a
/// reopen).
pub type Opener<'a> = &'a dyn Fn(&Path, Options) -> crate::Result<Db>;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One step of a model run.
#[derive(Debug, Clone)]
#[allow(missing_docs, reason = "each variant is the engine call of its name")]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// `delete_range(start, end)`; with a put, one batch of the range delete then the put (a
    /// later sequence number, so visible even inside the range).
    DeleteRange(Vec<u8>, Vec<u8>, Option<(Vec<u8>, Vec<u8>)>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Get(Vec<u8>),
    Scan(Bound<Vec<u8>>, Bound<Vec<u8>>),
    TakeSnapshot,
    SnapshotGet(usize, Vec<u8>),
    SnapshotScan(usize),
    DropSnapshot(usize),
    Flush,
    CompactAll,
    CompactRange(Vec<u8>, Vec<u8>),
    Reopen,
    /// `Db::ingest` of a Parquet file holding these rows, in this order (repeats: the last
    /// row wins).
    Ingest(Vec<(Vec<u8>, Vec<u8>)>),
    /// `Db::checkpoint`, then the checkpoint opened and compared with the model.
    Checkpoint,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    (0u16..300).prop_map(|k| format!("key{k:03}").into_bytes())
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..24),
        1 => prop::collection::vec(any::<u8>(), 1_000..4_000),
    ]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![key().prop_map(Bound::Included), key().prop_map(Bound::Excluded), Just(Bound::Unbounded)]
}

/// A random step.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        12 => key().prop_map(Op::Delete),
        4 => (0u16..300, 0u16..40, prop::option::of((key(), value()))).prop_map(|(k, width, put)| {
            let end = format!("key{:03}", k + width).into_bytes();
            Op::DeleteRange(format!("key{k:03}").into_bytes(), end, put)
        }),
        5 => prop::collection::vec((key(), prop::option::of(value())), 1..8).prop_map(Op::Batch),
        16 => key().prop_map(Op::Get),
        3 => (bound(), bound()).prop_map(|(s, e)| Op::Scan(s, e)),
        2 => Just(Op::TakeSnapshot),
        5 => (any::<usize>(), key()).prop_map(|(i, k)| Op::SnapshotGet(i, k)),
        1 => any::<usize>().prop_map(Op::SnapshotScan),
        2 => any::<usize>().prop_map(Op::DropSnapshot),
        4 => Just(Op::Flush),
        2 => Just(Op::CompactAll),
        2 => (key(), key()).prop_map(|(a, b)| if a <= b { Op::CompactRange(a, b) } else { Op::CompactRange(b, a) }),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec((key(), value()), 1..60).prop_map(Op::Ingest),
        1 => Just(Op::Checkpoint),
    ]
}

/// Writes `rows` as a Parquet file with `key` and `value` binary columns.
fn write_parquet(path: &std::path::Path, rows: &[(Vec<u8>, Vec<u8>)]) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BinaryArray, RecordBatch};
    let keys: ArrayRef = Arc::new(BinaryArray::from_iter_values(rows.iter().map(|(k, _)| k)));
    let values: ArrayRef = Arc::new(BinaryArray::from_iter_values(rows.iter().map(|(_, v)| v)));
    let batch = RecordBatch::try_from_iter([("key", keys), ("value", values)]).expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// Small memtables, so flushes and compactions happen often.
#[must_use]
pub fn options(kind: MemtableKind, policy: &PolicyConfig) -> Options {
    Options { memtable_type: kind, max_memtable_size: 64 << 10, compaction: policy.clone(), ..Options::default() }
}

/// One small configuration of each compaction policy: leveled, size-tiered, FIFO, and
/// leveled with L0 merged within L0 while it is smaller than what it overlaps in L1.
#[must_use]
pub fn policies() -> Vec<PolicyConfig> {
    vec![
        PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 32 << 10,
            level_multiplier: 2,
            target_table_size: 16 << 10,
            num_levels: 5,
            intra_l0_merge: false,
        },
        PolicyConfig::SizeTiered {
            run_trigger: 3,
            size_ratio_percent: 1,
            min_merge_width: 2,
            max_merge_width: 8,
            max_size_amplification_percent: 200,
        },
        // Large enough that FIFO never drops live data, so the model still holds.
        PolicyConfig::Fifo { max_total_bytes: 1 << 40, max_age_ms: None },
        // L1's target is several flushes, so L0 is merged within itself between merges into L1.
        PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 256 << 10,
            level_multiplier: 4,
            target_table_size: 32 << 10,
            num_levels: 4,
            intra_l0_merge: true,
        },
    ]
}

fn scan_model(model: &Model, range: &KeyRange) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn reversed(mut rows: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    rows.reverse();
    rows
}

fn collect(iter: impl Iterator<Item = crate::Result<(crate::Bytes, crate::Bytes)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(|kv| {
        let (k, v) = kv.expect("scan failed");
        (k.to_vec(), v.to_vec())
    })
    .collect()
}

/// Runs `ops` on a database opened by `open` and on the model, comparing every read.
///
/// # Errors
///
/// The first disagreement.
pub fn run(kind: MemtableKind, policy: &PolicyConfig, ops: &[Op], open: Opener<'_>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = Some(open(dir.path(), options(kind, policy)).expect("open"));
    let mut model = Model::new();
    let mut snapshots: Vec<(crate::Snapshot<_, _, _>, Model)> = Vec::new();
    let side = tempfile::tempdir().expect("temp dir for inputs and checkpoints");
    for (step, op) in ops.iter().enumerate() {
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
            Op::DeleteRange(a, b, put) => {
                match put {
                    None => d.delete_range(a.clone(), b.clone()).expect("delete_range"),
                    Some((k, v)) => {
                        let mut batch = WriteBatch::new();
                        batch.delete_range(a.clone(), b.clone()).put(k.clone(), v.clone());
                        d.write(batch, WriteOptions::default()).expect("batch with a range delete");
                    }
                }
                model.retain(|k, _| k < a || k >= b);
                if let Some((k, v)) = put {
                    model.insert(k.clone(), v.clone());
                }
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
                let back = reversed(scan_model(&model, &range));
                prop_assert_eq!(collect(d.iter_rev(range.clone())), back, "reverse scan {:?}", range);
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
                let back = reversed(scan_model(seen, &KeyRange::all()));
                prop_assert_eq!(collect(snap.iter_rev(..)), back, "snapshot reverse scan");
            }
            Op::DropSnapshot(i) if !snapshots.is_empty() => {
                let n = snapshots.len();
                snapshots.remove(i % n);
            }
            Op::SnapshotGet(..) | Op::SnapshotScan(_) | Op::DropSnapshot(_) => {}
            Op::Flush => d.flush().expect("flush"),
            Op::CompactAll => d.compact_range(..).expect("compact_range(..)"),
            Op::CompactRange(a, b) => d.compact_range(a.clone()..=b.clone()).expect("compact_range"),
            Op::Ingest(rows) => {
                let path = side.path().join(format!("input{step}.parquet"));
                write_parquet(&path, rows);
                d.ingest([&path], &crate::IngestOptions::default()).expect("ingest");
                for (k, v) in rows {
                    model.insert(k.clone(), v.clone());
                }
            }
            Op::Checkpoint => {
                let dest = side.path().join(format!("checkpoint{step}"));
                d.checkpoint(&dest).expect("checkpoint");
                let cp = Db::open(&dest, options(kind, policy)).expect("open the checkpoint");
                prop_assert_eq!(collect(cp.iter(..)), scan_model(&model, &KeyRange::all()), "checkpoint scan");
                cp.close().expect("close the checkpoint");
            }
            Op::Reopen => {
                snapshots.clear();
                db.take().expect("open").close().expect("close");
                db = Some(open(dir.path(), options(kind, policy)).expect("reopen"));
            }
        }
    }
    let d = db.as_ref().expect("open");
    prop_assert_eq!(collect(d.iter(..)), scan_model(&model, &KeyRange::all()), "final scan");
    let back = reversed(scan_model(&model, &KeyRange::all()));
    prop_assert_eq!(collect(d.iter_rev(..)), back, "final reverse scan");
    let report = d.verify(&crate::VerifyOptions::default());
    prop_assert!(report.is_ok(), "verify after the steps: {:?}", report.problems);
    d.compact_range(..).expect("final compaction");
    prop_assert_eq!(collect(d.iter(..)), scan_model(&model, &KeyRange::all()), "scan after a full compaction");
    let back = reversed(scan_model(&model, &KeyRange::all()));
    prop_assert_eq!(collect(d.iter_rev(..)), back, "reverse scan after a full compaction");
    let report = d.verify(&crate::VerifyOptions::default());
    prop_assert!(report.is_ok(), "verify after a full compaction: {:?}", report.problems);
    snapshots.clear();
    db.take().expect("open").close().expect("close");
    let d = open(dir.path(), options(kind, policy)).expect("final reopen");
    prop_assert_eq!(collect(d.iter(..)), scan_model(&model, &KeyRange::all()), "scan after the final reopen");
    Ok(())
}

/// Runs random op sequences (10 cases, or `STRATA_MODEL_CASES`) and panics on the first
/// disagreement with the model.
pub fn check(kind: MemtableKind, policy: &PolicyConfig, open: Opener<'_>) {
    // STRATA_MODEL_CASES raises the case count for a longer local hunt.
    let cases = std::env::var("STRATA_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&prop::collection::vec(op(), 1..400), |ops| run(kind, policy, &ops, open));
    if let Err(e) = result {
        panic!("{kind} with {policy:?}: the engine disagrees with the model: {e}");
    }
}
