//! Every data subcommand end to end, and the error cases: a missing directory, a directory
//! with no database, a locked directory, a corrupt table, a bad flag. Errors print one clear
//! line and exit non-zero.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;
mod support;

use support::{fails_with, ok, strata};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn put_get_delete_scan_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = s(dir.path());
    for (k, v) in [("user/1", "ada"), ("user/2", "grace"), ("job/7", "compile")] {
        ok(&strata(&["put", d, k, v]));
    }
    assert_eq!(ok(&strata(&["get", d, "user/2"])), "grace\n");
    ok(&strata(&["delete", d, "user/2"]));
    fails_with(&strata(&["get", d, "user/2"]), "key not found");
    assert_eq!(ok(&strata(&["scan", d])), "job/7\tcompile\nuser/1\tada\n");
    assert_eq!(ok(&strata(&["scan", d, "--prefix", "user/"])), "user/1\tada\n");
    assert_eq!(ok(&strata(&["scan", d, "--start", "k", "--limit", "1"])), "user/1\tada\n");
    assert_eq!(ok(&strata(&["scan", d, "--reverse"])), "user/1\tada\njob/7\tcompile\n");
    assert_eq!(ok(&strata(&["scan", d, "--end", "user/1", "--reverse", "--limit", "1"])), "job/7\tcompile\n");
    fails_with(&strata(&["scan", d, "--prefix", "u", "--start", "a"]), "--prefix");
}

#[test]
fn missing_directories_and_databases_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    fails_with(&strata(&["get", s(&missing), "k"]), "is not a directory");
    fails_with(&strata(&["scan", s(dir.path())]), "holds no Strata database");
    fails_with(&strata(&["stats", s(dir.path())]), "holds no Strata database");
    fails_with(&strata(&["compact", s(dir.path())]), "holds no Strata database");
}

#[test]
fn a_locked_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = strata::Db::open(dir.path(), strata::Options::default()).expect("open");
    fails_with(&strata(&["get", s(dir.path()), "k"]), "locked");
    db.close().expect("close");
}

#[test]
fn a_damaged_log_is_refused_and_point_in_time_recovery_opens_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = strata::Db::open(dir.path(), strata::Options::default()).expect("open");
    for i in 0..50 {
        db.put(format!("k{i:02}"), "v").expect("put");
    }
    db.close().expect("close");
    let log = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a log segment");
    let mut bytes = std::fs::read(&log).expect("read log");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&log, &bytes).expect("write log");

    let d = s(dir.path());
    fails_with(&strata(&["get", d, "k00"]), "point_in_time");
    assert_eq!(ok(&strata(&["--wal-recovery", "point-in-time", "get", d, "k00"])), "v\n");
    fails_with(&strata(&["get", d, "k49"]), "key not found");
}

#[test]
fn stats_compact_and_inspect_describe_the_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = strata::Db::open(dir.path(), strata::Options::default()).expect("open");
        for i in 0..2_000u32 {
            db.put(format!("key{i:05}"), format!("value{i}")).expect("put");
        }
        db.flush().expect("flush");
    }
    let stats = ok(&strata(&["stats", s(dir.path())]));
    assert!(stats.contains("2000 live keys"), "{stats}");
    assert!(stats.contains("L0: 1 tables") && stats.contains("[key00000 .. key01999]"), "{stats}");
    assert!(stats.contains("space amplification") && stats.contains("block cache"), "{stats}");

    let compacted = ok(&strata(&["compact", s(dir.path())]));
    assert!(compacted.starts_with("compacted:"), "{compacted}");

    let table = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("a table file");
    let inspect = ok(&strata(&["inspect", s(&table), "--rows", "2"]));
    assert!(inspect.contains("entries 2000"), "{inspect}");
    assert!(inspect.contains("bloom filters") && inspect.contains("row groups"), "{inspect}");
    assert!(inspect.contains("key00000\t") && inspect.contains("key00001\t"), "{inspect}");
    // Where the bytes go: every column, the page index and both kinds of filter, each with a
    // stored size that adds up to no more than the file.
    let parts = ["key", "seq", "kind", "value", "page index", "parquet bloom filter", "strata bloom filters"];
    let line = |part: &str| -> Vec<u64> {
        let line = inspect
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{part} ")))
            .unwrap_or_else(|| panic!("no {part} line in {inspect}"));
        line.trim_start()[part.len()..].split_whitespace().filter_map(|n| n.parse().ok()).collect()
    };
    let stored: u64 = parts.iter().map(|part| line(part)[0]).sum();
    let size: u64 = std::fs::metadata(&table).unwrap().len();
    assert!(stored > 0 && stored <= size, "parts add up to {stored} of {size} bytes");
    // Data pages per column: 2,000 rows in pages of 64, half that for values. The flush wrote
    // only puts, so `kind` pages are sixteen key pages long; the compaction moved the table
    // down as it was, with a sequence number per row, so `seq` pages stay as long as key pages.
    assert!(inspect.contains("sequence 1..2000"), "{inspect}");
    let pages = |part: &str| line(part).last().copied().unwrap();
    assert_eq!([pages("key"), pages("seq"), pages("kind"), pages("value")], [32, 32, 2, 63], "{inspect}");

    // A damaged table is reported as corrupt, naming the file.
    let mut bytes = std::fs::read(&table).expect("read table");
    let len = bytes.len();
    bytes[len - 20] ^= 0xff;
    std::fs::write(&table, &bytes).expect("write table");
    fails_with(&strata(&["inspect", s(&table)]), "corrupt");
    fails_with(&strata(&["inspect", s(&dir.path().join("notes.txt"))]), "not a Strata table");
}

