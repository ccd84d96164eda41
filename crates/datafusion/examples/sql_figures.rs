//! The figures of SQL over Strata, in one run: `select count(*)` and a 1% key-range scan over
//! N keys (default 1,000,000) through DataFusion (`StrataTable`), through the DuckDB view
//! (`strata::duckdb_view`, run by DuckDB's Python module, after a flush) and through
//! `Db::iter` directly. Release build:
//!
//! ```sh
//! cargo run --release -p strata-datafusion --example sql_figures [-- N]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "an example: a failed step ends it")]

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::Int64Array;
use datafusion::prelude::SessionContext;
use strata::{Db, Options};

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed().as_secs_f64())
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    for i in 0..n {
        db.put(format!("key{i:09}"), format!("value-{i}-{}", "x".repeat(80))).unwrap();
    }
    db.compact_range(..).unwrap();
    let (lo, hi) = (n / 2, n / 2 + n / 100);
    let (a, b) = (format!("key{lo:09}"), format!("key{hi:09}"));

    let ((), _) = time(|| ());
    let (all, iter_all) = time(|| db.iter(..).count());
    let (some, iter_range) = time(|| db.iter(a.as_str()..b.as_str()).count());

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let ctx = SessionContext::new();
    strata_datafusion::register(&ctx, "kv", &db).unwrap();
    let count = |sql: String| {
        rt.block_on(async {
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
        })
    };
    let (df_all, df_all_s) = time(|| count("select count(*) from kv".into()));
    let (df_some, df_range_s) = time(|| count(format!("select count(*) from kv where key >= '{a}' and key < '{b}'")));
    assert_eq!((df_all as usize, df_some as usize), (all, some));

    let view = strata::duckdb_view(&db, "kv").unwrap();
    let script = format!(
        "import duckdb, time, sys\ncon = duckdb.connect()\ncon.execute(sys.stdin.read())\n\
         t = time.perf_counter(); a = con.execute('select count(*) from kv').fetchone()[0]; t1 = time.perf_counter() - t\n\
         t = time.perf_counter(); b = con.execute(\"select count(*) from kv where key >= '{a}'::blob and key < '{b}'::blob\").fetchone()[0]; t2 = time.perf_counter() - t\n\
         print(a, b, t1, t2)"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(view.sql.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    println!("{n} keys, compacted; 1% range = {some} keys");
    println!("{:<28} {:>14} {:>14}", "", "count(*)", "1% range");
    println!("{:<28} {:>12.1} ms {:>12.1} ms", "Db::iter", iter_all * 1e3, iter_range * 1e3);
    println!("{:<28} {:>12.1} ms {:>12.1} ms", "DataFusion (StrataTable)", df_all_s * 1e3, df_range_s * 1e3);
    if let [c_all, c_some, t_all, t_some] = f.as_slice() {
        assert_eq!((c_all.parse::<usize>().unwrap(), c_some.parse::<usize>().unwrap()), (all, some));
        let ms = |s: &str| s.parse::<f64>().unwrap() * 1e3;
        println!("{:<28} {:>12.1} ms {:>12.1} ms", "DuckDB view (Python)", ms(t_all), ms(t_some));
    } else {
        println!("DuckDB view: not run ({})", String::from_utf8_lossy(&out.stdout));
    }
}
