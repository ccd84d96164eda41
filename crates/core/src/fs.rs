//! The file-system interface every Strata crate does its I/O through.
//!
//! Tables, the write-ahead log, the manifest and the lock file are all read and written
//! through a [`FileSystem`], so tests can put a fault-injecting implementation underneath
//! (failed writes and syncs, full disks, lost unsynced data) and check that nothing
//! acknowledged is lost. [`StdFs`] is the real one.
//!
//! The interface is deliberately small: whole-file creation and appends, positioned reads,
//! renames, deletes, directory listing and syncs, and an exclusive lock.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

#[cfg(target_os = "linux")]
mod mapped_log;

/// A file open for writing at its end.
pub trait WritableFile: Write + Send + Debug {
    /// Makes everything written so far durable (data and the metadata needed to read it).
    ///
    /// # Errors
    ///
    /// The OS error; after a failed sync the state of unsynced data is unknown.
    fn sync(&mut self) -> io::Result<()>;

    /// Cuts the file to `len` bytes and continues writing there.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// A file open for positioned reads, shareable between threads.
pub trait ReadableFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many, 0 at the end.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// The file's length in bytes.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Fills `buf` from `offset`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::UnexpectedEof`] when the file ends first, or the OS error.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file ended before the read")),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The whole file mapped into memory, when this file system can map it, so reads of it
    /// make no system call and copy nothing. `None` (the default) means reads go through
    /// [`Self::read_at`].
    ///
    /// Only files that are never written again may be mapped: the caller promises that, and
    /// Strata asks only for finished tables, which it never modifies, truncates or reuses
    /// (it deletes them; a deleted file stays readable through a map made before).
    ///
    /// # Errors
    ///
    /// The OS error of the mapping.
    fn map(&self) -> io::Result<Option<FileMap>> {
        Ok(None)
    }
}

/// A read-only map of a whole file, as [`ReadableFile::map`] makes it. [`Self::bytes`] hands
/// out its bytes (slices keep the map alive); [`Self::release`] lets the OS take pages a
/// reader has finished with out of this process's resident memory.
///
/// Only [`StdFs`] makes maps: a file system of its own reads through
/// [`ReadableFile::read_at`].
#[derive(Clone, Debug)]
pub struct FileMap(Arc<memmap2::Mmap>);