#[test]
fn bad_flags_fail() {
    let out = strata(&["scan"]);
    assert!(!out.status.success());
    let out = strata(&["bench", "--threads", "0"]);
    assert!(!out.status.success());
    fails_with(&strata(&["bench", "--benchmarks", "fillsideways", "--num", "10"]), "unknown benchmark");
    fails_with(&strata(&["bench", "--policy", "tiered", "--num", "10"]), "size_tiered");
    for (ratio, says) in [("0", "outside (0, 1]"), ("1.5", "outside (0, 1]"), ("half", "not a number")] {
        let out = strata(&["bench", "--compression-ratio", ratio, "--num", "10"]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(says), "{out:?}");
    }
    for (secs, says) in [("-1", "outside [0, 60]"), ("61", "outside [0, 60]"), ("long", "not a number")] {
        let out = strata(&["bench", &format!("--stall-probe-secs={secs}"), "--num", "10"]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(says), "{out:?}");
    }
    let out = strata(&["bench", "--l0-trigger", "0", "--num", "10"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not in 1..=1024"), "{out:?}");
    fails_with(&strata(&["bench", "--policy", "size_tiered", "--l0-trigger", "6", "--num", "10"]), "leveled only");
    for (rate, says) in [("50", "outside 100 to"), ("-5", "not a whole number"), ("fast", "not a whole number")] {
        let out = strata(&["bench", &format!("--write-rate={rate}"), "--num", "10"]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(says), "{out:?}");
    }
}

/// `readwhilewriting` reports its writer's rate, in the table and the JSON, and holds the
/// writer to `--write-rate`.
#[test]
fn bench_readwhilewriting_reports_and_paces_its_writer() {
    let rate_of = |extra: &[&str]| {
        let args = ["bench", "--num", "2000", "--reads", "20000", "--benchmarks", "fillrandom,readwhilewriting"];
        let out = strata(&[&args[..], extra, &["--stall-probe-secs", "0", "--json", "-"]].concat());
        let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON");
        let rows = report["rows"].as_array().expect("rows");
        assert!(rows[0].get("writes_per_sec").is_none(), "only readwhilewriting has a writer");
        assert!(String::from_utf8_lossy(&out.stderr).contains("while a writer put"), "{out:?}");
        rows[1]["writes_per_sec"].as_f64().expect("the writer's rate")
    };
    assert!(rate_of(&[]) > 0.0);
    let paced = rate_of(&["--write-rate", "500"]);
    // At most the rate (and a rounding of the clock to nanoseconds).
    assert!(paced > 0.0 && paced <= 500.5, "the writer put {paced}/s, held to 500");
}

#[test]
fn bench_values_compress_as_the_ratio_says() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stored_share = |ratio: &str| {
        let json = dir.path().join(format!("bench-{ratio}.json"));
        let args = ["bench", "--num", "2000", "--benchmarks", "fillrandom", "--compression-ratio", ratio, "--json"];
        ok(&strata(&[&args[..], &[s(&json)]].concat()));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid");
        assert_eq!(report["compression_ratio"].as_f64(), ratio.parse().ok());
        let parts = report["engines"][0]["table_parts"].as_array().expect("table parts").clone();
        let value = parts.iter().find(|p| p["part"] == "value").expect("value part");
        value["stored"].as_f64().expect("stored") / value["raw"].as_f64().expect("raw")
    };
    // LZ4 keeps about the ratio; values that do not compress are stored raw.
    let (quarter, half, whole) = (stored_share("0.25"), stored_share("0.5"), stored_share("1"));
    assert!((0.2..0.35).contains(&quarter), "ratio 0.25 stored {quarter:.3} of the values");
    assert!((0.45..0.6).contains(&half), "ratio 0.5 stored {half:.3} of the values");
    assert!(whole >= 0.99, "ratio 1 stored {whole:.3} of the values");
}

#[test]
fn delete_range_removes_the_range_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = s(dir.path());
    for k in ["a", "b", "b1", "c", "d"] {
        ok(&strata(&["put", d, k, "v"]));
    }
    ok(&strata(&["delete-range", d, "b", "d"]));
    assert_eq!(ok(&strata(&["scan", d])), "a\tv\nd\tv\n");
    // After a flush and a compaction too; a later put inside the range is visible.
    ok(&strata(&["put", d, "c", "again"]));
    ok(&strata(&["compact", d]));
    assert_eq!(ok(&strata(&["scan", d])), "a\tv\nc\tagain\nd\tv\n");
    fails_with(&strata(&["delete-range", d, "z", "a"]), "sorts after");
}

