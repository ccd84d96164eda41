//! The local disk cache of table bytes: whole tables this process wrote, and the byte
//! ranges it fetched of the others.
//!
//! Layout, in the cache directory:
//! * `<table>.parquet` and `<table>.parquet.crc`: a whole table (the local file a write
//!   uploaded), and its length and CRC-32. A whole table left by an earlier process is
//!   checked against its CRC the first time this process uses it.
//! * `<table>.parquet.ranges`: fetched ranges, appended as records of offset (u64), length
//!   (u32), CRC-32 (u32) and the bytes. Each record is checked when it is read.
//!
//! The cache is bounded: past its capacity whole tables' entries are dropped, least recently
//! used first. A damaged entry is dropped and the read goes to the object store instead, so
//! the cache can make a read slower, never wrong. It survives restarts.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::stats::{Counters, bump};

const RANGES_SUFFIX: &str = ".ranges";
const CRC_SUFFIX: &str = ".crc";
const RECORD_HEADER: u64 = 16;

#[derive(Debug)]
struct Full {
    file: Arc<File>,
    len: u64,
    crc: u32,
    /// Checked against `crc` in this process (always, for a table this process wrote).
    verified: bool,
}

#[derive(Debug)]
struct Ranges {
    file: Arc<File>,
    /// Where the next record goes.
    end: u64,
    /// Offset in the table -> (length, position of the record's bytes in the file).
    index: BTreeMap<u64, (u32, u64)>,
}

#[derive(Debug, Default)]
struct Entry {
    full: Option<Full>,
    ranges: Option<Ranges>,
    bytes: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct State {
    tables: HashMap<String, Entry>,
    bytes: u64,
    clock: u64,
}

/// A table's bytes on local disk. See the module docs.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    capacity: u64,
    state: Mutex<State>,
    counters: Arc<Counters>,
}

fn crc_of(file: &File, len: u64) -> io::Result<u32> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = buf.len().min((len - at) as usize);
        file.read_exact_at(&mut buf[..n], at)?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize())
}

impl DiskCache {
    /// Opens the cache in `dir`, picking up what an earlier process left.
    pub(crate) fn open(dir: &Path, capacity: u64, counters: Arc<Counters>) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let cache = Self { dir: dir.to_owned(), capacity, state: Mutex::default(), counters };
        let mut state = State::default();
        for item in fs::read_dir(dir)? {
            let name = item?.file_name().to_string_lossy().into_owned();
            if let Some(table) = name.strip_suffix(RANGES_SUFFIX) {
                if let Some(ranges) = cache.load_ranges(table)? {
                    let entry = state.tables.entry(table.to_owned()).or_default();
                    entry.bytes += ranges.end;
                    entry.ranges = Some(ranges);
                }
            } else if let Some(table) = name.strip_suffix(CRC_SUFFIX) {
                match cache.load_full(table) {
                    Ok(full) => {
                        let entry = state.tables.entry(table.to_owned()).or_default();
                        entry.bytes += full.len;
                        entry.full = Some(full);
                    }
                    Err(e) => {
                        tracing::warn!(table, error = %e, "dropping an unreadable cached table");
                        cache.remove_files(table, false);
                    }
                }
            }
        }
        // Whole tables without a checksum are writes a crash interrupted.
        for item in fs::read_dir(dir)? {
            let name = item?.file_name().to_string_lossy().into_owned();
            if !name.ends_with(RANGES_SUFFIX) && !name.ends_with(CRC_SUFFIX) && !state.tables.contains_key(&name) {
                let _ = fs::remove_file(dir.join(&name));
            }
        }
        state.bytes = state.tables.values().map(|e| e.bytes).sum();
        *cache.lock() = state;
        cache.evict_to_capacity();
        Ok(cache)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn load_full(&self, table: &str) -> io::Result<Full> {
        let mut sidecar = [0u8; 12];
        File::open(self.dir.join(format!("{table}{CRC_SUFFIX}")))?.read_exact(&mut sidecar)?;
        let (len, crc) = split_sidecar(&sidecar);
        let file = File::open(self.dir.join(table))?;
        if file.metadata()?.len() != len {
            return Err(io::Error::other("length differs from its checksum file"));
        }
        Ok(Full { file: Arc::new(file), len, crc, verified: false })
    }

