//! `compression_per_level` picks each table's codec by the level it is written for, and every
//! codec reads back the same entries.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_core::{Entry, KeyRange};
use strata_sstable::{Compression, Error, ParquetOptions, ParquetStore, SsTableStore};

#[test]
fn each_level_gets_its_codec_and_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions {
        sync: false,
        compression_per_level: vec![Compression::None, Compression::Lz4, Compression::Zstd(3)],
        ..ParquetOptions::default()
    };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let entries: Vec<Entry> = (0..5000u32)
        .map(|i| Entry::put(format!("key{i:06}"), u64::from(i) + 1, format!("value {i} ").repeat(8)))
        .collect();
    // Level 5 is past the list: it takes the last entry.
    let expected = [(0, "UNCOMPRESSED"), (1, "LZ4_RAW"), (2, "ZSTD"), (5, "ZSTD")];
    let mut sizes = Vec::new();
    for (id, (level, codec)) in expected.iter().enumerate() {
        let id = id as u64 + 1;
        let meta = store.write_table_at(id, *level, &mut entries.iter().cloned().map(Ok)).unwrap();
        let description = store.describe(id).unwrap();
        assert!(description.compression.starts_with(codec), "level {level}: {}", description.compression);
        let back: Vec<Entry> = store.scan(id, &KeyRange::all()).unwrap().map(Result::unwrap).collect();
        assert_eq!(back, entries, "level {level}");
        sizes.push(meta.file_size);
    }
    assert!(sizes[0] > sizes[1] && sizes[1] > sizes[2], "none > lz4 > zstd in bytes: {sizes:?}");

    // A bad zstd level anywhere in the list names the field.
    let bad = ParquetOptions {
        compression_per_level: vec![Compression::Lz4, Compression::Zstd(40)],
        ..ParquetOptions::default()
    };
    let e = bad.validate().unwrap_err();
    assert!(matches!(e, Error::InvalidOptions { field: "compression_per_level", .. }), "{e}");
}
