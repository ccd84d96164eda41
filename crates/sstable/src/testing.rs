//! The conformance suite of [`SsTableStore`]: what every implementation must do.
//!
//! A user's store runs it with one line in a test:
//!
//! ```
//! use strata_sstable::{ParquetOptions, ParquetStore};
//!
//! strata_sstable::testing::conformance(|dir| ParquetStore::open(dir, ParquetOptions::default()).unwrap());
//! ```
//!
//! Also here: [`MemFs`], an in-memory [`strata_core::fs::FileSystem`] for tests (wrap it to
//! count or fail operations), and `fuzz_table_bytes` and `fuzz_page_bytes` (feature
//! `parquet`), the logic of the `table_bytes` and `page_bytes` fuzz targets, callable from
//! ordinary tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

#[cfg(feature = "parquet")]
mod fuzz;
#[cfg(feature = "parquet")]
mod page_fuzz;
#[cfg(feature = "parquet")]
mod silent_faults;

#[cfg(feature = "parquet")]
pub use fuzz::{fuzz_table_bytes, fuzz_template_table};
#[cfg(feature = "parquet")]
pub use page_fuzz::{fuzz_page_bytes, fuzz_page_seeds};
#[cfg(feature = "parquet")]
pub use silent_faults::SilentFaults;
pub use strata_core::testing::MemFs;

/// Whether this thread is inside the store's guard around the Parquet and Arrow decoders,
/// where a panic is caught and reported as [`Error::Corruption`]. A fuzz harness whose
/// panic hook aborts (libFuzzer's does) uses this to let such panics unwind to the guard.
#[cfg(feature = "parquet")]
#[must_use]
pub fn inside_decoder_guard() -> bool {
    crate::parquet::inside_decoder_guard()
}

use std::ops::Bound;
use std::path::Path;

use strata_core::{Bytes, Entry, KeyRange, MAX_SEQNO, ValueKind, VersionedValue};

use crate::{Error, Result, SsTableStore, TablePart};

/// One check of the suite: it opens stores through the given function.
type Check<S> = fn(&dyn Fn(&Path) -> S);

/// Runs every check against stores made by `open`, which opens (or reopens) a store in the
/// given directory. Each check gets a fresh directory. Panics on the first failed promise.
pub fn conformance<S: SsTableStore>(open: impl Fn(&Path) -> S) {
    let checks: [(&str, Check<S>); 13] = [
        ("get_answers_at_every_snapshot", get_answers_at_every_snapshot),
        ("tombstone_is_an_answer", tombstone_is_an_answer),
        ("misses_below_between_and_above", misses_below_between_and_above),
        ("scan_yields_all_versions_in_range", scan_yields_all_versions_in_range),
        ("out_of_order_input_is_rejected", out_of_order_input_is_rejected),
        ("empty_input_is_rejected", empty_input_is_rejected),
        ("stream_error_aborts_the_write", stream_error_aborts_the_write),
        ("meta_describes_the_table", meta_describes_the_table),
        ("tables_survive_reopen_and_delete_removes", tables_survive_reopen_and_delete_removes),
        ("many_entries_and_concurrent_readers", many_entries_and_concurrent_readers),
        ("an_exported_table_is_independent", an_exported_table_is_independent),
        ("range_tombstones_are_rows_and_metadata", range_tombstones_are_rows_and_metadata),
        ("copied_units_hold_their_rows", copied_units_hold_their_rows),
    ];
    for (name, check) in checks {
        let dir = tempfile::tempdir().expect("a temporary directory for the conformance suite");
        // An empty path stands for the check's own directory; a check that needs a second
        // store (an export's destination) passes its directory.
        let open_in = |p: &Path| open(if p.as_os_str().is_empty() { dir.path() } else { p });
        eprintln!("sstable conformance: {name}");
        check(&open_in);
    }
}

fn write<S: SsTableStore>(store: &S, id: u64, entries: &[Entry]) -> Result<crate::TableMeta> {
    store.write_table(id, &mut entries.iter().cloned().map(Ok))
}

fn scan_all<S: SsTableStore>(store: &S, id: u64, range: &KeyRange) -> Vec<Entry> {
    store.scan(id, range).expect("scan opens").collect::<Result<Vec<_>>>().expect("scan reads")
}

