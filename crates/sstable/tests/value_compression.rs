//! Values that the codec cannot shrink by `min_compression_saving` are stored uncompressed;
//! values that compress are compressed; either way every entry reads back, by point lookup and
//! by scan, with and without a block cache.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_core::{Entry, KeyRange, MAX_SEQNO};
use strata_sstable::{Compression, ParquetOptions, ParquetStore, SsTableStore};

/// splitmix64 output: bytes no codec can shrink.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)).to_le_bytes()
        })
        .take(len)
        .collect()
}

fn entries(random: bool) -> Vec<Entry> {
    (0..3000u64)
        .map(|i| {
            let value = if random { noise(i << 32, 100) } else { format!("value {i:08} ").repeat(8).into_bytes() };
            Entry::put(format!("key{i:06}"), i + 1, value)
        })
        .collect()
}

/// Writes `entries` as table `id` and checks they read back through `store`; returns the
/// value column's (stored, raw) bytes and the codec `describe` reports.
fn write_and_check(store: &ParquetStore, id: u64, entries: &[Entry]) -> ((u64, u64), String) {
    store.write_table(id, &mut entries.iter().cloned().map(Ok)).unwrap();
    let back: Vec<Entry> = store.scan(id, &KeyRange::all()).unwrap().map(Result::unwrap).collect();
    assert_eq!(back, entries);
    for e in entries.iter().step_by(37) {
        let got = store.get(id, &e.key, MAX_SEQNO).unwrap().expect("present");
        assert_eq!(got.value, e.value);
    }
    let d = store.describe(id).unwrap();
    let value = d.bytes.iter().find(|b| b.part == "value").expect("value column");
    ((value.stored, value.raw), d.compression)
}

/// Looks `key` up in table 1 of the store in `path`'s directory after flipping a bit of byte
/// `flip_at` of the table file `path`, whose undamaged bytes are `clean`.
fn get_damaged(
    path: &std::path::Path,
    clean: &[u8],
    flip_at: usize,
    opts: &ParquetOptions,
    key: &[u8],
) -> strata_sstable::Result<Option<strata_core::VersionedValue>> {
    let mut damaged = clean.to_vec();
    damaged[flip_at] ^= 0x40;
    std::fs::write(path, &damaged).unwrap();
    let store = ParquetStore::open(path.parent().unwrap(), opts.clone()).unwrap();
    store.get(1, key, MAX_SEQNO)
}

#[test]
fn incompressible_values_are_stored_uncompressed_and_read_back() {
    for codec in [Compression::Lz4, Compression::Snappy, Compression::Zstd(3)] {
        for cache in [0, 8 << 20] {
            let dir = tempfile::tempdir().unwrap();
            let opts =
                ParquetOptions { compression: codec, block_cache_bytes: cache, sync: false, ..Default::default() };
            let store = ParquetStore::open(dir.path(), opts).unwrap();

            let ((stored, raw), described) = write_and_check(&store, 1, &entries(true));
            assert!(described.contains("value: UNCOMPRESSED"), "{codec:?}: {described}");
            // An uncompressed column stores its raw bytes (plus page headers, counted in both).
            assert_eq!(stored, raw, "{codec:?}");

            let ((stored, raw), described) = write_and_check(&store, 2, &entries(false));
            assert!(!described.contains("UNCOMPRESSED"), "{codec:?}: {described}");
            assert!(stored * 2 < raw, "{codec:?}: compressible values stored in {stored} of {raw} bytes");
        }
    }
}

#[test]
fn a_zero_saving_always_compresses_and_a_full_one_never_does() {
    let dir = tempfile::tempdir().unwrap();
    let always = ParquetOptions { min_compression_saving: 0.0, sync: false, ..Default::default() };
    let store = ParquetStore::open(dir.path(), always).unwrap();
    let (_, described) = write_and_check(&store, 1, &entries(true));
    assert!(!described.contains("UNCOMPRESSED"), "{described}");

    let dir = tempfile::tempdir().unwrap();
    let never = ParquetOptions { min_compression_saving: 1.0, sync: false, ..Default::default() };
    let store = ParquetStore::open(dir.path(), never).unwrap();
    let ((stored, raw), described) = write_and_check(&store, 1, &entries(false));
    assert!(described.contains("value: UNCOMPRESSED"), "{described}");
    assert_eq!(stored, raw);
}

#[test]
fn the_sample_is_written_in_order_and_a_failing_source_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStore::open(dir.path(), ParquetOptions { sync: false, ..Default::default() }).unwrap();
    // Fewer entries than the sample holds, and more: both come back whole and in order.
    let all = entries(true);
    for (id, n) in [(1, 3), (2, all.len())] {
        write_and_check(&store, id, &all[..n]);
    }
    // An error inside the sample is the write's error; no table is left behind.
    let mut failing = all[..10]
        .iter()
        .cloned()
        .map(Ok)
        .chain(std::iter::once(Err(strata_sstable::Error::EmptyTable { file: "source".into() })));
    assert!(store.write_table(3, &mut failing).is_err());
    assert!(store.open(3).is_err());
}

