//! Where the manifest lives when it is not a local file.
//!
//! Object storage has no append and no atomic rename, but it has conditional puts: "create
//! this object only if it does not exist" (`If-None-Match: *`). A [`ManifestStore`] holds the
//! manifest as numbered, immutable objects. Each commit writes the whole tree as the object
//! numbered one above the last, and only if no object of that number exists, so of two
//! writers racing for the same number exactly one wins; the loser learns it and reads what
//! the winner wrote. The engine builds writer fencing on this (see `strata::Error::Fenced`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::sync::{Mutex, PoisonError};

/// A store of numbered, immutable manifest objects with create-if-absent puts.
pub trait ManifestStore: Send + Sync + Debug + 'static {
    /// Where the manifests are, for messages and errors (a URL, or a path).
    fn location(&self) -> String;

    /// The highest-numbered manifest and its bytes, or `None` when there is none yet.
    ///
    /// # Errors
    ///
    /// The store's I/O errors.
    fn latest(&self) -> io::Result<Option<(u64, Vec<u8>)>>;

    /// Writes manifest `number` unless one of that number exists: `Ok(true)` when this call
    /// wrote it, `Ok(false)` when it already existed (another writer got there first). The
    /// check and the write are one atomic step.
    ///
    /// # Errors
    ///
    /// The store's I/O errors; after an error the manifest may or may not have been written,
    /// and [`latest`](Self::latest) tells.
    fn put_if_absent(&self, number: u64, bytes: &[u8]) -> io::Result<bool>;

    /// Deletes the manifests numbered below `number` (readers may still be reading the ones
    /// just below the latest, so callers keep a few).
    ///
    /// # Errors
    ///
    /// The store's I/O errors.
    fn delete_below(&self, number: u64) -> io::Result<()>;
}

/// A [`ManifestStore`] in memory, for tests.
#[derive(Debug, Default)]
pub struct MemManifestStore {
    manifests: Mutex<BTreeMap<u64, Vec<u8>>>,
}

impl MemManifestStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn manifests(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Vec<u8>>> {
        self.manifests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ManifestStore for MemManifestStore {
    fn location(&self) -> String {
        "memory://manifest".into()
    }

    fn latest(&self) -> io::Result<Option<(u64, Vec<u8>)>> {
        Ok(self.manifests().last_key_value().map(|(&n, b)| (n, b.clone())))
    }

    fn put_if_absent(&self, number: u64, bytes: &[u8]) -> io::Result<bool> {
        let mut m = self.manifests();
        if m.contains_key(&number) {
            return Ok(false);
        }
        m.insert(number, bytes.to_vec());
        Ok(true)
    }

    fn delete_below(&self, number: u64) -> io::Result<()> {
        self.manifests().retain(|&n, _| n >= number);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_put_of_a_number_wins_and_latest_is_the_highest() {
        let s = MemManifestStore::new();
        assert_eq!(s.latest().unwrap(), None);
        assert!(s.put_if_absent(1, b"a").unwrap());
        assert!(!s.put_if_absent(1, b"b").unwrap());
        assert!(s.put_if_absent(2, b"c").unwrap());
        assert_eq!(s.latest().unwrap(), Some((2, b"c".to_vec())));
        s.delete_below(2).unwrap();
        assert!(s.put_if_absent(1, b"d").unwrap(), "a deleted number can be written again");
    }
}
