//! Obsolete tables leave the bucket even when every writer runs for less than the grace
//! period, as command-line writes and batch jobs do, and never while a reader of an older
//! manifest may still need them: in memory, and on an S3 server (moto on loopback), whose
//! `Last-Modified` times come in whole seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

mod common;

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

/// The table objects under `prefix` (listed on a runtime of its own: the S3 client needs
/// one).
fn table_objects(store: &dyn ObjectStore, prefix: &str) -> usize {
    let tables = ObjPath::from(format!("{prefix}/tables"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(store.list(Some(&tables)).try_collect::<Vec<_>>()).unwrap().len()
}

fn check(store: Arc<dyn ObjectStore>, url: &str, prefix: &str, options: ObjectOptions) {
    let options = ObjectOptions { gc_grace: GRACE, ..options };
    let remote = Remote::with_store(Arc::clone(&store), url, prefix, options);
    let table_objects = || table_objects(&*store, prefix);
    let local = tempfile::tempdir().unwrap();

    // A writer makes three tables, merges them into one and closes at once: the three are
    // obsolete, and within the grace period, so they stay.
    let db = remote.open(local.path().join("writer"), Options::default()).unwrap();
    for round in 0..3 {
        for i in 0..100 {
            db.put(format!("key{i:03}"), format!("round {round}")).unwrap();
        }
        db.flush().unwrap();
    }
    db.compact_range(..).unwrap();
    db.close().unwrap();
    assert_eq!(table_objects(), 4);

    // A reader still on that manifest, and a writer opened again at once: the orphans it
    // finds became obsolete less than the grace period ago, so they stay too.
    let reader = remote.open_read_only(local.path().join("reader"), Options::default()).unwrap();
    let db = remote.open(local.path().join("writer"), Options::default()).unwrap();
    let reopened = Instant::now();
    db.close().unwrap();
    assert_eq!(table_objects(), 4, "orphans deleted within the grace period");
    assert_eq!(reader.get("key042").unwrap().as_deref(), Some(&b"round 2"[..]));
    drop(reader);

    // Past the grace period, counted from the last commit (and the second allowed for
    // `Last-Modified` times truncated to whole seconds), the next short-lived writer deletes
    // them as it opens.
    std::thread::sleep(GRACE.saturating_sub(reopened.elapsed()) + Duration::from_millis(1_300));
    let db = remote.open(local.path().join("writer"), Options::default()).unwrap();
    assert_eq!(table_objects(), 1, "the obsolete tables outlived the grace period");
    assert_eq!(db.get("key099").unwrap().as_deref(), Some(&b"round 2"[..]));
    assert_eq!(db.iter(..).count(), 100);
    db.close().unwrap();
}
