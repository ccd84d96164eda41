//! Strata: an embeddable LSM-tree key-value store whose tables are Apache Parquet files.
//!
//! Writes go to a write-ahead log (group commit: concurrent writers share one write and one
//! fsync) and a memtable; full memtables are flushed by a background thread to Parquet
//! tables in L0, and background compactions merge tables down the tree. Reads look at the
//! memtables, then the tables newest first, each guarded by its key range and Bloom
//! filter. The tables are ordinary Parquet files (`key`, `seq`, `kind`, `value` columns),
//! so DuckDB, Spark or pyarrow read the data directly.
//!
//! # Example
//!
//! ```
//! use strata::{Db, Options, WriteBatch, WriteOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default().memtable_type("enhanced_skiplist")?)?;
//!
//! db.put("user/1", "ada")?;
//! db.put("user/2", "grace")?;
//! let snapshot = db.snapshot();
//!
//! let mut batch = WriteBatch::new();
//! batch.delete("user/1").put("user/3", "edsger");
//! db.write(batch, WriteOptions::synced())?; // atomic, and durable on return
//!
//! assert_eq!(db.get("user/1")?, None);
//! assert_eq!(snapshot.get("user/1")?.as_deref(), Some(&b"ada"[..]));
//!
//! let users: Vec<_> = db.prefix("user/").map(|kv| kv.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(users, ["user/2", "user/3"]);
//!
//! db.flush()?; // memtables to Parquet tables
//! assert_eq!(db.get("user/3")?.as_deref(), Some(&b"edsger"[..]));
//! db.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durability
//!
//! A write returns once it is in the log. With `WriteOptions { sync: true }` (or
//! `wal_sync = "every_write"`) the log is fsynced first, so the write survives power loss;
//! without it, a process crash still loses nothing acknowledged (the OS holds the bytes),
//! but a machine crash or power cut can lose the writes since the last fsync. Recovery
//! replays the log up to its last intact record. A write torn at the very end of the log is
//! dropped (it was never acknowledged as synced); damage with valid records after it is
//! [`Error::Corruption`] naming the log segment, unless [`Options::wal_recovery`] asks for
//! point-in-time recovery (see [`WalRecovery`]).
//!
//! # Plugging in your own parts
//!
//! `Db<M, S, C>` is generic over the memtable ([`strata_memtable::Memtable`]), the table
//! store ([`strata_sstable::SsTableStore`]) and the compaction policy
//! ([`strata_compaction::CompactionPolicy`]); see [`Db::open_with_components`] and
//! `examples/custom_components.rs`.
#![deny(missing_docs)]

mod background;
mod batch;
mod checkpoint;
mod codec;
mod compact;
mod db;
mod duckdb_view;
mod error;
mod flush;
mod ingest;
mod iter;
mod manifest;
mod options;
mod pacing;
mod read;
mod record;
mod recovery;
mod rev_iter;
mod snapshot;
mod state;
mod stats;
mod verify;
mod version;
mod wal;
mod write;

#[cfg(feature = "testing")]
pub mod testing;

pub use batch::{MAX_KEY_LEN, MAX_VALUE_LEN, WriteBatch};
pub use checkpoint::CheckpointInfo;
pub use db::{Components, Db};
pub use duckdb_view::{DuckDbView, duckdb_view};
pub use error::{Error, ErrorKind};
pub use ingest::{DuplicateKeys, ExtraColumns, IngestOptions, IngestPhase, IngestProgress, IngestSummary, ProgressFn};
pub use iter::DbIter;
pub use options::{CompressionName, Options, TableOptions, WalRecovery, WalSync, WriteOptions};
pub use rev_iter::DbRevIter;
pub use snapshot::Snapshot;
pub use stats::{LevelStats, Stats};
pub use strata_compaction::{AnyPolicy, CompactionPolicy, PolicyConfig};
pub use strata_core::fs::{FileSystem, StdFs};
pub use strata_core::{Bytes, KeyRange, ManifestStore, MemManifestStore};
pub use strata_memtable::{AnyMemtable, Memtable, MemtableKind};
pub use strata_sstable::{ParquetStore, SsTableStore};
pub use verify::{VerifyOptions, VerifyProgress, VerifyProgressFn, VerifyReport};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
