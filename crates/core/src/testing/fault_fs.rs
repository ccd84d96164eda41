//! [`FaultFs`]: a [`FileSystem`] wrapper that fails chosen operations and simulates a crash.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::fs::{FileLock, FileSystem, ReadableFile, WritableFile};

/// The kinds of operation a [`FaultFs`] counts and can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// [`FileSystem::create`] and [`FileSystem::open_append`]: opening a file for writing.
    Create,
    /// One `write` call on a file open for writing. A failed write first writes half of its
    /// buffer, as a real short write on a full disk does.
    Write,
    /// [`WritableFile::sync`] (fsync of a file).
    Sync,
    /// [`FileSystem::sync_dir`] (fsync of a directory).
    SyncDir,
    /// [`FileSystem::rename`].
    Rename,
    /// [`FileSystem::remove_file`].
    Remove,
}

impl OpKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 6] = [Self::Create, Self::Write, Self::Sync, Self::SyncDir, Self::Rename, Self::Remove];

    const fn index(self) -> usize {
        self as usize
    }
}

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultError {
    /// An I/O error (`EIO`): a failing disk.
    Eio,
    /// No space left on the device (`ENOSPC`), as [`io::ErrorKind::StorageFull`].
    Enospc,
}

impl FaultError {
    fn to_io(self, kind: OpKind, nth: u64, path: &Path) -> io::Error {
        let what = format!("injected fault: {kind:?} #{nth} on {}", path.display());
        match self {
            Self::Eio => io::Error::other(format!("{what}: EIO (input/output error)")),
            Self::Enospc => io::Error::new(io::ErrorKind::StorageFull, format!("{what}: ENOSPC (no space left)")),
        }
    }
}

/// One entry of a fault plan: fail the `nth` operation of `kind` (counting from 1 since the
/// file system was made or [`FaultFs::reset_counts`]), and with `sticky` every later one too
/// (a disk that stays full). With `path_contains`, only operations on paths containing it
/// count: the first such operation at or after the `nth` of its kind fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Which operations.
    pub kind: OpKind,
    /// The first operation of that kind to fail, counting from 1.
    pub nth: u64,
    /// What the failed operation returns.
    pub error: FaultError,
    /// Whether every later operation of the kind fails as well.
    pub sticky: bool,
    /// Only operations on a path containing this fail.
    pub path_contains: Option<String>,
}

/// Operation counts per kind, and how many injected faults fired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    counts: [u64; OpKind::ALL.len()],
    /// Operations failed by the fault plan.
    pub faults_fired: u64,
}

impl OpCounts {
    /// The number of operations of `kind`.
    #[must_use]
    pub const fn get(&self, kind: OpKind) -> u64 {
        self.counts[kind.index()]
    }
}

type InodeId = u64;

#[derive(Debug, Default)]
struct Inode {
    /// Bytes of the file known durable: covered by a successful sync.
    synced_len: u64,
}

/// The bookkeeping of what would survive a crash.
#[derive(Debug, Default)]
struct Model {
    next_inode: InodeId,
    inodes: HashMap<InodeId, Inode>,
    /// Names as the running program sees them.
    live: BTreeMap<PathBuf, InodeId>,
    /// Names as they were at the last directory sync of their parent directory.
    durable: BTreeMap<PathBuf, InodeId>,
    /// The synced bytes of files no longer reachable by a live name but still by a durable
    /// one (removed or replaced since the last directory sync).
    retained: HashMap<InodeId, Vec<u8>>,
    /// Bumped by every crash; handles from an earlier epoch refuse to write.
    epoch: u64,
    /// The plan, each fault with whether it has fired.
    plan: Vec<(Fault, bool)>,
    counts: OpCounts,
}

