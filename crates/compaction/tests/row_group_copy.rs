//! Merges that copy whole row groups (`ExecContext::copy_row_groups`) against merges that
//! rewrite every row: the same rows in the same order, whatever the inputs hold (but for the
//! sequence numbers a bottommost rewrite sets to 0).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use strata_compaction::{CompactionOutput, CompactionTask, ExecContext, LevelState, TableId, TaskKind, execute};
use strata_core::{Bytes, Entry, KeyRange, MAX_SEQNO, MergeIter, RangeDelIndex, RangeTombstone, SeqNo, VisibleIter};
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

/// A store whose row groups hold `rows` rows, so small tables have many.
fn store(rows: usize) -> (tempfile::TempDir, ParquetStore) {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { row_group_rows: rows, page_rows: 4, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    (dir, store)
}

fn write(store: &impl SsTableStore, id: TableId, mut entries: Vec<Entry>) -> strata_sstable::TableMeta {
    entries.sort_by(Entry::cmp_internal);
    store.write_table(id, &mut entries.into_iter().map(Ok)).unwrap()
}

fn scan(store: &impl SsTableStore, id: TableId) -> Vec<Entry> {
    store.scan(id, &KeyRange::all()).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Every row of `tables`, in order.
fn rows(store: &impl SsTableStore, tables: &[TableId]) -> Vec<Entry> {
    tables.iter().flat_map(|&id| scan(store, id)).collect()
}

/// Whether `copied` holds the rows of `rewritten` in the same order. A bottommost merge writes
/// the oldest put of a key that every snapshot sees at sequence number 0 when it rewrites it;
/// a copied row group keeps its numbers: that is the one difference allowed.
fn same_rows(copied: &[Entry], rewritten: &[Entry]) -> Result<(), String> {
    if copied.len() != rewritten.len() {
        return Err(format!("{} rows copied against {} rewritten", copied.len(), rewritten.len()));
    }
    for (c, r) in copied.iter().zip(rewritten) {
        let same = c.key == r.key && c.kind == r.kind && c.value == r.value && (c.seq == r.seq || r.seq == 0);
        if !same {
            return Err(format!("copied {c:?}, rewritten {r:?}"));
        }
    }
    Ok(())
}

/// What a reader at `snapshot` sees over `tables` (newest first), range tombstones applied.
fn view(store: &impl SsTableStore, tables: &[TableId], snapshot: SeqNo) -> BTreeMap<Bytes, Bytes> {
    let all: Vec<Vec<Entry>> = tables.iter().map(|&id| scan(store, id)).collect();
    let index = RangeDelIndex::new(all.iter().flatten().filter_map(RangeTombstone::from_entry));
    let sources = all.into_iter().map(|s| s.into_iter().map(Ok::<_, std::convert::Infallible>)).collect();
    VisibleIter::new(MergeIter::new(sources), snapshot)
        .map(|e| e.unwrap())
        .filter(|e| !index.deletes(&e.key, e.seq, snapshot))
        .map(|e| (e.key, e.value))
        .collect()
}

/// How a merge runs, but for copying.
struct Setup<'a> {
    snapshots: &'a [SeqNo],
    bottommost: bool,
    subcompactions: usize,
    next: &'a AtomicU64,
}

fn run(
    store: &ParquetStore,
    task: &CompactionTask,
    state: &LevelState,
    setup: &Setup<'_>,
    copy: bool,
) -> CompactionOutput {
    let ctx = ExecContext {
        snapshots: setup.snapshots,
        bottommost: setup.bottommost,
        next_table_id: &|| setup.next.fetch_add(1, Ordering::SeqCst),
        rate_limiter: None,
        max_subcompactions: setup.subcompactions,
        copy_row_groups: copy,
        zero_seqs_below: SeqNo::MAX,
    };
    execute(store, task, state, &ctx).unwrap()
}

fn outputs(out: &CompactionOutput) -> Vec<TableId> {
    out.added.iter().map(|(_, m)| m.id).collect()
}

/// An L0 table over a narrow key range on top of an L1 table of 1,000 keys in row groups of
/// 50: the row groups the L0 table does not reach are copied, the rest rewritten, and the
/// outputs hold exactly what rewriting everything writes. Reopened from disk, the copied
/// tables pass every check of a table open and answer lookups through their copied filters.
#[test]
fn row_groups_nothing_else_touches_are_copied() {
    let (dir, store) = store(50);
    let key = |k: u32| format!("key{k:05}");
    let l1 = write(&store, 1, (0..1000).map(|k| Entry::put(key(k), u64::from(k) + 1, vec![b'v'; 64])).collect());
    let l0 = write(&store, 2, (510..530).map(|k| Entry::put(key(k), 5000 + u64::from(k), "new")).collect());
    let state = LevelState { levels: vec![vec![l0], vec![l1]], ..Default::default() };
    let task = CompactionTask {
        kind: TaskKind::Merge,
        inputs: vec![(0, vec![2]), (1, vec![1])],
        output_level: 1,
        target_table_size: 40_000,
        reason: "test".into(),
    };
    let next = AtomicU64::new(100);
    let setup = Setup { snapshots: &[], bottommost: true, subcompactions: 1, next: &next };
    let copied = run(&store, &task, &state, &setup, true);
    let rewritten = run(&store, &task, &state, &setup, false);
    // Row group 10 (keys 500..549) is the only one the L0 table reaches.
    assert_eq!(copied.rows_copied, 950, "{copied:?}");
    assert_eq!(copied.rows_rewritten, 50);
    assert_eq!((rewritten.rows_copied, rewritten.rows_rewritten), (0, 1000));
    same_rows(&rows(&store, &outputs(&copied)), &rows(&store, &outputs(&rewritten))).unwrap();
    assert!(copied.added.len() > 1, "outputs are still cut by size");
    for w in copied.added.windows(2) {
        assert!(w[0].1.max_key < w[1].1.min_key);
    }
    assert_eq!(
        copied.added.iter().map(|(_, m)| m.entries).sum::<u64>(),
        rewritten.added.iter().map(|(_, m)| m.entries).sum::<u64>()
    );
    // A fresh store opens every output from disk (footer, section and block checksums).
    let reopened = ParquetStore::open(dir.path(), ParquetOptions::default()).unwrap();
    for (_, meta) in &copied.added {
        assert_eq!(&reopened.open(meta.id).unwrap(), meta);
    }
    for k in (0..1000).step_by(13) {
        let table = copied.added.iter().find(|(_, m)| m.min_key <= key(k) && key(k).as_bytes() <= &m.max_key[..]);
        let (_, meta) = table.expect("some output holds the key");
        let found = reopened.get(meta.id, key(k).as_bytes(), MAX_SEQNO).unwrap().expect("the key is found");
        // The row group the merge rewrote (keys 500..549) holds its one version of each key
        // at sequence number 0 (every reader sees it); copied row groups keep their numbers.
        let want = if (500..550).contains(&k) { 0 } else { u64::from(k) + 1 };
        assert_eq!(found.seq, want, "{}", key(k));
    }
    assert_eq!(view(&store, &outputs(&copied), MAX_SEQNO), view(&store, &[2, 1], MAX_SEQNO));
}

/// A row group with two versions of a key, or a tombstone, is rewritten (the merge may drop
/// something there); so is one under a range tombstone of another input.
#[test]
fn row_groups_with_something_to_drop_are_rewritten() {
    let (_dir, store) = store(10);
    let key = |k: u32| format!("key{k:05}");
    let mut entries: Vec<Entry> = (0..100).map(|k| Entry::put(key(k), u64::from(k) + 10, "v")).collect();
    entries.push(Entry::put(key(15), 1, "old")); // row group 1 holds two versions of key 15
    entries.push(Entry::delete(key(100), 200)); // the last row group holds a tombstone
    let l1 = write(&store, 1, entries);
    // Another input: a range tombstone over keys 40..45 and nothing else nearby.
    let l0 = write(&store, 2, vec![Entry::range_delete(key(40), key(45), 300)]);
    let state = LevelState { levels: vec![vec![l0], vec![l1]], ..Default::default() };
    let task = CompactionTask {
        kind: TaskKind::Merge,
        inputs: vec![(0, vec![2]), (1, vec![1])],
        output_level: 1,
        target_table_size: u64::MAX,
        reason: "test".into(),
    };
    let next = AtomicU64::new(100);
    let setup = Setup { snapshots: &[], bottommost: true, subcompactions: 1, next: &next };
    let copied = run(&store, &task, &state, &setup, true);
    let rewritten = run(&store, &task, &state, &setup, false);
    let units = store.copy_units(1, 1).unwrap();
    let copyable = units.iter().filter(|u| u.holds_nothing_to_drop()).count();
    assert_eq!(units.len() - copyable, 2, "the versions and the tombstone spoil one row group each");
    // 11 row groups of the L1 table; the two spoiled ones and the one under the range
    // tombstone (keys 40..49) are rewritten.
    assert_eq!(copied.rows_copied, 80, "{copied:?}");
    same_rows(&rows(&store, &outputs(&copied)), &rows(&store, &outputs(&rewritten))).unwrap();
    assert!(scan(&store, copied.added[0].1.id).iter().all(|e| e.key != key(15) || e.seq != 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Model test: inputs of random puts, deletes, versions and range deletes, in tables of
    /// random row-group sizes, L0 tables over random narrow key ranges above an L1 table; with
    /// or without snapshots, subcompactions and older data below. Copying row groups writes
    /// exactly the rows, in the same order, that rewriting every row writes, and every
    /// snapshot's view is the inputs' view.
    #[test]
    fn copying_row_groups_writes_what_rewriting_writes(
        base in prop::collection::vec((0u16..1000, 0u8..30), 20..300),
        patches in prop::collection::vec((0u16..1000, 1u16..30, prop::collection::vec((0u16..30, 0u8..10), 1..12)), 1..3),
        rg_rows in 3usize..40,
        snaps in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        subcompactions in 1usize..3,
        below in any::<bool>(),
    ) {
        let (_dir, store) = store(rg_rows);
        let mut seq = 0u64;
        let mut entry = |k: u16, what: u8| {
            seq += 1;
            let key = format!("key{k:05}");
            match what {
                0 => Entry::delete(key, seq),
                1 => Entry::range_delete(key, format!("key{:05}", k + 3), seq),
                _ => Entry::put(key, seq, format!("v{seq}")),
            }
        };
        let older: Vec<Entry> = (0..20).map(|k| entry(k * 50, 5)).collect();
        let l1_entries: Vec<Entry> = base.iter().map(|&(k, w)| entry(k, w)).collect();
        let mut state = LevelState { levels: vec![Vec::new(), Vec::new(), Vec::new()], ..Default::default() };
        state.levels[1].push(write(&store, 1, l1_entries));
        let mut l0_ids = Vec::new();
        for (i, (start, width, ops)) in patches.iter().enumerate() {
            let es: Vec<Entry> = ops.iter().map(|&(k, w)| entry(start + k % width, w)).collect();
            let id = 10 + i as u64;
            state.levels[0].insert(0, write(&store, id, es));
            l0_ids.insert(0, id);
        }
        let mut readers: Vec<TableId> = l0_ids.clone();
        readers.push(1);
        if below {
            state.levels[2].push(write(&store, 50, older));
        }
        let task = CompactionTask {
            kind: TaskKind::Merge,
            inputs: vec![(0, l0_ids), (1, vec![1])],
            output_level: 1,
            target_table_size: 2_000,
            reason: "test".into(),
        };
        let bottommost = strata_compaction::is_bottommost(&state, &task);
        let mut snapshots: Vec<SeqNo> = snaps.iter().map(|s| s.index(seq as usize + 1) as SeqNo).collect();
        snapshots.sort_unstable();
        snapshots.dedup();
        let next = AtomicU64::new(1000);
        let setup = Setup { snapshots: &snapshots, bottommost, subcompactions, next: &next };
        let copied = run(&store, &task, &state, &setup, true);
        let rewritten = run(&store, &task, &state, &setup, false);
        let same = same_rows(&rows(&store, &outputs(&copied)), &rows(&store, &outputs(&rewritten)));
        prop_assert!(same.is_ok(), "{:?}", same);
        prop_assert_eq!(copied.rows_copied + copied.rows_rewritten, rewritten.rows_rewritten);
        prop_assert_eq!(copied.added.iter().map(|(_, m)| m.entries).sum::<u64>(), rewritten.rows_rewritten);
        for (_, m) in &copied.added {
            prop_assert_eq!(&store.open(m.id).unwrap(), m);
        }
        for w in copied.added.windows(2) {
            prop_assert!(w[0].1.max_key < w[1].1.min_key);
        }
        let (mut outs, mut rewrites) = (outputs(&copied), outputs(&rewritten));
        if below {
            readers.push(50);
            outs.push(50);
            rewrites.push(50);
        }
        for snap in snapshots.iter().copied().chain([MAX_SEQNO]) {
            let want = view(&store, &readers, snap);
            prop_assert_eq!(&view(&store, &outs, snap), &want, "snapshot {}", snap);
            prop_assert_eq!(&view(&store, &rewrites, snap), &want, "rewritten, snapshot {}", snap);
        }
    }
}

/// A row group is copied only into a level whose tables share its layout: with zstd (or
/// fewer filter bits) configured below L1, an L1 table's row groups merged into L2 are
/// rewritten, so the per-level codec and filter sizing hold for every table.
#[test]
fn row_groups_move_only_between_levels_of_one_layout() {
    use strata_bloom::FilterPolicy;
    use strata_sstable::Compression;
    let cases = [
        ParquetOptions {
            compression_per_level: vec![Compression::Lz4, Compression::Lz4, Compression::Zstd(3)],
            ..ParquetOptions::default()
        },
        ParquetOptions {
            filter_per_level: vec![
                FilterPolicy::BitsPerKey(10.0),
                FilterPolicy::BitsPerKey(10.0),
                FilterPolicy::BitsPerKey(4.0),
            ],
            ..ParquetOptions::default()
        },
    ];
    for opts in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = ParquetStore::open(dir.path(), ParquetOptions { row_group_rows: 50, ..opts }).unwrap();
        let key = |k: u32| format!("key{k:05}");
        let l1 = (0..500).map(|k| Ok(Entry::put(key(k), u64::from(k) + 1, "v")));
        let l1 = store.write_table_at(1, 1, &mut l1.into_iter()).unwrap();
        let l2 = (0..5).map(|k| Ok(Entry::put(format!("{}x", key(k)), 1000 + u64::from(k), "w")));
        let l2 = store.write_table_at(2, 2, &mut l2.into_iter()).unwrap();
        let state = LevelState { levels: vec![vec![], vec![l1], vec![l2]], ..Default::default() };
        let next = AtomicU64::new(100);
        let setup = Setup { snapshots: &[], bottommost: true, subcompactions: 1, next: &next };
        let merge = |output_level: usize, inputs: Vec<(usize, Vec<TableId>)>| CompactionTask {
            kind: TaskKind::Merge,
            inputs,
            output_level,
            target_table_size: u64::MAX,
            reason: "test".into(),
        };
        // Into L2: another layout, nothing copied.
        let down = run(&store, &merge(2, vec![(1, vec![1]), (2, vec![2])]), &state, &setup, true);
        assert_eq!((down.rows_copied, down.rows_rewritten), (0, 505));
        // Within L1's layout (a merge into L1 itself), the untouched row groups are copied.
        let state = LevelState { levels: vec![vec![], vec![store.open(1).unwrap()]], ..Default::default() };
        let same = run(&store, &merge(1, vec![(1, vec![1])]), &state, &setup, true);
        assert_eq!((same.rows_copied, same.rows_rewritten), (500, 0));
    }
}
