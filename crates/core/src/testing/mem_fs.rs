//! An in-memory [`FileSystem`] for tests and fuzzing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use crate::fs::{FileLock, FileSystem, ReadableFile, WritableFile};

type Data = Arc<RwLock<Vec<u8>>>;

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Data>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

/// Files kept in memory: no disk, no temporary directory, nothing to clean up.
///
/// Writes are visible to readers at once and syncs do nothing; a file removed while open stays
/// readable through the handles already open (as on Unix).
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

impl MemFs {
    /// An empty file system.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The file system, shared, as a store takes it.
    #[must_use]
    pub fn shared() -> Arc<dyn FileSystem> {
        Arc::new(Self::new())
    }

    /// Creates (or replaces) a file with `bytes`.
    pub fn put_file(&self, path: &Path, bytes: Vec<u8>) {
        self.lock_state().files.insert(path.to_owned(), Arc::new(RwLock::new(bytes)));
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // NOTE: no code path panics mid-update while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

#[derive(Debug)]
struct MemWritable(Data);

impl Write for MemWritable {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WritableFile for MemWritable {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.0.write().unwrap_or_else(PoisonError::into_inner).resize(len, 0);
        Ok(())
    }
}

#[derive(Debug)]
struct MemReadable(Data);

impl ReadableFile for MemReadable {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let data = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let Some(rest) = usize::try_from(offset).ok().and_then(|o| data.get(o..)) else { return Ok(0) };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.read().unwrap_or_else(PoisonError::into_inner).len() as u64)
    }
}

#[derive(Debug)]
struct MemLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).locks.remove(&self.path);
    }
}

impl FileSystem for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock_state();
        for d in dir.ancestors() {
            state.dirs.insert(d.to_owned());
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let data = Data::default();
        self.lock_state().files.insert(path.to_owned(), Arc::clone(&data));
        Ok(Box::new(MemWritable(data)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let data = self.lock_state().files.get(path).cloned().ok_or_else(|| not_found(path))?;
        Ok(Box::new(MemWritable(data)))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        let data = self.lock_state().files.get(path).cloned().ok_or_else(|| not_found(path))?;
        Ok(Arc::new(MemReadable(data)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock_state();
        let data = state.files.remove(from).ok_or_else(|| not_found(from))?;
        state.files.insert(to.to_owned(), data);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.lock_state().files.remove(path).map(drop).ok_or_else(|| not_found(path))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock_state();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let children = state.files.keys().chain(state.dirs.iter()).filter(|p| p.parent() == Some(dir));
        Ok(children.filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned())).collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let state = self.lock_state();
        state.files.contains_key(path) || state.dirs.contains(path)
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut state = self.lock_state();
        if !state.locks.insert(path.to_owned()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("{} is locked", path.display())));
        }
        state.files.entry(path.to_owned()).or_default();
        Ok(Box::new(MemLock { state: Arc::clone(&self.state), path: path.to_owned() }))
    }
}
