//! Loading a Parquet file two ways, for the ingest figure in docs/benchmarks.md:
//!
//! ```text
//! cargo run --release -p strata --example ingest_vs_put -- ingest FILE.parquet DB_DIR
//! cargo run --release -p strata --example ingest_vs_put -- put    FILE.parquet DB_DIR [BATCH]
//! ```
//!
//! `ingest` calls `Db::ingest`; `put` reads the same file with the arrow reader and writes
//! its rows through `Db::write` in batches of BATCH rows (default 1,000), then flushes, so
//! both end with every row in tables. Run each under `/usr/bin/time -v` for peak RSS.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark driver: a failed step ends it")]

use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata::{Db, IngestOptions, Options, WriteBatch, WriteOptions};

fn bytes(a: &ArrayRef, i: usize) -> &[u8] {
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().value(i),
        DataType::LargeBinary => a.as_binary::<i64>().value(i),
        DataType::Utf8 => a.as_string::<i32>().value(i).as_bytes(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).as_bytes(),
        DataType::Utf8View => a.as_string_view().value(i).as_bytes(),
        DataType::BinaryView => a.as_binary_view().value(i),
        other => panic!("unsupported column type {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, file, dir, rest @ ..] = args.as_slice() else {
        eprintln!("usage: ingest_vs_put ingest|put FILE.parquet DB_DIR [BATCH]");
        std::process::exit(2);
    };
    let batch_rows: usize = rest.first().map_or(1000, |b| b.parse().expect("BATCH is a number"));
    let db = Db::open(dir, Options::default()).unwrap();
    let started = Instant::now();
    let rows = match mode.as_str() {
        "ingest" => {
            let summary = db.ingest([file], &IngestOptions::default()).unwrap();
            eprintln!("{summary:?}");
            summary.rows
        }
        "put" => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
                .unwrap()
                .with_batch_size(batch_rows)
                .build()
                .unwrap();
            let mut rows = 0u64;
            for record in reader {
                let record = record.unwrap();
                let (keys, values) = (record.column_by_name("key").unwrap(), record.column_by_name("value").unwrap());
                let mut batch = WriteBatch::new();
                for i in 0..record.num_rows() {
                    batch.put(bytes(keys, i).to_vec(), bytes(values, i).to_vec());
                }
                rows += record.num_rows() as u64;
                db.write(batch, WriteOptions::default()).unwrap();
            }
            db.flush().unwrap();
            rows
        }
        other => panic!("unknown mode {other}: ingest or put"),
    };
    let elapsed = started.elapsed().as_secs_f64();
    let s = db.stats();
    let levels: Vec<String> =
        s.levels.iter().enumerate().filter(|(_, l)| l.tables > 0).map(|(i, l)| format!("L{i}:{}", l.tables)).collect();
    db.close().unwrap();
    println!(
        "{mode}: {rows} rows in {elapsed:.2} s ({:.0} rows/s); tables {}",
        rows as f64 / elapsed,
        levels.join(" ")
    );
}
