//! [`ObjectFs`]: the file system a Parquet table store runs on when its tables live in an
//! object store.
//!
//! The table store keeps working as it does on a local disk; this file system decides where
//! each path goes. A table file (`<table dir>/NNNNNN.parquet`) is an object under
//! `<prefix>/tables/`; everything else (the temporary file a table is written to, the log,
//! the lock, a checkpoint) is a local file.
//!
//! * Writing a table: the store writes and syncs a local temporary file and renames it to
//!   the table's name. The rename checks that the file is a complete Parquet file (its
//!   magic at both ends) and uploads it (one PUT with `If-None-Match: *`,
//!   or a multipart upload past [`ObjectOptions::multipart_part_bytes`](crate::ObjectOptions))
//!   and moves the local file into the disk cache. Until the upload succeeds no table of
//!   that name exists, so no manifest can name half a table.
//! * Reading a table: opening fetches the file's tail (footer, page index, filters) in one
//!   ranged GET ([`ObjectOptions::tail_prefetch_bytes`](crate::ObjectOptions)); every later read is a ranged GET of exactly the bytes asked for (one page
//!   of one column, for a point lookup), unless the disk cache has them.
//! * Deleting a table waits out the grace period first, so a reader still using an older
//!   manifest keeps its files. A doom marker in the bucket dates the delete, so a writer
//!   that finds the table as an orphan later counts from there (see [`crate::orphans`]),
//!   and writers that each run for less than the grace period still delete what earlier
//!   ones left. The requests run on a thread of their own (`strata-reaper`), never on the
//!   thread that drops a table (often a reader's); closing the database lets it put the
//!   markers it was handed.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use object_store::path::Path as ObjPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use strata_core::fs::{FileLock, FileSystem, ReadableFile, StdFs, WritableFile};

use crate::RemoteInner;
use crate::cache::DiskCache;
use crate::orphans::OrphanClock;
use crate::runtime::{block_on, block_on_read, delete_object, io_error, list_all};
use crate::stats::bump;

/// The file system of one opener's table store. See the module docs.
pub struct ObjectFs {
    remote: Arc<RemoteInner>,
    local: Arc<dyn FileSystem>,
    table_dir: PathBuf,
    cache: Arc<DiskCache>,
    /// The writer's manifest times, for orphans' grace period.
    clock: Arc<OrphanClock>,
    /// The thread that marks doomed tables and deletes them, started by the first delete,
    /// and the channel to it.
    reaper: Mutex<Option<(mpsc::Sender<Doomed>, std::thread::JoinHandle<()>)>>,
    /// The doom markers in the bucket, listed at the first orphan (one LIST for all of
    /// them): each table's name and its marker's `Last-Modified` in milliseconds; `None`
    /// when the listing failed.
    markers: OnceLock<Option<HashMap<String, i64>>>,
}

/// A table to delete once its grace period is over.
struct Doomed {
    due: Instant,
    object: ObjPath,
    name: String,
    /// Whether its doom marker is still to be put.
    mark: bool,
}

impl fmt::Debug for ObjectFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectFs").field("url", &self.remote.url).field("table_dir", &self.table_dir).finish()
    }
}

impl ObjectFs {
    pub(crate) fn new(
        remote: Arc<RemoteInner>,
        table_dir: PathBuf,
        cache: Arc<DiskCache>,
        clock: Arc<OrphanClock>,
    ) -> Self {
        Self {
            remote,
            local: StdFs::shared(),
            table_dir,
            cache,
            clock,
            reaper: Mutex::default(),
            markers: OnceLock::new(),
        }
    }

    /// The object and file name of `path` when it is a table file of the table directory.
    fn table(&self, path: &Path) -> Option<(ObjPath, String)> {
        if path.parent()? != self.table_dir {
            return None;
        }
        let name = path.file_name()?.to_str()?;
        strata_sstable::table_id_from_file_name(name)?;
        Some((self.remote.tables_dir().join(name), name.to_owned()))
    }