/// Three keys with several versions each.
fn sample() -> Vec<Entry> {
    vec![
        Entry::put("b", 30, "b@30"),
        Entry::put("b", 20, "b@20"),
        Entry::put("b", 10, "b@10"),
        Entry::delete("d", 25),
        Entry::put("d", 15, "d@15"),
        Entry::put("f", 5, "f@5"),
    ]
}

fn v(seq: u64, value: &str) -> Option<VersionedValue> {
    Some(VersionedValue { seq, kind: ValueKind::Put, value: Bytes::copy_from_slice(value.as_bytes()) })
}

fn get_answers_at_every_snapshot<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    write(&store, 1, &sample()).expect("write");
    for (snap, want) in [
        (9, None),
        (10, v(10, "b@10")),
        (19, v(10, "b@10")),
        (20, v(20, "b@20")),
        (29, v(20, "b@20")),
        (30, v(30, "b@30")),
        (MAX_SEQNO, v(30, "b@30")),
    ] {
        assert_eq!(store.get(1, b"b", snap).expect("get"), want, "get(b) at snapshot {snap}");
        let hash = store.key_hash(b"b");
        assert_eq!(store.get_hashed(1, b"b", hash, snap).expect("get_hashed"), want, "get_hashed(b) at {snap}");
    }
    assert_eq!(store.get(1, b"f", 4).expect("get"), None);
    assert_eq!(store.get(1, b"f", 5).expect("get"), v(5, "f@5"));
}

fn tombstone_is_an_answer<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    write(&store, 1, &sample()).expect("write");
    let t = store.get(1, b"d", 30).expect("get").expect("the tombstone answers");
    assert_eq!((t.seq, t.kind, t.value.len()), (25, ValueKind::Delete, 0));
    assert_eq!(store.get(1, b"d", 24).expect("get"), v(15, "d@15"));
    assert_eq!(store.get(1, b"d", 14).expect("get"), None);
}

fn misses_below_between_and_above<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    write(&store, 1, &sample()).expect("write");
    for key in [&b""[..], b"a", b"b\0", b"c", b"ba", b"e", b"f\0", b"g", b"\xff\xff"] {
        assert_eq!(store.get(1, key, MAX_SEQNO).expect("get"), None, "key {key:?}");
    }
}

fn scan_yields_all_versions_in_range<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let entries = sample();
    write(&store, 1, &entries).expect("write");
    let ranges = [
        KeyRange::all(),
        KeyRange::from_range("c".."f"),
        KeyRange::from_range("b"..="d"),
        KeyRange::new(Bound::Excluded(Bytes::from("b")), Bound::Unbounded),
        KeyRange::new(Bound::Unbounded, Bound::Excluded(Bytes::from("d"))),
        KeyRange::from_range("x".."z"),
        KeyRange::from_range("d".."d"),
        KeyRange::from_range("0".."a"),
    ];
    for range in ranges {
        let want: Vec<Entry> = entries.iter().filter(|e| range.contains(&e.key)).cloned().collect();
        assert_eq!(scan_all(&store, 1, &range), want, "scan {range:?}");
        // A scan that reads once (a compaction's) yields the same, and leaves the table as
        // readable as before.
        let once: Vec<Entry> =
            store.scan_once(1, &range).expect("scan_once opens").collect::<Result<_>>().expect("scan_once reads");
        assert_eq!(once, want, "scan_once {range:?}");
        assert_eq!(scan_all(&store, 1, &range), want, "scan {range:?} after scan_once");
    }
    // The scan owns what it reads: it outlives the store handle.
    let scan = store.scan(1, &KeyRange::all()).expect("scan");
    drop(store);
    assert_eq!(scan.count(), entries.len());
}

fn out_of_order_input_is_rejected<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let cases = [
        vec![Entry::put("b", 1, ""), Entry::put("a", 1, "")],
        vec![Entry::put("a", 1, ""), Entry::put("a", 2, "")],
        vec![Entry::put("a", 1, "x"), Entry::put("a", 1, "y")],
    ];
    for (id, case) in cases.iter().enumerate() {
        let id = id as u64 + 1;
        let e = write(&store, id, case).expect_err("out-of-order input must fail");
        assert!(matches!(e, Error::OutOfOrder { index: 1, .. }), "case {id}: {e}");
        assert!(matches!(store.open(id), Err(Error::NotFound { .. })), "no table may remain after a failed write");
    }
}

