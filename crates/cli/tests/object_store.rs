//! The data commands on a database in an S3 bucket (moto on loopback, shared with
//! strata-object's tests): writes flush before the command exits, so the next command
//! (here with another local directory, as on another machine) sees them; reads open the
//! database read-only, and `verify` reads the tables from the bucket; `bench --store` reports
//! requests per operation.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

#[path = "../../object/tests/common/mod.rs"]
mod common;
mod support;

use std::process::{Command, Output};

use support::ok;

fn strata(port: u16, local: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .args(["--endpoint", &format!("http://127.0.0.1:{port}"), "--local-dir", local.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run strata")
}

#[test]
fn data_commands_on_an_s3_location() {
    let Some(m) = common::moto("data_commands_on_an_s3_location") else { return };
    let url = format!("s3://{}/{}", common::BUCKET, common::unique_prefix("cli"));
    let local = tempfile::tempdir().unwrap();
    let (writer, elsewhere) = (local.path().join("writer"), local.path().join("elsewhere"));
    for (k, v) in [("user/1", "ada"), ("user/2", "grace"), ("job/7", "compile")] {
        ok(&strata(m.port, &writer, &["put", &url, k, v]));
    }
    ok(&strata(m.port, &writer, &["delete", &url, "user/2"]));
    ok(&strata(m.port, &writer, &["delete-range", &url, "job/", "job/9"]));
    // Another local directory: only what is in the bucket.
    assert_eq!(ok(&strata(m.port, &elsewhere, &["scan", &url])), "user/1\tada\n");
    assert_eq!(ok(&strata(m.port, &elsewhere, &["get", &url, "user/1"])), "ada\n");
    assert!(ok(&strata(m.port, &writer, &["compact", &url])).starts_with("compacted"));
    // Verification reads the tables from the bucket, through another local directory.
    let verified = ok(&strata(m.port, &elsewhere, &["verify", &url]));
    assert!(verified.starts_with("verified 1 tables (") && !verified.contains("problem"), "{verified}");
    let stats = ok(&strata(m.port, &elsewhere, &["stats", &url]));
    assert!(stats.contains("object store:") && stats.contains("GETs"), "{stats}");
    let missing = strata(m.port, &elsewhere, &["get", &format!("s3://{}/nothing-here", common::BUCKET), "k"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("holds no Strata database"));
    let view = strata(m.port, &elsewhere, &["duckdb-view", &url]);
    assert!(String::from_utf8_lossy(&view.stderr).contains("local directory"), "{view:?}");
}

#[test]
fn bench_on_an_s3_location_reports_requests_per_operation() {
    let Some(m) = common::moto("bench_on_an_s3_location_reports_requests_per_operation") else { return };
    let url = format!("s3://{}/{}", common::BUCKET, common::unique_prefix("bench"));
    let local = tempfile::tempdir().unwrap();
    let json = local.path().join("bench.json");
    let out = ok(&strata(
        m.port,
        &local.path().join("cache"),
        &[
            "bench",
            "--store",
            &url,
            "--num",
            "20000",
            "--reads",
            "500",
            "--memtable-size",
            "1048576",
            "--cache-size",
            "1048576",
            "--store-cache-bytes",
            "0",
            "--benchmarks",
            "fillrandom,compact,readrandom",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("object store:"), "{out}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let read = report["rows"].as_array().unwrap().iter().find(|r| r["workload"] == "readrandom").unwrap();
    // With no disk cache and a block cache far smaller than the data, reads go to the store
    // (a point read fetches a few pages at most; on tables this small, readahead soon holds
    // much of them in memory).
    let gets = read["store"]["gets_per_op"].as_f64().unwrap();
    assert!(gets > 0.0 && gets <= 6.0, "{gets} GETs per read");
    assert!(report["engines"][0]["uploaded_bytes"].as_u64().unwrap() > 0);
}
