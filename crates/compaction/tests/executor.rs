//! The executor against a real Parquet store: merges keep exactly what readers can see, split
//! outputs without overlap, move and drop without I/O, and leave nothing behind on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use proptest::prelude::*;
use strata_compaction::{
    CompactionTask, Error, ExecContext, LevelState, TableId, TableMeta, TaskKind, execute, is_bottommost,
};
use strata_core::{Bytes, Entry, KeyRange, MAX_SEQNO, MergeIter, SeqNo, ValueKind, VisibleIter};
use strata_sstable::testing::SilentFaults;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore, StoreStats};

fn store() -> (tempfile::TempDir, ParquetStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStore::open(dir.path(), ParquetOptions::default()).unwrap();
    (dir, store)
}

fn write(store: &impl SsTableStore, id: TableId, mut entries: Vec<Entry>) -> TableMeta {
    entries.sort_by(Entry::cmp_internal);
    store.write_table(id, &mut entries.into_iter().map(Ok)).unwrap()
}

fn scan(store: &impl SsTableStore, id: TableId) -> Vec<Entry> {
    store.scan(id, &KeyRange::all()).unwrap().collect::<Result<_, _>>().unwrap()
}

fn merge_task(inputs: Vec<(usize, Vec<TableId>)>, output_level: usize, target: u64) -> CompactionTask {
    CompactionTask { kind: TaskKind::Merge, inputs, output_level, target_table_size: target, reason: "test".into() }
}

/// Runs `task` as a bottommost merge with `snapshots`, numbering output tables from `next`.
fn execute_bottommost<S: SsTableStore>(
    store: &S,
    task: &CompactionTask,
    state: &LevelState,
    snapshots: &[SeqNo],
    next: &AtomicU64,
    max_subcompactions: usize,
) -> Result<strata_compaction::CompactionOutput, Error> {
    let ctx = ExecContext {
        snapshots,
        bottommost: true,
        next_table_id: &|| next.fetch_add(1, Ordering::SeqCst),
        rate_limiter: None,
        max_subcompactions,
        copy_row_groups: true,
        zero_seqs_below: SeqNo::MAX,
    };
    execute(store, task, state, &ctx)
}

/// What a reader at `snapshot` sees over `tables`, newest first: key -> value.
fn view(store: &impl SsTableStore, tables: &[TableId], snapshot: SeqNo) -> BTreeMap<Bytes, Bytes> {
    let sources: Vec<_> = tables.iter().map(|&id| store.scan(id, &KeyRange::all()).unwrap()).collect();
    VisibleIter::new(MergeIter::new(sources), snapshot).map(|e| e.unwrap()).map(|e| (e.key, e.value)).collect()
}

#[test]
fn merge_splits_outputs_by_size_at_key_boundaries() {
    let (_dir, store) = store();
    // Three overlapping L0 tables, each with 200 keys; every key has versions in all three.
    let mut state = LevelState { levels: vec![Vec::new(), Vec::new()], ..Default::default() };
    for t in 0..3u64 {
        let entries = (0..200u64).map(|k| Entry::put(format!("key{k:04}"), t * 1000 + k, vec![b'v'; 100])).collect();
        state.levels[0].insert(0, write(&store, t + 1, entries));
    }
    let task = merge_task(vec![(0, vec![3, 2, 1])], 1, 4096);
    let next = AtomicU64::new(100);
    // A snapshot between the second and third table keeps two versions of every key.
    let out = execute_bottommost(&store, &task, &state, &[1500], &next, 1).unwrap();
    assert_eq!(out.removed, vec![(0, 3), (0, 2), (0, 1)]);
    assert!(out.added.len() > 5, "expected several outputs, got {}", out.added.len());
    assert!(out.added.iter().all(|(level, _)| *level == 1));
    assert_eq!(out.bytes_read, state.levels[0].iter().map(|t| t.file_size).sum::<u64>());
    assert_eq!(out.bytes_written, out.added.iter().map(|(_, m)| m.file_size).sum::<u64>());
    for w in out.added.windows(2) {
        assert!(w[0].1.max_key < w[1].1.min_key, "outputs overlap: {:?} / {:?}", w[0].1, w[1].1);
    }
    // Each key keeps its newest version and the one the snapshot sees, which every snapshot
    // sees and so is written at sequence number 0 (a bottommost merge into L1).
    let mut all = Vec::new();
    for (_, meta) in &out.added {
        all.extend(scan(&store, meta.id));
    }
    let want: Vec<(String, u64)> =
        (0..200u64).flat_map(|k| [(format!("key{k:04}"), 2000 + k), (format!("key{k:04}"), 0)]).collect();
    let got: Vec<(String, u64)> = all.iter().map(|e| (String::from_utf8(e.key.to_vec()).unwrap(), e.seq)).collect();
    assert_eq!(got, want, "a version no reader sees was kept, or a kept one lost its place");
    // Input files are the engine's to delete.
    for id in 1..=3 {
        store.open(id).unwrap();
    }
}

