//! A point lookup decodes one page cold and none warm; a filtered miss reads no data; a scan
//! decodes only the pages its range reaches.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_core::{Entry, KeyRange, MAX_SEQNO};
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
        assert_eq!(after.value_pages_read - before.value_pages_read, 1, "and that page's values");
        let read = after.bytes_read - before.bytes_read;
        assert!(read < 64 * 1024, "cold get read {read} bytes of a {}-byte file", meta.file_size);
        // The page's key part and the value page holding the row, each a miss.
        assert_eq!(after.block_cache.misses - before.block_cache.misses, 2);

        store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
        let warm = store.stats();
        assert_eq!(warm.pages_read, after.pages_read, "warm get must not decode");
        assert_eq!(warm.bytes_read, after.bytes_read, "warm get must not read the file");
        assert_eq!(warm.block_cache.hits - after.block_cache.hits, 2);
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
    assert_eq!(after.value_pages_read, before.value_pages_read, "an absent key never reads values");
    assert_eq!(after.tables_opened, s0.tables_opened, "the table stays in the table cache");
    assert!(after.table_cache.hits > s0.table_cache.hits);
}

/// Value pages hold half a key page's rows by default (`value_page_rows` 32, `page_rows` 64).
/// A cold lookup still decodes one key page and the one value page holding its row, finds
/// every key's value (in either half, cached or read in place), and checks fewer bytes than
/// in a table whose value pages line up with its key pages.
#[test]
fn value_pages_shorter_than_key_pages_answer_from_the_value_page_holding_the_row() {
    let value = |i: u32| {
        // 100 bytes that LZ4 halves, as the bench's values.
        let half = format!("{:050}", u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) % 10u64.pow(18));
        format!("{half}{half}")
    };
    let open = |value_page_rows: usize, block_cache_bytes: usize| {
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions { sync: false, value_page_rows, block_cache_bytes, ..ParquetOptions::default() };
        assert_eq!(
            (opts.page_rows, ParquetOptions::default().value_page_rows),
            (64, 32),
            "the defaults this test is about"
        );
        let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
        store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, value(i))))).unwrap();
        (ParquetStore::open(dir.path(), opts).unwrap(), dir)
    };
    // One key per key page (a second would hit the cache), at every row position: both halves,
    // the rows either side of the middle, the page's ends, and the table's last row.
    let probes: Vec<u32> =
        (0..N / 64).step_by(3).map(|p| p * 64 + p * 37 % 64).chain([64 + 31, 128 + 32, 256 + 63, N - 1]).collect();
    let mut checked = Vec::new();
    for (value_page_rows, cache) in [(32, 0), (32, 64 << 20), (64, 0)] {
        let (store, _dir) = open(value_page_rows, cache);
        let before = store.stats();
        for &i in &probes {
            let s0 = store.stats();
            let got = store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
            assert_eq!(got.value, value(i).as_bytes(), "key {i}, value pages of {value_page_rows} rows, cache {cache}");
            let s1 = store.stats();
            assert_eq!(s1.pages_read - s0.pages_read, 1, "key {i}: one key page");
            assert_eq!(s1.value_pages_read - s0.value_pages_read, 1, "key {i}: one value page");
        }
        let after = store.stats();
        checked.push(after.bytes_read - before.bytes_read);
    }
    let [short, _, long] = checked[..] else { unreachable!() };
    assert!(short < long, "cold lookups checked {short} bytes with short value pages, {long} with long ones");
}

