//! After a clean close no write can be torn, so damage in the log is corruption naming the
//! segment, never a batch dropped in silence (a dropped batch of deletes would bring the
//! deleted keys back). After a crash, a damaged last record is still a torn write.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::{Path, PathBuf};

use strata::{Db, ErrorKind, Options, WriteBatch, WriteOptions};

fn newest_segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    segments.pop().expect("a log segment")
}

/// The start offsets of the records of a log segment (`crc: u32 ‖ len: u32 ‖ payload`), up
/// to the zeros of the space a mapped log reserves past its records (left when the process
/// stops without closing it).
fn record_starts(segment: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos + 8 <= segment.len() && segment[pos..pos + 8] != [0; 8] {
        starts.push(pos);
        pos += 8 + u32::from_le_bytes(segment[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
    }
    starts
}

/// Writes three keys, then deletes two of them in the last batch; returns the directory.
fn populate(close_cleanly: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for k in ["a", "b", "c"] {
        db.put(k, "value").expect("put");
    }
    let mut batch = WriteBatch::new();
    batch.delete("a").delete("b");
    db.write(batch, WriteOptions::synced()).expect("delete batch");
    if close_cleanly {
        db.close().expect("close");
    } else {
        // A crash: the process ends without closing (leak the handle, its threads die with
        // the test's end; the directory lock is released by dropping nothing else).
        std::mem::forget(db);
    }
    dir
}

#[test]
fn a_flipped_byte_in_the_last_batch_after_a_clean_close_is_corruption() {
    let dir = populate(true);
    let segment = newest_segment(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    let starts = record_starts(&bytes);
    assert_eq!(starts.len(), 5, "four batches and the close seal");
    // A byte inside the last batch (the deletes), not the seal after it.
    bytes[starts[3] + 12] ^= 0x20;
    std::fs::write(&segment, &bytes).expect("write");

    let err = Db::open(dir.path(), Options::default()).expect_err("damage after a clean close");
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    match &err {
        strata::Error::Corruption { file, .. } => assert_eq!(file, &segment),
        other => panic!("expected corruption naming the segment, got {other:?}"),
    }
}

#[test]
fn a_clean_close_then_reopen_keeps_every_write_and_seals_again() {
    let dir = populate(true);
    for _ in 0..3 {
        let db = Db::open(dir.path(), Options::default()).expect("reopen");
        assert_eq!(db.get("a").expect("get"), None);
        assert_eq!(db.get("b").expect("get"), None);
        assert_eq!(db.get("c").expect("get").as_deref(), Some(&b"value"[..]));
        db.close().expect("close");
    }
}

#[test]
fn a_torn_last_record_after_a_crash_is_still_dropped() {
    let dir = populate(false);
    let segment = newest_segment(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    let starts = record_starts(&bytes);
    assert_eq!(starts.len(), 4, "four batches, no seal: the process crashed");
    // The last record's final bytes never written, as a crash mid-write leaves them: the
    // mapped log's reserved zeros.
    let last = starts[3];
    let end = last + 8 + u32::from_le_bytes(bytes[last + 4..last + 8].try_into().expect("4 bytes")) as usize;
    bytes[end - 3..end].fill(0);
    std::fs::write(&segment, &bytes).expect("write");
    // The leaked handle still holds the lock; a crash would have released it.
    let copy = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != "LOCK") {
            std::fs::copy(&path, copy.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let db = Db::open(copy.path(), Options::default()).expect("a torn tail is recovered");
    assert_eq!(db.get("a").expect("get").as_deref(), Some(&b"value"[..]), "the torn delete batch is dropped whole");
    assert_eq!(db.get("c").expect("get").as_deref(), Some(&b"value"[..]));
}