#[test]
fn bench_deleterange_deletes_a_tenth_and_reads_the_rest() {
    let out = strata(&[
        "bench",
        "--num",
        "2000",
        "--reads",
        "500",
        "--benchmarks",
        "fillrandom,deleterange,readrandom,compact,readrandom",
        "--json",
        "-",
    ]);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON");
    let rows = report["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().map(|r| r["workload"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["fillrandom", "deleterange", "readrandom", "compact", "readrandom"]);
    assert_eq!(rows[1]["ops"], 200, "a tenth of the keys");
    // Strata can say when its background work is done, so the full compaction is timed alone
    // after waiting for it, and the wait is reported beside it.
    assert!(rows[3]["settle_secs"].as_f64().is_some_and(|s| s >= 0.0), "{}", rows[3]);
    assert!(rows[0].get("settle_secs").is_none(), "only the compaction waits: {}", rows[0]);
    // Every read finds its key (it reads only keys the range left), before and after the
    // compaction: 500 reads of 16-byte keys and 100-byte values.
    for row in [&rows[2], &rows[4]] {
        let bytes = row["mb_per_sec"].as_f64().expect("mb/s") * 1e6 * row["secs"].as_f64().expect("secs");
        assert!((bytes - 500.0 * 116.0).abs() < 1.0, "readrandom read {bytes} bytes");
    }
}

#[test]
fn engine_bench_runs_each_engine_in_a_process_of_its_own_unless_told() {
    // Two runs of Strata stand in for two engines (the peers need cargo features). Each is
    // a child process by default; the parent gathers their rows and summaries in order.
    for one_process in [false, true] {
        let mut args = vec!["bench", "--engines", "strata,strata", "--num", "600", "--reads", "200"];
        args.extend([
            "--benchmarks",
            "fillrandom,readrandom",
            "--stall-probe-secs",
            "0",
            "--json",
            "-",
            "--sample-memory",
        ]);
        if one_process {
            args.push("--one-process");
        }
        let out = strata(&args);
        let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON");
        let rows = report["rows"].as_array().expect("rows");
        let names: Vec<&str> = rows.iter().map(|r| r["workload"].as_str().unwrap_or("")).collect();
        assert_eq!(names, ["fillrandom", "readrandom", "fillrandom", "readrandom"], "one_process {one_process}");
        assert!(rows.iter().all(|r| r["ops_per_sec"].as_f64() > Some(0.0)), "{rows:?}");
        let engines = report["engines"].as_array().expect("engines");
        assert_eq!(engines.len(), 2);
        assert!(engines.iter().all(|e| e["user_bytes"].as_u64() == Some(600 * 116)), "{engines:?}");
        // The rows went to standard error as they finished, and the comparison after them.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches("\nreadrandom ").count(), 4, "two rows as they finish, two side by side: {stderr}");
        assert_eq!(stderr.contains("a process of its own"), !one_process, "{stderr}");
        // A child's peak memory is its engine's alone; in one process the second engine's
        // would include the first's, so neither is given.
        for e in engines {
            let (rss, anon) = (e["memory"]["rss_bytes"].as_u64(), e["memory"]["anon_bytes"].as_u64());
            if one_process || !cfg!(target_os = "linux") {
                assert!(e.get("memory").is_none(), "{e}");
            } else {
                assert!(anon > Some(1 << 20) && rss >= anon, "rss {rss:?}, anon {anon:?}");
            }
        }
    }
}

#[test]
fn engine_bench_runs_writes_json_and_plots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("bench.json");
    let svg = dir.path().join("bench.svg");
    let out = strata(&[
        "bench",
        "--num",
        "800",
        "--benchmarks",
        "fillrandom,readrandom,seekrandom,ycsb-a",
        "--seek-nexts",
        "10",
        "--json",
        s(&json),
        "--plot",
        s(&svg),
    ]);
    let table = ok(&out);
    for w in ["fillrandom", "readrandom", "seekrandom", "ycsb-a", "write amp"] {
        assert!(table.contains(w), "table lacks {w}: {table}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid");
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(4));
    assert!(report["rows"].as_array().expect("rows").iter().all(|r| r["ops_per_sec"].as_f64() > Some(0.0)));
    let plot = std::fs::read_to_string(&svg).expect("svg written");
    assert!(plot.starts_with("<svg") && plot.contains("fillrandom"), "not an SVG of the run");

    // Where Strata's table bytes go after the full compaction: every column, and the parts
    // add up to the tables' size (the directory holds them plus the log and manifest).
    assert!(table.contains("tables after the full compaction, by part"), "{table}");
    let parts = report["engines"][0]["table_parts"].as_array().expect("table parts");
    let names: Vec<&str> = parts.iter().filter_map(|p| p["part"].as_str()).collect();
    for column in ["key", "seq", "kind", "value", "page index", "strata bloom filters", "other"] {
        assert!(names.contains(&column), "no {column} in {names:?}");
    }
    let stored: u64 = parts.iter().filter_map(|p| p["stored"].as_u64()).sum();
    let disk = report["engines"][0]["disk_bytes_after_compact"].as_u64().expect("disk bytes");
    assert!(stored > 800 * 16 && stored <= disk, "parts {stored} bytes, directory {disk}");
    let value = &parts[names.iter().position(|n| *n == "value").expect("value")];
    assert!(value["raw"].as_u64() >= Some(800 * 100), "800 values of 100 bytes before compression: {value}");
    // db_bench's values (compression ratio 0.5 by default) are stored compressed.
    assert!(value["stored"].as_u64() < Some(800 * 70), "values of ratio 0.5 compress: {value}");
    // Compactions ran (the final full one at least) and say how they wrote their rows.
    assert!(table.contains("compactions wrote"), "{table}");
    let rows = &report["engines"][0]["compaction_rows"];
    let written = rows["rewritten"].as_u64().expect("rewritten") + rows["copied"].as_u64().expect("copied");
    assert!(written >= 800, "the full compaction writes every live row: {rows}");
    // One engine in this process: its resident peak is printed; the anonymous one is sampled
    // only when asked (`--sample-memory`).
    if cfg!(target_os = "linux") {
        assert!(table.contains("strata   peak memory: "), "{table}");
        assert!(!table.contains(" anonymous"), "{table}");
        let memory = &report["engines"][0]["memory"];
        assert!(memory["rss_bytes"].as_u64() > Some(1 << 20) && memory.get("anon_bytes").is_none(), "{memory}");
    }
}