/// A seek (a scan from a key, of which a few entries are read) decodes only the pages those
/// entries are on, through the block cache: a repeated seek reads nothing from the file. A long
/// scan streams past its first pages without filling the block cache.
#[test]
fn scan_from_mid_table_reads_only_the_pages_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    // 256-row pages, which the entry counts below are chosen for.
    let opts = ParquetOptions { sync: false, page_rows: 256, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    store
        .write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, format!("value{i:020}")))))
        .unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let pages = store.describe(1).unwrap().pages as u64;
    let seek = |from: u32, n: usize| -> Vec<u64> {
        let range = KeyRange::from_range(key(from)..);
        store.scan(1, &range).unwrap().take(n).map(|e| e.unwrap().seq).collect()
    };

    let before = store.stats();
    let want: Vec<u64> = (N / 2..N / 2 + 100).map(|i| u64::from(i) + 1).collect();
    assert_eq!(seek(N / 2, 100), want);
    let cold = store.stats();
    let decoded = cold.pages_read - before.pages_read;
    assert!((1..=2).contains(&decoded), "100 entries are on one or two pages, {decoded} were decoded");
    // Value pages hold 32 rows: 100 entries are on four or five of them.
    let values = cold.value_pages_read - before.value_pages_read;
    assert!((4..=5).contains(&values), "{values} value pages were decoded");
    // Each key page and each value page is a cache entry of its own.
    let parts = decoded + values;
    assert_eq!(cold.block_cache.misses - before.block_cache.misses, parts);
    assert_eq!(cold.block_cache.entries - before.block_cache.entries, parts, "the seek caches its pages");
    let read = cold.bytes_read - before.bytes_read;
    assert!(read < 2 * 64 * 1024, "the seek read {read} bytes");

    assert_eq!(seek(N / 2, 100), want);
    let warm = store.stats();
    assert_eq!((warm.pages_read, warm.bytes_read), (cold.pages_read, cold.bytes_read), "a warm seek reads nothing");
    assert_eq!(warm.block_cache.hits - cold.block_cache.hits, parts);

    // A bounded range ends inside its last page and reads no page after it.
    let range = KeyRange::from_range(key(1000)..=key(1299));
    let got: Vec<u64> = store.scan(1, &range).unwrap().map(|e| e.unwrap().seq).collect();
    assert_eq!(got, (1001..=1300).collect::<Vec<u64>>());
    let bounded = store.stats();
    assert!(bounded.pages_read - warm.pages_read <= 3, "300 entries span at most three pages");

    // A long scan (the last three quarters) reads each of its pages once and caches only the
    // first few.
    let tail = seek(N / 4, usize::MAX);
    assert_eq!(tail.len(), (N - N / 4) as usize);
    assert!(tail.windows(2).all(|w| w[0] + 1 == w[1]));
    let long = store.stats();
    let decoded = long.pages_read - bounded.pages_read;
    assert!(decoded <= pages * 3 / 4 + 2, "the long scan decoded {decoded} of {pages} pages");
    let cached = long.block_cache.entries - bounded.block_cache.entries;
    // The first four key pages, and the value pages of their rows (eight each, and one
    // holding the scan's first row).
    assert!(cached <= 4 + 8 * 4 + 1, "a long scan cached {cached} page parts");
}

/// A lookup that finds a deletion, or a key absent from the page it lands on, reads no values;
/// with a block cache smaller than the data, key parts stay cached while value pages come and go.
#[test]
fn deletions_and_absent_keys_read_no_values_and_key_parts_outlive_value_pages() {
    let dir = tempfile::tempdir().unwrap();
    // Room for every key part of the table but for few of its value pages.
    let opts = ParquetOptions { sync: false, block_cache_bytes: 8 << 20, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    let entry = |i: u32| {
        if i.is_multiple_of(10) {
            Entry::delete(key(i), u64::from(i) + 1)
        } else {
            Entry::put(key(i), u64::from(i) + 1, vec![b'v'; 200])
        }
    };
    store.write_table(1, &mut (0..N).map(|i| Ok(entry(i)))).unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let pages = store.describe(1).unwrap().pages as u64;

    let before = store.stats();
    for i in (0..N).step_by(10) {
        let got = store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
        assert_eq!((got.seq, got.kind), (u64::from(i) + 1, strata_core::ValueKind::Delete));
        assert!(got.value.is_empty());
    }
    let after = store.stats();
    assert_eq!(after.pages_read - before.pages_read, pages, "every page's keys were read once");
    assert_eq!(after.value_pages_read, before.value_pages_read, "deletions read no values");

    // Every put, twice over: the value pages (about 20 MiB) churn through the 8 MiB cache, the
    // key parts stay, so the second pass decodes no key part again.
    for _ in 0..2 {
        for i in (0..N).filter(|i| !i.is_multiple_of(10)) {
            let got = store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
            assert_eq!(got.value.len(), 200);
        }
    }
    let end = store.stats();
    assert_eq!(end.pages_read, after.pages_read, "key parts stayed in the cache");
    assert!(end.value_pages_read - after.value_pages_read >= 2 * pages - 20, "value pages were evicted and reread");
}

/// Tables written with any checksum block size read back the same (4 KiB was the only size
/// before 1 KiB became the default), and a smaller block reads fewer bytes for a cold lookup.
#[test]
fn every_checksum_block_size_reads_and_smaller_blocks_read_less() {
    let mut cold_bytes = Vec::new();
    for block in [512, 1024, 4096, 65536] {
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions { sync: false, checksum_block_size: block, ..ParquetOptions::default() };
        let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
        store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, format!("v{i}"))))).unwrap();
        let store = ParquetStore::open(dir.path(), opts).unwrap();
        store.open(1).unwrap();
        let before = store.stats();
        for i in (0..N).step_by(997) {
            let got = store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
            assert_eq!(got.value, format!("v{i}").as_bytes(), "block size {block}");
        }
        cold_bytes.push(store.stats().bytes_read - before.bytes_read);
        let all: Vec<u64> = store.scan(1, &KeyRange::all()).unwrap().map(|e| e.unwrap().seq).collect();
        assert_eq!(all, (1..=u64::from(N)).collect::<Vec<_>>(), "block size {block}");
    }
    assert!(cold_bytes.windows(2).all(|w| w[0] < w[1]), "bytes read by cold lookups: {cold_bytes:?}");
}