#[test]
fn tombstones_stay_unless_bottommost() {
    let (_dir, store) = store();
    let upper = write(&store, 1, vec![Entry::delete("a", 10), Entry::put("b", 11, "b")]);
    let lower = write(&store, 2, vec![Entry::put("a", 1, "a")]);
    let state = LevelState { levels: vec![vec![], vec![upper], vec![lower]], ..Default::default() };
    let task = merge_task(vec![(1, vec![1])], 2, u64::MAX);
    // Table 2 holds older data for "a" under the inputs.
    assert!(!is_bottommost(&state, &CompactionTask { inputs: vec![(1, vec![1])], ..task.clone() }));
    let both = merge_task(vec![(1, vec![1]), (2, vec![2])], 2, u64::MAX);
    assert!(is_bottommost(&state, &both));
    let next = AtomicU64::new(10);
    let ids = || next.fetch_add(1, Ordering::SeqCst);
    let ctx = ExecContext {
        snapshots: &[],
        bottommost: false,
        next_table_id: &ids,
        rate_limiter: None,
        max_subcompactions: 1,
        copy_row_groups: true,
        zero_seqs_below: SeqNo::MAX,
    };
    let kept = execute(&store, &task, &state, &ctx).unwrap();
    assert_eq!(scan(&store, kept.added[0].1.id).len(), 2);
    let ctx = ExecContext {
        snapshots: &[],
        bottommost: true,
        next_table_id: &ids,
        rate_limiter: None,
        max_subcompactions: 1,
        copy_row_groups: true,
        zero_seqs_below: SeqNo::MAX,
    };
    let gone = execute(&store, &both, &state, &ctx).unwrap();
    // The one version left, which every reader sees, at sequence number 0.
    assert_eq!(scan(&store, gone.added[0].1.id), [Entry::put("b", 0, "b")]);
}

#[test]
fn move_and_drop_do_no_data_io() {
    let (_dir, store) = store();
    let t = write(&store, 1, vec![Entry::put("a", 1, "x")]);
    let state = LevelState { levels: vec![vec![t], vec![]], ..Default::default() };
    let ctx = ExecContext {
        snapshots: &[],
        bottommost: false,
        next_table_id: &|| unreachable!("no table is written"),
        rate_limiter: None,
        max_subcompactions: 1,
        copy_row_groups: true,
        zero_seqs_below: SeqNo::MAX,
    };
    let before = store.stats();
    let moved = CompactionTask { kind: TaskKind::Move, ..merge_task(vec![(0, vec![1])], 1, 1) };
    let out = execute(&store, &moved, &state, &ctx).unwrap();
    assert_eq!(out.removed, vec![(0, 1)]);
    assert_eq!(out.added, vec![(1, store.open(1).unwrap())]);
    let dropped = CompactionTask { kind: TaskKind::Drop, ..merge_task(vec![(0, vec![1])], 0, 0) };
    let out = execute(&store, &dropped, &state, &ctx).unwrap();
    assert_eq!((out.removed, out.added.len(), out.bytes_written), (vec![(0, 1)], 0, 0));
    assert_eq!(store.stats().tables_written, before.tables_written);
    store.open(1).expect("a dropped table's file is deleted by the engine, later");
}