/// A point lookup that reads an uncompressed value in place from a mapped table checks only
/// the value page's blocks it relies on: those of the page's header and lengths, and those of
/// its value. Damage there is corruption, never a wrong value; damage in another value's
/// block does not concern it, and the lookups and scans that read that value report it.
#[test]
fn a_value_read_in_place_checks_the_blocks_it_relies_on() {
    let dir = tempfile::tempdir().unwrap();
    // No block cache: every lookup reads its pages in place. Value pages as long as key
    // pages (64 rows), which the row numbers below are chosen for.
    let opts = ParquetOptions { block_cache_bytes: 0, sync: false, value_page_rows: 64, ..Default::default() };
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    let all = entries(true);
    store.write_table(1, &mut all.iter().cloned().map(Ok)).unwrap();
    assert!(store.describe(1).unwrap().compression.contains("value: UNCOMPRESSED"));
    let path = store.table_path(1);
    drop(store);
    let clean = std::fs::read(&path).unwrap();
    let at = |i: usize| clean.windows(100).position(|w| w == &all[i].value[..]).expect("value bytes in the file");

    // Rows 640 to 703 are one 64-row page: its header and lengths end where row 640's value
    // begins. Row 690 is near its end; rows 660 and 703 lie 3 KiB before and 1.3 KiB after
    // it, in other checksum blocks (of 1 KiB).
    let (first, target, before, after) = (640, 690, 660, 703);
    let get = |flip_at: usize, row: usize| get_damaged(&path, &clean, flip_at, &opts, &all[row].key);
    for other in [before, after] {
        let got = get(at(other) + 50, target);
        assert_eq!(got.unwrap().unwrap().value, all[target].value, "damage in row {other} is not read");
        let err = get(at(other) + 50, other).unwrap_err();
        assert!(matches!(err, strata_sstable::Error::Corruption { .. }), "{err}");
    }
    for flip in [at(first) - 1, at(target) + 50] {
        let err = get(flip, target).unwrap_err();
        assert!(matches!(err, strata_sstable::Error::Corruption { .. }), "{err}");
        assert!(err.to_string().contains("checksum"), "{err}");
    }
    std::fs::write(&path, &clean).unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    assert_eq!(store.get(1, &all[target].key, MAX_SEQNO).unwrap().unwrap().value, all[target].value);
}

/// A cold lookup of a value in an LZ4 page decompresses the page only up to the value, and
/// checks only the compressed bytes that took: damage further on in the page does not concern
/// it (the lookups of the values there report it), damage before it is corruption, never a
/// wrong value.
#[test]
fn a_value_read_from_an_lz4_page_checks_only_the_bytes_it_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    // 64-row value pages, which the row numbers and sizes below are chosen for.
    let opts = ParquetOptions { block_cache_bytes: 0, sync: false, value_page_rows: 64, ..Default::default() };
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    // db_bench's values: 50 random bytes, repeated. LZ4 halves them, so a 64-row page is
    // about 3.5 KiB: four checksum blocks of 1 KiB.
    let all: Vec<Entry> =
        (0..3000u64).map(|i| Entry::put(format!("key{i:06}"), i + 1, noise(i << 32, 50).repeat(2))).collect();
    store.write_table(1, &mut all.iter().cloned().map(Ok)).unwrap();
    let d = store.describe(1).unwrap();
    assert!(d.compression.starts_with("LZ4") && !d.compression.contains("value: UNCOMPRESSED"), "{}", d.compression);
    let path = store.table_path(1);
    drop(store);

    // The value page of rows 640 to 703, from the page index.
    let file = std::fs::File::open(&path).unwrap();
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
        .parse_and_finish(&file)
        .unwrap();
    let value_column = meta.row_group(0).columns().iter().position(|c| c.column_path().string() == "value").unwrap();
    let locations = meta.page_index().unwrap().offset_index(0, value_column).unwrap().page_locations();
    let page = locations.iter().find(|l| l.first_row_index == 640).expect("a page starts at row 640");
    let (start, len) = (page.offset as usize, page.compressed_page_size as usize);
    assert!(len > 3000, "a page of {len} bytes");

    let clean = std::fs::read(&path).unwrap();
    let get = |flip_at: usize, row: usize| get_damaged(&path, &clean, flip_at, &opts, &all[row].key);
    // Row 642 comes from the page's first few hundred bytes; its last 100 are two blocks on.
    let (early, last) = (642, 703);
    let tail = start + len - 100;
    assert_eq!(get(tail, early).unwrap().unwrap().value, all[early].value, "damage past the value is not read");
    let err = get(tail, last).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    for flip in [start + 2, start + len / 20] {
        let err = get(flip, early).unwrap_err();
        assert!(matches!(err, strata_sstable::Error::Corruption { .. }), "{err}");
        assert!(err.to_string().contains("checksum"), "{err}");
    }
    std::fs::write(&path, &clean).unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    for e in all.iter().step_by(7) {
        assert_eq!(store.get(1, &e.key, MAX_SEQNO).unwrap().unwrap().value, e.value);
    }
}