/// Split keys come from the page index, cut the table into runs of about equal rows, and
/// cost no data read.
#[test]
fn split_keys_cut_the_table_into_about_equal_runs_without_reading_data() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, format!("value{i}"))))).unwrap();
    store.open(1).unwrap();
    let before = store.stats();
    assert_eq!(store.split_keys(1, 8).unwrap().len(), 7);
    assert_eq!(store.stats().bytes_read, before.bytes_read, "split keys read no data");
    for parts in [2usize, 3, 8] {
        let cuts = store.split_keys(1, parts).unwrap();
        assert_eq!(cuts.len(), parts - 1);
        let mut bounds = vec![None];
        bounds.extend(cuts.iter().map(Some));
        bounds.push(None);
        for w in bounds.windows(2) {
            let range = KeyRange::new(
                w[0].map_or(std::ops::Bound::Unbounded, |k| std::ops::Bound::Included(k.clone())),
                w[1].map_or(std::ops::Bound::Unbounded, |k| std::ops::Bound::Excluded(k.clone())),
            );
            let rows = store.scan(1, &range).unwrap().count();
            let share = N as usize / parts;
            assert!(rows.abs_diff(share) <= 64, "{parts} parts: a run of {rows} rows, not about {share}");
        }
    }
    assert_eq!(store.split_keys(1, 1).unwrap(), Vec::<strata_core::Bytes>::new());
}

/// Reading back from the end, each step's start comes from the page index (no data read)
/// and is the first key of the page holding the last key before the step's end, or of the
/// page `back` pages before it: a step reads `back + 1` pages' rows.
#[test]
fn keys_to_read_back_from_start_the_page_before_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, format!("value{i}"))))).unwrap();
    store.open(1).unwrap();
    let (mut end, mut steps, mut rows) = (None::<strata_core::Bytes>, 0, 0);
    loop {
        let read = store.stats().bytes_read;
        let Some(start) = store.key_before(1, end.as_deref(), 0).unwrap() else { break };
        let further = store.key_before(1, end.as_deref(), 3).unwrap();
        assert_eq!(store.stats().bytes_read, read, "finding a step's start read data");
        let to_end = |from: &strata_core::Bytes| {
            let end = end.clone().map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
            KeyRange::new(std::ops::Bound::Included(from.clone()), end)
        };
        let keys: Vec<_> = store.scan(1, &to_end(&start)).unwrap().map(|e| e.unwrap().key).collect();
        assert!(!keys.is_empty() && keys.len() <= 256, "a step of {} rows from {start:?}", keys.len());
        assert_eq!(keys[0], start, "page bounds of distinct keys are keys");
        // Three pages further back, the step holds three more pages' rows.
        let further = further.expect("a page three back, or the first");
        let four = store.scan(1, &to_end(&further)).unwrap().count();
        assert!(further <= start && four <= 4 * 256, "{four} rows four pages back from {end:?}");
        assert!(further == key(0).as_bytes() || four > 3 * keys.len(), "{four} rows, {} in the last page", keys.len());
        (end, steps, rows) = (Some(start), steps + 1, rows + keys.len());
    }
    assert_eq!(rows, N as usize, "the steps cover the table");
    assert!(steps >= N as usize / 256, "{steps} steps");
    assert_eq!(end.as_deref(), Some(key(0).as_bytes()));
    assert_eq!(store.key_before(1, Some(key(0).as_bytes()), 0).unwrap(), None);
    assert_eq!(store.key_before(1, None, usize::MAX).unwrap().as_deref(), Some(key(0).as_bytes()), "fewer pages");
}