fn empty_input_is_rejected<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    assert!(matches!(write(&store, 1, &[]), Err(Error::EmptyTable { .. })));
    assert!(matches!(store.open(1), Err(Error::NotFound { .. })));
}

fn stream_error_aborts_the_write<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let mut items = vec![Ok(Entry::put("a", 1, "x"))]
        .into_iter()
        .chain(std::iter::once(Err(Error::InvalidOptions { field: "test", reason: "injected".into() })));
    let e = store.write_table(1, &mut items).expect_err("a failing stream fails the write");
    assert!(matches!(e, Error::Source { .. }), "{e}");
    assert!(matches!(store.open(1), Err(Error::NotFound { .. })));
    // The id is free for a later, successful write.
    write(&store, 1, &sample()).expect("rewrite after a failed write");
}

fn meta_describes_the_table<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let meta = write(&store, 7, &sample()).expect("write");
    assert_eq!(meta.id, 7);
    assert_eq!((meta.entries, meta.tombstones), (6, 1));
    assert_eq!((&meta.min_key[..], &meta.max_key[..]), (&b"b"[..], &b"f"[..]));
    assert_eq!((meta.min_seq, meta.max_seq), (5, 30));
    assert!(meta.file_size > 0 && meta.created_at_ms > 0);
    assert_eq!(store.open(7).expect("open"), meta, "open must report what write_table returned");
    assert!(matches!(write(&store, 7, &sample()), Err(Error::TableExists { .. })));
}

/// A range tombstone is stored as a row (scans and lookups of its first key see it) and
/// listed in the table's summary, whose `max_key` reaches the furthest tombstone end, after
/// a reopen too.
fn range_tombstones_are_rows_and_metadata<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let entries = vec![
        Entry::put("b", 30, "b@30"),
        Entry::range_delete("b", "m", 20),
        Entry::range_delete("c", "z", 12),
        Entry::put("d", 3, "d@3"),
    ];
    let meta = write(&store, 3, &entries).expect("write");
    assert_eq!(
        meta.range_tombstones,
        [strata_core::RangeTombstone::new("b", "m", 20), strata_core::RangeTombstone::new("c", "z", 12)]
    );
    assert_eq!((&meta.min_key[..], &meta.max_key[..]), (&b"b"[..], &b"z"[..]), "the extent covers the tombstones");
    assert_eq!(meta.tombstones, 0, "range tombstones are not point tombstones");
    assert_eq!(store.open(3).expect("open"), meta, "open must report the tombstones write_table saw");
    assert_eq!(scan_all(&store, 3, &KeyRange::all()), entries);
    let t = store.get(3, b"b", 25).expect("get").expect("the range tombstone's row answers for its first key");
    assert_eq!((t.seq, t.kind), (20, ValueKind::RangeDelete));
    assert_eq!(store.get(3, b"b", MAX_SEQNO).expect("get"), v(30, "b@30"));
    drop(store);
    let store = open(Path::new(""));
    assert_eq!(store.open(3).expect("reopen"), meta);
}

fn tables_survive_reopen_and_delete_removes<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let meta = write(&store, 1, &sample()).expect("write");
    write(&store, 2, &[Entry::put("z", 1, "z")]).expect("write");
    assert_eq!(store.list_tables().expect("list"), [1, 2]);
    drop(store);
    let store = open(Path::new(""));
    assert_eq!(store.list_tables().expect("list after reopen"), [1, 2]);
    assert_eq!(store.open(1).expect("reopen"), meta);
    assert_eq!(store.get(1, b"b", MAX_SEQNO).expect("get"), v(30, "b@30"));
    store.delete(1).expect("delete");
    assert!(matches!(store.get(1, b"b", MAX_SEQNO), Err(Error::NotFound { .. })));
    assert!(matches!(store.delete(1), Err(Error::NotFound { .. })));
    assert_eq!(store.list_tables().expect("list after delete"), [2]);
    assert_eq!(store.get(2, b"z", 1).expect("other tables stay"), v(1, "z"));
    // A deleted id may be written again, and answers with the new contents.
    write(&store, 1, &[Entry::put("b", 99, "new")]).expect("rewrite");
    assert_eq!(store.get(1, b"b", MAX_SEQNO).expect("get"), v(99, "new"));
}

