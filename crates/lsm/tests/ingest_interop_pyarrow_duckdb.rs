//! `Db::ingest` of Parquet files written by pyarrow and DuckDB: sorted and unsorted input,
//! large, view and dictionary string types, several row groups, gzip, brotli, zstd and
//! snappy pages, repeated keys (last row wins, or an error), extra and renamed columns. The
//! expected contents come from pyarrow reading the same files back.
//!
//! Needs `python3` with `pyarrow` and `duckdb` (`pip install pyarrow duckdb`). Without them
//! the test is skipped with a loud message, unless `CI` is set, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::process::Command;

use common::{hex, python_modules_or_skip};
use strata::{Db, DuplicateKeys, ErrorKind, ExtraColumns, IngestOptions, Options};

mod common;

const SCRIPT: &str = r#"
import sys, json
import pyarrow as pa, pyarrow.parquet as pq, duckdb
out = sys.argv[1]

# pyarrow: sorted, large_string keys, binary values, 5 row groups, gzip (Spark's and Athena's codec).
keys = [f"pa{i:06}" for i in range(5000)]
vals = [f"pyarrow-{i}".encode() * (1 + i % 5) for i in range(5000)]
t = pa.table({"key": pa.array(keys, pa.large_string()), "value": pa.array(vals, pa.binary())})
pq.write_table(t, f"{out}/pyarrow_sorted.parquet", row_group_size=1000, compression="gzip")

# pyarrow: unsorted string_view keys and dictionary values, with repeats, zstd.
keys = [f"pv{(i * 7919) % 3000:06}" for i in range(4000)]
vals = [f"view-{i % 37}" for i in range(4000)]
t = pa.table({"key": pa.array(keys, pa.string_view()), "value": pa.array(vals).dictionary_encode()})
pq.write_table(t, f"{out}/pyarrow_view.parquet", compression="zstd")

con = duckdb.connect()
# DuckDB: unsorted, with repeats (30,000 rows, 20,000 keys), in a fixed shuffled order.
con.execute(f"""COPY (SELECT 'dk' || lpad(((i * 7919) % 20000)::VARCHAR, 6, '0') AS key,
                             ('duck-' || i)::BLOB AS value
                      FROM range(30000) t(i) ORDER BY hash(i))
                TO '{out}/duckdb_unsorted.parquet' (FORMAT PARQUET, ROW_GROUP_SIZE 8192)""")
# DuckDB: renamed columns and an extra one, brotli.
con.execute(f"""COPY (SELECT i AS id, 'dx' || lpad(i::VARCHAR, 5, '0') AS k, 'extra-' || i AS v
                      FROM range(1000) t(i))
                TO '{out}/duckdb_renamed.parquet' (FORMAT PARQUET, COMPRESSION BROTLI)""")
# DuckDB: blob keys with one repeat, for the strict mode.
con.execute(f"""COPY (SELECT ('strict' || (CASE WHEN i = 99 THEN 5 ELSE i END))::BLOB AS key, 'x' AS value
                      FROM range(200) t(i))
                TO '{out}/duckdb_repeat.parquet' (FORMAT PARQUET)""")

# The expected database, read back with pyarrow in file order: the last row wins.
expected = {}
def load(name, k="key", v="value"):
    t = pq.read_table(f"{out}/{name}", columns=[k, v])
    for key, value in zip(t.column(k).to_pylist(), t.column(v).to_pylist()):
        key = key.encode() if isinstance(key, str) else key
        value = value.encode() if isinstance(value, str) else value
        expected[key.hex()] = value.hex()
for name in ["pyarrow_sorted.parquet", "pyarrow_view.parquet", "duckdb_unsorted.parquet"]:
    load(name)
load("duckdb_renamed.parquet", "k", "v")
json.dump(expected, open(f"{out}/expected.json", "w"))
print(len(expected))
"#;

#[test]
fn ingests_files_written_by_pyarrow_and_duckdb() {
    if !python_modules_or_skip(&["pyarrow", "duckdb"], "ingests_files_written_by_pyarrow_and_duckdb") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3").args(["-c", SCRIPT]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let expected: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected.len(), 5000 + 3000 + 20_000 + 1000);
    let file = |name: &str| dir.path().join(name);

    let db = Db::open(dir.path().join("db"), Options::default()).unwrap();
    let sorted = db.ingest([file("pyarrow_sorted.parquet")], &IngestOptions::default()).unwrap();
    assert!(sorted.sorted_input);
    assert_eq!(sorted.rows, 5000);
    let view = db.ingest([file("pyarrow_view.parquet")], &IngestOptions::default()).unwrap();
    assert_eq!((view.input_rows, view.rows), (4000, 3000));
    // The strict mode refuses DuckDB's repeat, naming the key.
    let strict = IngestOptions::default().duplicates(DuplicateKeys::Error);
    let err = db.ingest([file("duckdb_repeat.parquet")], &strict).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("strict5") && err.to_string().contains("duckdb_repeat.parquet"), "{err}");
    // Small sort memory, so DuckDB's unsorted file is sorted in spilled runs.
    let unsorted =
        db.ingest([file("duckdb_unsorted.parquet")], &IngestOptions::default().sort_memory(1 << 20)).unwrap();
    assert!(!unsorted.sorted_input);
    assert_eq!((unsorted.input_rows, unsorted.rows), (30_000, 20_000));
    // Renamed columns and an extra one: refused by default, taken when asked.
    let err = db.ingest([file("duckdb_renamed.parquet")], &IngestOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no key column `key` (columns: id, k, v)"), "{err}");
    let renamed = IngestOptions::default().key_column("k").value_column("v");
    let err = db.ingest([file("duckdb_renamed.parquet")], &renamed).unwrap_err();
    assert!(err.to_string().contains("columns other than key and value: id"), "{err}");
    db.ingest([file("duckdb_renamed.parquet")], &renamed.extra_columns(ExtraColumns::Ignore)).unwrap();

    let check = |db: &Db| {
        let got: BTreeMap<String, String> =
            db.iter(..).map(|kv| kv.map(|(k, v)| (hex(&k), hex(&v)))).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the database differs from what pyarrow reads in the files");
    };
    check(&db);
    db.compact_range(..).unwrap();
    drop(db);
    let db = Db::open(dir.path().join("db"), Options::default()).unwrap();
    check(&db);
}
