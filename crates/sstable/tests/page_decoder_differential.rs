//! Strata's own page decoder against the arrow reader: for random tables (every codec, random
//! page row limits and page sizes, empty values and some 1 MiB ones, many versions of one key
//! across page boundaries), point lookups at random snapshots and scans of random ranges
//! answer exactly what the rows the arrow reader decodes from the same file imply, row for row.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::ops::Bound;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use strata_core::{Bytes, Entry, KeyRange, SeqNo, ValueKind, VersionedValue};
use strata_sstable::{Compression, ParquetOptions, ParquetStore, SsTableStore};

/// Every row of the table file, decoded by parquet's arrow reader.
fn arrow_rows(path: &std::path::Path) -> Vec<Entry> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().with_batch_size(1000).build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let keys = batch.column(0).as_binary::<i32>();
        let seqs = batch.column(1).as_primitive::<UInt64Type>();
        let kinds = batch.column(2).as_primitive::<UInt8Type>();
        let values = batch.column(3).as_binary::<i32>();
        assert_eq!(keys.null_count() + values.null_count(), 0);
        for i in 0..batch.num_rows() {
            out.push(Entry {
                key: Bytes::copy_from_slice(keys.value(i)),
                seq: seqs.value(i),
                kind: ValueKind::from_u8(kinds.value(i)).unwrap(),
                value: Bytes::copy_from_slice(values.value(i)),
            });
        }
    }
    out
}

/// What a get must answer, from the arrow reader's rows: the first row of `key` at or below
/// `snapshot` (rows are in internal key order).
fn expected_get(rows: &[Entry], key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
    rows.iter().find(|e| &e.key[..] == key && e.seq <= snapshot).map(|e| VersionedValue {
        seq: e.seq,
        kind: e.kind,
        value: e.value.clone(),
    })
}

#[derive(Debug, Clone)]
struct Case {
    compression: Compression,
    min_compression_saving: f64,
    page_rows: usize,
    /// Rows per value page: often fewer than `page_rows`, so value pages do not line up with
    /// key pages.
    value_page_rows: usize,
    data_page_size: usize,
    row_group_rows: usize,
    block_cache_bytes: usize,
    /// Every key's first version only, a put at sequence number 0, as a merge below L0
    /// writes them (a settled table, whose `seq` and `kind` pages span many key pages).
    settled: bool,
    /// Every version a put (a put-only table, whose `kind` pages span many key pages).
    puts_only: bool,
    /// Key → versions, each `(kind is delete, value length class, value byte)`.
    keys: BTreeMap<Vec<u8>, Vec<(bool, u8, u8)>>,
    /// Probes: `(key index or a fresh key, snapshot)`.
    probes: Vec<(usize, u8, SeqNo)>,
    ranges: Vec<(usize, usize, bool)>,
}

fn value(class: u8, byte: u8) -> Vec<u8> {
    match class {
        // Empty values, short ones, ones that cut pages by size, and (rarely) 1 MiB ones.
        0..=2 => Vec::new(),
        3..=12 => vec![byte; usize::from(byte % 40)],
        13..=14 => vec![byte; 600 + usize::from(byte) * 13],
        _ => (0..(1 << 20) + usize::from(byte)).map(|i| (i as u8) ^ byte).collect(),
    }
}

fn case() -> impl Strategy<Value = Case> {
    let codec = prop_oneof![
        Just(Compression::None),
        Just(Compression::Snappy),
        Just(Compression::Lz4),
        Just(Compression::Zstd(1)),
    ];
    // Keys share prefixes (as sorted keys do); some have many versions, which cross pages.
    let key = prop_oneof![
        (0u16..400).prop_map(|i| format!("key{i:05}").into_bytes()),
        (0u16..50, prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(i, tail)| [
            format!("k{i:02}").into_bytes(),
            tail
        ]
        .concat()),
        Just(Vec::new()),
    ];
    // A 1 MiB value in about one table in three (class 15 is 1 in 16 versions of a key whose
    // class is drawn from 0..=15; cases draw it only when `big` is set).
    let versions = |big: bool| {
        let classes = if big { 0u8..16 } else { 0u8..15 };
        prop_oneof![
            4 => prop::collection::vec((any::<bool>(), classes.clone(), any::<u8>()), 1..4),
            1 => prop::collection::vec((any::<bool>(), classes, any::<u8>()), 20..80),
        ]
    };
    // A saving of 1 stores every table's values uncompressed whatever the codec.
    let saving = prop_oneof![Just(0.125f64), Just(1.0)];
    (
        (codec, saving),
        (1usize..70, 1usize..70),
        prop_oneof![Just(512usize), Just(2048), Just(16384)],
        prop_oneof![Just(37usize), Just(100_000)],
    )
        .prop_flat_map(move |(compression, page_rows, data_page_size, row_group_rows)| {
            let big = any::<u8>().prop_map(|b| b % 3 == 0);
            let key = key.clone();
            (
                Just((compression, page_rows, data_page_size, row_group_rows)),
                big,
                prop_oneof![Just(0usize), Just(1 << 26)],
                any::<u8>().prop_map(|b| (b % 4 == 0, b % 4 == 1)),
            )
                .prop_flat_map(move |(o, big, block_cache_bytes, (settled, puts_only))| {
                    (
                        Just(o),
                        Just((block_cache_bytes, settled, puts_only)),
                        prop::collection::btree_map(key.clone(), versions(big), 1..60),
                        prop::collection::vec((any::<usize>(), any::<u8>(), 0u64..14_000), 40),
                        prop::collection::vec((any::<usize>(), any::<usize>(), any::<bool>()), 6),
                    )
                })
        })
        .prop_map(
            |(
                ((compression, min_compression_saving), (page_rows, value_page_rows), data_page_size, row_group_rows),
                (block_cache_bytes, settled, puts_only),
                keys,
                probes,
                ranges,
            )| {
                Case {
                    compression,
                    min_compression_saving,
                    page_rows,
                    value_page_rows,
                    data_page_size,
                    row_group_rows,
                    block_cache_bytes,
                    settled,
                    puts_only,
                    keys,
                    probes,
                    ranges,
                }
            },
        )
}