fn many_entries_and_concurrent_readers<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let n = 20_000u64;
    let entries: Vec<Entry> = (0..n)
        .flat_map(|i| {
            let key = format!("key{i:08}");
            [Entry::put(key.clone(), 2 * i + 2, format!("new{i}")), Entry::put(key, 2 * i + 1, format!("old{i}"))]
        })
        .collect();
    write(&store, 1, &entries).expect("write");
    assert_eq!(scan_all(&store, 1, &KeyRange::all()), entries);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let store = &store;
            s.spawn(move || {
                for i in (t..n).step_by(97) {
                    let key = format!("key{i:08}");
                    let got = store.get(1, key.as_bytes(), 2 * i + 1).expect("get");
                    assert_eq!(got, v(2 * i + 1, &format!("old{i}")));
                    assert_eq!(store.get(1, format!("{key}!").as_bytes(), MAX_SEQNO).expect("get"), None);
                }
            });
        }
    });
    let mid = KeyRange::from_range("key00010000".."key00010010");
    assert_eq!(scan_all(&store, 1, &mid).len(), 20);

    // Split keys, if the store offers any, lie inside the table's key range, ascending.
    let meta = store.open(1).expect("open");
    for parts in [0, 1, 2, 4, 1_000] {
        let keys = store.split_keys(1, parts).expect("split keys");
        assert!(keys.len() < parts.max(1), "{} keys for {parts} parts", keys.len());
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "not ascending: {keys:?}");
        assert!(keys.iter().all(|k| *k > meta.min_key && *k <= meta.max_key), "outside the table: {keys:?}");
    }

    // A key to read back from lies before the end, at or before the table's last key before
    // it; stepping back by it from the end (0 to 2 pages further back) reaches the table's
    // first key.
    let mut end: Option<Bytes> = None;
    let mut steps = 0;
    while end.as_ref().is_none_or(|e| meta.min_key < *e) {
        let last_before = end.as_ref().map_or(n - 1, |e| {
            let i: u64 = std::str::from_utf8(&e[3..]).expect("utf-8").parse().expect("a key number");
            i - 1
        });
        let back = (steps % 3) as usize;
        let key =
            store.key_before(1, end.as_deref(), back).expect("key before").unwrap_or_else(|| meta.min_key.clone());
        assert!(end.as_ref().is_none_or(|e| key < *e), "{key:?} is not before {end:?}");
        assert!(key <= format!("key{last_before:08}").as_bytes(), "{key:?} is past the last key before {end:?}");
        // Step to the first key the window [key, end) holds.
        let window = KeyRange::new(Bound::Included(key), end.map_or(Bound::Unbounded, Bound::Excluded));
        end = scan_all(&store, 1, &window).first().map(|e| e.key.clone());
        steps += 1;
        assert!(steps <= n, "stepping back does not reach the first key");
    }
}

/// `export_table` either says the store cannot export, or leaves in the destination a table
/// that a store opened there reads exactly like the original, and that outlives the
/// original's deletion.
fn an_exported_table_is_independent<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let meta = write(&store, 7, &sample()).expect("write");
    let dest = tempfile::tempdir().expect("a destination directory");
    match store.export_table(7, dest.path()) {
        Err(Error::Unsupported { .. }) => return,
        Err(e) => panic!("export_table failed: {e}"),
        Ok(_) => {}
    }
    assert!(matches!(store.export_table(8, dest.path()), Err(Error::NotFound { .. })), "export of a missing table");
    store.delete(7).expect("delete the original");
    drop(store);
    let copy = open(dest.path());
    assert_eq!(copy.open(7).expect("the exported table opens"), meta);
    assert_eq!(scan_all(&copy, 7, &KeyRange::all()), sample());
}

