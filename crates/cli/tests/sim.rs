//! `strata sim` simulates each policy, prints the growth table and JSON, and rejects unknown
//! policies with the list of valid names.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::process::Command;

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

#[test]
fn every_policy_prints_the_three_columns_as_data_grows() {
    for policy in ["leveled", "size_tiered", "fifo"] {
        let out = strata()
            .args(["sim", "--policy", policy, "--total-mb", "512", "--flush-mb", "16"])
            .output()
            .expect("run strata");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{policy}: {}", String::from_utf8_lossy(&out.stderr));
        for column in ["write amp", "space amp", "sorted runs"] {
            assert!(stdout.contains(column), "{policy}: no {column} column:\n{stdout}");
        }
        assert!(stdout.contains(policy), "{stdout}");
        // A header, a column line, at least sixteen growth points and the task summary.
        assert!(stdout.lines().count() >= 19, "{policy}:\n{stdout}");
    }
}

#[test]
fn json_holds_the_growth_points() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sim.json");
    let out = strata()
        .args(["sim", "--policy", "size_tiered", "--total-mb", "128", "--flush-mb", "8", "--json"])
        .arg(&path)
        .output()
        .expect("run strata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("JSON")).expect("valid");
    let points = report["points"].as_array().expect("points");
    assert!(points.len() >= 16);
    let last = points.last().expect("a last point");
    assert!(last["write_amp"].as_f64() >= Some(1.0), "{last}");
    assert!(last["sorted_runs"].as_u64() >= Some(1));
    // The bytes written into each level add up to every byte written.
    let levels = report["levels"].as_array().expect("levels");
    let by_level: u64 = levels.iter().map(|l| l["written"].as_u64().expect("written")).sum();
    assert_eq!(Some(by_level), last["table_bytes_written"].as_u64(), "{levels:?}");
    assert!(levels[0]["written"].as_u64() > Some(0), "flushes write into L0: {levels:?}");
}

#[test]
fn an_unknown_policy_lists_the_valid_ones() {
    let out = strata().args(["sim", "--policy", "universal"]).output().expect("run strata");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in ["universal", "leveled", "size_tiered", "fifo"] {
        assert!(stderr.contains(name), "{stderr}");
    }
}

/// The final write amplification of leveled with `flags` over 1,106 MiB of 116-byte entries
/// in 45 MiB flushes over 10M keys (the stream of a 10M-key fillrandom).
fn leveled_write_amp(flags: &[&str]) -> f64 {
    let out = strata()
        .args(["sim", "--total-mb", "1106", "--flush-mb", "45", "--keys", "10000000", "--json", "-"])
        .args(flags)
        .output()
        .expect("run strata");
    assert!(out.status.success(), "{flags:?}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = &stdout[stdout.find("\n{").expect("JSON after the table")..];
    let report: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    report["points"].as_array().and_then(|p| p.last()).and_then(|p| p["write_amp"].as_f64()).expect("write amp")
}

#[test]
fn leveled_tuning_flags_reach_the_policy() {
    let default = leveled_write_amp(&[]);
    assert_eq!(leveled_write_amp(&["--policy", "leveled", "--l0-trigger", "4", "--intra-l0-merge", "true"]), default);
    let into_l1 = leveled_write_amp(&["--intra-l0-merge", "false"]);
    let trigger = leveled_write_amp(&["--intra-l0-merge", "false", "--l0-trigger", "6"]);
    assert!(default < into_l1 * 0.9, "intra-L0 merges {default} against {into_l1} without");
    assert!(trigger < into_l1 * 0.9, "a trigger of 6 {trigger} against {into_l1}");
    let out = strata().args(["sim", "--policy", "fifo", "--intra-l0-merge", "true"]).output().expect("run strata");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--intra-l0-merge applies to --policy leveled only"));
}