/// With a block cache far smaller than the table, a full cache declines a page's first miss
/// (the lookup reads it in place) and caches it on the next: lookups of every kind (newest
/// version, older snapshots, deletions, absent keys) answer exactly as with a cache that
/// admits everything, and a page read again soon ends up cached.
#[test]
fn a_full_cache_reads_declined_pages_in_place_and_answers_alike() {
    let versioned = |i: u32| {
        // Three versions per key, newest first; every seventh key's newest is a deletion.
        let k = key(i);
        let base = u64::from(i) * 10;
        let newest = if i.is_multiple_of(7) {
            Entry::delete(k.clone(), base + 3)
        } else {
            Entry::put(k.clone(), base + 3, format!("{i:0>100}"))
        };
        [newest, Entry::put(k.clone(), base + 2, format!("second {i}")), Entry::put(k, base + 1, vec![b'x'; 150])]
    };
    let n = N / 2;
    let open = |admission: bool| {
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions {
            sync: false,
            block_cache_bytes: 1 << 20,
            block_cache_admission: admission,
            ..ParquetOptions::default()
        };
        let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
        store.write_table(1, &mut (0..n).flat_map(versioned).map(Ok)).unwrap();
        (ParquetStore::open(dir.path(), opts).unwrap(), dir)
    };
    let (doorkeeper, _d1) = open(true);
    let (plain, _d2) = open(false);
    let probes: Vec<(Vec<u8>, u64)> = (0..n)
        .step_by(3)
        .flat_map(|i| {
            let base = u64::from(i) * 10;
            [
                (key(i), MAX_SEQNO),
                (key(i), base + 2),
                (key(i), base + 1),
                (key(i), base),
                (format!("{}~", key(i)), MAX_SEQNO),
            ]
        })
        .map(|(k, s)| (k.into_bytes(), s))
        .collect();
    for (k, snapshot) in &probes {
        let want = plain.get(1, k, *snapshot).unwrap();
        assert_eq!(
            doorkeeper.get(1, k, *snapshot).unwrap(),
            want,
            "key {:?} at {snapshot}",
            String::from_utf8_lossy(k)
        );
    }
    let s = doorkeeper.stats();
    assert!(s.block_cache.declined > 1000, "only {} misses were declined", s.block_cache.declined);
    assert_eq!(plain.stats().block_cache.declined, 0);

    // A few keys read over and over: the second read admits their pages, after that they hit.
    let hot: Vec<Vec<u8>> =
        (0..n).step_by(1000).filter(|i| !i.is_multiple_of(7)).take(6).map(|i| key(i).into_bytes()).collect();
    for _ in 0..2 {
        for k in &hot {
            doorkeeper.get(1, k, MAX_SEQNO).unwrap().unwrap();
        }
    }
    let before = doorkeeper.stats();
    for k in &hot {
        let got = doorkeeper.get(1, k, MAX_SEQNO).unwrap().unwrap();
        assert_eq!(got.value.len(), 100);
    }
    let after = doorkeeper.stats();
    assert_eq!(after.block_cache.hits - before.block_cache.hits, 2 * hot.len() as u64, "hot pages are cached");
    assert_eq!((after.pages_read, after.value_pages_read), (before.pages_read, before.value_pages_read));
}

/// A value of 100 bytes: `i` zero-padded.
fn padded_value(i: u32) -> String {
    format!("{i:0>100}")
}

/// A table of `N` keys with [`padded_value`]s, in a store whose 1 MiB block cache lookups over
/// the first half have filled (a 100,000-row table is about 13 MiB), so admission is on.
fn store_with_a_full_cache() -> (ParquetStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, block_cache_bytes: 1 << 20, ..ParquetOptions::default() };
    assert_eq!((opts.page_rows, opts.value_page_rows), (64, 32), "the tests' rows are chosen for these");
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), 1, padded_value(i))))).unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    for i in 0..N / 2 {
        store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap();
    }
    (store, dir)
}

/// Seeks go through the same admission as lookups: once the cache is full, the pages a short
/// scan misses for the first time are decoded and dropped, and cached on their next miss, so
/// seeks over data many times the cache do not churn it; what they return is unchanged.
#[test]
fn a_full_cache_admits_a_seeks_pages_on_their_second_miss() {
    let (store, _dir) = store_with_a_full_cache();
    let seek = |i: u32| {
        let from = strata_core::Bytes::from(key(i));
        let range = KeyRange::new(std::ops::Bound::Included(from), std::ops::Bound::Unbounded);
        let got: Vec<Entry> = store.scan(1, &range).unwrap().take(100).map(Result::unwrap).collect();
        assert_eq!(got.len(), 100);
        assert!(got.iter().zip(i..).all(|(e, j)| e.key == key(j).as_bytes() && e.value == padded_value(j).as_bytes()));
    };
    // Seeks in the half never read: the first decodes its pages without caching them...
    let at = N / 2 + 1000;
    let before = store.stats();
    seek(at);
    let first = store.stats();
    assert!(first.block_cache.declined >= before.block_cache.declined + 2, "the first miss is declined");
    assert!(first.pages_read > before.pages_read);
    // ...the second caches them, and the third reads nothing.
    seek(at);
    let second = store.stats();
    assert_eq!(second.block_cache.declined, first.block_cache.declined, "the second miss is admitted");
    seek(at);
    let third = store.stats();
    assert_eq!((third.pages_read, third.value_pages_read), (second.pages_read, second.value_pages_read));
}

