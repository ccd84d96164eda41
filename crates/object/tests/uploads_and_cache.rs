//! A table larger than a part is uploaded in parts and reads back; the disk cache serves a
//! warm reopen without GETs, and a damaged cache entry is detected, dropped and fetched
//! again from the store (never served).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

use strata::{Db, Options};
use strata_object::{ObjectOptions, Remote};

fn fill(db: &Db, n: u32, value_len: usize) {
    for i in 0..n {
        db.put(format!("key{i:06}"), vec![b'a' + (i % 26) as u8; value_len]).unwrap();
    }
}

fn check(db: &Db, n: u32, value_len: usize) {
    for i in (0..n).step_by(97) {
        assert_eq!(db.get(format!("key{i:06}")).unwrap().unwrap().len(), value_len, "key{i:06}");
    }
    assert_eq!(db.iter(..).count(), n as usize);
}

fn the_cached_table(local: &Path) -> std::path::PathBuf {
    std::fs::read_dir(local.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("a whole table in the cache")
}

#[test]
fn a_table_larger_than_a_part_is_uploaded_in_parts() {
    let options = ObjectOptions { multipart_part_bytes: 5 << 20, ..ObjectOptions::default() };
    let remote = Remote::connect("memory://parts", options).unwrap();
    let local = tempfile::tempdir().unwrap();
    // One subcompaction: the flush below writes its memtable as one table, not one per key
    // range.
    let opts = Options { max_memtable_size: 32 << 20, max_subcompactions: 1, ..Options::default() }
        .compression(strata::CompressionName::None);
    let db = remote.open(local.path(), opts.clone()).unwrap();
    fill(&db, 12_000, 1000);
    db.flush().unwrap();
    let table = db.tables()[0][0].clone();
    assert!(table.file_size > 10 << 20, "one table of {} bytes", table.file_size);
    let puts = remote.stats().puts;
    assert!(puts >= 3, "a {}-byte table in 5 MiB parts: {puts} PUTs", table.file_size);
    db.close().unwrap();
    std::fs::remove_dir_all(local.path().join("cache")).unwrap();
    let db = remote.open(local.path(), opts).unwrap();
    check(&db, 12_000, 1000);
}

#[test]
fn a_warm_cache_serves_reads_and_a_damaged_entry_is_fetched_again() {
    let remote = Remote::connect("memory://cache", ObjectOptions::default()).unwrap();
    let local = tempfile::tempdir().unwrap();
    let db = remote.open(local.path(), Options::default()).unwrap();
    fill(&db, 5_000, 100);
    db.flush().unwrap();
    db.close().unwrap();

    // Warm: the whole table this process uploaded is on local disk.
    let db = remote.open(local.path(), Options::default()).unwrap();
    let before = remote.stats();
    check(&db, 5_000, 100);
    let after = remote.stats();
    assert_eq!(after.gets, before.gets, "a warm cache reads no table bytes from the store");
    assert!(after.cache_hits > before.cache_hits);
    db.close().unwrap();

    // Damage the cached copy: it fails its checksum at first use, is dropped, and the
    // reads go to the store.
    let cached = the_cached_table(local.path());
    let mut bytes = std::fs::read(&cached).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&cached, bytes).unwrap();
    let db = remote.open(local.path(), Options::default()).unwrap();
    check(&db, 5_000, 100);
    let stats = remote.stats();
    assert_eq!(stats.cache_corrupt, 1, "{stats:?}");
    assert!(stats.gets > after.gets, "the damaged table was read from the store");
    assert!(!cached.exists(), "the damaged copy is gone");
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let options = ObjectOptions { cache_bytes: 256 << 10, tail_prefetch_bytes: 1024, ..ObjectOptions::default() };
    let remote = Remote::connect("memory://bounded", options).unwrap();
    let local = tempfile::tempdir().unwrap();
    let opts = Options { max_memtable_size: 256 << 10, ..Options::default() };
    let db = remote.open(local.path(), opts.clone()).unwrap();
    fill(&db, 30_000, 64);
    db.compact_range(..).unwrap();
    check(&db, 30_000, 64);
    db.close().unwrap();
    let db = remote.open(local.path(), opts).unwrap();
    check(&db, 30_000, 64);
    let on_disk: u64 =
        std::fs::read_dir(local.path().join("cache")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(on_disk <= (256 << 10) + 4096, "{on_disk} bytes in a 256 KiB cache");
    assert!(remote.stats().cache_bytes <= 256 << 10);
}

/// With nothing cached (no disk cache, no readahead, a block cache far smaller than the
/// data), a point lookup costs one ranged GET per column page it reads and nothing for the
/// table's footer, index or filters, which were fetched once when the table opened.
#[test]
fn a_cold_point_lookup_is_one_get_per_column_page() {
    use strata::SsTableStore;
    let options = ObjectOptions { cache_bytes: 0, readahead_bytes: 0, ..ObjectOptions::default() };
    let remote = Remote::connect("memory://cold", options).unwrap();
    let local = tempfile::tempdir().unwrap();
    let opts = Options { block_cache_bytes: 64 << 10, ..Options::default() };
    let db = remote.open(local.path(), opts.clone()).unwrap();
    fill(&db, 50_000, 100);
    db.compact_range(..).unwrap();
    db.close().unwrap();
    let db = remote.open(local.path(), opts).unwrap();
    // Open every table first (one GET of its tail each).
    check(&db, 50_000, 100);
    let (gets, pages) = (remote.stats().gets, db.store().stats());
    let mut found = 0;
    for i in 0..500u32 {
        let k = (i * 7919) % 50_000;
        found += usize::from(db.get(format!("key{k:06}")).unwrap().is_some());
    }
    assert_eq!(found, 500);
    let after = db.store().stats();
    // A page's key part is two column pages (keys, sequence numbers and kinds); a value is
    // one value page, read in place or decoded for the cache.
    let key_parts = after.pages_read - pages.pages_read;
    let value_pages = after.value_pages_read - pages.value_pages_read;
    let column_pages = 2 * key_parts + value_pages;
    let requests = remote.stats().gets - gets;
    assert!(key_parts >= 400 && value_pages >= 400, "the lookups read pages: {key_parts} + {value_pages}");
    assert!(
        (key_parts + value_pages..=column_pages).contains(&requests),
        "{requests} GETs for {key_parts} key parts and {value_pages} value pages: one per column page read, none \
         for footers or filters"
    );
    eprintln!("{requests} GETs for 500 cold lookups ({:.2} each)", requests as f64 / 500.0);
}
