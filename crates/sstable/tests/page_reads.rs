//! A point lookup decodes one page cold and none warm; a filtered miss reads no data.

use strata_core::{Entry, MAX_SEQNO};
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

const N: u32 = 100_000;

fn key(i: u32) -> String {
    format!("user{:08}", i * 2)
}

#[test]
fn cold_get_reads_one_page_warm_get_none_and_filtered_miss_none() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    let meta = store
        .write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, format!("value{i:020}")))))
        .unwrap();

    let store = ParquetStore::open(dir.path(), opts).unwrap();
    store.open(1).unwrap();
    let s0 = store.stats();
    for i in [0, 1234, N / 2, N - 1] {
        let before = store.stats();
        let got = store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
        assert_eq!(got.seq, u64::from(i) + 1);
        let after = store.stats();
        assert_eq!(after.pages_read - before.pages_read, 1, "cold get of key {i} must decode exactly one page");
        let read = after.bytes_read - before.bytes_read;
        assert!(read < 64 * 1024, "cold get read {read} bytes of a {}-byte file", meta.file_size);
        assert_eq!(after.block_cache.misses - before.block_cache.misses, 1);

        store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
        let warm = store.stats();
        assert_eq!(warm.pages_read, after.pages_read, "warm get must not decode");
        assert_eq!(warm.bytes_read, after.bytes_read, "warm get must not read the file");
        assert_eq!(warm.block_cache.hits - after.block_cache.hits, 1);
    }

    // Keys between stored keys (odd numbers): the Bloom filter answers nearly all of them.
    let before = store.stats();
    let misses = 1000;
    for i in 0..misses {
        let k = format!("user{:08}", i * 2 * (N / misses) + 1);
        assert_eq!(store.get(1, k.as_bytes(), MAX_SEQNO).unwrap(), None);
    }
    let after = store.stats();
    let filtered = after.filter_negatives - before.filter_negatives;
    assert!(filtered >= 970, "only {filtered} of {misses} misses were answered by the filter");
    assert!(after.pages_read - before.pages_read <= u64::from(misses) - filtered);
    assert_eq!(after.tables_opened, s0.tables_opened, "the table stays in the table cache");
    assert!(after.table_cache.hits > s0.table_cache.hits);
}