/// Point lookups and scans cache the same value pages: a seek over rows a lookup read finds
/// the value page the lookup cached, and lookups after a scan find the value pages it cached.
#[test]
fn lookups_and_scans_share_the_value_pages_they_cache() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, ..ParquetOptions::default() };
    assert_eq!((opts.page_rows, opts.value_page_rows), (64, 32), "the rows below are chosen for these");
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    let value = |i: u32| format!("{i:0>100}");
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), 1, value(i))))).unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let seek = |from: u32, n: usize| {
        let range = KeyRange::from_range(key(from)..);
        let got: Vec<Entry> = store.scan(1, &range).unwrap().take(n).map(Result::unwrap).collect();
        assert!(got.iter().zip(from..).all(|(e, j)| e.key == key(j).as_bytes() && e.value == value(j).as_bytes()));
        assert_eq!(got.len(), n);
    };

    // Key page 10 holds rows 640..704, its value pages rows 640..672 and 672..704.
    assert_eq!(store.get(1, key(650).as_bytes(), MAX_SEQNO).unwrap().unwrap().value, value(650).as_bytes());
    let looked_up = store.stats();
    seek(645, 20);
    let scanned = store.stats();
    assert_eq!(scanned.pages_read, looked_up.pages_read, "the key part is cached");
    assert_eq!(scanned.value_pages_read, looked_up.value_pages_read, "the lookup's value page holds rows 645..665");
    seek(660, 20);
    let further = store.stats();
    assert_eq!(further.value_pages_read - scanned.value_pages_read, 1, "rows 672..680 are on the next value page");

    // A scan over key pages 20 and 21 (rows 1280..1408) caches their four value pages; lookups
    // in them read nothing.
    seek(1280, 128);
    let after_scan = store.stats();
    for i in (1280..1408).step_by(7) {
        assert_eq!(store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap().value, value(i).as_bytes());
    }
    let end = store.stats();
    assert_eq!((end.pages_read, end.value_pages_read), (after_scan.pages_read, after_scan.value_pages_read));
}

/// Once the block cache is full, a scan asks its admission filter once per key page whether to
/// cache the value pages it decodes there, not once per value page: a seek through two cold
/// key pages is declined four times (two key parts, two key pages' values), not six; the
/// repeated seek caches all of them, and a third reads nothing.
#[test]
fn a_scan_asks_admission_once_per_key_page_for_its_values() {
    let (store, _dir) = store_with_a_full_cache();
    let seek = || {
        // Rows 64,000..64,128: key pages 1000 and 1001, value pages 2000 to 2003.
        let range = KeyRange::from_range(key(64_000)..);
        let got: Vec<Entry> = store.scan(1, &range).unwrap().take(128).map(Result::unwrap).collect();
        assert!(
            got.iter().zip(64_000..).all(|(e, j)| e.key == key(j).as_bytes() && e.value == padded_value(j).as_bytes())
        );
        store.stats()
    };
    let before = store.stats();
    let first = seek();
    assert_eq!(first.block_cache.declined - before.block_cache.declined, 4);
    assert_eq!((first.pages_read - before.pages_read, first.value_pages_read - before.value_pages_read), (2, 4));
    let second = seek();
    assert_eq!(second.block_cache.declined, first.block_cache.declined, "the second miss is admitted");
    let third = seek();
    assert_eq!((third.pages_read, third.value_pages_read), (second.pages_read, second.value_pages_read));
}

/// A seek whose pages the block cache does not take reads only the value pages its rows reach:
/// value pages are half as long as key pages, so one that starts halfway into a key page and
/// stops before its end reads one of its two value pages, not both; what it returns is
/// unchanged.
#[test]
fn a_seek_the_cache_declines_reads_only_the_value_pages_its_rows_reach() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, block_cache_bytes: 0, ..ParquetOptions::default() };
    assert_eq!((opts.page_rows, opts.value_page_rows), (64, 32), "the rows below are chosen for these");
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    // Values that do not compress away, so a value page is most of what a seek reads.
    let value = |i: u32| format!("{:0>100}", u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), 1, value(i))))).unwrap();
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    store.open(1).unwrap();
    let seek = |from: u32, n: usize| {
        let before = store.stats();
        let range = KeyRange::from_range(key(from)..);
        let got: Vec<Entry> = store.scan(1, &range).unwrap().take(n).map(Result::unwrap).collect();
        assert_eq!(got.len(), n);
        assert!(got.iter().zip(from..).all(|(e, j)| e.key == key(j).as_bytes() && e.value == value(j).as_bytes()));
        let after = store.stats();
        (after.bytes_read - before.bytes_read, after.value_pages_read - before.value_pages_read)
    };
    // Key page 10 holds rows 640..704, its value pages rows 640..672 and 672..704.
    let (whole, whole_pages) = seek(640, 64);
    assert_eq!(whole_pages, 2);
    let (second_half, pages) = seek(680, 20);
    assert_eq!(pages, 1, "rows 680..700 lie in the key page's second value page");
    let (first_half, pages) = seek(645, 20);
    assert_eq!(pages, 1, "rows 645..665 lie in the key page's first value page");
    for half in [first_half, second_half] {
        assert!(half < whole, "half the rows read {half} bytes, the whole page {whole}");
    }
    // Across key pages: rows 680..780 reach value pages 672, 704, 736 and 768.
    assert_eq!(seek(680, 100).1, 4);
}

