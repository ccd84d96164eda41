//! Plugging your own memtable and compaction policy into Strata through the generics.
//!
//! Run with `cargo run -p strata --example custom_components`.
//!
//! The memtable here is a `BTreeMap` behind a reader-writer lock; it streams ordered
//! ranges through `ChunkedIter`, which copies a chunk at a time so an iterator never holds
//! the lock between calls. The policy keeps a single level of sorted runs and merges all of
//! them once there are more than four. Both would pass their crates' conformance suites
//! (`strata_memtable::testing::conformance`, `strata_compaction::testing::policy_conformance`).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use strata::{Components, Db, Options, ParquetStore, StdFs};
use strata_compaction::{CompactionPolicy, CompactionTask, LevelState, TaskKind};
use strata_core::{Bytes, Entry, KeyRange, SeqNo, ValueKind, VersionedValue};
use strata_memtable::{ChunkSource, ChunkedIter, Memtable};

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
            target_table_size: 64 << 20,
            reason: format!("{} runs", runs.len()),
        })
    }

    fn num_levels(&self) -> usize {
        1
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = Options { max_memtable_size: 64 << 10, ..Options::default() };
    let store = ParquetStore::open(dir.path(), options.table_store_options())?;
    let components = Components {
        memtable: Box::new(BTreeMemtable::default),
        store,
        policy: MergeAllRuns,
        list_tables: Some(Box::new(|s: &ParquetStore| Ok(s.list_tables()?))),
    };
    let db: Db<BTreeMemtable, ParquetStore, MergeAllRuns> =
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