    /// Dooms table file `path` (a table of the table directory; a local file is deleted at
    /// once), obsolete for `age` already, its doom marker still to be put when `mark`. The
    /// reaper thread takes it from there, so the caller (often a reader dropping the last
    /// reference to a table) makes no request.
    fn doom(&self, path: &Path, age: Duration, mark: bool) -> io::Result<()> {
        let Some((object, name)) = self.table(path) else {
            return self.local.remove_file(path);
        };
        let due = Instant::now() + self.remote.options.gc_grace.saturating_sub(age);
        let mut reaper = self.reaper.lock().unwrap_or_else(PoisonError::into_inner);
        if reaper.is_none() {
            let (tx, rx) = mpsc::channel();
            let (remote, cache) = (Arc::clone(&self.remote), Arc::clone(&self.cache));
            let thread = std::thread::Builder::new()
                .name("strata-reaper".into())
                .spawn(move || reap(&remote, &cache, &rx))
                .map_err(|e| io::Error::other(format!("could not start the thread that deletes tables: {e}")))?;
            *reaper = Some((tx, thread));
        }
        if let Some((tx, _)) = &*reaper {
            // NOTE: the receiver lives until the sender is dropped (in `drop`), so this
            // cannot fail.
            let _ = tx.send(Doomed { due, object, name, mark });
        }
        Ok(())
    }

    /// How long orphan `name` has been obsolete, at least, and whether a doom marker is to
    /// be put for it: since its marker (a writer doomed it then), or else since the manifest
    /// read at open (and a marker is put). When the markers could not be listed: as if
    /// doomed now, and a marker the table may have is kept.
    fn orphan_age(&self, name: &str) -> (Duration, bool) {
        let markers = self.markers.get_or_init(|| {
            let remote = &self.remote;
            match list_all(&*remote.store, &remote.doomed_dir(), remote.options.read_retries(), &remote.counters.lists)
            {
                Ok(metas) => Some(
                    metas
                        .iter()
                        .filter_map(|m| Some((m.location.filename()?.to_owned(), m.last_modified.timestamp_millis())))
                        .collect(),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not list the doom markers; orphans wait out the grace period");
                    None
                }
            }
        });
        match markers.as_ref().map(|m| m.get(name)) {
            Some(Some(&millis)) => (self.clock.age_since(millis), false),
            Some(None) => (self.clock.orphan_age(), true),
            None => (Duration::ZERO, false),
        }
    }

    /// Uploads the finished local file `from` as `object`, then keeps it in the disk cache.
    /// A file that does not start and end with Parquet's magic is not a finished table and
    /// is refused.
    fn upload(&self, from: &Path, object: &ObjPath, name: &str) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut file = std::fs::File::open(from)?;
        let len = file.metadata()?.len();
        let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
        let complete = len >= 12
            && file.read_exact_at(&mut head, 0).is_ok()
            && file.read_exact_at(&mut tail, len - 4).is_ok()
            && &head == b"PAR1"
            && &tail == b"PAR1";
        if !complete {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a complete Parquet file; not uploading it as {object}", from.display()),
            ));
        }
        let part = self.remote.options.multipart_part_bytes.max(5 << 20) as u64;
        let mut crc = crc32fast::Hasher::new();
        let store = &self.remote.store;
        if len <= part {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)?;
            crc.update(&bytes);
            bump(&self.remote.counters.puts, 1);
            bump(&self.remote.counters.put_bytes, len);
            let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
            block_on(store.put_opts(object, PutPayload::from(bytes), opts))?.map_err(io_error)?;
        } else {
            block_on(async {
                let upload = store.put_multipart(object).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, part as usize);
                let mut buf = vec![0u8; part as usize];
                loop {
                    let n = read_full(&mut file, &mut buf)
                        .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
                    if n == 0 {
                        break;
                    }
                    crc.update(&buf[..n]);
                    writer.wait_for_capacity(2).await?;
                    bump(&self.remote.counters.puts, 1);
                    bump(&self.remote.counters.put_bytes, n as u64);
                    writer.write(&buf[..n]);
                }
                writer.finish().await.map(|_| ())
            })?
            .map_err(io_error)?;
        }
        let crc = crc.finalize();
        if let Err(e) = self.cache.insert_full(name, from, len, crc) {
            tracing::warn!(table = name, error = %e, "could not keep an uploaded table in the cache");
            let _ = std::fs::remove_file(from);
        }
        Ok(())
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn unsupported(what: &str, path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("{what} {} in an object store", path.display()))
}