#[test]
fn bad_tasks_are_rejected_before_any_io() {
    let (_dir, store) = store();
    let t = write(&store, 1, vec![Entry::put("a", 1, "x")]);
    let state = LevelState { levels: vec![vec![t], vec![]], ..Default::default() };
    let ctx = ExecContext {
        snapshots: &[],
        bottommost: false,
        next_table_id: &|| 99,
        rate_limiter: None,
        max_subcompactions: 1,
        copy_row_groups: true,
        zero_seqs_below: SeqNo::MAX,
    };
    let err = execute(&store, &merge_task(vec![(1, vec![1])], 1, 10), &state, &ctx).unwrap_err();
    assert!(matches!(err, Error::TableNotInState { id: 1, level: 1 }), "{err}");
    let err = execute(&store, &merge_task(vec![(0, vec![1, 1])], 1, 10), &state, &ctx).unwrap_err();
    assert!(matches!(err, Error::InvalidTask { .. }), "{err}");
    let err = execute(&store, &merge_task(vec![], 1, 10), &state, &ctx).unwrap_err();
    assert!(matches!(err, Error::InvalidTask { .. }), "{err}");
}

/// A store whose `write_table` fails on the `fail_at`-th call (never for 0), after consuming
/// some entries, and that counts scans.
struct FailingStore {
    inner: ParquetStore,
    writes: AtomicUsize,
    fail_at: usize,
    scans: AtomicUsize,
}

impl FailingStore {
    fn new(inner: ParquetStore, fail_at: usize) -> Self {
        Self { inner, writes: AtomicUsize::new(0), fail_at, scans: AtomicUsize::new(0) }
    }
}

impl SsTableStore for FailingStore {
    type Scan = <ParquetStore as SsTableStore>::Scan;

    fn write_table(
        &self,
        id: TableId,
        entries: &mut dyn Iterator<Item = strata_sstable::Result<Entry>>,
    ) -> strata_sstable::Result<TableMeta> {
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            let _ = entries.take(3).count();
            return Err(strata_sstable::Error::Io {
                file: format!("{id}.parquet").into(),
                source: std::io::Error::other("disk full"),
            });
        }
        self.inner.write_table(id, entries)
    }
    fn open(&self, id: TableId) -> strata_sstable::Result<TableMeta> {
        self.inner.open(id)
    }
    fn get(&self, id: TableId, key: &[u8], s: SeqNo) -> strata_sstable::Result<Option<strata_core::VersionedValue>> {
        self.inner.get(id, key, s)
    }
    fn scan(&self, id: TableId, range: &KeyRange) -> strata_sstable::Result<Self::Scan> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        self.inner.scan(id, range)
    }
    fn split_keys(&self, id: TableId, parts: usize) -> strata_sstable::Result<Vec<Bytes>> {
        self.inner.split_keys(id, parts)
    }
    fn delete(&self, id: TableId) -> strata_sstable::Result<()> {
        self.inner.delete(id)
    }
    fn list_tables(&self) -> strata_sstable::Result<Vec<TableId>> {
        SsTableStore::list_tables(&self.inner)
    }
    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
}

