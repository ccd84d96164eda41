//! `Db::ingest` into a database whose tables live in an object store: unsorted input is
//! sorted in runs on local disk, so only the final tables are uploaded, and the data reads
//! back from another local directory.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use object_store::memory::InMemory;
use parquet::arrow::ArrowWriter;
use strata::{IngestOptions, Options};
use strata_object::{ObjectOptions, Remote};

const ROWS: u64 = 60_000;

#[test]
fn unsorted_input_uploads_only_the_final_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("unsorted.parquet");
    let order: Vec<u64> = (0..ROWS).map(|i| (i * 7919) % ROWS).collect();
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values(order.iter().map(|i| format!("key{i:07}"))));
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(order.iter().map(|i| format!("value-{i}-{i:x}"))));
    let batch = RecordBatch::try_from_iter([("key", keys), ("value", values)]).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&input).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let remote = Remote::with_store(Arc::new(InMemory::new()), "memory://ingest", "db", ObjectOptions::default());
    let db = remote.open(tmp.path().join("writer"), Options::default()).unwrap();
    let before = remote.stats();
    let summary = db.ingest([&input], &IngestOptions::default().sort_memory(1 << 20)).unwrap();
    let after = remote.stats();
    assert!(summary.spilled_runs >= 3, "the input was not sorted in runs: {summary:?}");
    assert_eq!(summary.rows, ROWS);
    // One PUT per final table and one manifest commit; the runs stayed local.
    assert_eq!(after.puts - before.puts, summary.tables as u64 + 1, "{summary:?}");
    let uploaded = after.put_bytes - before.put_bytes;
    assert!(uploaded < summary.bytes + (64 << 10), "uploaded {uploaded} bytes for {} bytes of tables", summary.bytes);
    let runs = tmp.path().join("writer").join("ingest-runs");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 0, "sort runs left in {}", runs.display());
    db.close().unwrap();

    let reader = remote.open_read_only(tmp.path().join("reader"), Options::default()).unwrap();
    assert_eq!(reader.iter(..).count() as u64, ROWS);
    assert_eq!(reader.get("key0012345").unwrap().as_deref(), Some(&b"value-12345-3039"[..]));
}