impl FileSystem for ObjectFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.local.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        match self.table(path) {
            // Tables are written to a temporary file and renamed; never in place.
            Some(_) => Err(unsupported("cannot write in place", path)),
            None => self.local.create(path),
        }
    }

    fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        match self.table(path) {
            Some(_) => Err(unsupported("cannot write in place", path)),
            None => self.local.create_log(path),
        }
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        match self.table(path) {
            Some(_) => Err(unsupported("cannot append to", path)),
            None => self.local.open_append(path),
        }
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        let Some((object, name)) = self.table(path) else {
            return self.local.open_read(path);
        };
        if let Some(file) = self.cache.full_file(&name)? {
            // The whole table is on local disk: reads are plain `pread`s.
            let len = file.metadata()?.len();
            return Ok(Arc::new(CachedFile { file, len, remote: Arc::clone(&self.remote) }));
        }
        // One GET of the tail: the object's length, and the footer and filters the store
        // reads next.
        let counters = &self.remote.counters;
        let opts = GetOptions {
            range: Some(GetRange::Suffix(self.remote.options.tail_prefetch_bytes.max(8))),
            ..GetOptions::default()
        };
        let (len, tail) = block_on_read(self.remote.options.read_retries(), &counters.gets, || async {
            let got = self.remote.store.get_opts(&object, opts.clone()).await?;
            let size = got.meta.size;
            Ok::<_, object_store::Error>((size, got.bytes().await?))
        })?
        .map_err(io_error)?;
        bump(&counters.get_bytes, tail.len() as u64);
        let file = ObjectFile {
            remote: Arc::clone(&self.remote),
            cache: Arc::clone(&self.cache),
            object,
            name,
            len,
            streams: Mutex::default(),
        };
        if !tail.is_empty() {
            file.cache.insert_range(&file.name, len - tail.len() as u64, &tail);
            file.keep(len - tail.len() as u64, len, tail);
        }
        Ok(Arc::new(file))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self.table(to) {
            Some((object, name)) => {
                self.upload(from, &object, &name)?;
                Ok(())
            }
            None => self.local.rename(from, to),
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.doom(path, Duration::ZERO, true)
    }

    fn remove_orphan_file(&self, path: &Path) -> io::Result<()> {
        let (age, mark) = self.table(path).map_or((Duration::ZERO, false), |(_, name)| self.orphan_age(&name));
        self.doom(path, age, mark)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self.table(from) {
            // The store copies instead.
            Some(_) => Err(unsupported("cannot hard-link", from)),
            None => self.local.hard_link(from, to),
        }
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = self.local.list_dir(dir)?;
        if dir == self.table_dir {
            let remote = &self.remote;
            let listed =
                list_all(&*remote.store, &remote.tables_dir(), remote.options.read_retries(), &remote.counters.lists)?;
            names.extend(listed.iter().filter_map(|m| m.location.filename().map(str::to_owned)));
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let Some((object, name)) = self.table(path) else {
            return self.local.exists(path);
        };
        if self.cache.full_len(&name).is_some() {
            return true;
        }
        bump(&self.remote.counters.heads, 1);
        // An error other than "not found" counts as existing: the write that asked is then
        // refused rather than risking an overwrite.
        !matches!(block_on(self.remote.store.head(&object)), Ok(Err(object_store::Error::NotFound { .. })))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.local.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.local.lock(path)
    }
}

impl Drop for ObjectFs {
    /// Lets the reaper put the markers it was handed and delete what is due, then stops it;
    /// tables still in their grace period are left to the next writer, which finds them as
    /// orphans and their markers with them.
    fn drop(&mut self) {
        let reaper = self.reaper.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((tx, thread)) = reaper {
            drop(tx);
            if thread.join().is_err() {
                tracing::warn!("the thread that deletes tables panicked");
            }
        }
    }
}

/// The doom marker of table `name` (see [`crate::orphans`]).
fn marker(remote: &RemoteInner, name: &str) -> ObjPath {
    remote.doomed_dir().join(name)
}