#[test]
fn engine_bench_prints_rows_as_it_goes_and_reads_missing_keys() {
    // Not a terminal: the header and every row still come out, in order, before the summary.
    let out = strata(&["bench", "--num", "500", "--reads", "300", "--benchmarks", "fillrandom,readmissing,readrandom"]);
    let table = ok(&out);
    let at = |needle: &str| table.find(needle).unwrap_or_else(|| panic!("table lacks {needle}: {table}"));
    // The column names start a line ("workload" alone is also in the header's first line).
    assert!(at("500 keys") < at("machine stalls") && at("machine stalls") < at("\nworkload"));
    assert!(at("\nworkload") < at("fillrandom") && at("fillrandom") < at("readmissing"));
    assert!(at("readmissing") < at("readrandom") && at("readrandom") < at("write amp"));

    // With the JSON on standard output, the table moves to standard error.
    let args =
        ["bench", "--num", "200", "--benchmarks", "fillseq,readmissing", "--stall-probe-secs", "0.2", "--json", "-"];
    let out = strata(&args);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("standard output is the JSON alone");
    let stalls = &report["machine_stalls"];
    assert!(stalls["secs"].as_f64().is_some_and(|s| s >= 0.2), "the probe spun as long as asked: {stalls}");
    assert!(stalls["longest_us"].as_f64().is_some_and(|l| l > 0.0), "{stalls}");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows[1]["workload"], "readmissing");
    assert_eq!(rows[1]["ops"], 200, "reads default to --num when it is below 20000");
    assert_eq!(rows[1]["mb_per_sec"], 0.0, "a missing key reads no bytes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("readmissing"));
}

