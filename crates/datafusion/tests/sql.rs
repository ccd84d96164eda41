//! SQL through `StrataTable` against `Db::iter`: a model test over random puts, deletes,
//! range deletes, batches, flushes and compactions (keys only in the memtable and keys
//! deleted after a flush included), time travel through a registered snapshot, pushdown
//! (a key range reads only its pages), limits, ordering and value columns.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::sync::Arc;

use datafusion::arrow::array::{Array, BinaryArray, Int64Array, RecordBatch};
use datafusion::prelude::SessionContext;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use strata::{Db, KeyRange, Options, WriteBatch, WriteOptions};
use strata_datafusion::{StrataTable, ValueColumns, register, register_snapshot};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let batches: Vec<RecordBatch> = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let k = b.column(0).as_any().downcast_ref::<BinaryArray>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<BinaryArray>().unwrap();
        for i in 0..b.num_rows() {
            out.push((k.value(i).to_vec(), v.value(i).to_vec()));
        }
    }
    out
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

fn iter(db: &Db, range: impl Into<KeyRange>) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter(range).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<strata::Result<_>>().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Put(u16, Vec<u8>),
    Delete(u16),
    DeleteRange(u16, u16),
    Batch(Vec<(u16, Option<Vec<u8>>)>),
    Flush,
    Compact,
}

fn key(k: u16) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        20 => (0u16..400, value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
        6 => (0u16..400).prop_map(Op::Delete),
        2 => (0u16..400, 0u16..30).prop_map(|(k, w)| Op::DeleteRange(k, k + w)),
        3 => prop::collection::vec((0u16..400, prop::option::of(value)), 1..6).prop_map(Op::Batch),
        3 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

#[test]
fn sql_equals_db_iter_over_random_histories() {
    let rt = runtime();
    let mut runner = TestRunner::new(Config { cases: 12, failure_persistence: None, ..Config::default() });
    let strategy = (prop::collection::vec(op(), 1..300), prop::collection::vec((0u16..420, 0u16..420), 4));
    runner
        .run(&strategy, |(ops, ranges)| {
            let dir = tempfile::tempdir().unwrap();
            let db =
                Arc::new(Db::open(dir.path(), Options { max_memtable_size: 64 << 10, ..Options::default() }).unwrap());
            for op in &ops {
                match op {
                    Op::Put(k, v) => db.put(key(*k), v.clone()).unwrap(),
                    Op::Delete(k) => db.delete(key(*k)).unwrap(),
                    Op::DeleteRange(a, b) => db.delete_range(key(*a), key(*b)).unwrap(),
                    Op::Batch(ops) => {
                        let mut batch = WriteBatch::new();
                        for (k, v) in ops {
                            match v {
                                Some(v) => batch.put(key(*k), v.clone()),
                                None => batch.delete(key(*k)),
                            };
                        }
                        db.write(batch, WriteOptions::default()).unwrap();
                    }
                    Op::Flush => db.flush().unwrap(),
                    Op::Compact => db.compact_range(..).unwrap(),
                }
            }
            let ctx = SessionContext::new();
            register(&ctx, "t", &db).unwrap();
            rt.block_on(async {
                let all = rows(&ctx, "select key, value from t order by key").await;
                prop_assert_eq!(&all, &iter(&db, ..), "the whole table");
                for &(a, b) in &ranges {
                    let (a, b) = (key(a.min(b)), key(a.max(b)));
                    let sql = format!(
                        "select key, value from t where key >= X'{}' and key < X'{}' order by key",
                        hex(&a),
                        hex(&b)
                    );
                    prop_assert_eq!(rows(&ctx, &sql).await, iter(&db, a.clone()..b.clone()), "{}", sql);
                    let between = format!(
                        "select key, value from t where key between '{}' and '{}' order by key",
                        String::from_utf8_lossy(&a),
                        String::from_utf8_lossy(&b)
                    );
                    prop_assert_eq!(rows(&ctx, &between).await, iter(&db, a.clone()..=b.clone()), "{}", between);
                }
                Ok(())
            })
        })
        .unwrap();
}

fn loaded(n: u32) -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options { max_memtable_size: 1 << 20, ..Options::default() }).unwrap());
    for i in 0..n {
        db.put(format!("key{i:06}"), format!("{{\"n\":{i},\"country\":\"{}\"}}", ["NZ", "FR", "JP"][(i % 3) as usize]))
            .unwrap();
    }
    (dir, db)
}

