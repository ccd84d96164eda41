//! The engines a benchmark can drive, behind one small trait so every workload runs the
//! same code on each. RocksDB and fjall are compiled only with the `rocksdb` and `fjall`
//! cargo features, so the default build never pays for them.

use std::path::{Path, PathBuf};

use strata::{Db, Options, WriteBatch, WriteOptions};

/// What a workload needs from an engine. Errors are strings: they are only reported.
pub(crate) trait BenchEngine: Send + Sync {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<(), String>;
    /// The value's length, if the key is present.
    fn get(&self, key: &[u8]) -> Result<Option<usize>, String>;
    fn delete(&self, key: &[u8], sync: bool) -> Result<(), String>;
    /// Deletes every key in `[start, end)`, with the engine's range delete where it has one.
    fn delete_range(&self, start: &[u8], end: &[u8], sync: bool) -> Result<(), String>;
    /// Seeks to the first key at or after `key` and reads up to `nexts + 1` entries;
    /// returns how many it read.
    fn seek(&self, key: &[u8], nexts: usize) -> Result<usize, String>;
    /// Seeks to the last key at or before `key` and reads up to `nexts + 1` entries backwards;
    /// returns how many it read.
    fn seek_reverse(&self, key: &[u8], nexts: usize) -> Result<usize, String>;
    /// Reads every entry in key order; returns how many.
    fn scan_all(&self) -> Result<usize, String>;
    /// Reads every entry in descending key order; returns how many.
    fn scan_all_reverse(&self) -> Result<usize, String>;
    /// Writes memtables out and waits for background work to settle.
    fn flush(&self) -> Result<(), String>;
    /// Compacts everything.
    fn compact(&self) -> Result<(), String>;
    /// Bytes written to table files by flushes and compactions, when the engine says.
    fn table_bytes_written(&self) -> Option<u64>;

    /// Waits until the engine's background flushes and compactions are done, so the bytes
    /// they write are counted whole rather than wherever their cycle stood when the last
    /// workload ended. Returns whether it waited: engines that cannot tell return `false` at
    /// once.
    fn wait_for_compactions(&self) -> Result<bool, String> {
        Ok(false)
    }

    /// Rows compactions rewrote one by one and rows they copied in whole row groups, when
    /// the engine counts them (Strata).
    fn compaction_rows(&self) -> Option<CompactionRows> {
        None
    }

    /// Time writers spent held back by the engine (stalls and slowdowns) over the whole run,
    /// when the engine counts it (Strata; RocksDB's `rocksdb.stall.micros`).
    fn write_stalls(&self) -> Option<WriteStalls> {
        None
    }

    /// Object-store counters, when the engine runs on one (Strata with `--store`).
    fn store_stats(&self) -> Option<strata_object::ObjectStats> {
        None
    }

    /// Where the live tables' bytes go, summed over every table by part (columns, page
    /// index, filters), when the engine can say.
    fn table_parts(&self) -> Result<Option<Vec<PartBytes>>, String> {
        Ok(None)
    }
}

/// Rows compactions wrote, by how (`Options::copy_row_groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CompactionRows {
    /// Decoded, merged and encoded again.
    pub(crate) rewritten: u64,
    /// Copied inside whole row groups, undecoded.
    pub(crate) copied: u64,
}

/// How long the engine held writers back, and how often when it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct WriteStalls {
    /// Microseconds writers spent waiting in stalls and slowdowns, summed over writers.
    pub(crate) micros: u64,
    /// Writes that waited for a flush or for L0 to shrink (Strata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stalls: Option<u64>,
    /// Write groups paced because L0 reached its slowdown trigger (Strata; most pass
    /// without sleeping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slowdowns: Option<u64>,
}

/// Bytes one part of the tables takes, summed over the live tables.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PartBytes {
    /// A column (`key`, `seq`, `kind`, `value`), `page index`, `parquet bloom filter`, or
    /// `strata bloom filters`; `other` is the rest of the files (footers, metadata).
    pub(crate) part: String,
    /// Bytes in the files.
    pub(crate) stored: u64,
    /// Bytes before compression.
    pub(crate) raw: u64,
}

/// The engines `--engines` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineKind {
    Strata,
    RocksDb,
    Fjall,
}

impl EngineKind {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Strata => "strata",
            Self::RocksDb => "rocksdb",
            Self::Fjall => "fjall",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        match name {
            "strata" => Ok(Self::Strata),
            "rocksdb" => Ok(Self::RocksDb),
            "fjall" => Ok(Self::Fjall),
            other => Err(format!("unknown engine {other:?}; valid engines are: strata, rocksdb, fjall")),
        }
    }

    /// Whether this build can run the engine.
    pub(crate) fn available(self) -> Result<(), String> {
        match self {
            Self::Strata => Ok(()),
            Self::RocksDb if cfg!(feature = "rocksdb") => Ok(()),
            Self::Fjall if cfg!(feature = "fjall") => Ok(()),
            other => Err(format!(
                "this strata binary was built without {0}; rebuild with `cargo build --release -p strata-cli --features {0}`",
                other.name()
            )),
        }
    }
}

