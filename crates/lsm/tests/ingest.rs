//! `Db::ingest` of external Parquet files: sorted input streamed to the deepest free level,
//! unsorted input sorted with bounded memory (spilled runs), repeated keys in both modes,
//! wrong schemas and damaged files refused with clear errors and nothing half-ingested, and
//! reads and snapshots that see the ingest as one write batch.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Int64Array, LargeStringArray, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use strata::{Db, DuplicateKeys, ErrorKind, ExtraColumns, IngestOptions, IngestPhase, Options, PolicyConfig};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn write_batch(path: &Path, columns: Vec<(&str, ArrayRef)>, compression: Compression, row_group: usize) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props =
        WriterProperties::builder().set_compression(compression).set_max_row_group_row_count(Some(row_group)).build();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A file of string keys and binary values, `key`/`value`.
fn write_rows(path: &Path, rows: &[(String, Vec<u8>)]) {
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|(k, _)| k.as_str())));
    let values: ArrayRef = Arc::new(BinaryArray::from_iter_values(rows.iter().map(|(_, v)| v.as_slice())));
    write_batch(path, vec![("key", keys), ("value", values)], Compression::SNAPPY, 4096);
}

fn key(i: u64) -> String {
    format!("key{i:08}")
}

fn rows(range: impl Iterator<Item = u64>, tag: &str) -> Vec<(String, Vec<u8>)> {
    range.map(|i| (key(i), format!("{tag}-{i}-{}", "v".repeat((i % 40) as usize)).into_bytes())).collect()
}

/// A fixed permutation of `rows` (no rand dependency: a multiplicative shuffle).
fn shuffled<T: Clone>(rows: &[T]) -> Vec<T> {
    let n = rows.len() as u64;
    let mut order: Vec<u64> = (0..n).collect();
    order.sort_by_key(|&i| (i * 2_654_435_761) % 4_294_967_291);
    order.into_iter().map(|i| rows[i as usize].clone()).collect()
}

fn leveled() -> PolicyConfig {
    PolicyConfig::Leveled {
        l0_trigger: 4,
        base_level_bytes: 1 << 20,
        level_multiplier: 4,
        target_table_size: 256 << 10,
        num_levels: 4,
        intra_l0_merge: false,
    }
}

fn options() -> Options {
    Options { max_memtable_size: 256 << 10, compaction: leveled(), ..Options::default() }
}

fn contents(db: &Db) -> Model {
    db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().unwrap()
}

fn apply(model: &mut Model, rows: &[(String, Vec<u8>)]) {
    for (k, v) in rows {
        model.insert(k.clone().into_bytes(), v.clone());
    }
}

fn parquet_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".parquet"))
        .collect()
}

/// Checks that a failed ingest left the database as it was: same contents, same live
/// tables, and no table files beyond the live ones.
fn assert_untouched(db: &Db, before: &Model, live_before: &BTreeSet<u64>) {
    assert!(contents(db) == *before, "a failed ingest changed the contents");
    let live: BTreeSet<u64> = db.live_tables().into_iter().collect();
    assert_eq!(&live, live_before, "a failed ingest changed the live tables");
    let want: BTreeSet<String> = live.iter().map(|id| format!("{id:06}.parquet")).collect();
    assert_eq!(parquet_files(db.path()), want, "a failed ingest left table files behind");
}