/// A [`FileSystem`] that wraps another one (the real [`crate::fs::StdFs`] or an
/// in-memory [`crate::testing::MemFs`]), counts operations by [`OpKind`], fails the
/// ones its fault plan names with `EIO` or `ENOSPC`, and on [`FaultFs::crash`] drops every
/// byte and every directory change a power cut could lose.
///
/// The crash model:
///
/// - a file's bytes are durable up to the length it had at its last successful
///   [`WritableFile::sync`]; everything written after that is lost;
/// - a file created, renamed or removed is durable under its new name (or gone) only once
///   its directory has been synced with [`FileSystem::sync_dir`]; before that a crash brings
///   back the old names (with the old files' synced bytes) and drops the new ones;
/// - a failed sync makes nothing durable.
///
/// Files that existed before the wrapper was made count as durable. Reads and directory
/// listings pass straight through. Cloning gives another handle to the same state.
///
/// ```
/// use std::path::Path;
/// use strata_core::fs::FileSystem;
/// use strata_core::testing::{FaultError, FaultFs, MemFs, OpKind};
///
/// let fs = FaultFs::new(MemFs::shared());
/// let dir = Path::new("/db");
/// fs.create_dir_all(dir)?;
/// let mut f = fs.create(&dir.join("a"))?;
/// f.write_all(b"durable")?;
/// f.sync()?;
/// f.write_all(b" lost")?;
/// fs.sync_dir(dir)?;
/// fs.fail_nth(OpKind::Sync, 2, FaultError::Enospc);
/// assert!(f.sync().is_err());
/// drop(f);
/// fs.crash()?;
/// assert_eq!(fs.read_all(&dir.join("a"))?, b"durable");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct FaultFs {
    inner: Arc<dyn FileSystem>,
    model: Arc<Mutex<Model>>,
}

impl fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFs").field("inner", &self.inner).field("counts", &self.counts()).finish_non_exhaustive()
    }
}

impl FaultFs {
    /// Wraps `inner` with an empty fault plan.
    #[must_use]
    pub fn new(inner: Arc<dyn FileSystem>) -> Self {
        Self { inner, model: Arc::default() }
    }

    /// This file system as the engine takes it.
    #[must_use]
    pub fn shared(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }

    /// The wrapped file system.
    #[must_use]
    pub fn inner(&self) -> &Arc<dyn FileSystem> {
        &self.inner
    }

    /// Adds `fault` to the plan.
    pub fn inject(&self, fault: Fault) {
        self.lock().plan.push((fault, false));
    }

    /// Fails only the `nth` operation of `kind` (counting from 1).
    pub fn fail_nth(&self, kind: OpKind, nth: u64, error: FaultError) {
        self.inject(Fault { kind, nth, error, sticky: false, path_contains: None });
    }

    /// Fails the `nth` operation of `kind` and every later one.
    pub fn fail_from(&self, kind: OpKind, nth: u64, error: FaultError) {
        self.inject(Fault { kind, nth, error, sticky: true, path_contains: None });
    }

    /// Fails the next operation of `kind` on a path containing `path_contains`.
    pub fn fail_next_on(&self, kind: OpKind, path_contains: &str, error: FaultError) {
        let nth = self.counts().get(kind) + 1;
        self.inject(Fault { kind, nth, error, sticky: false, path_contains: Some(path_contains.to_owned()) });
    }

    /// Empties the fault plan.
    pub fn clear_faults(&self) {
        self.lock().plan.clear();
    }

    /// Operation counts so far.
    #[must_use]
    pub fn counts(&self) -> OpCounts {
        self.lock().counts
    }

    /// Restarts the operation counts (and so the numbering the fault plan uses) at zero.
    pub fn reset_counts(&self) {
        self.lock().counts = OpCounts::default();
    }