/// A table written from entries and copied units ([`SsTableStore::write_table_parts`]) holds
/// exactly the rows it would hold were each unit's rows given as entries, answers lookups for
/// them, and rejects a copy that does not sort after what came before. The units of a table
/// ([`SsTableStore::copy_units`]) cover its rows in key order. A store without units is
/// checked with entries only.
fn copied_units_hold_their_rows<S: SsTableStore>(open: &dyn Fn(&Path) -> S) {
    let store = open(Path::new(""));
    let mut source: Vec<Entry> =
        (0..300u32).map(|i| Entry::put(format!("m{i:04}"), 100 + u64::from(i), format!("v{i}"))).collect();
    // A key with versions, and a tombstone: units report them.
    source.insert(10, Entry::put("m0009", 50, "old"));
    source.push(Entry::delete("m0300", 7));
    let meta = write(&store, 1, &source).expect("write the source");
    let units = store.copy_units(1, 1).expect("units");
    if !units.is_empty() {
        assert_eq!(units.iter().map(|u| u.rows).sum::<u64>(), meta.entries, "units cover every row");
        assert_eq!(units.iter().map(|u| u.tombstones).sum::<u64>(), meta.tombstones);
        assert_eq!(units.iter().map(|u| u.rows - u.distinct_keys).sum::<u64>(), 1, "one key has two versions");
        assert_eq!((&units[0].min_key, &units[units.len() - 1].max_key), (&meta.min_key, &meta.max_key));
        for w in units.windows(2) {
            assert!(w[0].max_key <= w[1].min_key, "units are in key order");
        }
        assert!(units.iter().all(|u| u.table == 1 && u.min_seq >= meta.min_seq && u.max_seq <= meta.max_seq));
    }
    let before = Entry::put("a", 900, "first");
    let after = Entry::put("z", 901, "last");
    let mut parts: Vec<Result<TablePart>> = vec![Ok(TablePart::Entry(before.clone()))];
    if units.is_empty() {
        parts.extend(source.iter().cloned().map(|e| Ok(TablePart::Entry(e))));
    }
    // Units that share a key with a neighbour (a key's versions cut between them) cannot be
    // copied: their rows go in as entries.
    let shares = |i: usize| {
        (i > 0 && units[i - 1].max_key == units[i].min_key)
            || units.get(i + 1).is_some_and(|next| next.min_key == units[i].max_key)
    };
    let mut copies = 0;
    for (i, unit) in units.iter().enumerate() {
        if shares(i) {
            let own = |e: &&Entry| {
                e.key >= unit.min_key
                    && e.key <= unit.max_key
                    && (i == 0 || units[i - 1].max_key != e.key || units[i - 1].max_key != unit.min_key)
            };
            parts.extend(source.iter().filter(own).cloned().map(|e| Ok(TablePart::Entry(e))));
        } else {
            copies += 1;
            parts.push(Ok(TablePart::Copy(unit.clone())));
        }
    }
    assert!(units.is_empty() || copies > 0, "at least one unit is copied");
    parts.push(Ok(TablePart::Entry(after.clone())));
    let copied = store.write_table_parts(2, 1, &mut parts.into_iter()).expect("write with copies");
    let mut want = vec![before.clone()];
    want.extend(source.iter().cloned());
    want.push(after.clone());
    assert_eq!(scan_all(&store, 2, &KeyRange::all()), want);
    assert_eq!((copied.entries, copied.tombstones), (want.len() as u64, 1));
    assert_eq!((&copied.min_key[..], &copied.max_key[..]), (&b"a"[..], &b"z"[..]));
    assert_eq!((copied.min_seq, copied.max_seq), (7, 901));
    assert_eq!(store.open(2).expect("open the copy"), copied);
    for e in source.iter().step_by(7) {
        let got = store.get(2, &e.key, MAX_SEQNO).expect("get").expect("a copied key is found");
        assert_eq!(got.seq, source.iter().find(|s| s.key == e.key).unwrap().seq, "{:?}", e.key);
    }
    assert_eq!(store.get(2, b"m0009", 60).expect("get").map(|v| v.value), Some(Bytes::from_static(b"old")));
    // A copy must sort after the entry before it, and what follows after the copy.
    if let Some(unit) = units.iter().enumerate().find(|(i, _)| !shares(*i)).map(|(_, u)| u) {
        let late = Entry::put(unit.min_key.clone(), 1_000, "x");
        let mut parts = vec![Ok(TablePart::Entry(late)), Ok(TablePart::Copy(unit.clone()))].into_iter();
        let e = store.write_table_parts(3, 1, &mut parts).expect_err("a copy at the previous key fails");
        assert!(matches!(e, Error::OutOfOrder { .. }), "{e}");
        let early = Entry::put(unit.max_key.clone(), 1, "x");
        let mut parts = vec![Ok(TablePart::Copy(unit.clone())), Ok(TablePart::Entry(early))].into_iter();
        let e = store.write_table_parts(3, 1, &mut parts).expect_err("an entry at the copy's last key fails");
        assert!(matches!(e, Error::OutOfOrder { .. }), "{e}");
        assert!(matches!(store.open(3), Err(Error::NotFound { .. })));
    }
}
