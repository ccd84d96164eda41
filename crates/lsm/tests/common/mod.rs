//! Shared by the engine's tests: every row a database reads, and the checks of Strata's files
//! with independent readers through Python.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::process::Command;

use strata::{Db, KeyRange};

/// Every key and value, in order.
pub(crate) type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Every key and value `db` reads now, in key order.
pub(crate) fn rows(db: &Db) -> Rows {
    let rows = db.iter(KeyRange::all()).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>();
    rows.unwrap()
}

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