#[test]
fn sorted_input_is_streamed_to_the_bottom_level() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sorted.parquet");
    let data = rows(0..20_000, "a");
    write_rows(&input, &data);
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    db.put("zzz-before", "1").unwrap();

    let phases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&phases);
    let opts = IngestOptions::default().progress(move |p| seen.lock().unwrap().push((p.phase, p.done, p.total)));
    let summary = db.ingest([&input], &opts).unwrap();
    assert!(summary.sorted_input);
    assert_eq!((summary.input_rows, summary.rows, summary.spilled_runs), (20_000, 20_000, 0));
    assert_eq!(summary.level, Some(3), "nothing overlaps: the bottom of 4 levels");
    assert!(summary.tables > 1, "split into tables of about the target size");
    assert_eq!(summary.seq, Some(2), "one sequence number after the one put");
    assert_eq!(db.stats().last_seq, 2);
    assert_eq!(db.tables()[3].len(), summary.tables);
    let phases = phases.lock().unwrap();
    assert!(phases.iter().any(|p| p.0 == IngestPhase::Checking));
    assert_eq!(phases.last().map(|p| (p.0, p.1, p.2)), Some((IngestPhase::Writing, 20_000, 20_000)));

    let mut model = Model::new();
    apply(&mut model, &data);
    model.insert(b"zzz-before".to_vec(), b"1".to_vec());
    assert!(contents(&db) == model);
    assert_eq!(db.get(key(12_345)).unwrap().as_deref(), Some(&data[12_345].1[..]));
    assert_eq!(db.get("key").unwrap(), None);

    // The rows survive a reopen (they are in the manifest, not the log).
    drop(db);
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    assert!(contents(&db) == model);
    assert_eq!(db.stats().last_seq, 2);
    db.put("after", "x").unwrap();
    assert_eq!(db.stats().last_seq, 3, "sequence numbers go on after the ingest's");
}

#[test]
fn unsorted_input_is_sorted_in_spilled_runs_and_the_last_row_wins() {
    let dir = tempfile::tempdir().unwrap();
    // ~60,000 rows of ~60 bytes, twice over: several 1 MiB sort runs.
    let first = shuffled(&rows(0..60_000, "first"));
    let second = shuffled(&rows((0..60_000).filter(|i| i % 3 == 0), "second"));
    // Repeats inside one file too: the later row of the file wins.
    let mut second_with_repeats = second.clone();
    second_with_repeats.extend(rows((0..60_000).filter(|i| i % 99 == 0), "third"));
    let (f1, f2) = (dir.path().join("one.parquet"), dir.path().join("two.parquet"));
    write_rows(&f1, &first);
    write_rows(&f2, &second_with_repeats);

    let db = Db::open(dir.path().join("db"), options()).unwrap();
    let summary = db.ingest([&f1, &f2], &IngestOptions::default().sort_memory(1 << 20)).unwrap();
    assert!(!summary.sorted_input);
    assert!(summary.spilled_runs >= 4, "{summary:?}");
    assert_eq!(summary.rows, 60_000);
    assert_eq!(summary.input_rows, (first.len() + second_with_repeats.len()) as u64);

    let mut model = Model::new();
    apply(&mut model, &first);
    apply(&mut model, &second_with_repeats);
    assert!(contents(&db) == model, "last row did not win");
    assert_eq!(db.get(key(99)).unwrap().unwrap(), model[key(99).as_bytes()], "third beats second beats first");
    // The temporary run tables are gone.
    let live: BTreeSet<String> = db.live_tables().iter().map(|id| format!("{id:06}.parquet")).collect();
    assert_eq!(parquet_files(db.path()), live);

    // The same input sorted in memory gives the same result.
    let db2 = Db::open(dir.path().join("db2"), options()).unwrap();
    let summary = db2.ingest([&f1, &f2], &IngestOptions::default()).unwrap();
    assert_eq!(summary.spilled_runs, 0);
    assert!(contents(&db2) == model);
}