/// The reaper thread: puts each doomed table's marker as it comes, dated by the store
/// (without it a writer that finds the table as an orphan counts from its own open, so a
/// failure is only logged), and deletes each table, then its marker, once its grace period
/// is over. Ends, after the markers it was handed and the deletes due, when the sender goes.
fn reap(remote: &RemoteInner, cache: &DiskCache, rx: &mpsc::Receiver<Doomed>) {
    let mut waiting: Vec<Doomed> = Vec::new();
    loop {
        let next_due = waiting.iter().map(|d| d.due).min();
        let got = match next_due {
            Some(due) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let closed = match got {
            Ok(doomed) => {
                if doomed.mark {
                    bump(&remote.counters.puts, 1);
                    let put = block_on(remote.store.put(&marker(remote, &doomed.name), PutPayload::new()));
                    if let Err(e) = put.and_then(|r| r.map_err(io_error)) {
                        tracing::warn!(table = doomed.name, error = %e, "could not mark a table doomed");
                    }
                }
                waiting.push(doomed);
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|d| d.due <= now);
        waiting = keep;
        for d in due {
            delete_doomed(remote, cache, &d);
        }
        if closed {
            return;
        }
    }
}

/// Deletes doomed table `d`, then its marker: a marker left by a failure here only costs an
/// empty object, a table without its marker the wait again.
fn delete_doomed(remote: &RemoteInner, cache: &DiskCache, d: &Doomed) {
    let deletes = &remote.counters.deletes;
    if let Err(e) = delete_object(&*remote.store, &d.object, deletes) {
        tracing::warn!(table = d.name, error = %e, "could not delete an obsolete table");
        return;
    }
    cache.remove(&d.name);
    if let Err(e) = delete_object(&*remote.store, &marker(remote, &d.name), deletes) {
        tracing::warn!(table = d.name, error = %e, "could not delete a doom marker");
    }
}

/// A table whose whole copy is in the disk cache.
struct CachedFile {
    file: Arc<std::fs::File>,
    len: u64,
    remote: Arc<RemoteInner>,
}

impl fmt::Debug for CachedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedFile").field("len", &self.len).finish()
    }
}

impl ReadableFile for CachedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        bump(&self.remote.counters.cache_hits, 1);
        self.file.read_at(buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

/// A read continues a stream when it starts near where the stream's last read ended: the
/// pages of a column chunk lie back to back, so a scan's reads do (give or take the
/// checksum blocks around a page), and point lookups, which land anywhere, almost never.
fn continues(stream: &Stream, offset: u64) -> bool {
    offset + CONTINUE_BEFORE >= stream.next && offset <= stream.next + CONTINUE_AFTER
}

/// How far before and after a stream's end a read may start and still continue it.
const CONTINUE_BEFORE: u64 = 4 << 10;
const CONTINUE_AFTER: u64 = 8 << 10;

/// The smallest readahead budget, whatever `readahead_bytes` says.
const MIN_READAHEAD_BUDGET: u64 = 64 << 10;
/// Read streams one file remembers (a scan reads its columns' pages side by side).
const STREAMS: usize = 8;

/// Bytes fetched for one stream of reads: what a later read inside them is served from.
#[derive(Debug)]
struct Stream {
    start: u64,
    bytes: bytes::Bytes,
    /// Where the stream's last read ended.
    next: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Streams {
    streams: Vec<Stream>,
    clock: u64,
}

/// A table in the object store, read by ranged GETs through the disk cache.
///
/// A read that continues an earlier one (a scan or a compaction walking pages in order)
/// fetches [`ObjectOptions::readahead_bytes`](crate::ObjectOptions) at once, so a scan
/// costs a GET per megabyte, not per page; any other read fetches exactly its bytes (one
/// page, for a point lookup). What was fetched is kept in memory per stream, within a
/// process-wide budget, and in the disk cache.
struct ObjectFile {
    remote: Arc<RemoteInner>,
    cache: Arc<DiskCache>,
    object: ObjPath,
    name: String,
    len: u64,
    streams: Mutex<Streams>,
}

impl fmt::Debug for ObjectFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectFile").field("object", &self.object.as_ref()).field("len", &self.len).finish()
    }
}

