//! The manifest as numbered objects, committed with create-if-absent puts.

use std::io;
use std::sync::Arc;

use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use strata_core::ManifestStore;

use crate::orphans::OrphanClock;
use crate::runtime::{ReadRetries, block_on, block_on_read, delete_object, io_error, list_all};
use crate::stats::{Counters, bump};

/// The [`ManifestStore`] of a [`Remote`](crate::Remote): objects `MANIFEST-NNNNNN` under
/// `<prefix>/manifest/`, each written with `If-None-Match: *`.
#[derive(Debug)]
pub struct ObjectManifestStore {
    store: Arc<dyn ObjectStore>,
    dir: ObjPath,
    url: String,
    counters: Arc<Counters>,
    retries: ReadRetries,
    /// Dates the manifest read at open and the first commit, for orphans' grace period.
    clock: Arc<OrphanClock>,
}

fn name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

fn parse(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// How often `latest` lists again when the manifest it listed was deleted before it read it.
const LATEST_ATTEMPTS: usize = 4;

impl ObjectManifestStore {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        dir: ObjPath,
        url: String,
        counters: Arc<Counters>,
        retries: ReadRetries,
        clock: Arc<OrphanClock>,
    ) -> Self {
        Self { store, dir, url, counters, retries, clock }
    }

    /// The manifests' numbers, each with its `Last-Modified` in milliseconds since the epoch.
    fn listed(&self) -> io::Result<Vec<(u64, i64)>> {
        let listed = list_all(&*self.store, &self.dir, self.retries, &self.counters.lists)?;
        Ok(listed
            .iter()
            .filter_map(|m| Some((m.location.filename().and_then(parse)?, m.last_modified.timestamp_millis())))
            .collect())
    }

    fn numbers(&self) -> io::Result<Vec<u64>> {
        Ok(self.listed()?.into_iter().map(|(n, _)| n).collect())
    }

    /// Dates the first commit after the manifest read at open, `path`, by its
    /// `Last-Modified`. Without it, orphans wait out the whole grace period, so a failure is
    /// only logged.
    fn date_first_commit(&self, path: &ObjPath) {
        if !self.clock.wants_commit_time() {
            return;
        }
        bump(&self.counters.heads, 1);
        match block_on(self.store.head(path)) {
            Ok(Ok(meta)) => self.clock.committed(meta.last_modified.timestamp_millis()),
            Ok(Err(e)) => tracing::warn!(manifest = %path, error = %e, "could not date a manifest"),
            Err(e) => tracing::warn!(manifest = %path, error = %e, "could not date a manifest"),
        }
    }
}

impl ManifestStore for ObjectManifestStore {
    fn location(&self) -> String {
        self.url.clone()
    }

    fn latest(&self) -> io::Result<Option<(u64, Vec<u8>)>> {
        for _ in 0..LATEST_ATTEMPTS {
            let Some((number, modified)) = self.listed()?.into_iter().max() else {
                self.clock.read(None);
                return Ok(None);
            };
            let path = self.dir.clone().join(name(number));
            let got = block_on_read(self.retries, &self.counters.gets, || async {
                self.store.get(&path).await?.bytes().await
            })?;
            match got {
                Ok(bytes) => {
                    bump(&self.counters.get_bytes, bytes.len() as u64);
                    self.clock.read(Some(modified));
                    return Ok(Some((number, bytes.to_vec())));
                }
                // A writer deleted it as old between the list and the read: list again.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        Err(io::Error::other(format!("the latest manifest in {} kept disappearing", self.url)))
    }

    fn put_if_absent(&self, number: u64, bytes: &[u8]) -> io::Result<bool> {
        bump(&self.counters.puts, 1);
        bump(&self.counters.put_bytes, bytes.len() as u64);
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let path = self.dir.clone().join(name(number));
        let payload = PutPayload::from(bytes.to_vec());
        match block_on(self.store.put_opts(&path, payload, opts))? {
            Ok(_) => {
                self.date_first_commit(&path);
                Ok(true)
            }
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(io_error(e)),
        }
    }

    fn delete_below(&self, number: u64) -> io::Result<()> {
        for old in self.numbers()?.into_iter().filter(|&n| n < number) {
            delete_object(&*self.store, &self.dir.clone().join(name(old)), &self.counters.deletes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn names_round_trip_and_only_manifests_parse() {
        assert_eq!(parse(&name(42)), Some(42));
        assert_eq!(parse(&name(12_345_678)), Some(12_345_678));
        assert_eq!(parse("MANIFEST-"), None);
        assert_eq!(parse("MANIFEST-12a"), None);
        assert_eq!(parse("000012.parquet"), None);
    }

    #[test]
    fn create_if_absent_against_an_object_store() {
        let store = ObjectManifestStore::new(
            Arc::new(InMemory::new()),
            ObjPath::from("db/manifest"),
            "memory://db/manifest".into(),
            Arc::default(),
            ReadRetries { max_retries: 0, retry_timeout: std::time::Duration::ZERO },
            Arc::default(),
        );
        assert_eq!(store.latest().unwrap(), None);
        assert!(store.put_if_absent(1, b"one").unwrap());
        assert!(!store.put_if_absent(1, b"uno").unwrap());
        assert!(store.put_if_absent(9, b"nine").unwrap());
        assert!(store.put_if_absent(10, b"ten").unwrap());
        assert_eq!(store.latest().unwrap(), Some((10, b"ten".to_vec())), "numeric order, not text order");
        store.delete_below(10).unwrap();
        assert_eq!(store.numbers().unwrap(), vec![10]);
    }
}