/// Settings every engine is opened with, so the comparison is like for like.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    pub(crate) memtable_bytes: usize,
    pub(crate) cache_bytes: usize,
    /// Strata's own options (memtable type, policy, compression).
    pub(crate) strata: Options,
    /// Strata's tables and manifest in this object store (`--store`), under a fresh prefix
    /// for each database the run makes; the run's directory keeps the log and disk cache.
    pub(crate) store: Option<(String, strata_object::ObjectOptions)>,
}

pub(crate) fn open(kind: EngineKind, dir: &Path, config: &EngineConfig) -> Result<Box<dyn BenchEngine>, String> {
    kind.available()?;
    match kind {
        EngineKind::Strata => Ok(Box::new(StrataEngine::open(dir, config)?)),
        EngineKind::RocksDb => open_rocksdb(dir, config),
        EngineKind::Fjall => open_fjall(dir, config),
    }
}

/// Total bytes of the files under `dir`.
/// How many items a read yields, or its first error.
fn count<T, E: std::fmt::Display>(items: impl Iterator<Item = Result<T, E>>) -> Result<usize, String> {
    let mut n = 0;
    for item in items {
        item.map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

pub(crate) fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

struct StrataEngine {
    db: Db,
    remote: Option<strata_object::Remote>,
}

impl StrataEngine {
    fn open(dir: &Path, config: &EngineConfig) -> Result<Self, String> {
        let options = Options {
            max_memtable_size: config.memtable_bytes,
            block_cache_bytes: config.cache_bytes,
            ..config.strata.clone()
        };
        let Some((url, object_options)) = &config.store else {
            return Ok(Self { db: Db::open(dir, options).map_err(|e| e.to_string())?, remote: None });
        };
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let url = format!("{url}/strata-bench-{millis}-{run}");
        let remote = strata_object::Remote::connect(&url, object_options.clone()).map_err(|e| e.to_string())?;
        let db = remote.open(dir, options).map_err(|e| e.to_string())?;
        Ok(Self { db, remote: Some(remote) })
    }
}

impl BenchEngine for StrataEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<(), String> {
        let mut batch = WriteBatch::new();
        batch.put(key.to_vec(), value.to_vec());
        self.db.write(batch, WriteOptions { sync }).map_err(|e| e.to_string())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>, String> {
        Ok(self.db.get(key).map_err(|e| e.to_string())?.map(|v| v.len()))
    }

    fn delete(&self, key: &[u8], sync: bool) -> Result<(), String> {
        let mut batch = WriteBatch::new();
        batch.delete(key.to_vec());
        self.db.write(batch, WriteOptions { sync }).map_err(|e| e.to_string())
    }

    fn delete_range(&self, start: &[u8], end: &[u8], sync: bool) -> Result<(), String> {
        let mut batch = WriteBatch::new();
        batch.delete_range(start.to_vec(), end.to_vec());
        self.db.write(batch, WriteOptions { sync }).map_err(|e| e.to_string())
    }

    fn seek(&self, key: &[u8], nexts: usize) -> Result<usize, String> {
        count(self.db.iter(key..).take(nexts + 1))
    }

    fn seek_reverse(&self, key: &[u8], nexts: usize) -> Result<usize, String> {
        count(self.db.iter_rev(..=key).take(nexts + 1))
    }

    fn scan_all(&self) -> Result<usize, String> {
        count(self.db.iter(..))
    }

    fn scan_all_reverse(&self) -> Result<usize, String> {
        count(self.db.iter_rev(..))
    }

    fn flush(&self) -> Result<(), String> {
        self.db.flush().map_err(|e| e.to_string())
    }

    fn compact(&self) -> Result<(), String> {
        self.db.compact_range(..).map_err(|e| e.to_string())
    }

    fn table_bytes_written(&self) -> Option<u64> {
        let s = self.db.stats();
        Some(s.flush_bytes + s.compaction_bytes_written)
    }

    fn wait_for_compactions(&self) -> Result<bool, String> {
        self.db.wait_for_compactions().map_err(|e| e.to_string())?;
        Ok(true)
    }

    fn compaction_rows(&self) -> Option<CompactionRows> {
        let s = self.db.stats();
        Some(CompactionRows { rewritten: s.compaction_rows_rewritten, copied: s.compaction_rows_copied })
    }

    fn write_stalls(&self) -> Option<WriteStalls> {
        let s = self.db.stats();
        Some(WriteStalls {
            micros: s.stall_micros + s.slowdown_micros,
            stalls: Some(s.stalls()),
            slowdowns: Some(s.slowdowns),
        })
    }

    fn store_stats(&self) -> Option<strata_object::ObjectStats> {
        self.remote.as_ref().map(strata_object::Remote::stats)
    }

    fn table_parts(&self) -> Result<Option<Vec<PartBytes>>, String> {
        let mut parts: Vec<PartBytes> = Vec::new();
        let mut add = |part: &str, stored: u64, raw: u64| match parts.iter_mut().find(|p| p.part == part) {
            Some(p) => {
                p.stored += stored;
                p.raw += raw;
            }
            None => parts.push(PartBytes { part: part.to_owned(), stored, raw }),
        };
        for meta in self.db.tables().iter().flatten() {
            let d = self.db.store().describe(meta.id).map_err(|e| e.to_string())?;
            let mut rest = meta.file_size;
            for b in &d.bytes {
                add(&b.part, b.stored, b.raw);
                rest = rest.saturating_sub(b.stored);
            }
            add("other", rest, rest);
        }
        Ok(Some(parts))
    }
}

#[cfg(feature = "fjall")]
fn open_fjall(dir: &Path, config: &EngineConfig) -> Result<Box<dyn BenchEngine>, String> {
    Ok(Box::new(fjall_engine::FjallEngine::open(dir, config)?))
}

#[cfg(not(feature = "fjall"))]
fn open_fjall(_dir: &Path, _config: &EngineConfig) -> Result<Box<dyn BenchEngine>, String> {
    Err(EngineKind::Fjall.available().err().unwrap_or_default())
}

#[cfg(feature = "rocksdb")]
fn open_rocksdb(dir: &Path, config: &EngineConfig) -> Result<Box<dyn BenchEngine>, String> {
    Ok(Box::new(rocksdb_engine::RocksEngine::open(dir, config)?))
}

#[cfg(not(feature = "rocksdb"))]
fn open_rocksdb(_dir: &Path, _config: &EngineConfig) -> Result<Box<dyn BenchEngine>, String> {
    Err(EngineKind::RocksDb.available().err().unwrap_or_default())
}

#[cfg(feature = "fjall")]
mod fjall_engine {
    use std::path::Path;

    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    use super::{BenchEngine, EngineConfig, count};

    pub(super) struct FjallEngine {
        db: Database,
        items: Keyspace,
    }

    impl FjallEngine {
        pub(super) fn open(dir: &Path, config: &EngineConfig) -> Result<Self, String> {
            let db = Database::builder(dir).cache_size(config.cache_bytes as u64).open().map_err(|e| e.to_string())?;
            let memtable = config.memtable_bytes as u64;
            let items = db
                .keyspace("bench", || KeyspaceCreateOptions::default().max_memtable_size(memtable))
                .map_err(|e| e.to_string())?;
            Ok(Self { db, items })
        }
    }

    impl BenchEngine for FjallEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<(), String> {
            self.items.insert(key, value).map_err(|e| e.to_string())?;
            if sync {
                self.db.persist(PersistMode::SyncData).map_err(|e| e.to_string())?;
            }
            Ok(())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>, String> {
            Ok(self.items.get(key).map_err(|e| e.to_string())?.map(|v| v.len()))
        }

        fn delete(&self, key: &[u8], sync: bool) -> Result<(), String> {
            self.items.remove(key).map_err(|e| e.to_string())?;
            if sync {
                self.db.persist(PersistMode::SyncData).map_err(|e| e.to_string())?;
            }
            Ok(())
        }

        /// fjall has no range delete: each key of the range is deleted, as a fjall user would.
        fn delete_range(&self, start: &[u8], end: &[u8], sync: bool) -> Result<(), String> {
            let mut keys = Vec::new();
            for guard in self.items.range(start.to_vec()..end.to_vec()) {
                keys.push(guard.into_inner().map_err(|e| e.to_string())?.0);
            }
            for key in keys {
                self.items.remove(key).map_err(|e| e.to_string())?;
            }
            if sync {
                self.db.persist(PersistMode::SyncData).map_err(|e| e.to_string())?;
            }
            Ok(())
        }

        fn seek(&self, key: &[u8], nexts: usize) -> Result<usize, String> {
            count(self.items.range(key.to_vec()..).take(nexts + 1).map(|guard| guard.into_inner()))
        }

        fn seek_reverse(&self, key: &[u8], nexts: usize) -> Result<usize, String> {
            count(self.items.range(..=key.to_vec()).rev().take(nexts + 1).map(|guard| guard.into_inner()))
        }

        fn scan_all(&self) -> Result<usize, String> {
            count(self.items.iter().map(|guard| guard.into_inner()))
        }

        fn scan_all_reverse(&self) -> Result<usize, String> {
            count(self.items.iter().rev().map(|guard| guard.into_inner()))
        }

        fn flush(&self) -> Result<(), String> {
            self.db.persist(PersistMode::Buffer).map_err(|e| e.to_string())
        }

        fn compact(&self) -> Result<(), String> {
            // major_compact merges only the tables on disk. Strata's compact_range and
            // RocksDB's CompactRange flush the memtable first, so a full compaction here
            // does too, or up to a memtable's worth of data would be left out of fjall's
            // timing (its flush API is public but hidden from the docs).
            self.items.rotate_memtable_and_wait().map_err(|e| e.to_string())?;
            self.items.major_compact().map_err(|e| e.to_string())
        }

        fn table_bytes_written(&self) -> Option<u64> {
            None
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocksdb_engine {
    use std::path::Path;

    use rocksdb::statistics::Ticker;
    use rocksdb::{BlockBasedOptions, Cache, DB, Direction, IteratorMode, Options, WriteOptions};

    use super::{BenchEngine, EngineConfig, count};

    pub(super) struct RocksEngine {
        db: DB,
        /// Kept for its statistics object, which the open database shares.
        options: Options,
    }

    impl RocksEngine {
        pub(super) fn open(dir: &Path, config: &EngineConfig) -> Result<Self, String> {
            // RocksDB's defaults, with the same memtable size and block cache as Strata.
            let mut options = Options::default();
            options.create_if_missing(true);
            options.set_write_buffer_size(config.memtable_bytes);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&Cache::new_lru_cache(config.cache_bytes));
            table.set_bloom_filter(10.0, false);
            options.set_block_based_table_factory(&table);
            options.enable_statistics();
            let db = DB::open(&options, dir).map_err(|e| e.to_string())?;
            Ok(Self { db, options })
        }

        fn write_options(sync: bool) -> WriteOptions {
            let mut w = WriteOptions::default();
            w.set_sync(sync);
            w
        }
    }

    impl BenchEngine for RocksEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<(), String> {
            self.db.put_opt(key, value, &Self::write_options(sync)).map_err(|e| e.to_string())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>, String> {
            Ok(self.db.get_pinned(key).map_err(|e| e.to_string())?.map(|v| v.len()))
        }

        fn delete(&self, key: &[u8], sync: bool) -> Result<(), String> {
            self.db.delete_opt(key, &Self::write_options(sync)).map_err(|e| e.to_string())
        }

        fn delete_range(&self, start: &[u8], end: &[u8], sync: bool) -> Result<(), String> {
            let mut batch = rocksdb::WriteBatch::default();
            batch.delete_range(start, end);
            self.db.write_opt(batch, &Self::write_options(sync)).map_err(|e| e.to_string())
        }

        fn seek(&self, key: &[u8], nexts: usize) -> Result<usize, String> {
            count(self.db.iterator(IteratorMode::From(key, Direction::Forward)).take(nexts + 1))
        }

        fn seek_reverse(&self, key: &[u8], nexts: usize) -> Result<usize, String> {
            // `From` with `Reverse` is RocksDB's SeekForPrev: the last key at or before `key`.
            count(self.db.iterator(IteratorMode::From(key, Direction::Reverse)).take(nexts + 1))
        }

        fn scan_all(&self) -> Result<usize, String> {
            count(self.db.iterator(IteratorMode::Start))
        }

        fn scan_all_reverse(&self) -> Result<usize, String> {
            count(self.db.iterator(IteratorMode::End))
        }

        fn flush(&self) -> Result<(), String> {
            self.db.flush().map_err(|e| e.to_string())
        }

        fn compact(&self) -> Result<(), String> {
            self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
            Ok(())
        }

        fn wait_for_compactions(&self) -> Result<bool, String> {
            const PENDING: [&str; 4] = [
                "rocksdb.mem-table-flush-pending",
                "rocksdb.num-running-flushes",
                "rocksdb.compaction-pending",
                "rocksdb.num-running-compactions",
            ];
            loop {
                let mut busy = false;
                for name in PENDING {
                    busy |= self.db.property_int_value(name).map_err(|e| e.to_string())?.unwrap_or(0) > 0;
                }
                if !busy {
                    return Ok(true);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }

        fn table_bytes_written(&self) -> Option<u64> {
            let flush = self.options.get_ticker_count(Ticker::FlushWriteBytes);
            let compaction = self.options.get_ticker_count(Ticker::CompactWriteBytes);
            Some(flush + compaction)
        }

        fn write_stalls(&self) -> Option<super::WriteStalls> {
            let micros = self.options.get_ticker_count(Ticker::StallMicros);
            Some(super::WriteStalls { micros, stalls: None, slowdowns: None })
        }
    }
}
