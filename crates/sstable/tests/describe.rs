//! `ParquetStore::describe` summarizes a table for tools such as `strata inspect`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_core::Entry;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

#[test]
fn describe_reports_rows_groups_pages_and_filters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = ParquetOptions { row_group_rows: 1_000, page_rows: 100, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), options).expect("open store");
    let mut entries = (0..2_500u32).map(|i| Ok(Entry::put(format!("key{i:05}").into_bytes(), 1, b"value".to_vec())));
    let meta = store.write_table(7, &mut entries).expect("write");
    let d = store.describe(7).expect("describe");
    assert_eq!(d.meta, meta);
    assert_eq!(d.meta.entries, 2_500);
    assert_eq!(d.row_groups, 3, "2,500 rows in groups of 1,000");
    // About 100 rows per page; the Parquet writer cuts pages at its own batch boundaries.
    assert!((15..=30).contains(&d.pages), "{} pages", d.pages);
    // 10 bits per key, about 2,500 keys.
    assert!((2_500..=4_000).contains(&d.filter_bytes), "filter of {} bytes", d.filter_bytes);
    assert!(d.compression.to_uppercase().contains("LZ4"), "{}", d.compression);
    assert!(store.describe(8).is_err(), "a missing table is an error");
}
