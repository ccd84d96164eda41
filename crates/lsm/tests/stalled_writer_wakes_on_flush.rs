//! A writer stalled because `max_immutable_memtables` memtables await flush resumes the
//! moment the flush that frees a slot commits: it waits on the engine's change epoch, not on
//! a polling timeout. The test holds the flush inside the table store until the writer is
//! stalled, releases it, and prints how long after the flushed table was written the
//! writer's put returned (a figure, not a timed assertion: these machines are shared).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata::{Components, Db, FileSystem, Options, ParquetStore, PolicyConfig};
use strata_compaction::AnyPolicy;
use strata_core::{Entry, KeyRange, SeqNo, VersionedValue};
use strata_memtable::{AnyMemtable, MemtableKind};
use strata_sstable::testing::MemFs;
use strata_sstable::{SsTableStore, StoreStats, TableId, TableMeta};

/// A Parquet store whose `write_table` waits for a go-ahead, and records when it finished.
struct GatedStore {
    inner: ParquetStore,
    gate: Mutex<mpsc::Receiver<()>>,
    written_at: Mutex<Vec<Instant>>,
}

impl SsTableStore for GatedStore {
    type Scan = <ParquetStore as SsTableStore>::Scan;

    fn write_table(
        &self,
        id: TableId,
        entries: &mut dyn Iterator<Item = strata_sstable::Result<Entry>>,
    ) -> strata_sstable::Result<TableMeta> {
        // A closed channel (the test is over) lets every write through.
        let _ = self.gate.lock().expect("gate").recv();
        let meta = self.inner.write_table(id, entries)?;
        self.written_at.lock().expect("times").push(Instant::now());
        Ok(meta)
    }
    fn open(&self, id: TableId) -> strata_sstable::Result<TableMeta> {
        self.inner.open(id)
    }
    fn get(&self, id: TableId, key: &[u8], snapshot: SeqNo) -> strata_sstable::Result<Option<VersionedValue>> {
        self.inner.get(id, key, snapshot)
    }
    fn scan(&self, id: TableId, range: &KeyRange) -> strata_sstable::Result<Self::Scan> {
        self.inner.scan(id, range)
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
fn a_stalled_writer_resumes_when_the_flush_commits() {
    // In memory, so fsync costs nothing and the figure is the wake-up, not the disk.
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = std::path::Path::new("/db");
    fs.create_dir_all(dir).expect("mkdir");
    let options = Options {
        max_memtable_size: 64 << 10,
        max_immutable_memtables: 1,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 64,
            base_level_bytes: 64 << 20,
            level_multiplier: 10,
            target_table_size: 8 << 20,
            num_levels: 4,
            intra_l0_merge: false,
        },
        l0_slowdown_trigger: 100,
        l0_stop_trigger: 200,
        ..Options::default()
    };
    let (go, gate) = mpsc::channel();
    let store = GatedStore {
        inner: ParquetStore::open_with_fs(Arc::clone(&fs), dir, options.table_store_options()).expect("store"),
        gate: Mutex::new(gate),
        written_at: Mutex::new(Vec::new()),
    };
    let policy = AnyPolicy::new(&options.compaction).expect("policy");
    let memtable = || AnyMemtable::new(MemtableKind::SkipList, &Default::default()).expect("memtable");
    let components = Components { memtable: Box::new(memtable), store, policy };
    let db = Arc::new(
        Db::<AnyMemtable, GatedStore, AnyPolicy>::open_with_components(fs, dir, options, components).expect("open"),
    );

    let mut lags = Vec::new();
    for round in 0..5 {
        let stalls_before = db.stats().flush_stalls;
        let writer = {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                // Fill the active memtable until a put finds the one immutable slot taken
                // (the gated flush holds it) and stalls; report when that put returned.
                let mut i = 0u64;
                loop {
                    let before = db.stats().flush_stalls;
                    db.put(format!("round{round}-key{i:08}"), vec![b'v'; 200]).expect("put");
                    if db.stats().flush_stalls > before {
                        return Instant::now();
                    }
                    i += 1;
                }
            })
        };
        while db.stats().flush_stalls == stalls_before {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The writer is stalled behind the held flush; let that flush (and only it) through.
        go.send(()).expect("release the flush");
        let resumed = writer.join().expect("writer");
        let written = *db.store().written_at.lock().expect("times").last().expect("the flush wrote a table");
        lags.push(resumed.saturating_duration_since(written));
    }
    drop(go);
    let micros: Vec<u128> = lags.iter().map(Duration::as_micros).collect();
    println!("a stalled writer resumed {micros:?} µs after the flushed table was written (manifest commit included)");
    assert_eq!(lags.len(), 5);
    db.flush().expect("flush");
    assert!(db.get("round4-key00000000").expect("get").is_some());
}