#[test]
fn repeated_keys_can_be_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    db.put("existing", "1").unwrap();
    db.flush().unwrap();
    db.put("in-memtable", "2").unwrap();
    let before = contents(&db);
    let live: BTreeSet<u64> = db.live_tables().into_iter().collect();
    let strict = IngestOptions::default().duplicates(DuplicateKeys::Error);

    // Sorted input with a repeat: found by the key pass.
    let mut sorted = rows(0..1000, "a");
    sorted.insert(500, (key(500), b"again".to_vec()));
    let f = dir.path().join("sorted-dup.parquet");
    write_rows(&f, &sorted);
    let err = db.ingest([&f], &strict).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("sorted-dup.parquet") && msg.contains("key00000500") && msg.contains("row 501"), "{msg}");
    assert_untouched(&db, &before, &live);

    // Unsorted input, repeat within one sort buffer.
    let f = dir.path().join("unsorted-dup.parquet");
    write_rows(&f, &shuffled(&sorted));
    let err = db.ingest([&f], &strict).unwrap_err();
    assert!(err.to_string().contains("key00000500"), "{err}");
    assert_untouched(&db, &before, &live);

    // A repeat across two files that are each fine, found in the merge of spilled runs.
    let big = shuffled(&rows(0..40_000, "b"));
    let (g1, g2) = (dir.path().join("g1.parquet"), dir.path().join("g2.parquet"));
    write_rows(&g1, &big);
    write_rows(&g2, &rows(39_999..40_000, "c"));
    let err = db.ingest([&g1, &g2], &strict.clone().sort_memory(1 << 20)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("key00039999") && msg.contains("g1.parquet") && msg.contains("g2.parquet"), "{msg}");
    assert_untouched(&db, &before, &live);

    // With last-wins (the default) the same input goes in.
    let summary = db.ingest([&g1, &g2], &IngestOptions::default().sort_memory(1 << 20)).unwrap();
    assert_eq!(summary.rows, 40_000);
    assert_eq!(db.get(key(39_999)).unwrap().as_deref(), Some(&rows(39_999..40_000, "c")[0].1[..]));
}

#[test]
fn wrong_schemas_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    db.put("k", "v").unwrap();
    let before = contents(&db);
    let live: BTreeSet<u64> = db.live_tables().into_iter().collect();
    let keys = || -> ArrayRef { Arc::new(StringArray::from(vec!["a", "b"])) };
    let values = || -> ArrayRef { Arc::new(StringArray::from(vec!["1", "2"])) };
    let ints = || -> ArrayRef { Arc::new(Int64Array::from(vec![1, 2])) };
    let case = |name: &str, columns: Vec<(&str, ArrayRef)>, opts: &IngestOptions, needle: &str| {
        let path = dir.path().join(name);
        write_batch(&path, columns, Compression::UNCOMPRESSED, 1024);
        let err = db.ingest([&path], opts).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(needle), "{name}: {msg}");
        assert_untouched(&db, &before, &live);
    };
    let default = IngestOptions::default();
    case("no-value.parquet", vec![("key", keys())], &default, "no value column `value` (columns: key)");
    case(
        "int-key.parquet",
        vec![("key", ints()), ("value", values())],
        &default,
        "is Int64, but must be binary or string",
    );
    case(
        "extra.parquet",
        vec![("key", keys()), ("value", values()), ("n", ints())],
        &default,
        "columns other than key and value: n",
    );
    case("renamed.parquet", vec![("k", keys()), ("v", values())], &default, "no key column `key`");
    let nulls: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None]));
    case("null-value.parquet", vec![("key", keys()), ("value", nulls)], &default, "row 1: the value is null");

    // Extra columns may be ignored, and the columns renamed.
    let path = dir.path().join("custom.parquet");
    let large: ArrayRef = Arc::new(LargeStringArray::from(vec!["b", "a"]));
    write_batch(&path, vec![("n", ints()), ("v", values()), ("k", large)], Compression::ZSTD(Default::default()), 1);
    let opts = IngestOptions::default().key_column("k").value_column("v").extra_columns(ExtraColumns::Ignore);
    let summary = db.ingest([&path], &opts).unwrap();
    assert_eq!(summary.rows, 2);
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.get("b").unwrap().as_deref(), Some(&b"1"[..]));

    // Bad options name the field.
    let err = db.ingest([&path], &IngestOptions::default().sort_memory(10)).unwrap_err();
    assert!(err.to_string().contains("sort_memory"), "{err}");
}

