//! Requests failing at exact points, deterministically (an in-memory store behind a
//! wrapper that fails the Nth request of a kind; `s3.rs` cuts a real server at random
//! moments instead): a table upload of a flush, a table upload of a compaction, a read of
//! a compaction's input, a manifest commit refused, and a manifest commit that landed
//! but whose answer was lost. Each time the writer reports the error and refuses writes;
//! reopened from an empty cache, it holds every acknowledged write, and every table its
//! manifest names is in the store. And reads that fail in transport, in a way
//! `object_store` does not retry itself, are sent again until they succeed or the retry
//! budget runs out.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use strata::{Db, Options, WriteBatch, WriteOptions};
use strata_object::{ObjectOptions, Remote};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Get,
}

/// Fail the `nth` next request of `kind` whose path contains `path`; with `after`, carry it
/// out first (the answer is lost, not the request).
#[derive(Debug, Clone)]
struct Rule {
    kind: Kind,
    path: &'static str,
    nth: usize,
    after: bool,
}

#[derive(Debug, Default)]
struct FaultStore {
    inner: InMemory,
    rules: Mutex<Vec<Rule>>,
    fired: Mutex<usize>,
    /// How many of the next GETs fail in transport, as hyper fails a request sent on a
    /// pooled connection the server had just closed.
    transport_failures: Mutex<usize>,
    /// Each PUT's object and the name of the thread that made it.
    puts: Mutex<Vec<(String, Option<String>)>>,
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore")
    }
}

impl FaultStore {
    /// Whether this request fails, and if so whether after doing it.
    fn check(&self, kind: Kind, path: &Path) -> Option<bool> {
        let mut rules = self.rules.lock().unwrap();
        let i = rules.iter().position(|r| r.kind == kind && path.as_ref().contains(r.path))?;
        if rules[i].nth > 0 {
            rules[i].nth -= 1;
            return None;
        }
        let after = rules.remove(i).after;
        *self.fired.lock().unwrap() += 1;
        Some(after)
    }