    /// Simulates a power cut: every file is cut back to its synced length, and every name
    /// created, renamed or removed since its directory's last sync reverts. Afterwards the
    /// surviving state counts as durable, and writable handles opened before the crash
    /// fail. Close (drop) every user of the file system first, as a dead process would.
    ///
    /// # Errors
    ///
    /// An error of the wrapped file system while rewriting the surviving files.
    pub fn crash(&self) -> io::Result<()> {
        let mut m = self.lock();
        // The bytes each surviving name will hold, read before anything is changed.
        let mut survivors: Vec<(PathBuf, InodeId, Vec<u8>)> = Vec::new();
        let live_path_of: HashMap<InodeId, &PathBuf> = m.live.iter().map(|(p, &i)| (i, p)).collect();
        for (path, &inode) in &m.durable {
            let synced = m.inodes.get(&inode).map_or(0, |i| i.synced_len);
            let mut bytes = match (live_path_of.get(&inode), m.retained.get(&inode)) {
                (Some(live), _) => self.inner.read_all(live)?,
                (None, Some(kept)) => kept.clone(),
                (None, None) => Vec::new(),
            };
            bytes.truncate(usize::try_from(synced).unwrap_or(usize::MAX));
            survivors.push((path.clone(), inode, bytes));
        }
        for path in m.live.keys() {
            match self.inner.remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        m.live.clear();
        m.retained.clear();
        let mut inodes = HashMap::new();
        for (path, inode, bytes) in survivors {
            let mut file = self.inner.create(&path)?;
            file.write_all(&bytes)?;
            file.sync()?;
            inodes.insert(inode, Inode { synced_len: bytes.len() as u64 });
            m.live.insert(path, inode);
        }
        m.inodes = inodes;
        m.durable = m.live.clone();
        m.epoch += 1;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // NOTE: nothing panics while holding the lock, so a poisoned lock holds valid state.
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an operation and returns the injected error if the plan fails it.
    fn check(m: &mut Model, kind: OpKind, path: &Path) -> io::Result<()> {
        m.counts.counts[kind.index()] += 1;
        let n = m.counts.counts[kind.index()];
        let on_path = |f: &Fault| f.path_contains.as_ref().is_none_or(|p| path.to_string_lossy().contains(p.as_str()));
        let hit = m.plan.iter_mut().find(|(f, fired)| {
            f.kind == kind
                && on_path(f)
                && (f.sticky && n >= f.nth || !*fired && (n == f.nth || f.path_contains.is_some() && n > f.nth))
        });
        if let Some((f, fired)) = hit {
            *fired = true;
            let err = f.error.to_io(kind, n, path);
            m.counts.faults_fired += 1;
            return Err(err);
        }
        Ok(())
    }

    /// The inode of `path`, adopting a file that existed before this wrapper saw it as
    /// durable.
    fn adopt(&self, m: &mut Model, path: &Path) -> Option<InodeId> {
        if let Some(&inode) = m.live.get(path) {
            return Some(inode);
        }
        let len = self.inner.open_read(path).and_then(|f| f.len()).ok()?;
        let inode = Self::new_inode(m, len);
        m.live.insert(path.to_owned(), inode);
        m.durable.insert(path.to_owned(), inode);
        Some(inode)
    }

    fn new_inode(m: &mut Model, synced_len: u64) -> InodeId {
        m.next_inode += 1;
        m.inodes.insert(m.next_inode, Inode { synced_len });
        m.next_inode
    }

    /// `path` is about to stop naming `inode`: keep the synced bytes a crash could bring
    /// back.
    fn unlink(&self, m: &mut Model, path: &Path, inode: InodeId) {
        m.live.remove(path);
        let durable = m.durable.values().any(|&i| i == inode);
        let still_live = m.live.values().any(|&i| i == inode);
        if durable && !still_live && !m.retained.contains_key(&inode) {
            let synced = m.inodes.get(&inode).map_or(0, |i| i.synced_len);
            let mut bytes = self.inner.read_all(path).unwrap_or_default();
            bytes.truncate(usize::try_from(synced).unwrap_or(usize::MAX));
            m.retained.insert(inode, bytes);
        }
    }

    fn writable(&self, m: &Model, path: &Path, inode: InodeId, file: Box<dyn WritableFile>, len: u64) -> FaultFile {
        FaultFile { fs: self.clone(), path: path.to_owned(), inode, epoch: m.epoch, file, len }
    }
}

/// A file open for writing through a [`FaultFs`].
struct FaultFile {
    fs: FaultFs,
    path: PathBuf,
    inode: InodeId,
    epoch: u64,
    file: Box<dyn WritableFile>,
    /// The file's length as this handle wrote it.
    len: u64,
}

impl fmt::Debug for FaultFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFile").field("path", &self.path).field("len", &self.len).finish_non_exhaustive()
    }
}