impl FileMap {
    /// The mapped bytes, as one [`bytes::Bytes`] sharing the map.
    #[must_use]
    pub fn bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from_owner(self.clone())
    }

    /// Lets the OS drop the pages of bytes `[offset, offset + len)` from this process's
    /// resident memory (`madvise(MADV_DONTNEED)`, from the page holding `offset`). The pages
    /// stay in the OS page cache, and reading them again maps them back in with the same
    /// bytes: nothing read through the map changes. A scan that will not come back releases
    /// what it has passed, so a compaction reading gigabytes of tables does not count them as
    /// this process's memory until it ends. Best effort: a failure is ignored, and off Unix
    /// nothing is done.
    pub fn release(&self, offset: usize, len: usize) {
        let len = len.min(self.0.len().saturating_sub(offset));
        if len == 0 {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: `memmap2::Mmap::map` maps the file shared and read only (MAP_SHARED,
            // PROT_READ). MADV_DONTNEED on such a mapping removes only this process's page
            // table entries for the pages: the next access faults them back in from the page
            // cache, holding the file's bytes, which do not change while the map exists (the
            // contract of `ReadableFile::map`). So every reference into the map, held by any
            // thread, reads the same bytes before and after. The range lies inside the map:
            // memmap2 checks `offset` and `len` each against its length, and `len` is clamped
            // above so their sum does too (madvise past the map would reach another mapping).
            let _ = unsafe { self.0.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
        }
    }
}

impl AsRef<[u8]> for FileMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A held exclusive lock; dropping it releases the lock.
pub trait FileLock: Send + Sync + Debug {}

/// Where Strata's files live.
pub trait FileSystem: Send + Sync + Debug + 'static {
    /// Creates `dir` and its parents if missing.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Creates `path` empty for writing, replacing any file there.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;

    /// Creates `path` empty for a log: a file written only by appends, many of them small,
    /// and read back only once nothing writes it any more. An append must be as safe as
    /// [`create`](Self::create)'s once it returns (the process may then be killed without
    /// losing it), but the file may reserve space past its end, which reads as zero bytes
    /// until the file is dropped and stays if the process stops before: a reader of a log
    /// takes a run of zeros to its end as the end. The default is [`create`](Self::create);
    /// [`StdFs`] on Linux appends through a shared map of space reserved ahead (no system
    /// call per append).
    ///
    /// # Errors
    ///
    /// The OS error.
    fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.create(path)
    }

    /// Opens an existing file to append to it.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] when it does not exist, or the OS error.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;

    /// Opens an existing file for reading.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] when it does not exist, or the OS error.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>>;

    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Deletes a file.
    ///
    /// # Errors
    ///
    /// The OS error, [`io::ErrorKind::NotFound`] included.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Deletes an orphan: a table file that the manifest read when the database was opened
    /// did not name (left by a compaction whose inputs were not yet deleted, or by a flush
    /// or compaction cut short). A file system that keeps deleted tables for a grace period
    /// (an object store, for readers of older manifests) may count that period from the
    /// commit of that manifest rather than from now. The default is
    /// [`remove_file`](Self::remove_file).
    ///
    /// # Errors
    ///
    /// As [`remove_file`](Self::remove_file).
    fn remove_orphan_file(&self, path: &Path) -> io::Result<()> {
        self.remove_file(path)
    }

    /// Makes `to` a second name (a hard link) for the existing file `from`, so the file's
    /// data lives on while either name does. Checkpoints use it to share immutable tables
    /// instead of copying them. The default, for file systems without links, fails with
    /// [`io::ErrorKind::Unsupported`], and callers fall back to copying.
    ///
    /// # Errors
    ///
    /// The OS error (`to` already exists, `from` and `to` on different devices, ...), or
    /// [`io::ErrorKind::Unsupported`].
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::new(io::ErrorKind::Unsupported, "this file system has no hard links"))
    }

    /// The names of the entries of `dir`, in no particular order.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;

    /// Makes the directory's entries (creations, renames, deletions) durable.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Takes an exclusive lock on `path` (created if missing), failing at once if another
    /// process or handle holds it.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WouldBlock`] when the lock is held elsewhere, or the OS error.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;

    /// Reads a whole file.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open_read(path)?;
        let len = usize::try_from(file.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::FileTooLarge, "file larger than memory"))?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// The real file system, through `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

impl StdFs {
    /// The real file system, shared.
    #[must_use]
    pub fn shared() -> Arc<dyn FileSystem> {
        Arc::new(Self)
    }
}

#[derive(Debug)]
struct StdWritable {
    file: File,
}

impl Write for StdWritable {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl WritableFile for StdWritable {
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        use std::io::Seek;
        self.file.set_len(len)?;
        self.file.seek(io::SeekFrom::Start(len))?;
        Ok(())
    }
}

#[derive(Debug)]
struct StdReadable {
    file: File,
}

impl ReadableFile for StdReadable {
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
    }

    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn map(&self) -> io::Result<Option<FileMap>> {
        if self.len()? == 0 {
            // An empty file has nothing to map (and mmap refuses a zero length).
            return Ok(None);
        }
        // SAFETY: a map is a view of the file's bytes, which the program must not see change
        // while the map exists. The contract of `ReadableFile::map` is that only files never
        // written again are mapped, and Strata maps only finished table files, which no Strata
        // code writes, truncates or renames over after they are published (they are only
        // deleted, and a deleted file keeps its pages for the maps made before). Another
        // process writing to the file would break this, as it would corrupt the database
        // anyway; truncating it would make reads past the new end fail with SIGBUS. The map
        // is read-only (PROT_READ), so nothing here can write through it.
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        Ok(Some(FileMap(Arc::new(map))))
    }
}

#[derive(Debug)]
struct StdLock {
    _file: File,
}

impl FileLock for StdLock {}