fn check(case: &Case) {
    let mut entries = Vec::new();
    let mut seq = 400u64;
    for (key, versions) in &case.keys {
        if case.settled {
            let (_, class, byte) = versions[0];
            entries.push(Entry::put(key.clone(), 0, value(class, byte)));
            continue;
        }
        // Versions of one key: descending sequence numbers, some gaps.
        for &(delete, class, byte) in versions {
            seq -= 1 + u64::from(byte % 2);
            entries.push(if delete && !case.puts_only {
                Entry::delete(key.clone(), seq + 1000)
            } else {
                Entry::put(key.clone(), seq + 1000, value(class, byte))
            });
        }
        seq += 200;
    }
    // Sequence numbers must descend within a key only; shift them per key above.
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions {
        compression: case.compression,
        min_compression_saving: case.min_compression_saving,
        page_rows: case.page_rows,
        value_page_rows: case.value_page_rows,
        data_page_size: case.data_page_size,
        row_group_rows: case.row_group_rows,
        block_cache_bytes: case.block_cache_bytes,
        sync: false,
        ..ParquetOptions::default()
    };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    store.write_table(1, &mut entries.iter().cloned().map(Ok)).unwrap();
    let rows = arrow_rows(&store.table_path(1));
    assert_eq!(rows, entries, "the arrow reader reads back what was written");

    let keys: Vec<&Vec<u8>> = case.keys.keys().collect();
    for &(k, fresh, snapshot) in &case.probes {
        let mut key = keys[k % keys.len()].clone();
        if fresh % 4 == 0 {
            key.push(fresh);
        }
        for snap in [snapshot + 1000, snapshot + 1200, u64::MAX >> 8] {
            let got = store.get(1, &key, snap).unwrap();
            assert_eq!(got, expected_get(&rows, &key, snap), "get({key:?}, {snap})");
        }
    }
    let got: Vec<Entry> = store.scan(1, &KeyRange::all()).unwrap().collect::<Result<_, _>>().unwrap();
    assert!(got == rows, "a full scan differs from the arrow reader's rows");
    for &(a, b, inclusive) in &case.ranges {
        let (a, b) = (keys[a % keys.len()].clone(), keys[b % keys.len()].clone());
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let end = if inclusive { Bound::Included(&hi[..]) } else { Bound::Excluded(&hi[..]) };
        let range = KeyRange::from_range::<&[u8], _>((Bound::Included(&lo[..]), end));
        let want: Vec<&Entry> = rows
            .iter()
            .filter(|e| e.key[..] >= lo[..] && (e.key[..] < hi[..] || (inclusive && e.key[..] == hi[..])))
            .collect();
        let got: Vec<Entry> = store.scan(1, &range).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(got.iter().eq(want.iter().copied()), "scan {lo:?}..{hi:?} differs from the arrow reader's rows");
    }
}

proptest! {
    // NOTE: few cases, each a whole table written and read back, so the suite stays quick in
    // debug builds; a failing case is shrunk and replayed from proptest-regressions.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn page_decoder_answers_like_the_arrow_reader(case in case()) {
        check(&case);
    }
}

/// The case the random ones may miss: one key with hundreds of versions spanning many pages and
/// row groups, values of every size class (1 MiB ones included), in every codec.
#[test]
fn many_versions_of_one_key_across_pages_and_codecs() {
    for compression in [Compression::None, Compression::Snappy, Compression::Lz4, Compression::Zstd(3)] {
        let versions: Vec<(bool, u8, u8)> =
            (0..150u8).map(|i| (i % 11 == 5, if i % 50 == 7 { 15 } else { i % 15 }, i)).collect();
        let mut keys = BTreeMap::new();
        keys.insert(b"a".to_vec(), vec![(false, 3, 1)]);
        keys.insert(b"hot".to_vec(), versions);
        keys.insert(b"z".to_vec(), vec![(true, 0, 0)]);
        let probes: Vec<(usize, u8, SeqNo)> = (0..40).map(|i| (1, 1, i * 10)).collect();
        let ranges = vec![(0, 2, true), (1, 1, true), (0, 1, false)];
        for (page_rows, data_page_size, min_compression_saving) in [(7, 512, 0.125), (64, 16384, 1.0)] {
            check(&Case {
                compression,
                min_compression_saving,
                page_rows,
                value_page_rows: 3,
                data_page_size,
                row_group_rows: 40,
                block_cache_bytes: 0,
                settled: false,
                puts_only: false,
                keys: keys.clone(),
                probes: probes.clone(),
                ranges: ranges.clone(),
            });
        }
    }
}
