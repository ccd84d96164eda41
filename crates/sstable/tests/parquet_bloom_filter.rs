//! Tables carry Parquet's own split-block Bloom filter on the `key` column, for external
//! engines, in every row group; and not when the option is off.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::fs::File;

use parquet::file::properties::ReaderProperties;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use strata_core::Entry;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore, TablePart};

fn write(parquet_bloom_filter: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ParquetOptions { row_group_rows: 1000, parquet_bloom_filter, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).expect("open");
    let entries = (0..2500u32).map(|i| Ok(Entry::put(format!("key{i:06}"), u64::from(i) + 1, "v")));
    store.write_table(1, &mut entries.into_iter()).expect("write");
    let path = store.table_path(1);
    (dir, path)
}

fn reader(path: &std::path::Path) -> SerializedFileReader<File> {
    let props = ReaderProperties::builder().set_read_bloom_filter(true).build();
    let options = ReadOptionsBuilder::new().with_reader_properties(props).build();
    SerializedFileReader::new_with_options(File::open(path).expect("file"), options).expect("parquet reader")
}

#[test]
fn every_row_group_has_a_parquet_bloom_filter_on_the_key_column() {
    let (_dir, path) = write(true);
    let reader = reader(&path);
    let meta = reader.metadata();
    assert_eq!(meta.num_row_groups(), 3);
    for rg in 0..meta.num_row_groups() {
        assert!(meta.row_group(rg).column(0).bloom_filter_offset().is_some(), "row group {rg} has no filter offset");
        let row_group = reader.get_row_group(rg).expect("row group");
        let sbbf = row_group.get_column_bloom_filter(0).expect("the key column's bloom filter");
        // Parquet hashes a BYTE_ARRAY value as its bytes.
        for i in (rg as u32 * 1000..(rg as u32 * 1000 + 1000).min(2500)).step_by(97) {
            let key = format!("key{i:06}");
            assert!(sbbf.check(key.as_str()), "row group {rg} filter rejects {key}");
        }
        let rejected = (0..10_000).filter(|i| !sbbf.check(format!("absent{i}").as_str())).count();
        assert!(rejected > 9_400, "filter of row group {rg} rejects only {rejected} of 10,000 absent keys");
        // About one byte per key (parquet sizes a filter in powers of two, then folds it to
        // the keys the row group holds), plus a header.
        let bytes = meta.row_group(rg).column(0).bloom_filter_length().expect("a filter length");
        let rows = meta.row_group(rg).num_rows();
        assert!(i64::from(bytes) <= rows + 64, "row group {rg}: a filter of {bytes} bytes for {rows} keys");
        assert!(row_group.get_column_bloom_filter(1).is_none(), "only the key column has one");
    }
}

#[test]
fn the_option_turns_it_off() {
    let (_dir, path) = write(false);
    let reader = reader(&path);
    for rg in 0..reader.metadata().num_row_groups() {
        assert!(reader.metadata().row_group(rg).column(0).bloom_filter_offset().is_none());
    }
}

/// A row group copied into another table (`write_table_parts`) brings its filter along, at
/// its new offset, with the page index a reader checks against.
#[test]
fn a_copied_row_group_keeps_its_bloom_filter_and_page_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ParquetOptions { row_group_rows: 1000, parquet_bloom_filter: true, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).expect("open");
    let source = (0..2500u32).map(|i| Ok(Entry::put(format!("key{i:06}"), u64::from(i) + 1, "v")));
    store.write_table(1, &mut source.into_iter()).expect("write");
    let units = store.copy_units(1, 1).expect("units");
    // An encoded row group first, so the copies land at new offsets.
    let head = (0..500u32).map(|i| Ok(TablePart::Entry(Entry::put(format!("aaa{i:06}"), 9000, "v"))));
    let mut parts = head.chain(units.into_iter().map(|u| Ok(TablePart::Copy(u))));
    store.write_table_parts(2, 1, &mut parts).expect("write with copies");
    let reader = reader(&store.table_path(2));
    let meta = reader.metadata();
    assert_eq!(meta.num_row_groups(), 4);
    for rg in 1..4 {
        let row_group = reader.get_row_group(rg).expect("row group");
        let sbbf = row_group.get_column_bloom_filter(0).expect("the copied filter");
        let first = (rg as u32 - 1) * 1000;
        for i in (first..(first + 1000).min(2500)).step_by(97) {
            assert!(sbbf.check(format!("key{i:06}").as_str()), "row group {rg} filter rejects key{i:06}");
        }
    }
    // The page index of the copies points at their new place: parquet reads it and every
    // page's offset falls inside its column chunk.
    let file = File::open(store.table_path(2)).expect("file");
    let with_index = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
        .parse_and_finish(&file)
        .expect("metadata with the page index");
    let index = with_index.page_index().expect("page index");
    for rg in 0..4 {
        for col in 0..4 {
            let chunk = with_index.row_group(rg).column(col);
            let start = chunk.dictionary_page_offset().unwrap_or(chunk.data_page_offset());
            let end = start + chunk.compressed_size();
            let locations = index.offset_index(rg, col).expect("offset index").page_locations();
            assert!(locations.iter().all(|l| l.offset >= start && l.offset + i64::from(l.compressed_page_size) <= end));
        }
    }
}
