//! Running the `strata` binary in the CLI tests.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::process::{Command, Output};

pub(crate) fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("run strata")
}

pub(crate) fn ok(out: &Output) -> String {
    assert!(out.status.success(), "strata failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn fails_with(out: &Output, needle: &str) {
    assert!(!out.status.success(), "strata succeeded but should have failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    assert!(stderr.trim_end().lines().count() <= 2, "an error should be one clear line: {stderr}");
}
