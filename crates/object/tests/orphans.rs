//! Obsolete tables leave the bucket even when every writer runs for less than the grace
//! period, as command-line writes and batch jobs do, and never while a reader of an older
//! manifest may still need them: in memory, and on an S3 server (moto on loopback), whose
//! `Last-Modified` times come in whole seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use strata::Options;
use strata_object::{ObjectOptions, Remote};

const GRACE: Duration = Duration::from_secs(2);

#[test]
fn short_lived_writers_still_delete_obsolete_tables_after_the_grace_period() {
    check(Arc::new(InMemory::new()), "memory://orphans", "db", ObjectOptions::default());
}

#[test]
fn short_lived_writers_still_delete_obsolete_tables_on_s3() {
    let Some(m) = common::moto("short_lived_writers_still_delete_obsolete_tables_on_s3") else { return };
    let options = common::s3_options(m.port);
    let store = AmazonS3Builder::new()
        .with_bucket_name(common::BUCKET)
        .with_endpoint(options.endpoint.clone().unwrap())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .build()
        .unwrap();
    let prefix = common::unique_prefix("orphans");
    check(Arc::new(store), &format!("s3://{}/{prefix}", common::BUCKET), &prefix, options);
}

/// The object names under `prefix`/`dir`.
fn objects(store: &dyn ObjectStore, prefix: &str, dir: &str) -> BTreeSet<String> {
    let at = ObjPath::from(format!("{prefix}/{dir}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed = runtime.block_on(store.list(Some(&at)).try_collect::<Vec<_>>()).unwrap();
    listed.iter().filter_map(|m| m.location.filename().map(str::to_owned)).collect()
}

fn check(store: Arc<dyn ObjectStore>, url: &str, prefix: &str, options: ObjectOptions) {
    let options = ObjectOptions { gc_grace: GRACE, ..options };
    let remote = Remote::with_store(Arc::clone(&store), url, prefix, options);
    let tables = || objects(&*store, prefix, "tables");
    let markers = || objects(&*store, prefix, "doomed");
    let local = tempfile::tempdir().unwrap();
    let writer = local.path().join("writer");

    // A writer makes three tables, merges them into one and closes at once: the three are
    // obsolete, marked doomed, and within the grace period, so they stay.
    let db = remote.open(&writer, Options::default()).unwrap();
    for round in 0..3 {
        for i in 0..100 {
            db.put(format!("key{i:03}"), format!("round {round}")).unwrap();
        }
        db.flush().unwrap();
    }
    let merged = tables();
    assert_eq!(merged.len(), 3);
    db.compact_range(..).unwrap();
    db.close().unwrap();
    let doomed_at = Instant::now();
    assert_eq!(tables().len(), 4);
    assert_eq!(markers(), merged);

    // A reader still on that manifest, and writers that each open, write, flush (a commit)
    // and close more often than the grace period: the orphans they find were doomed less
    // than the grace period ago, so they stay, and the reader reads.
    let reader = remote.open_read_only(local.path().join("reader"), Options::default()).unwrap();
    let mut writes = 0;
    // The grace period, and the second allowed for `Last-Modified` times truncated to
    // whole seconds.
    while doomed_at.elapsed() < GRACE + Duration::from_millis(1_300) {
        if doomed_at.elapsed() < GRACE {
            assert!(merged.is_subset(&tables()), "orphans deleted within the grace period");
            assert_eq!(reader.get("key042").unwrap().as_deref(), Some(&b"round 2"[..]));
        }
        let db = remote.open(&writer, Options::default()).unwrap();
        db.put(format!("w{writes}"), "x").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
        writes += 1;
        std::thread::sleep(Duration::from_millis(400));
    }
    drop(reader);
    assert!(writes >= 4, "{writes} writers");

    // Past it, the next short-lived writer deletes them, and their markers, though every
    // writer since committed (its deletes run on a thread of their own, done by its close).
    let db = remote.open(&writer, Options::default()).unwrap();
    assert_eq!(db.get("key099").unwrap().as_deref(), Some(&b"round 2"[..]));
    assert_eq!(db.iter(..).count(), 100 + writes);
    db.close().unwrap();
    let left: Vec<_> = tables().intersection(&merged).cloned().collect();
    assert!(left.is_empty(), "obsolete tables outlived the grace period: {left:?}");
    assert!(markers().is_disjoint(&merged), "doom markers outlived their tables");
}
