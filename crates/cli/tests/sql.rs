//! `strata sql` (feature `sql`): a query sees the live data, memtable writes included, with
//! deletes applied, as a table or as JSON lines.
#![cfg(feature = "sql")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

mod support;

use support::{ok, strata};

#[test]
fn sql_reads_the_live_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (k, v) in [("user/1", "{\"country\":\"NZ\"}"), ("user/2", "{\"country\":\"FR\"}"), ("user/3", "x")] {
        ok(&strata(&["put", d, k, v]));
    }
    ok(&strata(&["delete", d, "user/3"]));
    let table = ok(&strata(&["sql", d, "select count(*) as n from kv where key between 'user/' and 'user0'"]));
    assert!(table.contains("| 2 "), "{table}");
    let json = ok(&strata(&[
        "sql",
        d,
        "select cast(key as varchar) as k, value_json from kv where value_json like '%NZ%'",
        "--json",
        "--json-values",
    ]));
    assert_eq!(json, "{\"k\":\"user/1\",\"value_json\":\"{\\\"country\\\":\\\"NZ\\\"}\"}\n");
    let bad = strata(&["sql", d, "select nope from kv"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
}