#[test]
fn a_key_range_reads_only_its_pages_and_predicates_of_every_form_agree() {
    let rt = runtime();
    let (_dir, db) = loaded(100_000);
    db.compact_range(..).unwrap();
    let ctx = SessionContext::new();
    register(&ctx, "t", &db).unwrap();
    rt.block_on(async {
        let pages = |db: &Db| {
            use strata::SsTableStore;
            db.store().stats().pages_read
        };
        let before = pages(&db);
        assert_eq!(count(&ctx, "select count(*) from t").await, 100_000);
        let full = pages(&db) - before;
        let before = pages(&db);
        assert_eq!(count(&ctx, "select count(*) from t where key between 'key010000' and 'key010999'").await, 1000);
        let narrow = pages(&db) - before;
        assert!(full > 1000 && narrow * 50 < full, "a 1% range read {narrow} pages of {full}");

        for (sql, n) in [
            ("select count(*) from t where key = 'key000042'", 1),
            ("select count(*) from t where key >= 'key099990'", 10),
            ("select count(*) from t where key < 'key000010'", 10),
            ("select count(*) from t where key in ('key000001', 'key000500', 'key099999', 'nope')", 3),
            ("select count(*) from t where starts_with(cast(key as varchar), 'key0001')", 100),
            ("select count(*) from t where key like 'key0000%'", 100),
            ("select count(*) from t where key like 'key0000_0'", 10),
        ] {
            assert_eq!(count(&ctx, sql).await, n, "{sql}");
        }
        let first = rows(&ctx, "select key, value from t order by key limit 3").await;
        assert_eq!(first, iter(&db, ..).into_iter().take(3).collect::<Vec<_>>());
        let last = rows(&ctx, "select key, value from t order by key desc limit 1").await;
        assert_eq!(last[0].0, b"key099999");
        let plan = ctx.sql("explain select key from t order by key").await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        assert!(!text.contains("SortExec"), "ORDER BY key needs no sort:\n{text}");
    });
}

#[test]
fn a_registered_snapshot_is_time_travel_and_the_memtable_is_seen() {
    let rt = runtime();
    let (_dir, db) = loaded(1000);
    db.flush().unwrap();
    let ctx = SessionContext::new();
    register(&ctx, "now", &db).unwrap();
    register_snapshot(&ctx, "then", &db, db.snapshot()).unwrap();
    db.delete_range("key000100", "key000200").unwrap();
    db.put("key999999", "only in the memtable").unwrap();
    db.delete("key000000").unwrap();
    rt.block_on(async {
        assert_eq!(count(&ctx, "select count(*) from then").await, 1000);
        assert_eq!(count(&ctx, "select count(*) from now").await, 1000 - 100 + 1 - 1);
        assert_eq!(count(&ctx, "select count(*) from now where key = 'key999999'").await, 1);
        assert_eq!(count(&ctx, "select count(*) from then where key = 'key999999'").await, 0);
    });
}

#[test]
fn json_values_and_decoded_columns() {
    let rt = runtime();
    let (_dir, db) = loaded(3000);
    let ctx = SessionContext::new();
    ctx.register_table("j", Arc::new(StrataTable::new(&db, ValueColumns::Json))).unwrap();
    let decode = Arc::new(|v: &[u8]| {
        let text = String::from_utf8_lossy(v);
        let country = text.split("\"country\":\"").nth(1).and_then(|r| r.split('"').next()).map(str::to_owned);
        vec![country]
    });
    let decoded = ValueColumns::Decoded { columns: vec!["country".into()], decode };
    ctx.register_table("d", Arc::new(StrataTable::new(&db, decoded))).unwrap();
    rt.block_on(async {
        assert_eq!(count(&ctx, "select count(*) from j where value_json like '%\"country\":\"NZ\"%'").await, 1000);
        assert_eq!(count(&ctx, "select count(*) from d where country = 'NZ'").await, 1000);
        assert_eq!(count(&ctx, "select count(*) from d where country = 'JP' and key < 'key000030'").await, 10);
    });
}
