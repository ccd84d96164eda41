//! Strata on S3-compatible object storage.
//!
//! Strata's tables are immutable Parquet files, which is what object storage holds well.
//! This crate puts a database's tables and manifest in a bucket (or any [`ObjectStore`]),
//! keeps the write-ahead log and a cache on local disk, and lets one writer and any number
//! of read-only openers, on any machines, share it:
//!
//! * **Tables** are written locally, then uploaded whole; they are read by ranged GETs of the
//!   pages a lookup or scan needs, through a bounded local disk cache that survives restarts
//!   (see [`ObjectFs`]).
//! * **The manifest** is numbered objects written with `If-None-Match: *`
//!   ([`ObjectManifestStore`]). Opening a writer commits the next writer epoch, which fences
//!   the writer before it: that writer's next commit fails with [`strata::Error::Fenced`].
//! * **Readers** ([`Remote::open_read_only`]) serve the latest manifest's tables and follow
//!   the writer with [`strata::Db::refresh`]. The writer deletes obsolete tables only after
//!   [`ObjectOptions::gc_grace`], so a reader that refreshes more often than that never
//!   loses a file it is reading.
//! * **Retries**: the S3 client retries transient failures (5xx, timeouts, dropped
//!   connections) with exponential backoff, and never a 4xx ([`ObjectOptions::max_retries`],
//!   [`ObjectOptions::retry_timeout`]). Reads (GETs and lists) are also sent again after a
//!   transport failure the client cannot classify, such as a pooled connection the server
//!   closed a moment before, within the same budget; writes are not. Every request is
//!   counted ([`Remote::stats`]).
//!
//! ```no_run
//! use strata_object::{ObjectOptions, Remote};
//!
//! let options = ObjectOptions { endpoint: Some("http://127.0.0.1:9000".into()), ..ObjectOptions::default() };
//! let remote = Remote::connect("s3://my-bucket/db", options)?;
//! let db = remote.open("/var/lib/myapp/strata-local", strata::Options::default())?;
//! db.put("key", "value")?;
//! db.flush()?; // in the bucket from here on
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! Writes are durable in the local log until a flush puts them in a table: a writer that
//! takes over from another machine recovers what was flushed, and a writer that restarts on
//! the same local directory recovers everything it acknowledged.

mod cache;
mod fs;
mod manifest;
mod orphans;
mod runtime;
mod stats;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use strata::{Components, Db, Error, Options, Result};

use crate::cache::DiskCache;
pub use crate::fs::ObjectFs;
pub use crate::manifest::ObjectManifestStore;
use crate::orphans::OrphanClock;
use crate::runtime::ReadRetries;
use crate::stats::Counters;
pub use crate::stats::ObjectStats;

/// How to reach the object store, and how this process caches and retries.
#[derive(Debug, Clone)]
pub struct ObjectOptions {
    /// The S3 endpoint (`http://127.0.0.1:9000` for a local server); `None` for AWS itself
    /// or `AWS_ENDPOINT_URL`. An `http://` endpoint allows plain HTTP.
    pub endpoint: Option<String>,
    /// The region; `None` for `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// The access key; `None` for `AWS_ACCESS_KEY_ID` (or instance credentials).
    pub access_key_id: Option<String>,
    /// The secret key; `None` for `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// The local disk cache's capacity in bytes.
    pub cache_bytes: u64,
    /// How long an obsolete table stays in the store after the writer stops using it, for
    /// readers still using an older manifest.
    pub gc_grace: Duration,
    /// How many times a transient failure is retried (0: never).
    pub max_retries: usize,
    /// How long retries of one request may go on in total.
    pub retry_timeout: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How much of a table's end opening it fetches in one GET: its footer, page index and
    /// filters, when they fit. Larger saves a request per table open, smaller saves bytes.
    pub tail_prefetch_bytes: u64,
    /// How much a read that continues an earlier one (a scan, a compaction) fetches at once;
    /// 0 fetches exactly what is read. Open files hold at most 64 of these in memory.
    pub readahead_bytes: u64,
    /// Tables larger than this are uploaded in parts of this size (at least 5 MiB, S3's
    /// smallest part).
    pub multipart_part_bytes: usize,
}

