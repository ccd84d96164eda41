//! `STRATA_LOG` sends the engine's events to standard error: flushes and compactions at
//! `info`, nothing but warnings by default; a filter that does not parse is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::process::{Command, Output};

fn strata(log: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.args(args).env_remove("STRATA_LOG");
    if let Some(log) = log {
        cmd.env("STRATA_LOG", log);
    }
    cmd.output().expect("run strata")
}

#[test]
fn info_shows_flushes_and_compactions_and_the_default_shows_neither() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().to_str().expect("utf-8 path");
    for (k, v) in [("a", "1"), ("b", "2")] {
        let out = strata(None, &["put", d, k, v]);
        assert!(out.status.success());
        assert!(out.stderr.is_empty(), "the default logs nothing here: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = strata(Some("warn,strata=info"), &["compact", d]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO") && stderr.contains("compaction finished"), "{stderr}");
    assert!(stderr.contains("output_level=1") && stderr.contains("reason=compact_range"), "{stderr}");
    // The next open replays the log of the last write command into an L0 table.
    let out = strata(Some("info"), &["put", d, "c", "3"]);
    assert!(out.status.success());
    let out = strata(Some("info"), &["get", d, "c"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("recovered the log into L0 tables"));
    let out = strata(Some("off"), &["put", d, "d", "4"]);
    assert!(out.status.success() && out.stderr.is_empty());
    // A full compaction flushes the memtable first.
    let out = strata(
        Some("info"),
        &["bench", "--num", "2000", "--benchmarks", "fillrandom,compact", "--stall-probe-secs", "0"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flushed a memtable to L0 table="));
}

#[test]
fn a_filter_that_does_not_parse_is_a_clear_error() {
    for bad in ["loud", "strata=loud", "infoo,strata=debug"] {
        let out = strata(Some(bad), &["sim", "--total-mb", "8", "--flush-mb", "1"]);
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("STRATA_LOG={bad:?} is not a log filter")), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
