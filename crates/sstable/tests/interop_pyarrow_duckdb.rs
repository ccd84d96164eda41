//! pyarrow and DuckDB read a table written by Strata: rows, schema, sort order, metadata.
//!
//! Needs `python3` with `pyarrow` and `duckdb` (`pip install pyarrow duckdb`). Without them
//! the test is skipped with a loud message, unless `CI` is set, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::process::Command;

use strata_core::Entry;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore, TablePart};

const SCRIPT: &str = r#"
import sys
import pyarrow as pa, pyarrow.parquet as pq, duckdb
path = sys.argv[1]
t = pq.read_table(path)
assert t.schema.names == ["key", "seq", "kind", "value"], t.schema
assert [str(f.type) for f in t.schema] == ["binary", "uint64", "uint8", "binary"], t.schema
keys, seqs = t.column("key").to_pylist(), t.column("seq").to_pylist()
order = [(k, -s) for k, s in zip(keys, seqs)]
assert order == sorted(order) and len(set(order)) == len(order), "rows not in (key asc, seq desc) order"
md = pq.ParquetFile(path).metadata
sc = md.row_group(0).sorting_columns
assert [(c.column_index, c.descending) for c in sc] == [(0, False), (1, True)], sc
# Keys carry the statistics readers prune on; values carry none (nothing prunes on them).
rg = md.row_group(0)
assert rg.column(0).is_stats_set and rg.column(0).statistics.min == b"key000000", rg.column(0).statistics
assert not rg.column(3).is_stats_set, rg.column(3).statistics
# The encodings Strata writes, which both readers must decode.
assert "DELTA_BYTE_ARRAY" in rg.column(0).encodings, rg.column(0).encodings
assert "DELTA_LENGTH_BYTE_ARRAY" in rg.column(3).encodings, rg.column(3).encodings
assert t.filter(pa.compute.equal(t.column("value"), b"v42")).num_rows == 1
kv = md.metadata
assert kv[b"strata.format_version"] == b"1", kv
con = duckdb.connect()
n, tomb, maxseq = con.execute("select count(*), count(*) filter (where kind = 1), max(seq) from read_parquet(?)", [path]).fetchone()
dk = [r[0] for r in con.execute("select key from read_parquet(?)", [path]).fetchall()]
assert dk == keys, "duckdb sees a different row order"
v = con.execute("select value from read_parquet(?) where key = ? order by seq desc limit 1", [path, b"key000042"]).fetchone()[0]
print(f"rows={t.num_rows} duckdb_rows={n} tombstones={tomb} max_seq={maxseq} row_groups={md.num_row_groups} v42={bytes(v).decode()}")
"#;

/// For a table made of encoded and copied row groups: every row group's statistics bound its
/// rows, the rows are in order, and DuckDB finds a key of each row group by value (through
/// statistics and, where it uses them, Bloom filters, whose offsets a copy moves).
const COPIED_SCRIPT: &str = r#"
import sys
import pyarrow.parquet as pq, duckdb
path = sys.argv[1]
t = pq.read_table(path)
keys = t.column("key").to_pylist()
assert keys == sorted(keys) and len(set(keys)) == len(keys), "rows not in key order"
md = pq.ParquetFile(path).metadata
row = 0
for i in range(md.num_row_groups):
    rg = md.row_group(i)
    st = rg.column(0).statistics
    assert st.min == keys[row] and st.max == keys[row + rg.num_rows - 1], (i, st)
    row += rg.num_rows
assert row == t.num_rows
counts = md.metadata[b"strata.row_groups"].split(b",")
assert len(counts) == md.num_row_groups, counts
con = duckdb.connect()
found = 0
for i in range(md.num_row_groups):
    first = pq.ParquetFile(path).read_row_group(i).column("key")[5].as_py()
    v = con.execute("select value from read_parquet(?) where key = ?", [path, first]).fetchone()
    found += v is not None and bytes(v[0]) == b"v" + first
n = con.execute("select count(*) from read_parquet(?)", [path]).fetchone()[0]
print(f"rows={t.num_rows} duckdb_rows={n} row_groups={md.num_row_groups} found={found}")
"#;

/// Whether `test` must be skipped: python3 with pyarrow and duckdb is missing (said loudly),
/// which fails the test instead when `CI` is set.
fn skipped_without_python(test: &str) -> bool {
    let found =
        Command::new("python3").args(["-c", "import pyarrow, duckdb"]).output().is_ok_and(|o| o.status.success());
    if found {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but python3 with pyarrow and duckdb is missing: `pip install pyarrow duckdb`");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED {test}: python3 with pyarrow and duckdb not found (pip install pyarrow duckdb) !!!!!!!!\n"
    );
    true
}

#[test]
fn pyarrow_and_duckdb_read_strata_tables() {
    if skipped_without_python("pyarrow_and_duckdb_read_strata_tables") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { row_group_rows: 1000, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let entries = (0..3000u64).flat_map(|i| {
        let key = format!("key{i:06}");
        let newer = if i % 10 == 0 {
            Entry::delete(key.clone(), 2 * i + 2)
        } else {
            Entry::put(key.clone(), 2 * i + 2, format!("v{i}"))
        };
        [newer, Entry::put(key, 2 * i + 1, format!("old{i}"))]
    });
    let meta = store.write_table(9, &mut entries.map(Ok)).unwrap();

    let out = Command::new("python3").args(["-c", SCRIPT]).arg(store.table_path(9)).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let want = format!(
        "rows={} duckdb_rows={} tombstones={} max_seq={} row_groups=6 v42=v42",
        meta.entries, meta.entries, meta.tombstones, meta.max_seq
    );
    assert_eq!(stdout.trim(), want);
}

/// A table of encoded and copied row groups (`write_table_parts`, as compaction writes it when
/// it copies row groups) is ordinary Parquet to pyarrow and DuckDB.
#[test]
fn pyarrow_and_duckdb_read_tables_with_copied_row_groups() {
    if skipped_without_python("pyarrow_and_duckdb_read_tables_with_copied_row_groups") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { row_group_rows: 1000, parquet_bloom_filter: true, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let put = |k: String, seq: u64| Entry::put(k.clone(), seq, format!("v{k}"));
    let source = (0..3000u64).map(|i| put(format!("key1{i:05}"), i + 1));
    store.write_table(10, &mut source.map(Ok)).unwrap();
    let units = store.copy_units(10, 1).unwrap();
    assert_eq!(units.len(), 3);
    let before = (0..1500u64).map(|i| Ok(TablePart::Entry(put(format!("key0{i:05}"), 5000 + i))));
    let copies = units.into_iter().map(|u| Ok(TablePart::Copy(u)));
    let after = (0..700u64).map(|i| Ok(TablePart::Entry(put(format!("key2{i:05}"), 9000 + i))));
    let meta = store.write_table_parts(11, 1, &mut before.chain(copies).chain(after)).unwrap();
    assert_eq!(meta.entries, 5200);

    let out = Command::new("python3").args(["-c", COPIED_SCRIPT]).arg(store.table_path(11)).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // 1,500 encoded rows (two row groups), three copied, 700 encoded (one).
    assert_eq!(stdout.trim(), "rows=5200 duckdb_rows=5200 row_groups=6 found=6");
}