impl ObjectOptions {
    pub(crate) fn read_retries(&self) -> ReadRetries {
        ReadRetries { max_retries: self.max_retries, retry_timeout: self.retry_timeout }
    }
}

impl Default for ObjectOptions {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            cache_bytes: 1 << 30,
            gc_grace: Duration::from_secs(300),
            max_retries: 10,
            retry_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            tail_prefetch_bytes: 256 << 10,
            readahead_bytes: 1 << 20,
            multipart_part_bytes: 16 << 20,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RemoteInner {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) url: String,
    prefix: ObjPath,
    pub(crate) options: ObjectOptions,
    pub(crate) counters: Arc<Counters>,
    /// Readahead bytes the open files hold now, bounded by 64 readaheads.
    pub(crate) readahead_held: std::sync::atomic::AtomicU64,
}

impl RemoteInner {
    pub(crate) fn tables_dir(&self) -> ObjPath {
        self.prefix.clone().join("tables")
    }

    /// Where the doom markers of tables waiting out their grace period are.
    pub(crate) fn doomed_dir(&self) -> ObjPath {
        self.prefix.clone().join("doomed")
    }
}

/// A database location in an object store: `s3://bucket/prefix`, `file:///path` or
/// `memory://name` (a fresh in-memory store, for tests). Open writers and readers on it.
#[derive(Debug, Clone)]
pub struct Remote {
    inner: Arc<RemoteInner>,
    /// Each local directory's disk cache, shared by the stats.
    caches: Arc<std::sync::Mutex<Vec<std::sync::Weak<DiskCache>>>>,
}

fn bad_location(url: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidOption { field: "location", reason: format!("{url}: {reason}") }
}

