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
    // No block cache: every lookup reads its pages in place.
    let opts = ParquetOptions { block_cache_bytes: 0, sync: false, ..Default::default() };
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
    let get = |flip_at: usize, row: usize| {
        let mut damaged = clean.clone();
        damaged[flip_at] ^= 0x40;
        std::fs::write(&path, &damaged).unwrap();
        let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
        store.get(1, &all[row].key, MAX_SEQNO)
    };
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
