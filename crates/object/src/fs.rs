//! [`ObjectFs`]: the file system a Parquet table store runs on when its tables live in an
//! object store.
//!
//! The table store keeps working as it does on a local disk; this file system decides where
//! each path goes. A table file (`<table dir>/NNNNNN.parquet`) is an object under
//! `<prefix>/tables/`; everything else (the temporary file a table is written to, the log,
//! the lock, a checkpoint) is a local file.
//!
//! * Writing a table: the store writes and syncs a local temporary file and renames it to
//!   the table's name. The rename uploads the finished file (one PUT with `If-None-Match: *`,
//!   or a multipart upload past [`ObjectOptions::multipart_part_bytes`](crate::ObjectOptions))
//!   and moves the local file into the disk cache. Until the upload succeeds no table of
//!   that name exists, so no manifest can name half a table.
//! * Reading a table: opening fetches the file's tail (footer, page index, filters) in one
//!   ranged GET ([`ObjectOptions::tail_prefetch_bytes`](crate::ObjectOptions)); every later read is a ranged GET of exactly the bytes asked for (one page
//!   of one column, for a point lookup), unless the disk cache has them.
//! * Deleting a table waits out the grace period first, so a reader still using an older
//!   manifest keeps its files.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use strata_core::fs::{FileLock, FileSystem, ReadableFile, StdFs, WritableFile};

use crate::RemoteInner;
use crate::cache::DiskCache;
use crate::runtime::{block_on, io_error};
use crate::stats::bump;

/// The file system of one opener's table store. See the module docs.
pub struct ObjectFs {
    remote: Arc<RemoteInner>,
    local: Arc<dyn FileSystem>,
    table_dir: PathBuf,
    cache: Arc<DiskCache>,
    /// Tables to delete once their grace period is over.
    doomed: Mutex<Vec<(Instant, ObjPath, String)>>,
}

impl fmt::Debug for ObjectFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectFs").field("url", &self.remote.url).field("table_dir", &self.table_dir).finish()
    }
}

impl ObjectFs {
    pub(crate) fn new(remote: Arc<RemoteInner>, table_dir: PathBuf, cache: Arc<DiskCache>) -> Self {
        Self { remote, local: StdFs::shared(), table_dir, cache, doomed: Mutex::default() }
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

    /// Deletes the doomed tables whose grace period is over.
    fn reap(&self) {
        let now = Instant::now();
        let due: Vec<_> = {
            let mut doomed = self.doomed.lock().unwrap_or_else(PoisonError::into_inner);
            let (due, keep) =
                doomed.drain(..).partition(|(at, _, _)| now.duration_since(*at) >= self.remote.options.gc_grace);
            *doomed = keep;
            due
        };
        for (_, object, name) in due {
            bump(&self.remote.counters.deletes, 1);
            match block_on(self.remote.store.delete(&object)) {
                Ok(Ok(()) | Err(object_store::Error::NotFound { .. })) => self.cache.remove(&name),
                Ok(Err(e)) => tracing::warn!(table = name, error = %e, "could not delete an obsolete table"),
                Err(e) => tracing::warn!(table = name, error = %e, "could not delete an obsolete table"),
            }
        }
    }

    /// Uploads the finished local file `from` as `object`, then keeps it in the disk cache.
    fn upload(&self, from: &Path, object: &ObjPath, name: &str) -> io::Result<()> {
        let mut file = std::fs::File::open(from)?;
        let len = file.metadata()?.len();
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
        let len = match self.cache.full_len(&name) {
            Some(len) => len,
            None => {
                // One GET of the tail: the object's length, and the footer and filters the
                // store reads next.
                let counters = &self.remote.counters;
                bump(&counters.gets, 1);
                let opts = GetOptions {
                    range: Some(GetRange::Suffix(self.remote.options.tail_prefetch_bytes.max(8))),
                    ..GetOptions::default()
                };
                let (size, tail) = block_on(async {
                    let got = self.remote.store.get_opts(&object, opts).await?;
                    let size = got.meta.size;
                    Ok::<_, object_store::Error>((size, got.bytes().await?))
                })?
                .map_err(io_error)?;
                bump(&counters.get_bytes, tail.len() as u64);
                if !tail.is_empty() {
                    self.cache.insert_range(&name, size - tail.len() as u64, &tail);
                }
                size
            }
        };
        Ok(Arc::new(ObjectFile { remote: Arc::clone(&self.remote), cache: Arc::clone(&self.cache), object, name, len }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self.table(to) {
            Some((object, name)) => {
                self.upload(from, &object, &name)?;
                self.reap();
                Ok(())
            }
            None => self.local.rename(from, to),
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match self.table(path) {
            Some((object, name)) => {
                self.doomed.lock().unwrap_or_else(PoisonError::into_inner).push((Instant::now(), object, name));
                self.reap();
                Ok(())
            }
            None => self.local.remove_file(path),
        }
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
            bump(&self.remote.counters.lists, 1);
            let listed: Vec<_> =
                block_on(self.remote.store.list(Some(&self.remote.tables_dir())).try_collect::<Vec<_>>())?
                    .map_err(io_error)?;
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

/// A table in the object store, read by ranged GETs through the disk cache.
struct ObjectFile {
    remote: Arc<RemoteInner>,
    cache: Arc<DiskCache>,
    object: ObjPath,
    name: String,
    len: u64,
}

impl fmt::Debug for ObjectFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectFile").field("object", &self.object.as_ref()).field("len", &self.len).finish()
    }
}

impl ReadableFile for ObjectFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        let buf = &mut buf[..n];
        if self.cache.read(&self.name, offset, buf)? {
            return Ok(n);
        }
        let counters = &self.remote.counters;
        bump(&counters.gets, 1);
        let bytes =
            block_on(self.remote.store.get_range(&self.object, offset..offset + n as u64))?.map_err(io_error)?;
        bump(&counters.get_bytes, bytes.len() as u64);
        if bytes.len() != n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("asked {} for {n} bytes at {offset}, got {}", self.object, bytes.len()),
            ));
        }
        buf.copy_from_slice(&bytes);
        self.cache.insert_range(&self.name, offset, &bytes);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}
