//! `ParquetStore` does all its file I/O through the `FileSystem` it is given, and a write that
//! fails part way leaves neither a table nor a temporary file behind.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::fs::{FileLock, FileSystem, ReadableFile, WritableFile};
use strata_core::{Entry, KeyRange, MAX_SEQNO};
use strata_sstable::testing::MemFs;
use strata_sstable::{Error, ParquetOptions, ParquetStore, SsTableStore, is_temp_file};

/// Counts every operation and can fail the `fail_write_at`-th write or every sync.
#[derive(Debug, Default)]
struct Counts {
    create: AtomicU64,
    write: AtomicU64,
    sync: AtomicU64,
    rename: AtomicU64,
    sync_dir: AtomicU64,
    open_read: AtomicU64,
    read_at: AtomicU64,
    remove: AtomicU64,
    list: AtomicU64,
    /// 1-based index of the write call to fail; 0 for none.
    fail_write_at: AtomicU64,
    fail_sync: std::sync::atomic::AtomicBool,
}

fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

#[derive(Debug)]
struct CountingFs {
    inner: MemFs,
    counts: Arc<Counts>,
}

#[derive(Debug)]
struct CountingWritable {
    inner: Box<dyn WritableFile>,
    counts: Arc<Counts>,
}

impl Write for CountingWritable {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = bump(&self.counts.write);
        if n == get(&self.counts.fail_write_at) {
            return Err(io::Error::other("injected write failure"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl WritableFile for CountingWritable {
    fn sync(&mut self) -> io::Result<()> {
        bump(&self.counts.sync);
        if self.counts.fail_sync.load(Ordering::Relaxed) {
            return Err(io::Error::other("injected sync failure"));
        }
        self.inner.sync()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
}

#[derive(Debug)]
struct CountingReadable {
    inner: Arc<dyn ReadableFile>,
    counts: Arc<Counts>,
}

impl ReadableFile for CountingReadable {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        bump(&self.counts.read_at);
        self.inner.read_at(buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl FileSystem for CountingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        bump(&self.counts.create);
        Ok(Box::new(CountingWritable { inner: self.inner.create(path)?, counts: Arc::clone(&self.counts) }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(CountingWritable { inner: self.inner.open_append(path)?, counts: Arc::clone(&self.counts) }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        bump(&self.counts.open_read);
        Ok(Arc::new(CountingReadable { inner: self.inner.open_read(path)?, counts: Arc::clone(&self.counts) }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        bump(&self.counts.rename);
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        bump(&self.counts.remove);
        self.inner.remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        bump(&self.counts.list);
        self.inner.list_dir(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        bump(&self.counts.sync_dir);
        self.inner.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
}

/// A directory that does not exist on disk: anything the store reads or writes there can only
/// have gone through the in-memory file system.
fn dir() -> PathBuf {
    PathBuf::from("/nonexistent/strata-sstable-fs-test")
}

fn counting_fs() -> (Arc<dyn FileSystem>, MemFs, Arc<Counts>) {
    let mem = MemFs::new();
    let counts = Arc::new(Counts::default());
    (Arc::new(CountingFs { inner: mem.clone(), counts: Arc::clone(&counts) }), mem, counts)
}

/// Values of 256 hex digits of a xorshift stream, so pages barely compress and a table of
/// a few thousand entries takes several writes through the encoder's 1 MiB buffer.
fn entries(n: u64) -> Vec<Entry> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut value = || {
        (0..16)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{x:016x}")
            })
            .collect::<String>()
    };
    (0..n).map(|i| Entry::put(format!("key{i:06}"), i + 1, value())).collect()
}

fn options() -> ParquetOptions {
    ParquetOptions { page_rows: 64, row_group_rows: 1000, ..ParquetOptions::default() }
}

#[test]
fn every_read_and_write_goes_through_the_given_file_system() {
    let (fs, _mem, counts) = counting_fs();
    assert!(!dir().exists());
    let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("open");
    store.write_table(1, &mut entries(5000).into_iter().map(Ok)).expect("write");
    assert_eq!(get(&counts.create), 1);
    assert!(get(&counts.write) >= 1);
    assert_eq!(get(&counts.sync), 1, "the table file is synced once");
    assert_eq!(get(&counts.rename), 1, "the temporary file is renamed into place");
    assert_eq!(get(&counts.sync_dir), 1, "the rename is made durable");
    assert!(!dir().exists(), "nothing reached the real disk");

    // A new store (cold caches) on the same file system reads the table through it.
    let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("reopen");
    assert_eq!(store.list_tables().expect("list"), [1]);
    let reads = get(&counts.read_at);
    let found = store.get(1, b"key004321", MAX_SEQNO).expect("get").expect("present");
    assert_eq!(found.value, entries(5000)[4321].value);
    assert_eq!(get(&counts.open_read), 1);
    assert!(get(&counts.read_at) > reads, "the lookup read through the file system");
    assert_eq!(store.scan(1, &KeyRange::all()).expect("scan").count(), 5000);

    store.delete(1).expect("delete");
    assert_eq!(get(&counts.remove), 1);
    // Not synced: a table is deleted once no manifest names it, and an open deletes one a
    // crash brought back.
    assert_eq!(get(&counts.sync_dir), 1, "the removal is not synced");
    assert!(store.list_tables().expect("list").is_empty());
}

fn assert_no_trace(store: &ParquetStore, fs: &dyn FileSystem, what: &str) {
    assert!(store.list_tables().expect("list").is_empty(), "{what}: a table is listed");
    let names = fs.list_dir(&dir()).expect("list dir");
    assert!(names.is_empty(), "{what}: files left behind: {names:?}");
    assert!(matches!(store.open(1), Err(Error::NotFound { .. })), "{what}: table 1 opens");
}

#[test]
fn a_failed_write_or_sync_leaves_no_table_and_no_temp_file() {
    // How many write calls a whole table takes.
    let (fs, _mem, counts) = counting_fs();
    let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("open");
    store.write_table(1, &mut entries(8000).into_iter().map(Ok)).expect("write");
    let writes = get(&counts.write);
    assert!(writes >= 2, "{writes} writes");

    for fail_at in 1..=writes {
        let (fs, _mem, counts) = counting_fs();
        let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("open");
        counts.fail_write_at.store(fail_at, Ordering::Relaxed);
        let result = store.write_table(1, &mut entries(8000).into_iter().map(Ok));
        assert!(
            matches!(result, Err(Error::Io { .. } | Error::Encode { .. })),
            "write {fail_at} of {writes} failed, but write_table gave {result:?}"
        );
        assert_no_trace(&store, &*fs, &format!("failed write {fail_at}"));
        // The id is free again: the same table can be written now.
        store.write_table(1, &mut entries(10).into_iter().map(Ok)).expect("retry after a failed write");
        assert_eq!(store.list_tables().expect("list"), [1]);
    }

    let (fs, _mem, counts) = counting_fs();
    let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("open");
    counts.fail_sync.store(true, Ordering::Relaxed);
    let result = store.write_table(1, &mut entries(100).into_iter().map(Ok));
    assert!(matches!(result, Err(Error::Io { .. })), "failed sync gave {result:?}");
    assert_no_trace(&store, &*fs, "failed sync");
}

#[test]
fn a_crashed_writes_temp_file_is_not_a_table_and_is_removed_at_open() {
    let (fs, mem, _counts) = counting_fs();
    let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("open");
    store.write_table(3, &mut entries(10).into_iter().map(Ok)).expect("write");
    // What a crash in the middle of writing table 4 leaves, and a file that is not ours.
    mem.put_file(&dir().join("000004.parquet.tmp"), b"PAR1 half a table".to_vec());
    mem.put_file(&dir().join("MANIFEST-000001"), b"not a table".to_vec());
    assert!(is_temp_file("000004.parquet.tmp"));
    assert_eq!(store.list_tables().expect("list"), [3]);

    let store = ParquetStore::open_with_fs(Arc::clone(&fs), dir(), options()).expect("reopen");
    let mut names = fs.list_dir(&dir()).expect("list");
    names.sort();
    assert_eq!(names, ["000003.parquet", "MANIFEST-000001"]);
    assert_eq!(store.list_tables().expect("list"), [3]);
}
