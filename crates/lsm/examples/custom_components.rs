//! Plugging your own memtable, table store and compaction policy into Strata through the
//! generics.
//!
//! Run with `cargo run -p strata --example custom_components`.
//!
//! The table store keeps its tables in memory (a real one would write files or objects);
//! it depends only on the table-store contract, which `strata-sstable` offers without
//! arrow and parquet when its default feature `parquet` is off.
//!
//! The memtable here is a `BTreeMap` behind a reader-writer lock; it streams ordered
//! ranges through `ChunkedIter`, which copies a chunk at a time so an iterator never holds
//! the lock between calls. The policy keeps a single level of sorted runs and merges all of
//! them once there are more than four. Each runs its crate's conformance suite in
//! `main` (`strata_memtable::testing::conformance`, `strata_sstable::testing::conformance`,
//! `strata_compaction::testing::conformance`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "an example: failures end it with a message")]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use strata::{Components, Db, Options, StdFs};
use strata_compaction::{CompactionPolicy, CompactionTask, LevelState, TaskKind};
use strata_core::{Bytes, Entry, KeyRange, RangeTombstone, SeqNo, ValueKind, VersionedValue, compare_internal};
use strata_memtable::{ChunkSource, ChunkedIter, Memtable};
use strata_sstable::{SsTableStore, StoreStats, TableId, TableMeta};

/// Versions keyed by (user key, reversed sequence), so a key's newest version comes first.
type Versions = BTreeMap<(Vec<u8>, std::cmp::Reverse<SeqNo>), (ValueKind, Vec<u8>)>;

/// A memtable on `std::collections::BTreeMap`.
#[derive(Default)]
struct BTreeMemtable {
    map: RwLock<Versions>,
    bytes: AtomicUsize,
}

impl Memtable for BTreeMemtable {
    type Iter<'a> = ChunkedIter<'a, Self>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        // A rough per-entry cost: the payload plus B-tree node overhead.
        self.bytes.fetch_add(key.len() + value.len() + 64, Ordering::Relaxed);
        self.map.write().unwrap().insert((key.to_vec(), std::cmp::Reverse(seq)), (kind, value.to_vec()));
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let map = self.map.read().unwrap();
        let ((k, std::cmp::Reverse(seq)), (kind, value)) =
            map.range((key.to_vec(), std::cmp::Reverse(snapshot))..).next()?;
        (k == key).then(|| VersionedValue { seq: *seq, kind: *kind, value: Bytes::copy_from_slice(value) })
    }

    fn range(&self, range: &KeyRange) -> ChunkedIter<'_, Self> {
        ChunkedIter::new(self, range)
    }

    fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }

    fn approximate_memory_usage(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        false
    }
}

impl ChunkSource for BTreeMemtable {
    fn fill_chunk(&self, range: &KeyRange, after: Option<(&[u8], SeqNo)>, max: usize, out: &mut VecDeque<Entry>) {
        let map = self.map.read().unwrap();
        let start = match after {
            Some((k, s)) => Bound::Excluded((k.to_vec(), std::cmp::Reverse(s))),
            None => match range.start() {
                Bound::Included(k) => Bound::Included((k.to_vec(), std::cmp::Reverse(SeqNo::MAX))),
                Bound::Excluded(k) => Bound::Excluded((k.to_vec(), std::cmp::Reverse(0))),
                Bound::Unbounded => Bound::Unbounded,
            },
        };
        for ((k, std::cmp::Reverse(seq)), (kind, value)) in map.range((start, Bound::Unbounded)).take(max) {
            if range.is_past_end(k) {
                return;
            }
            out.push_back(Entry { key: k.clone().into(), seq: *seq, kind: *kind, value: value.clone().into() });
        }
    }
}

/// One in-memory table: its summary and its entries in internal key order.
type MemTable = (TableMeta, Arc<Vec<Entry>>);

/// Tables held in memory: each a sorted `Vec<Entry>` behind an `Arc`, so a scan keeps its
/// table alive after a delete, as the contract asks. Clones share the tables (a "reopen").
#[derive(Default, Clone)]
struct MemStore {
    tables: Arc<RwLock<HashMap<TableId, MemTable>>>,
}

impl MemStore {
    fn name(id: TableId) -> PathBuf {
        PathBuf::from(format!("mem:{id}"))
    }

    fn table(&self, id: TableId) -> strata_sstable::Result<MemTable> {
        let tables = self.tables.read().unwrap();
        tables.get(&id).cloned().ok_or(strata_sstable::Error::NotFound { file: Self::name(id) })
    }
}

/// Entries `[at, end)` of one in-memory table.
struct MemScan {
    table: Arc<Vec<Entry>>,
    at: usize,
    end: usize,
}

impl Iterator for MemScan {
    type Item = strata_sstable::Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.table[self.at..self.end].first()?.clone();
        self.at += 1;
        Some(Ok(entry))
    }
}

impl SsTableStore for MemStore {
    type Scan = MemScan;