/// `--keep-data` leaves the database under `--db`, where `strata` opens it; without the flag
/// the run removes it, and the flag without `--db` is refused.
#[test]
fn bench_keeps_its_database_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args =
        ["bench", "--num", "300", "--benchmarks", "fillrandom", "--stall-probe-secs", "0", "--db", s(dir.path())];
    ok(&strata(&args));
    assert!(!dir.path().join("strata").exists(), "removed without --keep-data");
    ok(&strata(&[&args[..], &["--keep-data"]].concat()));
    let stats = ok(&strata(&["stats", s(&dir.path().join("strata"))]));
    assert!(stats.contains("300 live keys"), "the kept database holds the keys loaded: {stats}");
    // clap's own error, several lines long.
    let out = strata(&["bench", "--num", "10", "--keep-data"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--db"), "{out:?}");
}

#[test]
fn an_engine_left_out_of_the_build_says_how_to_add_it() {
    if cfg!(feature = "rocksdb") {
        return;
    }
    fails_with(&strata(&["bench", "--engines", "strata,rocksdb", "--num", "10"]), "--features rocksdb");
    fails_with(&strata(&["bench", "--engines", "leveldb", "--num", "10"]), "unknown engine");
}

#[test]
fn checkpoint_makes_an_openable_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    let cp = dir.path().join("cp");
    for (k, v) in [("a", "1"), ("b", "2")] {
        ok(&strata(&["put", s(&db), k, v]));
    }
    let out = ok(&strata(&["checkpoint", s(&db), s(&cp)]));
    assert!(out.starts_with("checkpoint at sequence 2 in"), "{out}");
    ok(&strata(&["put", s(&db), "c", "3"]));
    assert_eq!(ok(&strata(&["scan", s(&cp)])), "a\t1\nb\t2\n");
    fails_with(&strata(&["checkpoint", s(&db), s(&cp)]), "empty directory");
}

#[test]
fn ingest_loads_a_parquet_file_and_reports_bad_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    ok(&strata(&["put", s(&db), "a", "old"]));
    // A Strata table is a Parquet file with extra columns (seq, kind): a handy input.
    let src = dir.path().join("src");
    for (k, v) in [("b", "2"), ("a", "1"), ("c", "3")] {
        ok(&strata(&["put", s(&src), k, v]));
    }
    ok(&strata(&["compact", s(&src)]));
    let table = std::fs::read_dir(&src)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("a table");
    fails_with(&strata(&["ingest", s(&db), s(&table)]), "columns other than key and value: seq, kind");
    let out = ok(&strata(&["ingest", s(&db), s(&table), "--ignore-extra-columns"]));
    assert!(out.starts_with("ingested 3 keys (3 rows) as 1 tables"), "{out}");
    assert_eq!(ok(&strata(&["scan", s(&db)])), "a\t1\nb\t2\nc\t3\n");
    let bogus = dir.path().join("bogus.parquet");
    std::fs::write(&bogus, "nope").expect("write");
    fails_with(&strata(&["ingest", s(&db), s(&bogus)]), "bogus.parquet");
    let out = strata(&["ingest", s(&db), s(&table), "--duplicates", "sometimes"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("last-wins, error"));
}

/// The table file paths a `duckdb-view` statement reads, one per line between `read_parquet([` and `]`.
fn view_files(sql: &str) -> Vec<String> {
    sql.lines()
        .skip_while(|l| !l.ends_with("read_parquet(["))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('\''))
        .map(|l| l.trim().trim_end_matches(',').trim_matches('\'').to_owned())
        .collect()
}