impl Remote {
    /// Connects to the location `url` (no request is made yet).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a URL that is not `s3://bucket[/prefix]`,
    /// `file:///path` or `memory://...`, or S3 settings the client rejects.
    pub fn connect(url: &str, options: ObjectOptions) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad_location(url, "expected scheme://..."))?;
        let (store, prefix): (Arc<dyn ObjectStore>, &str) = match scheme {
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.len() < 3 {
                    return Err(bad_location(url, "a bucket name has at least 3 characters"));
                }
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_conditional_put(S3ConditionalPut::ETagMatch)
                    .with_retry(RetryConfig {
                        max_retries: options.max_retries,
                        retry_timeout: options.retry_timeout,
                        ..RetryConfig::default()
                    })
                    .with_client_options(
                        ClientOptions::new()
                            .with_timeout(options.request_timeout)
                            .with_connect_timeout(Duration::from_secs(5)),
                    );
                if let Some(endpoint) = &options.endpoint {
                    b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(region) = &options.region {
                    b = b.with_region(region);
                }
                if let Some(key) = &options.access_key_id {
                    b = b.with_access_key_id(key);
                }
                if let Some(secret) = &options.secret_access_key {
                    b = b.with_secret_access_key(secret);
                }
                (Arc::new(b.build().map_err(|e| bad_location(url, e))?), prefix)
            }
            "file" => {
                std::fs::create_dir_all(rest).map_err(|e| Error::io(rest, e))?;
                let fs =
                    object_store::local::LocalFileSystem::new_with_prefix(rest).map_err(|e| bad_location(url, e))?;
                (Arc::new(fs), "")
            }
            "memory" => (Arc::new(object_store::memory::InMemory::new()), ""),
            other => return Err(bad_location(url, format!("unknown scheme {other:?} (s3, file or memory)"))),
        };
        Ok(Self::with_store(store, url, prefix, options))
    }

    /// A location in a store you built yourself, under `prefix`; `url` names it in messages.
    #[must_use]
    pub fn with_store(store: Arc<dyn ObjectStore>, url: &str, prefix: &str, options: ObjectOptions) -> Self {
        let inner = RemoteInner {
            store,
            url: url.trim_end_matches('/').to_owned(),
            prefix: ObjPath::from(prefix.trim_matches('/')),
            options,
            counters: Arc::default(),
            readahead_held: std::sync::atomic::AtomicU64::new(0),
        };
        Self { inner: Arc::new(inner), caches: Arc::default() }
    }

    /// The manifest store of this location.
    #[must_use]
    pub fn manifest_store(&self) -> Arc<ObjectManifestStore> {
        self.manifest_store_with(Arc::default())
    }

    /// The manifest store of this location, dating the manifest read at open and the first
    /// commit on `clock`.
    fn manifest_store_with(&self, clock: Arc<OrphanClock>) -> Arc<ObjectManifestStore> {
        let dir = self.inner.prefix.clone().join("manifest");
        let url = format!("{}/manifest", self.inner.url);
        Arc::new(ObjectManifestStore::new(
            Arc::clone(&self.inner.store),
            dir,
            url,
            Arc::clone(&self.inner.counters),
            self.inner.options.read_retries(),
            clock,
        ))
    }

    /// The object key of table `id` (`<prefix>/tables/NNNNNN.parquet`), for other readers
    /// (pyarrow, Spark) given the manifest's list of live tables ([`Db::tables`]).
    #[must_use]
    pub fn table_key(&self, id: u64) -> String {
        self.inner.tables_dir().join(strata_sstable::table_file_name(id)).to_string()
    }

    /// The engine's components for an opener whose local directory is `local`: the table
    /// store runs on an [`ObjectFs`] with the disk cache in `local/cache`, counting orphans'
    /// grace period on `clock`.
    fn components(
        &self,
        local: &Path,
        options: &Options,
        clock: Arc<OrphanClock>,
    ) -> Result<Components<strata::AnyMemtable, strata::ParquetStore, strata::AnyPolicy>> {
        let cache_dir = local.join("cache");
        let cache = DiskCache::open(&cache_dir, self.inner.options.cache_bytes, Arc::clone(&self.inner.counters))
            .map_err(|e| Error::io(&cache_dir, e))?;
        let cache = Arc::new(cache);
        let mut caches = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        caches.retain(|c| c.strong_count() > 0);
        caches.push(Arc::downgrade(&cache));
        drop(caches);
        let table_dir = local.join("tables");
        let fs = Arc::new(ObjectFs::new(Arc::clone(&self.inner), table_dir.clone(), cache, clock));
        Components::from_options(fs, &table_dir, options)
    }

    /// Opens (or creates, with `create_if_missing`) the database here as its writer, fencing
    /// any writer before. `local` holds the write-ahead log and the disk cache.
    ///
    /// # Errors
    ///
    /// As [`Db::open_with_manifest_store`].
    pub fn open(&self, local: impl AsRef<Path>, options: Options) -> Result<Db> {
        let local = local.as_ref();
        std::fs::create_dir_all(local).map_err(|e| Error::io(local, e))?;
        let clock = Arc::new(OrphanClock::default());
        let components = self.components(local, &options, Arc::clone(&clock))?;
        let manifests = self.manifest_store_with(clock);
        Db::open_with_manifest_store(strata::StdFs::shared(), local, options, components, manifests)
    }

    /// Opens a read-only view of the database here; `local` holds its disk cache and must
    /// be this opener's own. Call [`Db::refresh`] to follow the writer.
    ///
    /// # Errors
    ///
    /// As [`Db::open_read_only`].
    pub fn open_read_only(&self, local: impl AsRef<Path>, options: Options) -> Result<Db> {
        let local = local.as_ref();
        std::fs::create_dir_all(local).map_err(|e| Error::io(local, e))?;
        let components = self.components(local, &options, Arc::default())?;
        Db::open_read_only(strata::StdFs::shared(), local, options, components, self.manifest_store())
    }

    /// Requests made and cache use so far, over every opener of this `Remote`.
    #[must_use]
    pub fn stats(&self) -> ObjectStats {
        let caches = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache_bytes = caches.iter().filter_map(std::sync::Weak::upgrade).map(|c| c.bytes()).sum();
        self.inner.counters.snapshot(cache_bytes)
    }
}