#[test]
fn files_in_every_codec_other_tools_write_are_ingested() {
    use parquet::basic::{BrotliLevel, GzipLevel, ZstdLevel};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    let mut model = Model::new();
    let codecs = [
        ("uncompressed", Compression::UNCOMPRESSED),
        ("snappy", Compression::SNAPPY),
        ("gzip", Compression::GZIP(GzipLevel::default())),
        ("brotli", Compression::BROTLI(BrotliLevel::default())),
        ("lz4-hadoop", Compression::LZ4),
        ("lz4-raw", Compression::LZ4_RAW),
        ("zstd", Compression::ZSTD(ZstdLevel::default())),
    ];
    for (i, (name, codec)) in codecs.into_iter().enumerate() {
        let start = i as u64 * 5_000;
        let rows = rows(start..start + 6_000, name);
        let path = dir.path().join(format!("{name}.parquet"));
        let keys: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|(k, _)| k.as_str())));
        let values: ArrayRef = Arc::new(BinaryArray::from_iter_values(rows.iter().map(|(_, v)| v.as_slice())));
        write_batch(&path, vec![("key", keys), ("value", values)], codec, 2_000);
        let summary = db.ingest([&path], &IngestOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(summary.rows, 6_000, "{name}");
        apply(&mut model, &rows);
        assert!(contents(&db) == model, "{name}: the database differs from the files");
    }
}

/// pyarrow's dictionary columns and pandas' categoricals embed an arrow schema asking for
/// dictionary arrays; the bytes are the same as a plain column's.
#[test]
fn dictionary_typed_columns_are_ingested() {
    use arrow_array::DictionaryArray;
    use arrow_array::types::Int32Type;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    let path = dir.path().join("dictionary.parquet");
    let names: Vec<String> = (0..3000u64).map(key).collect();
    let keys: DictionaryArray<Int32Type> = names.iter().map(|k| Some(k.as_str())).collect();
    let values: DictionaryArray<Int32Type> = (0..3000).map(|i| Some(["red", "green", "blue"][i % 3])).collect();
    write_batch(&path, vec![("key", Arc::new(keys)), ("value", Arc::new(values))], Compression::SNAPPY, 1000);
    let summary = db.ingest([&path], &IngestOptions::default()).unwrap();
    assert_eq!(summary.rows, 3000);
    assert_eq!(db.get(key(0)).unwrap().as_deref(), Some(&b"red"[..]));
    assert_eq!(db.get(key(2999)).unwrap().as_deref(), Some(&b"blue"[..]));
    assert_eq!(contents(&db).len(), 3000);
}

/// A file whose value column claims LZO, which no Rust Parquet reader decodes (and no
/// writer here makes): the codec of an uncompressed file's value chunk is patched in its
/// footer (Thrift compact: field 4 of `ColumnMetaData`, an i32, right after the column's
/// path).
#[test]
fn a_codec_this_build_cannot_read_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    db.put("k", "v").unwrap();
    let before = contents(&db);
    let live: BTreeSet<u64> = db.live_tables().into_iter().collect();
    let path = dir.path().join("lzo.parquet");
    let keys: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
    let values: ArrayRef = Arc::new(StringArray::from(vec!["1", "2"]));
    write_batch(&path, vec![("key", keys), ("value", values)], Compression::UNCOMPRESSED, 1024);
    let mut bytes = std::fs::read(&path).unwrap();
    // The column path "value" as a Thrift string (length 5), then field 4 (delta 1, i32)
    // holding UNCOMPRESSED (zigzag 0); LZO is 3 (zigzag 6).
    let needle = b"\x05value\x15\x00";
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("the value chunk's codec in the footer");
    bytes[at + needle.len() - 1] = 0x06;
    std::fs::write(&path, &bytes).unwrap();

    let err = db.ingest([&path], &IngestOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("lzo.parquet") && msg.contains("column `value` is compressed with LZO"), "{msg}");
    assert_untouched(&db, &before, &live);
}