/// A scan that starts just past a key (an exclusive start, as the engine's iterators reopen a
/// table's scan past a hot key's old versions) skips the pages that hold only that key,
/// whatever their number, without decoding them; and still finds what follows the key in the
/// page where its versions end.
#[test]
fn a_scan_past_a_hot_key_skips_its_pages_undecoded() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, row_group_rows: 4096, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    // 10,000 versions of "hot" (well over two row groups of pages), between "cold" keys.
    let mut entries: Vec<Entry> = (0..100u32).map(|i| Entry::put(format!("a{i:04}"), 1, "v")).collect();
    entries.extend((0..10_000u64).map(|s| Entry::put("hot", 20_000 - s, format!("v{s}"))));
    entries.extend((0..100u32).map(|i| Entry::put(format!("z{i:04}"), 1, "v")));
    store.write_table(1, &mut entries.into_iter().map(Ok)).unwrap();

    let store = ParquetStore::open(dir.path(), opts).unwrap();
    store.open(1).unwrap();
    let past_hot = KeyRange::from_range::<&str, _>((std::ops::Bound::Excluded("hot"), std::ops::Bound::Unbounded));
    let first: Vec<Entry> = store.scan(1, &past_hot).unwrap().take(3).collect::<Result<_, _>>().unwrap();
    let keys: Vec<&[u8]> = first.iter().map(|e| &e.key[..]).collect();
    assert_eq!(keys, [&b"z0000"[..], b"z0001", b"z0002"]);
    let pages = store.stats().pages_read;
    assert!(pages <= 2, "the scan decoded {pages} pages to step past the hot key's versions");
    // An inclusive start at the hot key still reads its newest version first.
    let newest = store.scan(1, &KeyRange::from_range("hot"..)).unwrap().next().unwrap().unwrap();
    assert_eq!((&newest.key[..], newest.seq), (&b"hot"[..], 20_000));
}

/// A bottommost merge writes keys every reader sees at sequence number 0: a `seq` page whose
/// column index says it holds one number is not read, on the cached path and on the uncached
/// one, and lookups and scans still answer with the right numbers where a page mixes them.
#[test]
fn seq_pages_of_one_number_are_not_read() {
    let n = 20_000u32;
    // Keys 1000..1010 have a newer version too: their pages mix numbers and are read.
    let entries = |zeroed: bool| -> Vec<Entry> {
        let mut out = Vec::new();
        for i in 0..n {
            if (1000..1010).contains(&i) {
                out.push(Entry::put(key(i), 900_000 + u64::from(i), "newer"));
            }
            out.push(Entry::put(key(i), if zeroed { 0 } else { u64::from(i) + 1 }, format!("value{i:020}")));
        }
        out
    };
    for cache in [0, 64 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions { block_cache_bytes: cache, sync: false, ..ParquetOptions::default() };
        let store = ParquetStore::open(dir.path(), opts).unwrap();
        for (id, zeroed) in [(1, false), (2, true)] {
            store.write_table(id, &mut entries(zeroed).into_iter().map(Ok)).unwrap();
            store.open(id).unwrap();
        }
        let read = |id: u64, i: u32, snapshot: u64| {
            let before = store.stats().bytes_read;
            let got = store.get(id, key(i).as_bytes(), snapshot).unwrap().unwrap();
            (got.seq, got.value, store.stats().bytes_read - before)
        };
        // Each cold lookup of the numbered table reads a block (1 KiB) of `seq` pages more; the
        // two tables' value pages lie at other offsets, so single lookups differ by a block
        // either way, but not on average.
        let (mut numbered, mut zeroed) = (0, 0);
        let probes: Vec<u32> = (0..200).map(|j| 3 + j * 97).chain([n - 1]).collect();
        for &i in &probes {
            let (seq, value, bytes) = read(1, i, MAX_SEQNO);
            assert_eq!((seq, &value[..]), (u64::from(i) + 1, format!("value{i:020}").as_bytes()));
            numbered += bytes;
            let (seq, zero_value, bytes) = read(2, i, MAX_SEQNO);
            assert_eq!((seq, zero_value), (0, value));
            zeroed += bytes;
        }
        let saved = numbered.saturating_sub(zeroed) / probes.len() as u64;
        assert!(saved >= 900, "cache {cache}: {zeroed} bytes read against {numbered}, {saved} saved per lookup");
        // A page that mixes numbers is read: both versions answer at their snapshots.
        assert_eq!(read(2, 1005, MAX_SEQNO).0, 901_005);
        let (seq, value, _) = read(2, 1005, 900_000);
        assert_eq!((seq, &value[..]), (0, &b"value00000000000000001005"[..]));
        let scanned: Vec<Entry> = store.scan(2, &KeyRange::all()).unwrap().map(Result::unwrap).collect();
        assert_eq!(scanned, entries(true));
    }
}

