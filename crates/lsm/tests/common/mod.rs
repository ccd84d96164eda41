//! Shared by the tests that check Strata's files with independent readers through Python.

use std::process::Command;

/// Whether `python3` imports every module of `modules` (e.g. `["pyarrow", "duckdb"]`). When
/// not, `test` fails if `CI` is set (CI must run it), and is otherwise skipped with a loud
/// message: returns `false` and the test returns.
pub(crate) fn python_modules_or_skip(modules: &[&str], test: &str) -> bool {
    let import = format!("import {}", modules.join(", "));
    if Command::new("python3").args(["-c", &import]).output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    let (named, pip) = (modules.join(" and "), modules.join(" "));
    assert!(std::env::var_os("CI").is_none(), "CI is set but python3 with {named} is missing: `pip install {pip}`");
    eprintln!("\n!!!!!!!! SKIPPED {test}: python3 with {named} not found (pip install {pip}) !!!!!!!!\n");
    false
}

/// `bytes` as lowercase hex, the form the Python side prints.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
