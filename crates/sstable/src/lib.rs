//! Sorted tables for Strata.
//!
//! * [`SsTableStore`]: the contract of a table store — write a table from a sorted stream,
//!   open it, point lookups at a snapshot, streaming range scans, delete — with a
//!   conformance suite every implementation runs (`testing::conformance`, feature
//!   `testing`).
//! * [`TableMeta`]: a table's id, size, entry and tombstone counts, key and sequence bounds.
//! * `ParquetStore` (default cargo feature `parquet`): tables as Apache Parquet files (columns `key`, `seq`, `kind`, `value`,
//!   sorted by key ascending then seq descending) that pyarrow, DuckDB or Spark read as they
//!   are, with a per-row-group [`strata_bloom`] filter, checksums on every byte, a table cache
//!   and a block cache of decoded pages. A point lookup reads one page; a scan starts at the
//!   page holding its start key and streams on from there. The file layout is documented in
//!   [`parquet`].
//!
//! A custom table store depends on this crate with `default-features = false`: it then
//! compiles only the contract (the trait, [`TableMeta`], [`Error`], the conformance suite),
//! with no arrow and no parquet.
//!
//! # Example
//!
//! ```
//! use strata_core::{Entry, KeyRange, ValueKind};
//! use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = ParquetStore::open(dir.path(), ParquetOptions::default())?;
//!
//! // Entries in internal key order: key ascending, then sequence number descending.
//! let entries = vec![Entry::put("apple", 7, "red"), Entry::delete("banana", 9), Entry::put("banana", 3, "yellow")];
//! let meta = store.write_table(1, &mut entries.into_iter().map(Ok))?;
//! assert_eq!((meta.entries, meta.tombstones), (3, 1));
//!
//! // At snapshot 8 the banana still exists; at 9 its tombstone answers.
//! assert_eq!(&store.get(1, b"banana", 8)?.unwrap().value[..], b"yellow");
//! assert_eq!(store.get(1, b"banana", 9)?.unwrap().kind, ValueKind::Delete);
//! assert_eq!(store.get(1, b"cherry", 9)?, None);
//!
//! let keys: Vec<_> = store.scan(1, &KeyRange::all())?.map(|e| e.map(|e| e.seq)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, [7, 9, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "parquet")]
mod cache;
mod error;
mod meta;
mod options;
#[cfg(feature = "parquet")]
pub mod parquet;
mod stats;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
pub use meta::{TableId, TableMeta, extent_end};
pub use options::{Compression, MAX_KEY_LEN, MAX_VALUE_LEN, ParquetOptions};
#[cfg(feature = "parquet")]
pub use parquet::{
    ByteUse, ParquetScan, ParquetStore, TableDescription, is_temp_file, table_file_name, table_id_from_file_name,
};
pub use stats::{CacheStats, StoreStats};
pub use store::{CopyUnit, SsTableStore, TableExport, TablePart};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
