//! A flush checks that its tables hold as many entries as the memtable (RocksDB's
//! `flush_verify_memtable_count`). A memtable whose iteration loses an entry fails the flush
//! with corruption naming the log segment, which is kept: the database turns read-only, and
//! reopening it with a sound memtable replays the segment and finds every write.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::sync::Arc;

use strata::{Components, Db, Error, ErrorKind, Memtable, Options, StdFs};
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue};
use strata_memtable::AnyMemtable;

/// A memtable that answers reads but whose iteration (what a flush writes) skips one key.
struct Lossy {
    inner: AnyMemtable,
    lost: &'static [u8],
}

impl Memtable for Lossy {
    type Iter<'a> = std::vec::IntoIter<Entry>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.inner.insert(key, seq, kind, value);
    }
    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        self.inner.get(key, snapshot)
    }
    fn range(&self, range: &KeyRange) -> Self::Iter<'_> {
        self.inner.range(range).filter(|e| e.key != self.lost).collect::<Vec<_>>().into_iter()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn approximate_memory_usage(&self) -> usize {
        self.inner.approximate_memory_usage()
    }
    fn supports_concurrent_inserts(&self) -> bool {
        self.inner.supports_concurrent_inserts()
    }
}

#[test]
fn a_flush_that_loses_an_entry_fails_and_keeps_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default();
    {
        let fs = StdFs::shared();
        let parts = Components::from_options(Arc::clone(&fs), dir.path(), &options).unwrap();
        let kind = options.memtable_type;
        let memtable = move || Lossy { inner: AnyMemtable::new(kind, &Default::default()).unwrap(), lost: b"key00007" };
        let components = Components { memtable: Box::new(memtable), store: parts.store, policy: parts.policy };
        let db = Db::open_with_components(fs, dir.path(), options.clone(), components).unwrap();
        for i in 0..100u32 {
            db.put(format!("key{i:05}"), format!("value{i}")).unwrap();
        }
        let e = db.flush().expect_err("the flush lost an entry");
        let cause = match &e {
            Error::ReadOnly(cause) => cause.as_ref(),
            other => other,
        };
        assert!(e.is_corruption(), "{e:?}");
        match cause {
            Error::Corruption { file, reason } => {
                assert!(file.extension().is_some_and(|x| x == "wal"), "names the log segment: {e}");
                assert!(file.exists(), "the segment is kept: {}", file.display());
                assert!(reason.contains("wrote 99 entries where the memtable holds 100"), "{reason}");
            }
            other => panic!("expected corruption naming the log segment, got {other:?}"),
        }
        assert_eq!(db.put("later", "x").unwrap_err().kind(), ErrorKind::ReadOnly, "writes stop");
        assert!(db.tables().iter().all(Vec::is_empty), "no table of the failed flush is installed");
        let _ = db.close();
    }
    let db = Db::open(dir.path(), options).unwrap();
    for i in 0..100u32 {
        assert_eq!(db.get(format!("key{i:05}")).unwrap().as_deref(), Some(format!("value{i}").as_bytes()), "key {i}");
    }
    db.close().unwrap();
}