impl FileSystem for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        Ok(Box::new(StdWritable { file }))
    }

    fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        #[cfg(target_os = "linux")]
        {
            // A shared map needs the file open for reading too.
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
            match mapped_log::MappedLog::new(file) {
                Ok(log) => Ok(Box::new(log)),
                // A file system that cannot reserve space ahead (or map it) is written to.
                Err((file, _)) => Ok(Box::new(StdWritable { file })),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.create(path)
        }
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdWritable { file }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        Ok(Arc::new(StdReadable { file: File::open(path)? }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            // Directory handles cannot be synced on this platform; renames are durable once
            // the OS says so.
            let _ = dir;
            Ok(())
        }
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(StdLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", path.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("strata-core-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_append_read_rename_remove() {
        let fs = StdFs;
        let dir = temp_dir("basic");
        let a = dir.join("a");
        let mut w = fs.create(&a).unwrap();
        w.write_all(b"hello ").unwrap();
        w.sync().unwrap();
        drop(w);
        let mut w = fs.open_append(&a).unwrap();
        w.write_all(b"world").unwrap();
        w.sync().unwrap();
        drop(w);
        assert_eq!(fs.read_all(&a).unwrap(), b"hello world");
        let r = fs.open_read(&a).unwrap();
        let mut buf = [0; 5];
        r.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        assert_eq!(r.read_exact_at(&mut buf, 8).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);

        let mut w = fs.open_append(&a).unwrap();
        w.truncate(5).unwrap();
        w.write_all(b"!").unwrap();
        drop(w);
        assert_eq!(fs.read_all(&a).unwrap(), b"hello!");

        let b = dir.join("b");
        fs.rename(&a, &b).unwrap();
        fs.sync_dir(&dir).unwrap();
        assert!(!fs.exists(&a) && fs.exists(&b));
        assert_eq!(fs.list_dir(&dir).unwrap(), vec!["b".to_owned()]);
        fs.remove_file(&b).unwrap();
        assert_eq!(fs.open_read(&b).unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A synced file `table` in `dir` of `len` patterned bytes, and those bytes.
    fn finished_file(dir: &Path, len: u32) -> (std::path::PathBuf, Vec<u8>) {
        let path = dir.join("table");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = StdFs.create(&path).unwrap();
        w.write_all(&data).unwrap();
        w.sync().unwrap();
        (path, data)
    }

    /// The map's `unsafe` block: the mapped bytes are the file's, slices of them stay valid
    /// after the file handle is dropped and the file deleted, and an empty file is not mapped.
    #[test]
    fn a_finished_file_maps_to_its_bytes_and_outlives_its_deletion() {
        let fs = StdFs;
        let dir = temp_dir("map");
        let (path, data) = finished_file(&dir, 10_000);
        let r = fs.open_read(&path).unwrap();
        let file_map = r.map().unwrap().expect("a local file maps");
        let map = file_map.bytes();
        assert_eq!(&map[..], &data[..]);
        let slice = map.slice(4000..4100);
        drop((r, map, file_map));
        fs.remove_file(&path).unwrap();
        assert_eq!(&slice[..], &data[4000..4100]);

        let empty = dir.join("empty");
        drop(fs.create(&empty).unwrap());
        assert!(fs.open_read(&empty).unwrap().map().unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The release's `unsafe` block: released pages read back the file's bytes, through
    /// slices taken before and after, and ranges reaching past the map are clamped to it.
    #[test]
    fn released_pages_read_back_the_same_bytes() {
        let fs = StdFs;
        let dir = temp_dir("release");
        let (path, data) = finished_file(&dir, 100_000);
        let map = fs.open_read(&path).unwrap().map().unwrap().expect("a local file maps");
        let before = map.bytes().slice(5000..70_000);
        assert_eq!(&before[..], &data[5000..70_000]);
        map.release(4096, 60_000);
        map.release(1, data.len());
        map.release(90_000, usize::MAX);
        map.release(data.len(), 10);
        map.release(usize::MAX, usize::MAX);
        assert_eq!(&before[..], &data[5000..70_000]);
        assert_eq!(&map.bytes()[..], &data[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let fs = StdFs;
        let dir = temp_dir("lock");
        let path = dir.join("LOCK");
        let held = fs.lock(&path).unwrap();
        assert_eq!(fs.lock(&path).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(held);
        let _again = fs.lock(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
