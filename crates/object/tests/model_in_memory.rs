//! The engine's model test (`strata::testing::model`) with tables and manifest in an
//! object store (in memory here; `s3.rs` runs it against an S3 server), every reopen
//! starting from an empty local cache so the tables are read back from the store.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use strata::testing::model::{check, policies};
use strata::{Db, MemtableKind, Options};
use strata_object::{ObjectOptions, Remote};

/// Opens each run's database in a store of its own (a run is known by its local directory),
/// and every reopen from an empty local cache, so every table comes from the store again.
struct Opener {
    url: &'static str,
    options: ObjectOptions,
    remotes: Mutex<HashMap<PathBuf, Remote>>,
}

impl Opener {
    fn new(url: &'static str, options: ObjectOptions) -> Self {
        Self { url, options, remotes: Mutex::default() }
    }

    fn open(&self, dir: &Path, options: Options) -> strata::Result<Db> {
        let _ = std::fs::remove_dir_all(dir.join("cache"));
        let mut remotes = self.remotes.lock().unwrap();
        let remote = match remotes.get(dir) {
            Some(r) => r.clone(),
            None => {
                let r = Remote::connect(self.url, self.options.clone())?;
                remotes.insert(dir.to_owned(), r.clone());
                r
            }
        };
        drop(remotes);
        remote.open(dir, options)
    }

    fn requests(&self) -> u64 {
        self.remotes.lock().unwrap().values().map(|r| r.stats().gets + r.stats().puts).sum()
    }
}

#[test]
fn model_on_an_object_store_with_leveled_compaction() {
    let opener = Opener::new("memory://model", ObjectOptions::default());
    check(MemtableKind::EnhancedSkipList, &policies()[0], &|dir, options| opener.open(dir, options));
    assert!(opener.requests() > 0, "the store was used");
}

#[test]
fn model_on_an_object_store_with_size_tiered_compaction() {
    // Opening fetches only the last 64 bytes, so pages are ranged GETs of their own; and
    // obsolete tables are deleted at once.
    let options = ObjectOptions { tail_prefetch_bytes: 64, gc_grace: Duration::ZERO, ..ObjectOptions::default() };
    let opener = Opener::new("memory://model", options);
    check(MemtableKind::SkipList, &policies()[1], &|dir, options| opener.open(dir, options));
    let misses: u64 = opener.remotes.lock().unwrap().values().map(|r| r.stats().cache_misses).sum();
    assert!(misses > 0, "pages were fetched by ranged GETs");
}