/// A compaction's scan (`scan_once`) releases the mapped row groups it passes; readers in the
/// middle of those row groups, and later ones, still read the table's bytes.
#[test]
fn a_scan_that_releases_its_row_groups_leaves_other_readers_reading_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, row_group_rows: 4096, block_cache_bytes: 0, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let value = |i: u32| format!("value{i:020}").repeat(8);
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, value(i))))).unwrap();
    assert!(store.describe(1).unwrap().row_groups > 20);
    let mut reader = store.scan(1, &KeyRange::all()).unwrap();
    let first: Vec<Entry> = reader.by_ref().take(10_000).map(Result::unwrap).collect();
    let once: Vec<Entry> = store.scan_once(1, &KeyRange::all()).unwrap().map(Result::unwrap).collect();
    assert_eq!(once.len(), N as usize);
    let rest: Vec<Entry> = reader.map(Result::unwrap).collect();
    for (i, e) in first.iter().chain(&rest).chain(&once[..1000]).enumerate() {
        let i = (i % N as usize) as u32;
        assert_eq!((e.key.as_ref(), e.value.as_ref()), (key(i).as_bytes(), value(i).as_bytes()), "row {i}");
    }
    for (i, e) in once.iter().enumerate() {
        assert_eq!(e.value.as_ref(), value(i as u32).as_bytes(), "row {i} of the releasing scan");
    }
    for i in [0, 777, N / 2, N - 1] {
        assert_eq!(store.get(1, key(i).as_bytes(), MAX_SEQNO).unwrap().unwrap().value.as_ref(), value(i).as_bytes());
    }
}

/// Kilobytes of `path`'s memory maps resident in this process (`Rss` in `/proc/self/smaps`).
#[cfg(target_os = "linux")]
fn mapped_kib(path: &std::path::Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut ours = false;
    let mut kib = 0;
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            if ours {
                kib += rss.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap();
            }
        } else if !line.split_whitespace().next().is_some_and(|field| field.ends_with(':')) {
            // A mapping's first line: address range, permissions, offset, device, inode, path.
            ours = line.ends_with(name);
        }
    }
    kib
}

/// A compaction's scan gives back the mapped pages it has passed as it goes, so reading one
/// large row group holds about a megabyte of it (plus the pages being read), not
/// the whole row group until the scan leaves it.
#[cfg(target_os = "linux")]
#[test]
fn a_releasing_scan_holds_little_of_a_large_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions {
        sync: false,
        row_group_rows: 1 << 20,
        row_group_max_bytes: 64 << 20,
        block_cache_bytes: 0,
        compression: strata_sstable::Compression::None,
        ..ParquetOptions::default()
    };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let value = |i: u32| format!("{i:0200}");
    store.write_table(1, &mut (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, value(i))))).unwrap();
    assert_eq!(store.describe(1).unwrap().row_groups, 1);
    let path = store.table_path(1);
    let mut scan = store.scan_once(1, &KeyRange::all()).unwrap();
    let mut peak = 0;
    for (i, e) in scan.by_ref().take(N as usize - 1000).enumerate() {
        assert_eq!(e.unwrap().value.as_ref(), value(i as u32).as_bytes());
        if i % 1000 == 0 {
            peak = peak.max(mapped_kib(&path));
        }
    }
    // The values alone are 20 MB; a scan releasing only whole row groups holds 18 MB of them here.
    assert!(peak > 0, "the table is read through a map");
    assert!(peak < 4 * 1024, "{peak} KiB of the table resident during the scan");
    assert_eq!(scan.count(), 1000);

    // A releasing scan of the second half (as a parallel subcompaction's) leaves the pages of
    // the first half that another reader holds.
    let first_half = KeyRange::new(std::ops::Bound::Unbounded, std::ops::Bound::Excluded(key(N / 2).into()));
    assert_eq!(store.scan(1, &first_half).unwrap().count(), N as usize / 2);
    let held = mapped_kib(&path);
    assert!(held > 8 * 1024, "{held} KiB resident after reading half the table");
    let second_half = KeyRange::new(std::ops::Bound::Included(key(N / 2).into()), std::ops::Bound::Unbounded);
    let mut scan = store.scan_once(1, &second_half).unwrap();
    assert_eq!(scan.by_ref().take(N as usize / 2 - 1000).count(), N as usize / 2 - 1000);
    let after = mapped_kib(&path);
    assert!(after >= held, "{after} KiB resident after the second half's scan, {held} before it");
    assert!(after < held + 4 * 1024, "{after} KiB resident after the second half's scan, {held} before it");
}

