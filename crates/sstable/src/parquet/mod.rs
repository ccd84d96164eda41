//! Strata tables as Parquet files.
//!
//! # File layout
//!
//! ```text
//! "PAR1"
//! row group 0: key, seq, kind, value column chunks (pages),      \
//!     then Parquet's own Bloom filter of the key column (option) |
//! ...                                                            | ordinary Parquet,
//! row group N-1                                                  | covered by the
//! column indexes and offset indexes (the page index)            /  block checksums
//! Strata section (readers of plain Parquet never look here):
//!     one strata-bloom filter per row group (its own CRC each)
//!     the filters' lengths, u32 LE each
//!     a CRC32 per 4 KiB block of every byte before the section, u32 LE each
//!     trailer (48 bytes): magic "STRATAT1", version, block size, section start, filters'
//!         total length and count, CRC32 of the Parquet footer, CRC32 of the whole section
//! Parquet footer: FileMetaData (schema, row groups, statistics, sorting columns,
//!     key-value metadata `strata.*`), its length, "PAR1"
//! ```
//!
//! Parquet locates everything through the footer's absolute offsets, so the section between
//! the page index and the footer is invisible to other engines (pyarrow and DuckDB read the
//! files as they are). Strata finds its trailer right before the footer. Every byte a reader
//! uses is checksummed: the footer by the trailer, the section by itself, and data pages and
//! page indexes by the block CRCs, checked on every read, so flipped bits become
//! [`crate::Error::Corruption`] and never wrong answers.
//!
//! # Reading
//!
//! Files are written with the parquet crate's Arrow column writers under its
//! `SerializedFileWriter`, which also appends row groups copied whole from other tables
//! (`writer.rs`). They are read with Strata's own page path, no arrow reader: the offset index of each column (`chunk`) locates the pages holding
//! a key page's rows, each is read with one checksummed `pread`, its Thrift header parsed
//! (`thrift`), its body decompressed and decoded (`decode`) into a compact page (`page`): the
//! decompressed bytes plus offsets, handing out zero-copy `Bytes`. Point lookups and scans
//! share these pages through the sharded block cache.

mod bounds;
mod chunk;
pub(crate) mod decode;
mod file;
pub(crate) mod layout;
mod lz4;
mod names;
pub(crate) mod page;
mod scan;
mod schema;
mod store;
pub(crate) mod table;
mod thrift;
mod writer;

#[cfg(feature = "testing")]
pub(crate) use file::inside_decoder_guard;
pub use names::{is_temp_file, table_file_name, table_id_from_file_name};
pub use scan::ParquetScan;
pub use store::ParquetStore;
pub use table::{ByteUse, TableDescription};
