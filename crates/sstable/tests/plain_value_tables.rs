//! Tables written before the `value` column became `DELTA_LENGTH_BYTE_ARRAY` (their values are
//! `PLAIN`) are read as they were written, and compaction copies their row groups into new
//! tables next to row groups of the new encoding.
//!
//! The two fixtures in `tests/data` were written by `write_plain_value_fixtures` below, run at
//! commit `fcf303e` (the last writer of `PLAIN` values): one whose value pages are stored raw
//! (random bytes, read in place from the file's map) and one whose value pages are LZ4
//! compressed (read through decompression).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::{Path, PathBuf};

use parquet::basic::Encoding;
use parquet::file::reader::{FileReader, SerializedFileReader};
use strata_core::{Entry, KeyRange};
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore, TablePart, table_file_name};

const VALUE: usize = 3;

fn options() -> ParquetOptions {
    ParquetOptions { row_group_rows: 1000, ..ParquetOptions::default() }
}

/// The fixtures' rows: 2,500 keys, every seventh with three versions, every eleventh newest
/// version a tombstone; values of 0 to 63 bytes and one of 20,000. `compressible` values
/// repeat a short pattern (LZ4 pages); the others are pseudo-random bytes (raw pages).
fn entries(compressible: bool) -> Vec<Entry> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut value = |i: u64, len: usize| -> Vec<u8> {
        if compressible {
            format!("value-{i}-").bytes().cycle().take(len).collect()
        } else {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        }
    };
    let mut out = Vec::new();
    for i in 0..2500u64 {
        let key = format!("key{i:05}");
        let versions = if i % 7 == 0 { 3 } else { 1 };
        for v in 0..versions {
            let seq = 10_000 + i * 4 - v;
            let len = if i == 1234 { 20_000 } else { (i as usize * 37 + v as usize) % 64 };
            if v == 0 && i % 11 == 0 {
                out.push(Entry::delete(key.clone(), seq));
            } else {
                out.push(Entry::put(key.clone(), seq, value(i, len)));
            }
        }
    }
    out
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

const FIXTURES: [(&str, bool); 2] = [("plain-values-raw.parquet", false), ("plain-values-lz4.parquet", true)];

/// The encodings of each row group's `value` column chunk in table `path`.
fn value_encodings(path: &Path) -> Vec<Vec<Encoding>> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader.metadata().row_groups().iter().map(|rg| rg.column(VALUE).encodings().collect()).collect()
}

fn scan_all<S: SsTableStore>(store: &S, id: u64) -> Vec<Entry> {
    store.scan(id, &KeyRange::all()).unwrap().map(Result::unwrap).collect()
}

#[test]
fn tables_with_plain_values_read_as_written_and_copy_into_new_tables() {
    for (name, compressible) in FIXTURES {
        let want = entries(compressible);
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixture(name), dir.path().join(table_file_name(1))).unwrap();
        let encodings = value_encodings(&dir.path().join(table_file_name(1)));
        assert!(encodings.len() > 2, "{name}: {} row groups", encodings.len());
        assert!(
            encodings.iter().all(|e| e.contains(&Encoding::PLAIN) && !e.contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY)),
            "{name} holds PLAIN values: {encodings:?}"
        );
        let store = ParquetStore::open(dir.path(), options()).unwrap();
        let meta = store.open(1).unwrap();
        assert_eq!(meta.entries, want.len() as u64, "{name}");
        assert_eq!(scan_all(&store, 1), want, "{name}: scan");
        for e in &want {
            let got = store.get(1, &e.key, e.seq).unwrap().expect("every version is found");
            assert_eq!((got.seq, got.kind, &got.value), (e.seq, e.kind, &e.value), "{name}: {:?}@{}", e.key, e.seq);
        }

        // A new table: rows written now (DELTA_LENGTH_BYTE_ARRAY values), then every old row
        // group that does not share a key with a neighbour, copied as it is.
        let units = store.copy_units(1, 1).unwrap();
        assert!(!units.is_empty(), "{name}: the fixture records its row groups");
        let first = Entry::put("a-new-key", 50_000, vec![7u8; 300]);
        let mut parts = vec![Ok(TablePart::Entry(first.clone()))];
        let mut expected = vec![first];
        let mut copies = 0;
        for (i, unit) in units.iter().enumerate() {
            let shares = (i > 0 && units[i - 1].max_key == unit.min_key)
                || units.get(i + 1).is_some_and(|next| next.min_key == unit.max_key);
            let rows: Vec<Entry> =
                want.iter().filter(|e| e.key >= unit.min_key && e.key <= unit.max_key).cloned().collect();
            if shares {
                // Rows already written with the previous unit are not written twice.
                let fresh: Vec<Entry> = rows.into_iter().filter(|e| !expected.contains(e)).collect();
                parts.extend(fresh.iter().cloned().map(|e| Ok(TablePart::Entry(e))));
                expected.extend(fresh);
            } else {
                copies += 1;
                parts.push(Ok(TablePart::Copy(unit.clone())));
                expected.extend(rows);
            }
        }
        assert!(copies > 0, "{name}: a row group is copied");
        store.write_table_parts(2, 1, &mut parts.into_iter()).unwrap();
        let mixed = value_encodings(&dir.path().join(table_file_name(2)));
        assert!(mixed.iter().any(|e| e.contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY)), "{name}: {mixed:?}");
        assert!(mixed.iter().any(|e| e.contains(&Encoding::PLAIN)), "{name}: {mixed:?}");
        assert_eq!(scan_all(&store, 2), expected, "{name}: scan of the mixed table");
        drop(store);
        let store = ParquetStore::open(dir.path(), options()).unwrap();
        for e in expected.iter().step_by(3) {
            let got = store.get(2, &e.key, e.seq).unwrap().expect("found after a reopen");
            assert_eq!((got.seq, &got.value), (e.seq, &e.value), "{name}: {:?}@{}", e.key, e.seq);
        }
    }
}

/// Writes the fixtures. Run at commit `fcf303e` (the last writer of `PLAIN` values) with
/// `cargo test -p strata-sstable --test plain_value_tables -- --ignored`; with a later writer it
/// fails, as its values are no longer `PLAIN`.
#[test]
#[ignore = "writes tests/data/plain-values-*.parquet with the writer of the checked-out commit"]
fn write_plain_value_fixtures() {
    for (name, compressible) in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        let store = ParquetStore::open(dir.path(), options()).unwrap();
        store.write_table(1, &mut entries(compressible).into_iter().map(Ok)).unwrap();
        let path = dir.path().join(table_file_name(1));
        let encodings = value_encodings(&path);
        assert!(encodings.iter().all(|e| e.contains(&Encoding::PLAIN)), "{name}: {encodings:?}");
        std::fs::create_dir_all(fixture("")).unwrap();
        std::fs::copy(&path, fixture(name)).unwrap();
    }
}