#[test]
fn damaged_files_are_corruption_naming_the_file_and_nothing_is_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    for i in 0..2000 {
        db.put(format!("old{i:05}"), "x").unwrap();
    }
    db.flush().unwrap();
    let before = contents(&db);
    let live: BTreeSet<u64> = db.live_tables().into_iter().collect();

    let good = dir.path().join("good.parquet");
    write_rows(&good, &rows(0..30_000, "g"));
    let bytes = std::fs::read(&good).unwrap();

    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"this is not a parquet file at all").unwrap();
    let truncated = dir.path().join("truncated.parquet");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let flipped = dir.path().join("flipped.parquet");
    let mut damaged = bytes.clone();
    for b in &mut damaged[bytes.len() / 3..bytes.len() / 3 + 400] {
        *b ^= 0x5a;
    }
    std::fs::write(&flipped, &damaged).unwrap();

    for bad in [&garbage, &truncated, &flipped] {
        // A good file first: it must not be half-ingested when the bad one fails.
        let err = db.ingest([&good, bad], &IngestOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "{}: {err}", bad.display());
        assert!(err.to_string().contains(bad.file_name().unwrap().to_str().unwrap()), "{err}");
        assert_untouched(&db, &before, &live);
    }
    let missing = dir.path().join("missing.parquet");
    let err = db.ingest([&good, &missing], &IngestOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("missing.parquet"), "{err}");

    // A bad row found only in the final pass over sorted input (its keys are fine), after
    // tables were written: they are deleted.
    let late = dir.path().join("late-null.parquet");
    let n = 30_000;
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(key)));
    let values: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(|i| (i != n - 10).then(|| "v".repeat(64)))));
    write_batch(&late, vec![("key", keys), ("value", values)], Compression::SNAPPY, 4096);
    let err = db.ingest([&late], &IngestOptions::default()).unwrap_err();
    assert!(err.to_string().contains("row 29990: the value is null"), "{err}");
    assert_untouched(&db, &before, &live);

    // The database still works and takes the good file.
    db.ingest([&good], &IngestOptions::default()).unwrap();
    assert!(db.get(key(29_999)).unwrap().is_some());
}

