//! The SQL of `strata::duckdb_view`, run in DuckDB, returns exactly what `Db::iter` returns:
//! overwrites, point deletes, range deletes (alone and in batches, with puts after them inside
//! the range) spread over several tables, keys with bytes above 0x7f, a database path that
//! needs SQL and glob quoting, before and after compactions (one with a snapshot holding old
//! versions), with a compacted-away table file put back on disk, and beside a directory
//! that the database's path, read as a glob, would match.
//!
//! Needs `python3` with `duckdb` (`pip install duckdb`). Without it the test is skipped with a
//! loud message, unless `CI` is set, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;
use std::process::Command;

use common::{hex, python_modules_or_skip};
use strata::{Db, Options, PolicyConfig, WriteBatch, WriteOptions};

mod common;

/// Runs the view's SQL, then `SELECT key, value FROM kv ORDER BY key`; prints hex pairs as JSON.
const SCRIPT: &str = r#"
import sys, json, duckdb
con = duckdb.connect()
con.execute(open(sys.argv[1]).read())
rows = con.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
print(json.dumps([[bytes(k).hex(), bytes(v).hex()] for k, v in rows]))
"#;

/// The view's rows as DuckDB returns them.
fn duckdb_rows(sql: &str, scratch: &Path) -> Vec<(String, String)> {
    let file = scratch.join("view.sql");
    std::fs::write(&file, sql).unwrap();
    let out = Command::new("python3").args(["-c", SCRIPT]).arg(&file).output().unwrap();
    assert!(out.status.success(), "DuckDB failed on\n{sql}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<[String; 2]> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter().map(|[k, v]| (k, v)).collect()
}

fn iter_rows(db: &Db) -> Vec<(String, String)> {
    db.iter(..).map(|kv| kv.map(|(k, v)| (hex(&k), hex(&v)))).collect::<Result<_, _>>().unwrap()
}

fn check(db: &Db, scratch: &Path, when: &str) -> usize {
    let view = strata::duckdb_view(db, "kv").unwrap();
    let live: usize = db.tables().iter().map(Vec::len).sum();
    assert_eq!(view.files.len(), live, "{when}: the view names every live table");
    let expected = iter_rows(db);
    let got = duckdb_rows(&view.sql, scratch);
    if got != expected {
        let missing: Vec<_> = expected.iter().filter(|r| !got.contains(r)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|r| !expected.contains(r)).take(5).collect();
        panic!(
            "{when}: DuckDB returned {} rows, Db::iter {}; missing {missing:?}, extra {extra:?}\n{}",
            got.len(),
            expected.len(),
            view.sql
        );
    }
    expected.len()
}

/// No background compaction, by L0's trigger or by seeks: it would delete tables a view names
/// while DuckDB reads it (the race `DuckDbView::files` warns of). `compact_range` still
/// compacts.
fn options() -> Options {
    let compaction = PolicyConfig::Leveled {
        l0_trigger: 64,
        base_level_bytes: 64 << 20,
        level_multiplier: 10,
        target_table_size: 32 << 20,
        num_levels: 7,
        intra_l0_merge: false,
    };
    Options { compaction, seek_compaction_bytes: 0, ..Options::default() }
}

fn k(i: u32) -> String {
    format!("k{i:04}")
}

#[test]
fn duckdb_view_returns_what_iter_returns() {
    if !python_modules_or_skip(&["duckdb"], "duckdb_view_returns_what_iter_returns") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    // A quote for the SQL string, and `[`, `*`, `?` that DuckDB would read as a glob.
    let dir = scratch.path().join("it's [db]*?");
    let db = Db::open(&dir, options()).unwrap();
    assert_eq!(check(&db, scratch.path(), "empty"), 0);

    // Table 1: the first versions, text keys and binary keys above 0x7f.
    for i in 0..300 {
        db.put(k(i), format!("v1-{i}")).unwrap();
    }
    for j in 0..100u8 {
        db.put(vec![0x80 + j, j], vec![j; usize::from(j % 4)]).unwrap();
        db.put(vec![0xff, j], format!("ff-{j}")).unwrap();
    }
    db.flush().unwrap();

    // Table 2: overwrites, point deletes, range deletes over keys of table 1.
    for i in (0..100).step_by(3) {
        db.put(k(i), format!("v2-{i}")).unwrap();
    }
    for i in (100..150).step_by(2) {
        db.delete(k(i)).unwrap();
    }
    db.delete_range(k(200), k(250)).unwrap(); // starts at a key that exists; k0250 stays
    db.delete_range(vec![0x90], vec![0xa0, 0x25]).unwrap(); // bytes a signed compare would misorder
    db.delete_range(vec![0xff, 50], vec![0xff, 60]).unwrap();
    db.flush().unwrap();

    // Table 3: puts inside deleted ranges after the deletes, a batch with a put before and
    // after its own range delete, a delete of a key inside a deleted range.
    db.put(k(210), "reborn").unwrap();
    db.put(vec![0x95, 0x15], "reborn-binary").unwrap();
    db.delete(k(220)).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(k(262), "gone-in-batch").delete_range(k(260), k(270)).put(k(265), "after-in-batch");
    db.write(batch, WriteOptions::default()).unwrap();
    db.flush().unwrap();

    // Left in the memtable, then flushed as the view requires.
    db.put(k(1), "v3-1").unwrap();
    db.delete_range(k(20), k(30)).unwrap();
    db.put(k(25), "reborn-25").unwrap();
    db.flush().unwrap();

    let tables = db.tables();
    assert!(tables.iter().map(Vec::len).sum::<usize>() >= 2, "versions and tombstones are in several tables");
    assert!(tables.iter().flatten().any(|t| !t.range_tombstones.is_empty()), "a table holds range tombstones");
    let live = check(&db, scratch.path(), "after flushes");
    assert!(live > 300, "{live} live keys");

    // Compacted while a snapshot keeps old versions and tombstones in the output.
    let snapshot = db.snapshot();
    db.compact_range(..).unwrap();
    check(&db, scratch.path(), "after compaction with a snapshot");
    drop(snapshot);

    // More range deletes over compacted data, a put inside one, then a full compaction that
    // drops the tombstones and what they hid.
    db.delete_range(k(0), k(10)).unwrap();
    db.put(k(5), "reborn-5").unwrap();
    db.delete_range(vec![0x80], vec![0x85]).unwrap();
    db.flush().unwrap();
    let before: Vec<_> = db.tables().iter().flatten().map(|t| db.store().table_path(t.id)).collect();
    let saved: Vec<_> = before.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    db.compact_range(..).unwrap();
    check(&db, scratch.path(), "after the final compaction");

    // Compacted-away tables back on disk (as a reader holding them would keep them): the
    // view names the manifest's tables, so they change nothing.
    let mut restored = 0;
    for (path, bytes) in &saved {
        if !path.exists() {
            std::fs::write(path, bytes).unwrap();
            restored += 1;
        }
    }
    assert!(restored > 0, "the compaction replaced some table");
    check(&db, scratch.path(), "with stale table files on disk");
    for (path, _) in &saved {
        if !db.live_tables().iter().any(|&id| db.store().table_path(id) == *path) {
            std::fs::remove_file(path).unwrap();
        }
    }

    // A directory that the database's path, read as a glob (`[db]` one of `d`, `b`; `*?` any
    // tail), matches, holding other tables under the live tables' names: DuckDB must read the
    // database's own files.
    let other = Db::open(scratch.path().join("other"), options()).unwrap();
    other.put("decoy", "decoy").unwrap();
    other.flush().unwrap();
    let decoy_table = std::fs::read(other.store().table_path(other.tables()[0][0].id)).unwrap();
    other.close().unwrap();
    let decoy = scratch.path().join("it's dx");
    std::fs::create_dir(&decoy).unwrap();
    for id in db.live_tables() {
        std::fs::write(decoy.join(db.store().table_path(id).file_name().unwrap()), &decoy_table).unwrap();
    }
    check(&db, scratch.path(), "beside a directory its path matches as a glob");
    db.close().unwrap();
}