#[test]
fn duckdb_view_names_exactly_the_live_tables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = s(dir.path());
    let (removed, live) = {
        let db = strata::Db::open(dir.path(), strata::Options::default()).expect("open");
        for round in 0..3 {
            for i in 0..100u32 {
                db.put(format!("key{i:03}"), format!("v{round}")).expect("put");
            }
            db.flush().expect("flush");
        }
        let flushed = db.live_tables();
        let saved: Vec<_> =
            flushed.iter().map(|&id| (id, std::fs::read(db.store().table_path(id)).expect("read table"))).collect();
        db.compact_range(..).expect("compact");
        db.put("key200", "later").expect("put");
        db.flush().expect("flush");
        let live = db.live_tables();
        let removed: Vec<_> = flushed.difference(&live).copied().collect();
        assert!(!removed.is_empty(), "the compaction replaced the flushed tables");
        db.close().expect("close");
        // Compacted-away tables back on disk, as a crash before their deletion leaves them.
        for (id, bytes) in saved.iter().filter(|(id, _)| removed.contains(id)) {
            std::fs::write(dir.path().join(strata_sstable::table_file_name(*id)), bytes).expect("restore");
        }
        (removed, live)
    };
    let path = |id: u64| format!("{d}/{}", strata_sstable::table_file_name(id));

    let sql = ok(&strata(&["duckdb-view", d]));
    let mut named = view_files(&sql);
    named.sort();
    let mut want: Vec<String> = live.iter().map(|&id| path(id)).collect();
    want.sort();
    assert_eq!(named, want, "{sql}");
    for id in removed {
        assert!(!sql.contains(&strata_sstable::table_file_name(id)), "names removed table {id}: {sql}");
    }
    assert!(sql.contains("\nCREATE OR REPLACE VIEW \"kv\" AS\n"), "{sql}");
    let comment = sql.lines().find(|l| l.contains("memtable")).expect("a memtable note");
    assert!(comment.starts_with("-- ") && comment.contains(&format!("strata flush {d}")), "{sql}");
    assert!(sql.trim_end().ends_with(';'), "{sql}");

    let sql = ok(&strata(&["duckdb-view", d, "--name", "my \"kv\""]));
    assert!(sql.contains("\nCREATE OR REPLACE VIEW \"my \"\"kv\"\"\" AS\n"), "{sql}");
    let out = strata(&["duckdb-view", d, "--name", ""]);
    assert!(!out.status.success(), "an empty view name is refused");
    fails_with(&strata(&["duckdb-view", s(&dir.path().join("nope"))]), "is not a directory");
}

#[test]
fn flush_writes_the_log_to_a_table_and_an_empty_database_has_an_empty_view() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = s(dir.path());
    strata::Db::open(dir.path(), strata::Options::default()).expect("create").close().expect("close");
    let sql = ok(&strata(&["duckdb-view", d]));
    assert!(sql.contains("\nSELECT NULL::BLOB AS key, NULL::BLOB AS value WHERE false;\n"), "{sql}");
    assert!(view_files(&sql).is_empty(), "{sql}");

    ok(&strata(&["put", d, "a", "1"]));
    assert_eq!(ok(&strata(&["flush", d])), "flushed: 1 live tables\n");
    assert_eq!(view_files(&ok(&strata(&["duckdb-view", d]))).len(), 1);
    fails_with(&strata(&["flush", s(&dir.path().join("nope"))]), "is not a directory");
}

#[test]
fn verify_passes_a_sound_database_and_names_a_damaged_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = s(dir.path());
    let table = {
        let db = strata::Db::open(dir.path(), strata::Options::default()).expect("open");
        for i in 0..2_000u32 {
            db.put(format!("key{i:05}"), format!("value-{i}-{}", "v".repeat(40))).expect("put");
        }
        db.flush().expect("flush");
        let id = *db.live_tables().iter().next().expect("a table");
        let path = db.store().table_path(id);
        db.close().expect("close");
        path
    };
    let out = ok(&strata(&["verify", d]));
    assert!(out.starts_with("verified 1 tables (") && out.contains("2000 rows, 2000 keys looked up)"), "{out}");
    let out = ok(&strata(&["verify", d, "--no-point-lookups"]));
    assert!(out.contains("2000 rows)"), "{out}");

    let mut bytes = std::fs::read(&table).expect("read table");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(&table, &bytes).expect("write table");
    let out = strata(&["verify", d]);
    assert!(!out.status.success(), "a damaged table fails verification");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("problem: ") && stdout.contains(s(&table)), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 problem found"));
}
