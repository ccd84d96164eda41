//! `ParquetStore` keeps every promise of `SsTableStore`, with default options and with pages
//! and row groups small enough that every table spans many of them.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_sstable::{Compression, ParquetOptions, ParquetStore};

#[test]
fn parquet_store_passes_the_conformance_suite() {
    strata_sstable::testing::conformance(|dir| ParquetStore::open(dir, ParquetOptions::default()).unwrap());
}

#[test]
fn parquet_store_with_tiny_pages_and_row_groups_passes_the_conformance_suite() {
    let opts = ParquetOptions {
        data_page_size: 512,
        page_rows: 7,
        row_group_rows: 1000,
        compression: Compression::Zstd(3),
        block_cache_bytes: 64 * 1024,
        ..ParquetOptions::default()
    };
    strata_sstable::testing::conformance(|dir| ParquetStore::open(dir, opts.clone()).unwrap());
}