#[test]
fn a_failed_write_leaves_no_output_behind() {
    let (_dir, inner) = store();
    let entries = (0..300u64).map(|k| Entry::put(format!("k{k:04}"), k + 1, vec![b'x'; 64])).collect();
    let t = write(&inner, 1, entries);
    let state = LevelState { levels: vec![vec![t], vec![]], ..Default::default() };
    let store = FailingStore::new(inner, 3);
    let next = AtomicU64::new(10);
    let err = execute_bottommost(&store, &merge_task(vec![(0, vec![1])], 1, 4096), &state, &[], &next, 1).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    for id in 10..next.load(Ordering::SeqCst) {
        assert!(store.open(id).is_err(), "table {id} of the failed task is still there");
    }
    store.open(1).expect("the input is untouched");
}

#[test]
fn a_merge_that_takes_fewer_rows_than_an_input_holds_fails_as_corruption_naming_it() {
    let (_dir, inner) = store();
    let a = write(&inner, 1, (0..300u64).map(|k| Entry::put(format!("k{k:04}"), k + 1, vec![b'x'; 64])).collect());
    let b = write(&inner, 2, (0..50u64).map(|k| Entry::put(format!("k{:04}", k * 6), 400 + k, "new")).collect());
    let path = inner.table_path(1);
    let state = LevelState { levels: vec![vec![b], vec![a]], ..Default::default() };
    // Table 2's 50 rows all come through; table 1's scan stops at 120 of 300.
    let store = SilentFaults { scan_rows: 120, ..SilentFaults::new(inner) };
    let next = AtomicU64::new(10);
    let task = merge_task(vec![(0, vec![2]), (1, vec![1])], 1, 4096);
    let err = execute_bottommost(&store, &task, &state, &[], &next, 1).unwrap_err();
    match &err {
        Error::Store(strata_sstable::Error::Corruption { file, reason }) => {
            assert_eq!(file, &path, "{err}");
            assert!(reason.contains("a compaction took 120 rows of this table, which holds 300"), "{reason}");
        }
        other => panic!("expected corruption naming table 1, got {other:?}"),
    }
    for id in 10..next.load(Ordering::SeqCst) {
        assert!(store.open(id).is_err(), "table {id} of the failed task is still there");
    }
    assert_eq!(scan(&store.inner, 1).len(), 300, "the input is untouched");
    // With every row coming through, the same merge succeeds.
    let whole = SilentFaults::new(store.inner);
    execute_bottommost(&whole, &task, &state, &[], &next, 2).expect("a merge that takes every row");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Model test: a merge of two L0 tables and an L1 table, with or without older data
    /// below, read at the newest sequence number and at every live snapshot, answers as the
    /// inputs did.
    #[test]
    fn merged_tables_answer_as_the_inputs_did(
        ops in prop::collection::vec((0u8..8, prop::bool::weighted(0.3)), 3..60),
        cuts in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        below in prop::collection::vec(0u8..8, 0..6),
        snaps in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        target in 20u64..400,
        subcompactions in 1usize..4,
    ) {
        let (_dir, store) = store();
        let entry = |key: u8, seq: SeqNo, del: bool| {
            let key = vec![b'a' + key];
            if del { Entry::delete(key, seq) } else { Entry::put(key, seq, format!("v{seq}")) }
        };
        let base = below.len() as u64;
        let log: Vec<Entry> = ops.iter().enumerate().map(|(i, &(k, del))| entry(k, base + i as u64 + 1, del)).collect();
        let (mut a, mut b) = (cuts.0.index(log.len()), cuts.1.index(log.len()));
        if a > b { std::mem::swap(&mut a, &mut b); }
        let mut state = LevelState { levels: vec![Vec::new(); 3], ..Default::default() };
        let mut inputs = vec![(1, Vec::new()), (0, Vec::new())];
        let mut next_input = 1;
        // Oldest segment in L1, the two newer ones in L0 (newest first).
        for (level, seg) in [(1, &log[..a]), (0, &log[a..b]), (0, &log[b..])] {
            if seg.is_empty() { continue; }
            let t = write(&store, next_input, seg.to_vec());
            if level == 0 { state.levels[0].insert(0, t); } else { state.levels[1].push(t); }
            inputs[usize::from(level == 0)].1.insert(0, next_input);
            next_input += 1;
        }
        inputs.retain(|(_, ids)| !ids.is_empty());
        inputs.reverse();
        let mut readers: Vec<TableId> = state.levels[0].iter().chain(&state.levels[1]).map(|t| t.id).collect();
        if !below.is_empty() {
            let older = below.iter().enumerate().map(|(i, &k)| entry(k, i as u64 + 1, false)).collect();
            state.levels[2].push(write(&store, 50, older));
        }
        let task = merge_task(inputs, 1, target);
        let bottommost = is_bottommost(&state, &task);
        // With older data below, `is_bottommost` decides from key ranges; the views below
        // check that it never lets a tombstone go that still hides something.
        prop_assert!(bottommost || !below.is_empty());
        let max_seq = base + ops.len() as u64;
        let mut snapshots: Vec<SeqNo> = snaps.iter().map(|s| s.index(max_seq as usize + 1) as SeqNo).collect();
        snapshots.sort_unstable();
        let next = AtomicU64::new(100);
        let ctx = ExecContext { snapshots: &snapshots, bottommost, next_table_id: &|| next.fetch_add(1, Ordering::SeqCst), rate_limiter: None, max_subcompactions: subcompactions, copy_row_groups: true, zero_seqs_below: SeqNo::MAX };
        let out = execute(&store, &task, &state, &ctx).unwrap();
        let mut outputs: Vec<TableId> = out.added.iter().map(|(_, m)| m.id).collect();
        for w in out.added.windows(2) {
            prop_assert!(w[0].1.max_key < w[1].1.min_key);
        }
        if !below.is_empty() {
            readers.push(50);
            outputs.push(50);
        }
        for snap in snapshots.iter().copied().chain([MAX_SEQNO]) {
            prop_assert_eq!(view(&store, &outputs, snap), view(&store, &readers, snap), "snapshot {}", snap);
        }
        if bottommost && snapshots.is_empty() {
            for (_, m) in &out.added {
                prop_assert!(scan(&store, m.id).iter().all(|e| e.kind == ValueKind::Put));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// A merge split into subcompactions writes tables that answer exactly as one merge's do,
    /// in key order, without overlap: with L1 in four tables (first keys to cut at), and with
    /// two L0 tables over the whole key space (cut only at the store's split keys).
    #[test]
    fn subcompactions_answer_as_one_merge_does(
        ops in prop::collection::vec((0u16..400, prop::bool::weighted(0.2)), 50..400),
        snaps in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        subcompactions in 2usize..5,
        all_in_l0 in any::<bool>(),
    ) {
        let (_dir, store) = store();
        let entry = |key: u16, seq: SeqNo, del: bool| {
            let key = format!("key{key:05}");
            if del { Entry::delete(key, seq) } else { Entry::put(key, seq, format!("v{seq}")) }
        };
        let log: Vec<Entry> = ops.iter().enumerate().map(|(i, &(k, del))| entry(k, i as u64 + 1, del)).collect();
        let half = log.len() / 2;
        // The older half in L1 as four tables of disjoint key ranges, the newer half in L0.
        let mut state = LevelState { levels: vec![Vec::new(); 2], ..Default::default() };
        let mut l1_ids = Vec::new();
        for (i, part) in (0u16..4).map(|q| (q * 100, q * 100 + 100)).enumerate().filter(|_| !all_in_l0) {
            let seg: Vec<Entry> = log[..half].iter().filter(|e| {
                let k: u16 = std::str::from_utf8(&e.key[3..]).unwrap().parse().unwrap();
                (part.0..part.1).contains(&k)
            }).cloned().collect();
            if seg.is_empty() { continue; }
            let id = 10 + i as u64;
            state.levels[1].push(write(&store, id, seg));
            l1_ids.push(id);
        }
        state.levels[0].push(write(&store, 1, log[half..].to_vec()));
        let mut l0_ids = vec![1];
        if all_in_l0 && half > 0 {
            // Newest first, as L0 is ordered.
            state.levels[0].push(write(&store, 2, log[..half].to_vec()));
            l0_ids.push(2);
        }
        let mut inputs = vec![(0, l0_ids.clone())];
        if !l1_ids.is_empty() {
            inputs.push((1, l1_ids.clone()));
        }
        let task = merge_task(inputs, 1, 256);
        let mut snapshots: Vec<SeqNo> = snaps.iter().map(|s| s.index(log.len() + 1) as SeqNo).collect();
        snapshots.sort_unstable();
        let next = AtomicU64::new(1000);
        let run = |subs: usize| execute_bottommost(&store, &task, &state, &snapshots, &next, subs).unwrap();
        let (one, split) = (run(1), run(subcompactions));
        for out in [&one, &split] {
            for w in out.added.windows(2) {
                prop_assert!(w[0].1.max_key < w[1].1.min_key, "outputs in key order without overlap");
            }
        }
        let ids = |out: &strata_compaction::CompactionOutput| out.added.iter().map(|(_, m)| m.id).collect::<Vec<_>>();
        let mut inputs = l0_ids.clone();
        inputs.extend(&l1_ids);
        for snap in snapshots.iter().copied().chain([MAX_SEQNO]) {
            let want = view(&store, &inputs, snap);
            prop_assert_eq!(&view(&store, &ids(&one), snap), &want, "one merge, snapshot {}", snap);
            prop_assert_eq!(&view(&store, &ids(&split), snap), &want, "{} subcompactions, snapshot {}", subcompactions, snap);
        }
        let entries = |out: &strata_compaction::CompactionOutput| out.added.iter().map(|(_, m)| m.entries).sum::<u64>();
        prop_assert_eq!(entries(&one), entries(&split), "the same versions kept");
    }
}

/// L0 tables of random keys all span the whole key space, so no table's first key is a place
/// to cut; the store's split keys are, and the merge runs as two subcompactions of about
/// equal size that each scan every input once.
#[test]
fn tables_over_the_whole_key_space_are_split_at_the_stores_split_keys() {
    let (_dir, inner) = store();
    let store = FailingStore::new(inner, 0);
    let table = |id: TableId, salt: u64| {
        let mut keys: Vec<u64> = (0..20_000u64).map(|i| (i * 7_919 + salt * 104_729) % 1_000_003).collect();
        keys.sort_unstable();
        keys.dedup();
        let entries = keys
            .iter()
            .map(|&k| Entry::put(format!("k{k:08}"), salt * 100_000 + 1, format!("{:0>100}", k * salt)))
            .collect();
        write(&store, id, entries)
    };
    let state = LevelState { levels: vec![vec![table(2, 2), table(1, 1)], vec![]], ..Default::default() };
    assert!(state.levels[0].iter().all(|t| t.min_key.as_ref() < b"k00001000".as_slice()));
    let next = AtomicU64::new(10);
    // Output tables of 64 KiB: the merge is worth splitting (at least 256 KiB of input).
    let task = merge_task(vec![(0, vec![2, 1])], 1, 64 << 10);
    let out = execute_bottommost(&store, &task, &state, &[], &next, 2).unwrap();
    assert_eq!(store.scans.load(Ordering::SeqCst), 4, "two ranges, each scanning both inputs");
    assert!(out.added.windows(2).all(|w| w[0].1.max_key < w[1].1.min_key), "outputs in key order");
    let want = view(&store, &[2, 1], MAX_SEQNO);
    let ids: Vec<TableId> = out.added.iter().map(|(_, m)| m.id).collect();
    assert_eq!(view(&store, &ids, MAX_SEQNO), want);
}

/// A task asking for one output table (a sorted run of L0, `target_table_size` `u64::MAX`)
/// gets one, however many subcompactions are allowed: a policy counts L0 runs by tables.
#[test]
fn a_task_for_one_output_table_is_not_split() {
    let (_dir, inner) = store();
    let store = FailingStore::new(inner, 0);
    let table = |id: TableId, salt: u64| {
        let entries = (0..20_000u64)
            .map(|i| (i * 7_919 + salt * 104_729) % 1_000_003)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|k| Entry::put(format!("k{k:08}"), salt * 100_000 + 1, format!("{:0>100}", k * salt)))
            .collect();
        write(&store, id, entries)
    };
    let state = LevelState { levels: vec![vec![table(2, 2), table(1, 1)], vec![]], ..Default::default() };
    let next = AtomicU64::new(10);
    let task = merge_task(vec![(0, vec![2, 1])], 0, u64::MAX);
    let ctx = ExecContext {
        snapshots: &[],
        bottommost: false,
        next_table_id: &|| next.fetch_add(1, Ordering::SeqCst),
        rate_limiter: None,
        max_subcompactions: 4,
        copy_row_groups: true,
        zero_seqs_below: SeqNo::MAX,
    };
    let out = execute(&store, &task, &state, &ctx).unwrap();
    assert_eq!(store.scans.load(Ordering::SeqCst), 2, "one range scanning each input once");
    assert_eq!(out.added.len(), 1);
    assert_eq!(out.added[0].0, 0);
    assert_eq!(view(&store, &[out.added[0].1.id], MAX_SEQNO), view(&store, &[2, 1], MAX_SEQNO));
}

/// Outputs end where the tables of the level below the output begin once they are half full,
/// so that pushing one of them down later rewrites only the tables below inside its range.
#[test]
fn outputs_end_where_the_tables_below_begin() {
    let (_dir, store) = store();
    let key = |k: u64| format!("key{k:04}");
    let entry = |k: u64| Entry::put(key(k), k + 1, vec![b'v'; 100]);
    // Two interleaved inputs, so no row group of either is copied whole.
    let inputs = [
        write(&store, 1, (0..1000).step_by(2).map(entry).collect()),
        write(&store, 2, (1..1000).step_by(2).map(entry).collect()),
    ];
    // L2 tables start at key0100, key0200, ... key0900; 100 entries fill 0.7 of a target.
    let below: Vec<TableMeta> = (1..10u64).map(|i| write(&store, 100 + i, vec![entry(i * 100)])).collect();
    let target = entry(0).charged_len() * 100 * 10 / 7;
    let run = |below: Vec<TableMeta>, next: u64| {
        let state = LevelState { levels: vec![inputs.to_vec(), vec![], below], ..Default::default() };
        let task = merge_task(vec![(0, vec![1, 2])], 1, target);
        let next = AtomicU64::new(next);
        let out = execute_bottommost(&store, &task, &state, &[], &next, 1).unwrap();
        let ranges: Vec<(String, String)> = out
            .added
            .iter()
            .map(|(_, m)| {
                (String::from_utf8(m.min_key.to_vec()).unwrap(), String::from_utf8(m.max_key.to_vec()).unwrap())
            })
            .collect();
        let ids: Vec<TableId> = out.added.iter().map(|(_, m)| m.id).collect();
        assert_eq!(view(&store, &ids, MAX_SEQNO), view(&store, &[1, 2], MAX_SEQNO));
        ranges
    };
    let aligned = run(below, 200);
    let want: Vec<(String, String)> = (0..10u64).map(|i| (key(i * 100), key(i * 100 + 99))).collect();
    assert_eq!(aligned, want, "one output per table below");
    // With nothing below, outputs are cut at the target: about 142 entries each.
    let by_size = run(Vec::new(), 300);
    assert_eq!(by_size.len(), 7, "{by_size:?}");
    assert_eq!(by_size[1].0, key(143), "{by_size:?}");
}
