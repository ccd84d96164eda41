//! Any sorted entry stream written and read back equals the input, and gets and scans agree
//! with a model at several snapshots, for stored keys and for misses below, between and above
//! them. Pages and row groups are tiny so versions straddle their boundaries.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::ops::Bound;

use proptest::prelude::*;
use strata_core::{Bytes, Entry, KeyRange, MAX_SEQNO, SeqNo, VersionedValue};
use strata_sstable::{Compression, ParquetOptions, ParquetStore, SsTableStore};

fn entries_strategy() -> impl Strategy<Value = Vec<Entry>> {
    let entry =
        (prop::collection::vec(1u8..6, 1..4), 1u64..40, any::<bool>(), prop::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(k, seq, del, v)| if del { Entry::delete(k, seq) } else { Entry::put(k, seq, v) });
    prop::collection::vec(entry, 1..300).prop_map(|mut es| {
        es.sort_by(Entry::cmp_internal);
        es.dedup_by(|a, b| a.cmp_internal(b).is_eq());
        es
    })
}

fn model_get(entries: &[Entry], key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
    entries.iter().find(|e| &e.key[..] == key && e.seq <= snapshot).cloned().map(Entry::into_version)
}

fn bound(b: Option<(Vec<u8>, bool)>) -> Bound<Bytes> {
    match b {
        None => Bound::Unbounded,
        Some((k, true)) => Bound::Included(k.into()),
        Some((k, false)) => Bound::Excluded(k.into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn written_tables_read_back_and_agree_with_the_model(
        entries in entries_strategy(),
        row_group_rows in 1usize..60,
        codec in prop::sample::select(vec![Compression::None, Compression::Lz4, Compression::Snappy, Compression::Zstd(1)]),
        snapshots in prop::collection::vec(0u64..45, 1..4),
        ranges in prop::collection::vec((
            prop::option::of((prop::collection::vec(0u8..7, 0..3), any::<bool>())),
            prop::option::of((prop::collection::vec(0u8..7, 0..3), any::<bool>())),
        ), 1..5),
        cache in prop::sample::select(vec![0usize, 64 << 20]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions {
            data_page_size: 512,
        page_rows: 7,
            row_group_rows,
            compression: codec,
            block_cache_bytes: cache,
            sync: false,
            ..ParquetOptions::default()
        };
        let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
        let meta = store.write_table(3, &mut entries.clone().into_iter().map(Ok)).unwrap();
        prop_assert_eq!(meta.entries, entries.len() as u64);

        // Read through a fresh store, so nothing is served from the writer's side.
        let store = ParquetStore::open(dir.path(), opts).unwrap();
        let back: Vec<Entry> = store.scan(3, &KeyRange::all()).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&back, &entries);

        // Stored keys, and misses below, between (a stored key plus a byte) and above.
        let mut probes: Vec<Vec<u8>> = entries.iter().map(|e| e.key.to_vec()).collect();
        probes.extend(entries.iter().map(|e| [&e.key[..], &[0u8]].concat()));
        probes.extend([vec![], vec![0], vec![6], vec![6, 6, 6, 6]]);
        for key in &probes {
            for &snap in snapshots.iter().chain(&[0, MAX_SEQNO]) {
                prop_assert_eq!(store.get(3, key, snap).unwrap(), model_get(&entries, key, snap), "key {:?} snapshot {}", key, snap);
            }
        }
        for (start, end) in ranges {
            let range = KeyRange::new(bound(start), bound(end));
            let got: Vec<Entry> = store.scan(3, &range).unwrap().collect::<Result<_, _>>().unwrap();
            let want: Vec<Entry> = entries.iter().filter(|e| range.contains(&e.key)).cloned().collect();
            prop_assert_eq!(got, want, "range {:?}", range);
        }
    }
}

/// Keys longer than the 64 bytes the page index keeps of a bound: page minimums and maximums are
/// truncated, so a scan's start page is chosen by bounds that are not keys of the table.
const LONG_PREFIX: [u8; 70] = [b'p'; 70];

fn long(k: &[u8]) -> Vec<u8> {
    [&LONG_PREFIX[..], k].concat()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn scans_over_keys_with_truncated_page_bounds_agree_with_the_model(
        entries in entries_strategy(),
        ranges in prop::collection::vec((
            prop::option::of((prop::collection::vec(0u8..7, 0..3), any::<bool>())),
            prop::option::of((prop::collection::vec(0u8..7, 0..3), any::<bool>())),
        ), 1..6),
        cache in prop::sample::select(vec![0usize, 64 << 20]),
    ) {
        let entries: Vec<Entry> =
            entries.into_iter().map(|e| Entry { key: long(&e.key).into(), ..e }).collect();
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions {
            data_page_size: 512,
            page_rows: 5,
            row_group_rows: 40,
            block_cache_bytes: cache,
            sync: false,
            ..ParquetOptions::default()
        };
        let store = ParquetStore::open(dir.path(), opts).unwrap();
        store.write_table(3, &mut entries.clone().into_iter().map(Ok)).unwrap();
        let long_bound = |b: Option<(Vec<u8>, bool)>| bound(b.map(|(k, inc)| (long(&k), inc)));
        for (start, end) in ranges {
            let range = KeyRange::new(long_bound(start), long_bound(end));
            // Twice: cold, then with whatever the first pass cached.
            for _ in 0..2 {
                let got: Vec<Entry> = store.scan(3, &range).unwrap().collect::<Result<_, _>>().unwrap();
                let want: Vec<Entry> = entries.iter().filter(|e| range.contains(&e.key)).cloned().collect();
                prop_assert_eq!(got, want, "range {:?}", range);
            }
        }
    }
}