impl FaultFile {
    fn check_epoch(&self, m: &Model) -> io::Result<()> {
        if m.epoch == self.epoch {
            Ok(())
        } else {
            Err(io::Error::other(format!("{}: handle opened before a simulated crash", self.path.display())))
        }
    }
}

impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut m = self.fs.lock();
        self.check_epoch(&m)?;
        if let Err(e) = FaultFs::check(&mut m, OpKind::Write, &self.path) {
            // A short write: half the buffer reaches the file before the error.
            let half = buf.len() / 2;
            if half > 0 && self.file.write_all(&buf[..half]).is_ok() {
                self.len += half as u64;
            }
            return Err(e);
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl WritableFile for FaultFile {
    fn sync(&mut self) -> io::Result<()> {
        let mut m = self.fs.lock();
        self.check_epoch(&m)?;
        FaultFs::check(&mut m, OpKind::Sync, &self.path)?;
        self.file.sync()?;
        if let Some(inode) = m.inodes.get_mut(&self.inode) {
            inode.synced_len = self.len;
        }
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut m = self.fs.lock();
        self.check_epoch(&m)?;
        self.file.truncate(len)?;
        self.len = len;
        if let Some(inode) = m.inodes.get_mut(&self.inode) {
            inode.synced_len = inode.synced_len.min(len);
        }
        Ok(())
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut m = self.lock();
        Self::check(&mut m, OpKind::Create, path)?;
        if let Some(old) = self.adopt(&mut m, path) {
            self.unlink(&mut m, path, old);
        }
        let file = self.inner.create(path)?;
        let inode = Self::new_inode(&mut m, 0);
        m.live.insert(path.to_owned(), inode);
        Ok(Box::new(self.writable(&m, path, inode, file, 0)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut m = self.lock();
        Self::check(&mut m, OpKind::Create, path)?;
        let file = self.inner.open_append(path)?;
        let len = self.inner.open_read(path)?.len()?;
        let inode = self.adopt(&mut m, path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(self.writable(&m, path, inode, file, len)))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        self.inner.open_read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut m = self.lock();
        Self::check(&mut m, OpKind::Rename, from)?;
        let moved = self.adopt(&mut m, from);
        let replaced = self.adopt(&mut m, to);
        // Keep the replaced file's synced bytes before the rename overwrites them.
        if let Some(old) = replaced {
            self.unlink(&mut m, to, old);
        }
        if let Err(e) = self.inner.rename(from, to) {
            if let Some(old) = replaced {
                m.live.insert(to.to_owned(), old);
            }
            return Err(e);
        }
        if let Some(inode) = moved {
            m.live.remove(from);
            m.live.insert(to.to_owned(), inode);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut m = self.lock();
        Self::check(&mut m, OpKind::Remove, path)?;
        let inode = self.adopt(&mut m, path);
        if let Some(inode) = inode {
            self.unlink(&mut m, path, inode);
        }
        if let Err(e) = self.inner.remove_file(path) {
            if let Some(inode) = inode {
                m.live.insert(path.to_owned(), inode);
            }
            return Err(e);
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut m = self.lock();
        Self::check(&mut m, OpKind::SyncDir, dir)?;
        self.inner.sync_dir(dir)?;
        m.durable.retain(|p, _| p.parent() != Some(dir));
        let entries: Vec<(PathBuf, InodeId)> =
            m.live.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, &i)| (p.clone(), i)).collect();
        m.durable.extend(entries);
        let reachable: std::collections::HashSet<InodeId> = m.durable.values().copied().collect();
        m.retained.retain(|i, _| reachable.contains(i));
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::MemFs;

    use super::*;

    fn write(fs: &FaultFs, path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
        let mut f = fs.create(path)?;
        f.write_all(bytes)?;
        if sync { f.sync() } else { Ok(()) }
    }

    #[test]
    fn unsynced_bytes_and_unsynced_names_are_lost_at_a_crash() {
        let fs = FaultFs::new(MemFs::shared());
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        write(&fs, &dir.join("synced"), b"abc", true).unwrap();
        fs.sync_dir(dir).unwrap();
        write(&fs, &dir.join("new"), b"xyz", true).unwrap();
        let mut f = fs.open_append(&dir.join("synced")).unwrap();
        f.write_all(b"def").unwrap();
        drop(f);
        fs.crash().unwrap();
        assert_eq!(fs.read_all(&dir.join("synced")).unwrap(), b"abc");
        assert!(!fs.exists(&dir.join("new")), "a name never made durable by sync_dir survived");
    }

    #[test]
    fn an_unsynced_rename_or_remove_reverts() {
        let fs = FaultFs::new(MemFs::shared());
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        write(&fs, &dir.join("CURRENT"), b"old", true).unwrap();
        write(&fs, &dir.join("gone"), b"keep", true).unwrap();
        fs.sync_dir(dir).unwrap();
        write(&fs, &dir.join("CURRENT.tmp"), b"new", true).unwrap();
        fs.rename(&dir.join("CURRENT.tmp"), &dir.join("CURRENT")).unwrap();
        fs.remove_file(&dir.join("gone")).unwrap();
        assert_eq!(fs.read_all(&dir.join("CURRENT")).unwrap(), b"new");
        fs.crash().unwrap();
        assert_eq!(fs.read_all(&dir.join("CURRENT")).unwrap(), b"old");
        assert_eq!(fs.read_all(&dir.join("gone")).unwrap(), b"keep");
        assert!(!fs.exists(&dir.join("CURRENT.tmp")));

        write(&fs, &dir.join("CURRENT.tmp"), b"new", true).unwrap();
        fs.rename(&dir.join("CURRENT.tmp"), &dir.join("CURRENT")).unwrap();
        fs.sync_dir(dir).unwrap();
        fs.crash().unwrap();
        assert_eq!(fs.read_all(&dir.join("CURRENT")).unwrap(), b"new");
    }

    #[test]
    fn the_plan_fails_the_nth_operation_and_counts_every_kind() {
        let fs = FaultFs::new(MemFs::shared());
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        fs.fail_nth(OpKind::Write, 2, FaultError::Enospc);
        fs.fail_from(OpKind::Rename, 1, FaultError::Eio);
        let mut f = fs.create(&dir.join("a")).unwrap();
        f.write_all(b"1234").unwrap();
        let e = f.write_all(b"5678").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        f.write_all(b"9").unwrap();
        f.sync().unwrap();
        drop(f);
        // The failed write left half its bytes: a short write.
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"123456".iter().chain(b"9").copied().collect::<Vec<_>>());
        for _ in 0..3 {
            assert!(fs.rename(&dir.join("a"), &dir.join("b")).is_err(), "sticky rename faults keep failing");
        }
        assert!(fs.exists(&dir.join("a")));
        let counts = fs.counts();
        assert_eq!((counts.get(OpKind::Create), counts.get(OpKind::Write), counts.get(OpKind::Sync)), (1, 3, 1));
        assert_eq!((counts.get(OpKind::Rename), counts.faults_fired), (3, 4));
        fs.clear_faults();
        fs.rename(&dir.join("a"), &dir.join("b")).unwrap();
    }

    #[test]
    fn a_failed_sync_makes_nothing_durable_and_old_handles_die_at_a_crash() {
        let fs = FaultFs::new(MemFs::shared());
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let mut f = fs.create(&dir.join("a")).unwrap();
        fs.sync_dir(dir).unwrap();
        f.write_all(b"one").unwrap();
        f.sync().unwrap();
        f.write_all(b"two").unwrap();
        fs.fail_nth(OpKind::Sync, 2, FaultError::Eio);
        assert!(f.sync().is_err());
        fs.crash().unwrap();
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"one");
        assert!(f.write_all(b"x").is_err(), "a handle from before the crash must not write");
    }

    #[test]
    fn files_present_before_wrapping_are_durable() {
        let mem = MemFs::new();
        mem.put_file(Path::new("/d/old"), b"before".to_vec());
        mem.create_dir_all(Path::new("/d")).unwrap();
        let fs = FaultFs::new(Arc::new(mem));
        fs.remove_file(Path::new("/d/old")).unwrap();
        fs.crash().unwrap();
        assert_eq!(fs.read_all(Path::new("/d/old")).unwrap(), b"before");
    }
}