#[test]
fn ingest_reads_like_one_write_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    let mut model = Model::new();
    // Older data in every place a read looks: a deep level, L0, the memtable.
    let old = rows(0..5000, "old");
    for (k, v) in &old {
        db.put(k.clone(), v.clone()).unwrap();
    }
    apply(&mut model, &old);
    db.compact_range(..).unwrap();
    for i in (0..5000).step_by(7) {
        db.delete(key(i)).unwrap();
        model.remove(key(i).as_bytes());
    }
    db.flush().unwrap();
    for i in (0..5000).step_by(11) {
        db.put(key(i), "memtable").unwrap();
        model.insert(key(i).into_bytes(), b"memtable".to_vec());
    }
    let snapshot = db.snapshot();
    let before = model.clone();

    let input = dir.path().join("overlap.parquet");
    let new = shuffled(&rows((0..8000).step_by(2), "new"));
    write_rows(&input, &new);
    let summary = db.ingest([&input], &IngestOptions::default()).unwrap();
    assert_eq!(summary.level, Some(0), "it overlaps every level: L0");
    assert_eq!(db.stats().immutable_memtables, 0);
    assert!(db.tables()[0].iter().all(|t| t.max_seq <= summary.seq.unwrap()));
    apply(&mut model, &new);

    // The ingest replaces older values, tombstones included, everywhere.
    assert!(contents(&db) == model, "reads after the ingest");
    assert_eq!(db.get(key(14)).unwrap().as_deref(), Some(format!("new-14-{}", "v".repeat(14)).as_bytes()));
    // The snapshot from before sees none of it.
    let snap: Model =
        snapshot.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().unwrap();
    assert!(snap == before, "the snapshot saw the ingest");
    assert_eq!(snapshot.get(key(7000)).unwrap(), None);
    assert_eq!(snapshot.get(key(22)).unwrap().as_deref(), Some(&b"memtable"[..]));
    drop(snapshot);

    // Later writes win over ingested rows; compaction and reopen keep it all.
    db.put(key(2), "later").unwrap();
    model.insert(key(2).into_bytes(), b"later".to_vec());
    db.compact_range(..).unwrap();
    assert!(contents(&db) == model, "after compaction");
    drop(db);
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    assert!(contents(&db) == model, "after reopen");

    // compact_range left everything in L1 (the deepest non-empty level then). An ingest
    // disjoint from it goes to the bottom; one overlapping only the bottom goes just above
    // it; one overlapping L1 goes to L0.
    assert_eq!(db.tables().iter().map(Vec::len).collect::<Vec<_>>()[..2], [0, 2]);
    let hi = dir.path().join("hi.parquet");
    write_rows(&hi, &rows(100_000..101_000, "hi"));
    assert_eq!(db.ingest([&hi], &IngestOptions::default()).unwrap().level, Some(3));
    let mid = dir.path().join("mid.parquet");
    write_rows(&mid, &rows(100_500..100_501, "mid"));
    assert_eq!(db.ingest([&mid], &IngestOptions::default()).unwrap().level, Some(2));
    let low = dir.path().join("low.parquet");
    write_rows(&low, &rows(1..2, "low"));
    assert_eq!(db.ingest([&low], &IngestOptions::default()).unwrap().level, Some(0));
    assert_eq!(db.get(key(1)).unwrap().as_deref(), Some(&rows(1..2, "low")[0].1[..]));
    assert_eq!(db.get(key(100_500)).unwrap().as_deref(), Some(&rows(100_500..100_501, "mid")[0].1[..]));
    assert_eq!(db.get(key(100_501)).unwrap().as_deref(), Some(&rows(100_501..100_502, "hi")[0].1[..]));
    // An empty file ingests nothing and takes no sequence number.
    let empty = dir.path().join("empty.parquet");
    write_rows(&empty, &[]);
    let last = db.stats().last_seq;
    let summary = db.ingest([&empty], &IngestOptions::default()).unwrap();
    assert_eq!((summary.rows, summary.tables, summary.level), (0, 0, None));
    assert_eq!(db.stats().last_seq, last);
}

#[test]
fn ingests_race_writers_and_compactions_safely() {
    // Writers and background compactions run while files are ingested; every answer must
    // still be the newest write or ingested row.
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_memtable_size: 64 << 10,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 64 << 10,
            level_multiplier: 2,
            target_table_size: 32 << 10,
            num_levels: 5,
            intra_l0_merge: false,
        },
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path().join("db"), opts).unwrap());
    let files: Vec<PathBuf> = (0..6)
        .map(|n| {
            let path = dir.path().join(format!("batch{n}.parquet"));
            write_rows(&path, &shuffled(&rows((n * 3000)..(n * 3000 + 3000), &format!("ingest{n}"))));
            path
        })
        .collect();
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for i in 0..30_000u64 {
                // Writer keys interleave with ingested keys ("key..." vs "key...w").
                db.put(format!("{}w", key(i % 20_000)), format!("w{i}")).unwrap();
            }
        })
    };
    for f in &files {
        db.ingest([f], &IngestOptions::default()).unwrap();
    }
    writer.join().unwrap();
    db.compact_range(..).unwrap();
    let mut model = Model::new();
    for n in 0..6 {
        apply(&mut model, &rows((n * 3000)..(n * 3000 + 3000), &format!("ingest{n}")));
    }
    for i in 0..30_000u64 {
        model.insert(format!("{}w", key(i % 20_000)).into_bytes(), format!("w{i}").into_bytes());
    }
    assert!(contents(&db) == model);
}