    fn write_table(
        &self,
        id: TableId,
        entries: &mut dyn Iterator<Item = strata_sstable::Result<Entry>>,
    ) -> strata_sstable::Result<TableMeta> {
        let file = Self::name(id);
        let mut rows: Vec<Entry> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| strata_sstable::Error::Source { file: file.clone(), source: Box::new(e) })?;
            if let Some(prev) = rows.last()
                && compare_internal(&prev.key, prev.seq, &entry.key, entry.seq).is_ge()
            {
                let reason = format!("{:?}@{} after {:?}@{}", entry.key, entry.seq, prev.key, prev.seq);
                return Err(strata_sstable::Error::OutOfOrder { file, index: rows.len() as u64, reason });
            }
            rows.push(entry);
        }
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Err(strata_sstable::Error::EmptyTable { file });
        };
        let mut range_tombstones: Vec<RangeTombstone> = rows.iter().filter_map(RangeTombstone::from_entry).collect();
        range_tombstones.sort_unstable();
        let meta = TableMeta {
            id,
            file_size: rows.iter().map(|e| (e.key.len() + e.value.len() + 9) as u64).sum(),
            entries: rows.len() as u64,
            tombstones: rows.iter().filter(|e| e.kind == ValueKind::Delete).count() as u64,
            min_key: first.key.clone(),
            max_key: strata_sstable::extent_end(last.key.clone(), &range_tombstones),
            min_seq: rows.iter().map(|e| e.seq).min().unwrap_or(0),
            max_seq: rows.iter().map(|e| e.seq).max().unwrap_or(0),
            created_at_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            range_tombstones,
        };
        let mut tables = self.tables.write().unwrap();
        if tables.contains_key(&id) {
            return Err(strata_sstable::Error::TableExists { file });
        }
        tables.insert(id, (meta.clone(), Arc::new(rows)));
        Ok(meta)
    }

    fn open(&self, id: TableId) -> strata_sstable::Result<TableMeta> {
        Ok(self.table(id)?.0)
    }

    fn get(&self, id: TableId, key: &[u8], snapshot: SeqNo) -> strata_sstable::Result<Option<VersionedValue>> {
        let (_, rows) = self.table(id)?;
        // The first row at or after (key, snapshot) in internal key order.
        let i = rows.partition_point(|e| compare_internal(&e.key, e.seq, key, snapshot).is_lt());
        Ok(rows.get(i).filter(|e| &e.key[..] == key).map(|e| VersionedValue {
            seq: e.seq,
            kind: e.kind,
            value: e.value.clone(),
        }))
    }

    fn scan(&self, id: TableId, range: &KeyRange) -> strata_sstable::Result<MemScan> {
        let (_, table) = self.table(id)?;
        let at = table.partition_point(|e| range.is_before_start(&e.key));
        let end = at + table[at..].partition_point(|e| !range.is_past_end(&e.key));
        Ok(MemScan { table, at, end })
    }

    fn delete(&self, id: TableId) -> strata_sstable::Result<()> {
        let removed = self.tables.write().unwrap().remove(&id);
        removed.map(|_| ()).ok_or(strata_sstable::Error::NotFound { file: Self::name(id) })
    }

    fn list_tables(&self) -> strata_sstable::Result<Vec<TableId>> {
        let mut ids: Vec<TableId> = self.tables.read().unwrap().keys().copied().collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// One level of sorted runs; merge them all into one when there are more than four.
struct MergeAllRuns;

impl CompactionPolicy for MergeAllRuns {
    fn name(&self) -> &'static str {
        "merge_all_runs"
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        let runs = state.levels.first()?;
        if runs.len() <= 4 || runs.iter().any(|t| state.compacting.contains(&t.id)) {
            return None;
        }
        Some(CompactionTask {
            kind: TaskKind::Merge,
            inputs: vec![(0, runs.iter().map(|t| t.id).collect())],
            output_level: 0,
            // One run out, unsplit: split outputs would be runs again, and a policy that
            // counts runs would then pick forever (the conformance suite catches that).
            target_table_size: u64::MAX,
            reason: format!("{} runs", runs.len()),
        })
    }

    fn num_levels(&self) -> usize {
        1
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The same suites Strata's own parts pass. The store suite reopens a store in a
    // directory; here a "directory" names one shared in-memory store.
    strata_memtable::testing::conformance(BTreeMemtable::default);
    let stores = std::sync::Mutex::new(HashMap::<PathBuf, MemStore>::new());
    strata_sstable::testing::conformance(|dir| stores.lock().unwrap().entry(dir.to_owned()).or_default().clone());
    strata_compaction::testing::conformance(&MergeAllRuns);
    println!("the custom memtable, table store and policy pass their conformance suites");

    let dir = tempfile::tempdir()?;
    let options = Options { max_memtable_size: 64 << 10, ..Options::default() };
    let components =
        Components { memtable: Box::new(BTreeMemtable::default), store: MemStore::default(), policy: MergeAllRuns };
    let db: Db<BTreeMemtable, MemStore, MergeAllRuns> =
        Db::open_with_components(StdFs::shared(), dir.path(), options, components)?;

    for i in 0..20_000u32 {
        db.put(format!("key{:05}", i % 5_000), format!("value {i}"))?;
    }
    db.flush()?;
    let stats = db.stats();
    println!(
        "20,000 writes over 5,000 keys: {} flushes, {} compactions, {} live runs",
        stats.flushes, stats.compactions, stats.levels[0].tables
    );
    assert_eq!(db.get("key00042")?.as_deref(), Some(&b"value 15042"[..]));
    let keys = db.prefix("key0001").count();
    println!("{keys} keys start with key0001");
    assert_eq!(keys, 10);
    db.close()?;
    Ok(())
}