impl ObjectFile {
    fn streams(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `buf` at `offset` from a stream's bytes, if one holds them all.
    fn read_from_streams(&self, buf: &mut [u8], offset: u64) -> bool {
        let mut s = self.streams();
        s.clock += 1;
        let clock = s.clock;
        let end = offset + buf.len() as u64;
        let Some(stream) =
            s.streams.iter_mut().find(|st| st.start <= offset && end <= st.start + st.bytes.len() as u64)
        else {
            return false;
        };
        let at = (offset - stream.start) as usize;
        buf.copy_from_slice(&stream.bytes[at..at + buf.len()]);
        stream.next = end;
        stream.last_used = clock;
        true
    }

    /// Whether a read at `offset` continues a stream.
    fn continues_a_stream(&self, offset: u64) -> bool {
        self.streams().streams.iter().any(|st| continues(st, offset))
    }

    /// Keeps `bytes` (the file at `start`; a read ended at `next`) as a stream, replacing the
    /// stream it continues or the least recently used one. Bytes over the process-wide
    /// readahead budget are not kept.
    fn keep(&self, start: u64, next: u64, bytes: bytes::Bytes) {
        let mut s = self.streams();
        s.clock += 1;
        let clock = s.clock;
        let victim = s.streams.iter().position(|st| continues(st, start)).or_else(|| {
            (s.streams.len() >= STREAMS)
                .then(|| s.streams.iter().enumerate().min_by_key(|(_, st)| st.last_used).map_or(0, |(i, _)| i))
        });
        if let Some(i) = victim {
            let old = s.streams.swap_remove(i);
            self.remote.readahead_held.fetch_sub(old.bytes.len() as u64, Ordering::Relaxed);
        }
        let budget = self.remote.options.readahead_bytes.saturating_mul(READAHEAD_BUDGET_FACTOR);
        let held = self.remote.readahead_held.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if held + bytes.len() as u64 > budget.max(MIN_READAHEAD_BUDGET) {
            self.remote.readahead_held.fetch_sub(bytes.len() as u64, Ordering::Relaxed);
            return;
        }
        s.streams.push(Stream { start, bytes, next, last_used: clock });
    }
}

/// The readahead bytes all open files may hold together, in units of one readahead.
const READAHEAD_BUDGET_FACTOR: u64 = 64;

impl Drop for ObjectFile {
    fn drop(&mut self) {
        let held: u64 = self.streams().streams.iter().map(|st| st.bytes.len() as u64).sum();
        self.remote.readahead_held.fetch_sub(held, Ordering::Relaxed);
    }
}

impl ReadableFile for ObjectFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        let buf = &mut buf[..n];
        if self.read_from_streams(buf, offset) {
            bump(&self.remote.counters.cache_hits, 1);
            return Ok(n);
        }
        if self.cache.read(&self.name, offset, buf)? {
            return Ok(n);
        }
        let fetch = if self.continues_a_stream(offset) {
            (n as u64).max(self.remote.options.readahead_bytes).min(self.len - offset)
        } else {
            n as u64
        };
        let counters = &self.remote.counters;
        let bytes = block_on_read(self.remote.options.read_retries(), &counters.gets, || {
            self.remote.store.get_range(&self.object, offset..offset + fetch)
        })?
        .map_err(io_error)?;
        bump(&counters.get_bytes, bytes.len() as u64);
        if (bytes.len() as u64) != fetch {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("asked {} for {fetch} bytes at {offset}, got {}", self.object, bytes.len()),
            ));
        }
        buf.copy_from_slice(&bytes[..n]);
        self.cache.insert_range(&self.name, offset, &bytes);
        self.keep(offset, offset + n as u64, bytes);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test")]

    use std::io::Write;

    use super::*;
    use crate::{ObjectOptions, Remote};

    fn object_fs(dir: &Path) -> (Remote, ObjectFs) {
        let remote = Remote::connect("memory://fs", ObjectOptions::default()).unwrap();
        let cache = Arc::new(DiskCache::open(&dir.join("cache"), 1 << 20, Arc::default()).unwrap());
        let fs = ObjectFs::new(Arc::clone(&remote.inner), dir.join("tables"), cache, Arc::default());
        fs.create_dir_all(&dir.join("tables")).unwrap();
        (remote, fs)
    }

    #[test]
    fn only_a_complete_parquet_file_is_uploaded_and_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, fs) = object_fs(dir.path());
        let (tmp, table) = (dir.path().join("tables/000007.parquet.tmp"), dir.path().join("tables/000007.parquet"));
        let mut f = fs.create(&tmp).unwrap();
        f.write_all(b"PAR1 but cut short").unwrap();
        drop(f);
        let err = fs.rename(&tmp, &table).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(!fs.exists(&table), "nothing was uploaded");
        assert_eq!(remote.stats().puts, 0);

        let mut f = fs.create(&tmp).unwrap();
        f.write_all(b"PAR1 a table's bytes PAR1").unwrap();
        drop(f);
        fs.rename(&tmp, &table).unwrap();
        assert!(fs.exists(&table));
        assert_eq!(fs.list_dir(&dir.path().join("tables")).unwrap(), vec!["000007.parquet".to_owned()]);
        let file = fs.open_read(&table).unwrap();
        let mut buf = [0u8; 5];
        file.read_exact_at(&mut buf, 5).unwrap();
        assert_eq!(&buf, b"a tab");
        // Other paths stay local.
        assert!(fs.table(&dir.path().join("000007.parquet")).is_none());
        assert!(fs.table(&dir.path().join("tables/000007.parquet.tmp")).is_none());
    }
}