    /// Reads a ranges file's records, cutting off a torn or damaged tail.
    fn load_ranges(&self, table: &str) -> io::Result<Option<Ranges>> {
        let path = self.dir.join(format!("{table}{RANGES_SUFFIX}"));
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = file.metadata()?.len();
        let mut index = BTreeMap::new();
        let mut at = 0u64;
        let mut header = [0u8; RECORD_HEADER as usize];
        while at + RECORD_HEADER <= len {
            file.read_exact_at(&mut header, at)?;
            let (offset, n, _crc) = split_header(&header);
            if at + RECORD_HEADER + u64::from(n) > len {
                break;
            }
            index.insert(offset, (n, at + RECORD_HEADER));
            at += RECORD_HEADER + u64::from(n);
        }
        if at < len {
            file.set_len(at)?;
        }
        if at == 0 {
            drop(file);
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(Ranges { file: Arc::new(file), end: at, index }))
    }

    fn remove_files(&self, table: &str, full_only: bool) {
        let mut names = vec![table.to_owned(), format!("{table}{CRC_SUFFIX}")];
        if !full_only {
            names.push(format!("{table}{RANGES_SUFFIX}"));
        }
        for name in names {
            match fs::remove_file(self.dir.join(&name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(file = name, error = %e, "could not delete a cache file"),
            }
        }
    }

    /// The length of `table` when the cache holds all of it.
    pub(crate) fn full_len(&self, table: &str) -> Option<u64> {
        self.lock().tables.get(table)?.full.as_ref().map(|f| f.len)
    }

    /// Fills `buf` from `table`'s bytes at `offset`, if the cache holds them all: `true`
    /// then. A damaged entry is dropped and reported as a miss.
    pub(crate) fn read(&self, table: &str, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
        let hit = self.read_inner(table, offset, buf)?;
        bump(if hit { &self.counters.cache_hits } else { &self.counters.cache_misses }, 1);
        Ok(hit)
    }

    /// The whole local copy of `table`, if the cache has one, checked against its CRC the
    /// first time this process uses it (a damaged copy is dropped: `None`).
    pub(crate) fn full_file(&self, table: &str) -> io::Result<Option<Arc<File>>> {
        let (file, unverified) = {
            let mut state = self.lock();
            state.clock += 1;
            let clock = state.clock;
            let Some(entry) = state.tables.get_mut(table) else {
                return Ok(None);
            };
            entry.last_used = clock;
            match &entry.full {
                Some(f) => (Arc::clone(&f.file), (!f.verified).then_some((f.len, f.crc))),
                None => return Ok(None),
            }
        };
        if let Some((len, crc)) = unverified {
            if crc_of(&file, len)? != crc {
                bump(&self.counters.cache_corrupt, 1);
                tracing::warn!(table, "a cached table failed its checksum; reading it from the store");
                self.drop_full(table);
                return Ok(None);
            }
            if let Some(Some(f)) = self.lock().tables.get_mut(table).map(|e| e.full.as_mut()) {
                f.verified = true;
            }
        }
        Ok(Some(file))
    }

    fn read_inner(&self, table: &str, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
        let want = buf.len() as u64;
        if let Some(file) = self.full_file(table)? {
            file.read_exact_at(buf, offset)?;
            return Ok(true);
        }
        let found = {
            let state = self.lock();
            let Some(ranges) = state.tables.get(table).and_then(|e| e.ranges.as_ref()) else {
                return Ok(false);
            };
            ranges.index.range(..=offset).next_back().and_then(|(&start, &(n, pos))| {
                (start + u64::from(n) >= offset + want).then(|| (Arc::clone(&ranges.file), start, n, pos))
            })
        };
        let Some((file, start, n, pos)) = found else {
            return Ok(false);
        };
        let mut record = vec![0u8; n as usize];
        file.read_exact_at(&mut record, pos)?;
        let mut header = [0u8; RECORD_HEADER as usize];
        file.read_exact_at(&mut header, pos - RECORD_HEADER)?;
        let (h_offset, h_len, crc) = split_header(&header);
        if h_offset != start || h_len != n || crc32fast::hash(&record) != crc {
            bump(&self.counters.cache_corrupt, 1);
            tracing::warn!(table, offset = start, "a cached range failed its checksum; reading it from the store");
            if let Some(Some(r)) = self.lock().tables.get_mut(table).map(|e| e.ranges.as_mut()) {
                r.index.remove(&start);
            }
            return Ok(false);
        }
        let skip = (offset - start) as usize;
        buf.copy_from_slice(&record[skip..skip + buf.len()]);
        Ok(true)
    }

    fn drop_full(&self, table: &str) {
        let mut state = self.lock();
        if let Some(entry) = state.tables.get_mut(table)
            && let Some(full) = entry.full.take()
        {
            entry.bytes -= full.len;
            state.bytes -= full.len;
        }
        drop(state);
        self.remove_files(table, true);
    }

    /// Keeps `data`, the bytes of `table` at `offset`.
    pub(crate) fn insert_range(&self, table: &str, offset: u64, data: &[u8]) {
        if let Err(e) = self.try_insert_range(table, offset, data) {
            tracing::warn!(table, error = %e, "could not cache a fetched range");
        }
        self.evict_to_capacity();
    }

    fn try_insert_range(&self, table: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        let n = u32::try_from(data.len()).map_err(|_| io::Error::other("range too large to cache"))?;
        let mut state = self.lock();
        state.clock += 1;
        let clock = state.clock;
        let entry = state.tables.entry(table.to_owned()).or_default();
        entry.last_used = clock;
        if entry.full.is_some() {
            return Ok(());
        }
        if entry.ranges.is_none() {
            let path = self.dir.join(format!("{table}{RANGES_SUFFIX}"));
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
            entry.ranges = Some(Ranges { file: Arc::new(file), end: 0, index: BTreeMap::new() });
        }
        let Some(ranges) = entry.ranges.as_mut() else { return Ok(()) };
        let mut record = Vec::with_capacity(RECORD_HEADER as usize + data.len());
        record.extend_from_slice(&offset.to_le_bytes());
        record.extend_from_slice(&n.to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        record.extend_from_slice(data);
        ranges.file.write_all_at(&record, ranges.end)?;
        ranges.index.insert(offset, (n, ranges.end + RECORD_HEADER));
        ranges.end += record.len() as u64;
        entry.bytes += record.len() as u64;
        state.bytes += record.len() as u64;
        Ok(())
    }

    /// Takes `src`, a complete local copy of `table` of `len` bytes with CRC-32 `crc`, into
    /// the cache (renaming it).
    pub(crate) fn insert_full(&self, table: &str, src: &Path, len: u64, crc: u32) -> io::Result<()> {
        let dest = self.dir.join(table);
        fs::rename(src, &dest)?;
        let mut sidecar = Vec::with_capacity(12);
        sidecar.extend_from_slice(&len.to_le_bytes());
        sidecar.extend_from_slice(&crc.to_le_bytes());
        fs::write(self.dir.join(format!("{table}{CRC_SUFFIX}")), sidecar)?;
        let file = File::open(&dest)?;
        let mut state = self.lock();
        state.clock += 1;
        let clock = state.clock;
        let entry = state.tables.entry(table.to_owned()).or_default();
        let old = entry.bytes;
        if let Some(ranges) = entry.ranges.take() {
            drop(ranges);
            let _ = fs::remove_file(self.dir.join(format!("{table}{RANGES_SUFFIX}")));
        }
        *entry = Entry {
            full: Some(Full { file: Arc::new(file), len, crc, verified: true }),
            ranges: None,
            bytes: len,
            last_used: clock,
        };
        state.bytes = state.bytes - old + len;
        drop(state);
        self.evict_to_capacity();
        Ok(())
    }

    /// Forgets `table` (it was deleted).
    pub(crate) fn remove(&self, table: &str) {
        let mut state = self.lock();
        if let Some(entry) = state.tables.remove(table) {
            state.bytes -= entry.bytes;
        }
        drop(state);
        self.remove_files(table, false);
    }

    /// Bytes held now.
    pub(crate) fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn evict_to_capacity(&self) {
        loop {
            let victim = {
                let state = self.lock();
                if state.bytes <= self.capacity {
                    return;
                }
                state.tables.iter().min_by_key(|(_, e)| e.last_used).map(|(name, _)| name.clone())
            };
            match victim {
                Some(table) => self.remove(&table),
                None => return,
            }
        }
    }
}

fn split_header(h: &[u8; RECORD_HEADER as usize]) -> (u64, u32, u32) {
    let (offset, rest) = h.split_at(8);
    let (n, crc) = rest.split_at(4);
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    (
        u64::from_le_bytes([offset[0], offset[1], offset[2], offset[3], offset[4], offset[5], offset[6], offset[7]]),
        word(n),
        word(crc),
    )
}

fn split_sidecar(s: &[u8; 12]) -> (u64, u32) {
    let (len, crc) = s.split_at(8);
    (
        u64::from_le_bytes([len[0], len[1], len[2], len[3], len[4], len[5], len[6], len[7]]),
        u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test")]

    use super::*;

    fn cache(dir: &Path, capacity: u64) -> DiskCache {
        DiskCache::open(dir, capacity, Arc::default()).unwrap()
    }

    fn read(c: &DiskCache, table: &str, offset: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        c.read(table, offset, &mut buf).unwrap().then_some(buf)
    }

    #[test]
    fn ranges_are_served_inside_what_was_fetched_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1 << 20);
        c.insert_range("000001.parquet", 100, b"0123456789");
        assert_eq!(read(&c, "000001.parquet", 102, 3).as_deref(), Some(&b"234"[..]));
        assert_eq!(read(&c, "000001.parquet", 105, 10), None, "runs past the cached range");
        assert_eq!(read(&c, "000002.parquet", 100, 1), None);
        drop(c);
        let c = cache(dir.path(), 1 << 20);
        assert_eq!(read(&c, "000001.parquet", 100, 10).as_deref(), Some(&b"0123456789"[..]));
        assert_eq!(c.bytes(), RECORD_HEADER + 10);
    }

    #[test]
    fn a_damaged_range_is_a_miss_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1 << 20);
        c.insert_range("t.parquet", 0, b"first");
        c.insert_range("t.parquet", 50, b"second");
        drop(c);
        let path = dir.path().join("t.parquet.ranges");
        let mut bytes = fs::read(&path).unwrap();
        bytes[RECORD_HEADER as usize] ^= 0xff; // the first record's data
        bytes.extend_from_slice(&[1, 2, 3]); // a torn record
        fs::write(&path, &bytes).unwrap();
        let c = cache(dir.path(), 1 << 20);
        assert_eq!(read(&c, "t.parquet", 0, 5), None, "a damaged record is never served");
        assert_eq!(read(&c, "t.parquet", 50, 6).as_deref(), Some(&b"second"[..]));
        assert_eq!(fs::metadata(&path).unwrap().len(), bytes.len() as u64 - 3);
        assert_eq!(c.counters.snapshot(0).cache_corrupt, 1);
    }

    #[test]
    fn a_whole_table_is_checked_after_a_restart_and_dropped_when_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("upload.tmp");
        fs::write(&src, b"whole table bytes").unwrap();
        let cdir = dir.path().join("cache");
        let c = cache(&cdir, 1 << 20);
        c.insert_full("t.parquet", &src, 17, crc32fast::hash(b"whole table bytes")).unwrap();
        assert_eq!(c.full_len("t.parquet"), Some(17));
        assert_eq!(read(&c, "t.parquet", 6, 5).as_deref(), Some(&b"table"[..]));
        drop(c);
        let c = cache(&cdir, 1 << 20);
        assert_eq!(read(&c, "t.parquet", 0, 5).as_deref(), Some(&b"whole"[..]), "checked and served");
        drop(c);
        fs::write(cdir.join("t.parquet"), b"whole TABLE bytes").unwrap();
        let c = cache(&cdir, 1 << 20);
        assert_eq!(read(&c, "t.parquet", 0, 5), None, "a damaged copy is dropped");
        assert_eq!(c.full_len("t.parquet"), None);
        assert!(!cdir.join("t.parquet").exists());
    }

    #[test]
    fn the_least_recently_used_tables_go_first_past_the_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 3 * (RECORD_HEADER + 100));
        let data = [7u8; 100];
        c.insert_range("a", 0, &data);
        c.insert_range("b", 0, &data);
        c.insert_range("c", 0, &data);
        assert!(read(&c, "a", 0, 1).is_some());
        c.insert_range("d", 0, &data);
        assert!(read(&c, "b", 0, 1).is_none(), "b was the least recently used");
        assert!(read(&c, "a", 0, 1).is_some());
        assert!(read(&c, "d", 0, 1).is_some());
        assert!(c.bytes() <= 3 * (RECORD_HEADER + 100));
    }
}
