//! `strata bench --memtables` runs end to end, writes JSON, and rejects bad input clearly.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::process::Command;

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

#[test]
fn runs_every_variant_and_writes_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("memtables.json");
    let out = strata()
        .args(["bench", "--memtables", "--sizes", "50,200", "--value-size", "10", "--json"])
        .arg(&json)
        .output()
        .expect("run strata");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "strata failed: {}", String::from_utf8_lossy(&out.stderr));
    for name in [
        "skiplist",
        "enhanced_skiplist",
        "sorted",
        "vector",
        "trie",
        "linked_list",
        "hash_skiplist",
        "hash_linked_list",
    ] {
        assert!(stdout.contains(name), "table lacks {name}:\n{stdout}");
    }
    let text = std::fs::read_to_string(&json).expect("JSON written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 16);
    assert!(rows.iter().all(|r| r["inserted"] == r["entries"] && r["measured_bytes_per_entry"].as_f64() > Some(0.0)));
}

#[test]
fn an_unknown_memtable_name_lists_the_valid_ones() {
    let out = strata().args(["bench", "--memtables", "--memtable", "btree"]).output().expect("run strata");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("btree") && stderr.contains("enhanced_skiplist"), "{stderr}");
}

#[test]
fn bad_sizes_and_budgets_are_rejected() {
    let out = strata().args(["bench", "--memtables", "--sizes", "0"]).output().expect("run strata");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sizes"));
    let out = strata().args(["bench", "--memtables", "--budget-secs", "-1"]).output().expect("run strata");
    assert!(!out.status.success());
}

#[test]
fn bench_help_lists_both_modes() {
    // A bare `strata bench` runs the engine workloads; --memtables switches to this comparison.
    let out = strata().args(["bench", "--help"]).output().expect("run strata");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--memtables") && help.contains("--engines"), "{help}");
}