/// An open table keeps what lookups and scans use of the page index in its own arrays and
/// drops Parquet's decoded copy, which was a third of the table cache: the table cache is
/// charged under 7 bytes per row (about 9 with the copy). (A row-group copy reads its page
/// index back from the file: `interop_pyarrow_duckdb.rs` and the compaction tests copy.)
#[test]
fn an_open_table_holds_its_page_index_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, row_group_rows: 16_384, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let entries = (0..N).map(|i| Ok(Entry::put(key(i), u64::from(i) + 1, format!("value{i:095}"))));
    store.write_table(1, &mut entries.collect::<Vec<_>>().into_iter()).unwrap();
    store.open(1).unwrap();
    let charged = store.stats().table_cache.bytes;
    assert!(charged < 7 * u64::from(N), "{charged} bytes of table cache for {N} rows");
}

/// Pages per column, per row group, of table `id` (from its offset index).
fn pages_per_column(store: &ParquetStore, id: u64) -> Vec<[usize; 4]> {
    let file = std::fs::File::open(store.table_path(id)).unwrap();
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
        .parse_and_finish(&file)
        .unwrap();
    let index = meta.page_index().unwrap();
    (0..meta.num_row_groups())
        .map(|rg| std::array::from_fn(|col| index.offset_index(rg, col).unwrap().page_locations().len()))
        .collect()
}

/// A table whose first rows are all puts at sequence number 0 (a merge's output below L0) has
/// `seq` and `kind` pages sixteen key pages long, and one whose first rows are all puts has
/// such `kind` pages; lookups do not read them. Where such a page holds other numbers or kinds
/// after all, lookups at every snapshot and scans from any row still answer with the rows
/// written.
#[test]
fn settled_and_put_only_tables_have_long_seq_and_kind_pages_and_answer_alike() {
    let n = 20_000u32;
    // Keys 12000..12010 (past the writer's sample) have a newer version; 12005's is a delete.
    // Table 3 has a deletion among its first rows too.
    let entries = |id: u64| -> Vec<Entry> {
        let mut out = Vec::new();
        for i in 0..n {
            let newer = 900_000 + u64::from(i);
            match (id, i) {
                (_, 12_005) | (3, 5) => out.push(Entry::delete(key(i), newer)),
                (_, 12_000..12_010) => out.push(Entry::put(key(i), newer, "newer")),
                _ => {}
            }
            out.push(Entry::put(key(i), if id == 2 { 0 } else { u64::from(i) + 1 }, format!("value{i:020}")));
        }
        out
    };
    let expected = |rows: &[Entry], k: &str, snapshot: u64| {
        rows.iter().find(|e| e.key[..] == *k.as_bytes() && e.seq <= snapshot).map(|e| (e.seq, e.kind, e.value.clone()))
    };
    for cache in [0, 64 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let opts = ParquetOptions { block_cache_bytes: cache, sync: false, ..ParquetOptions::default() };
        let store = ParquetStore::open(dir.path(), opts).unwrap();
        for id in 1..=3 {
            store.write_table(id, &mut entries(id).into_iter().map(Ok)).unwrap();
        }
        for (id, what) in [(1, "put-only"), (2, "settled"), (3, "mixed")] {
            for rg in pages_per_column(&store, id) {
                let long = rg[0].div_ceil(16);
                let want = match id {
                    1 => (rg[0], long),
                    2 => (long, long),
                    _ => (rg[0], rg[0]),
                };
                assert_eq!((rg[1], rg[2]), want, "{what} table: seq and kind pages against {} key pages", rg[0]);
            }
        }
        for id in 1..=3 {
            let rows = entries(id);
            let probes = (0..200).map(|j| 3 + j * 97).chain(11_990..12_020).chain([n - 1]);
            for i in probes {
                for snapshot in [MAX_SEQNO, 900_000 + 12_004, 900_000] {
                    let got = store.get(id, key(i).as_bytes(), snapshot).unwrap().map(|v| (v.seq, v.kind, v.value));
                    assert_eq!(got, expected(&rows, &key(i), snapshot), "table {id}, key {i}, snapshot {snapshot}");
                }
            }
            let scanned: Vec<Entry> = store.scan(id, &KeyRange::all()).unwrap().map(Result::unwrap).collect();
            assert!(scanned == rows, "table {id}: a full scan differs from the rows written");
            // A scan starting inside a long page, just before the mixed rows.
            let from = key(11_999);
            let range = KeyRange::from_range::<&[u8], _>(from.as_bytes()..);
            let tail: Vec<Entry> = store.scan(id, &range).unwrap().map(Result::unwrap).take(40).collect();
            let want: Vec<Entry> = rows.iter().filter(|e| e.key[..] >= *from.as_bytes()).take(40).cloned().collect();
            assert!(tail == want, "table {id}: a scan from key 11999 differs from the rows written");
        }
    }
}