    fn error(path: &Path) -> object_store::Error {
        object_store::Error::Generic { store: "fault", source: format!("injected failure on {path}").into() }
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.puts.lock().unwrap().push((location.to_string(), std::thread::current().name().map(str::to_owned)));
        match self.check(Kind::Put, location) {
            None => self.inner.put_opts(location, payload, opts).await,
            Some(false) => Err(Self::error(location)),
            Some(true) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(Self::error(location))
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        match self.check(Kind::Put, location) {
            None => self.inner.put_multipart_opts(location, opts).await,
            Some(_) => Err(Self::error(location)),
        }
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        {
            let mut left = self.transport_failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                let cut = std::io::Error::other("connection was not ready");
                let source = HttpError::new(HttpErrorKind::Unknown, cut);
                return Err(object_store::Error::Generic { store: "fault", source: Box::new(source) });
            }
        }
        match self.check(Kind::Get, location) {
            None => self.inner.get_opts(location, options).await,
            Some(_) => Err(Self::error(location)),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn contents(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<strata::Result<_>>().unwrap()
}

fn options() -> Options {
    Options { max_memtable_size: 64 << 10, ..Options::default() }
}

/// Loads data, arms `rule`, runs a flush and a full compaction, and checks what the issue
/// asks of a failure there.
fn case(rule: Rule) {
    let store = Arc::new(FaultStore::default());
    // No disk cache: every read of a table is a GET the rules can fail.
    let object_options = ObjectOptions { tail_prefetch_bytes: 64, cache_bytes: 0, ..ObjectOptions::default() };
    let remote = Remote::with_store(store.clone(), "memory://faults", "db", object_options);
    let local = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let db = remote.open(local.path(), options()).unwrap();
    for round in 0..3u32 {
        for i in 0..400u32 {
            let (k, v) = (format!("k{:04}", (i * 7 + round) % 500), format!("v{round}-{i}-{}", "x".repeat(40)));
            let mut batch = WriteBatch::new();
            batch.put(k.clone(), v.clone());
            db.write(batch, WriteOptions { sync: true }).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        db.flush().unwrap();
    }
    store.rules.lock().unwrap().push(rule.clone());
    for i in 0..300u32 {
        let (k, v) = (format!("k{:04}", i * 3), format!("late{i}"));
        let mut batch = WriteBatch::new();
        batch.put(k.clone(), v.clone());
        db.write(batch, WriteOptions { sync: true }).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
    }
    let result = db.flush().and_then(|()| db.compact_range(..));
    assert_eq!(*store.fired.lock().unwrap(), 1, "{rule:?} never fired");
    let err = result.expect_err("the failure reaches the caller");
    assert!(db.put("refused", "x").is_err(), "{rule:?}: a writer whose commit failed refuses writes ({err})");
    drop(db);

    store.rules.lock().unwrap().clear();
    std::fs::remove_dir_all(local.path().join("cache")).unwrap();
    let db = remote.open(local.path(), options()).unwrap();
    assert_eq!(contents(&db), model, "{rule:?}: after reopening");
    for table in db.tables().iter().flatten() {
        let key = Path::from(remote.table_key(table.id));
        futures::executor::block_on(store.inner.head(&key))
            .unwrap_or_else(|e| panic!("{rule:?}: the manifest names {key}, which is not in the store: {e}"));
    }
    db.compact_range(..).unwrap();
    assert_eq!(contents(&db), model, "{rule:?}: after a full compaction");
}

#[test]
fn a_failed_table_upload_of_a_flush() {
    case(Rule { kind: Kind::Put, path: "tables/", nth: 0, after: false });
}

#[test]
fn a_failed_table_upload_of_a_compaction() {
    // The flush uploads one table; the compaction's first output is the next.
    case(Rule { kind: Kind::Put, path: "tables/", nth: 1, after: false });
}

#[test]
fn a_failed_read_of_a_compaction_input() {
    case(Rule { kind: Kind::Get, path: "tables/", nth: 0, after: false });
}

#[test]
fn a_refused_manifest_commit() {
    case(Rule { kind: Kind::Put, path: "manifest/", nth: 0, after: false });
}

#[test]
fn a_manifest_commit_whose_answer_was_lost() {
    case(Rule { kind: Kind::Put, path: "manifest/", nth: 0, after: true });
}

#[test]
fn a_compaction_commit_whose_answer_was_lost() {
    case(Rule { kind: Kind::Put, path: "manifest/", nth: 1, after: true });
}

/// A database of 2,000 keys in one table, reopened with nothing cached so every read of the
/// table is a GET.
fn uncached(object_options: ObjectOptions) -> (Arc<FaultStore>, Remote, tempfile::TempDir, Db) {
    let store = Arc::new(FaultStore::default());
    let object_options =
        ObjectOptions { tail_prefetch_bytes: 64, cache_bytes: 0, readahead_bytes: 0, ..object_options };
    let remote = Remote::with_store(store.clone(), "memory://transport", "db", object_options);
    let local = tempfile::tempdir().unwrap();
    let db = remote.open(local.path(), options()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("key{i:05}"), format!("value{i}")).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    let db = remote.open(local.path(), Options { block_cache_bytes: 64 << 10, ..options() }).unwrap();
    assert_eq!(db.get("key00001").unwrap().as_deref(), Some(&b"value1"[..]), "opens the table");
    (store, remote, local, db)
}

#[test]
fn a_read_that_fails_in_transport_is_sent_again() {
    let (store, remote, _local, db) = uncached(ObjectOptions::default());
    let gets = remote.stats().gets;
    *store.transport_failures.lock().unwrap() = 3;
    assert_eq!(db.get("key01234").unwrap().as_deref(), Some(&b"value1234"[..]));
    assert_eq!(*store.transport_failures.lock().unwrap(), 0, "every failure was met");
    assert!(remote.stats().gets >= gets + 4, "each attempt is a counted GET");
    assert_eq!(db.iter(..).count(), 2000);
}

#[test]
fn a_read_failing_in_transport_past_its_retry_budget_is_an_error() {
    let (store, _remote, _local, db) = uncached(ObjectOptions { max_retries: 0, ..ObjectOptions::default() });
    *store.transport_failures.lock().unwrap() = 1;
    assert!(db.get("key01234").is_err(), "max_retries 0 sends nothing again");
    assert_eq!(db.get("key01234").unwrap().as_deref(), Some(&b"value1234"[..]), "the next read succeeds");

    let budget = ObjectOptions { retry_timeout: Duration::from_millis(200), ..ObjectOptions::default() };
    let (store, _remote, _local, db) = uncached(budget);
    *store.transport_failures.lock().unwrap() = usize::MAX;
    assert!(db.get("key01234").is_err(), "a read that keeps failing gives up after retry_timeout");
    *store.transport_failures.lock().unwrap() = 0;
    assert_eq!(db.get("key01234").unwrap().as_deref(), Some(&b"value1234"[..]));
}

/// Deleting a table makes its requests (the doom marker's PUT here) on the reaper thread,
/// never on the thread that dropped the table, which may be a reader's; closing the
/// database lets the reaper finish them.
#[test]
fn deletes_make_their_requests_on_the_reaper_thread() {
    let store = Arc::new(FaultStore::default());
    let remote = Remote::with_store(store.clone(), "memory://reaper", "db", ObjectOptions::default());
    let local = tempfile::tempdir().unwrap();
    let db = remote.open(local.path(), options()).unwrap();
    for round in 0..3u32 {
        for i in 0..100u32 {
            db.put(format!("k{i:03}"), format!("v{round}")).unwrap();
        }
        db.flush().unwrap();
    }
    db.compact_range(..).unwrap();
    db.close().unwrap();
    let puts = store.puts.lock().unwrap();
    let markers: Vec<_> = puts.iter().filter(|(object, _)| object.starts_with("db/doomed/")).collect();
    assert_eq!(markers.len(), 3, "{puts:?}");
    assert!(markers.iter().all(|(_, thread)| thread.as_deref() == Some("strata-reaper")), "{markers:?}");
}
