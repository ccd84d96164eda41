//! Positioned, checksum-verified reads of a table file.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};
use strata_core::fs::{FileMap, ReadableFile};

use crate::stats::Counters;
use crate::{Error, Result};

/// Reads exactly `len` bytes at `offset`; a short file is corruption (it was truncated).
pub(crate) fn read_at(file: &dyn ReadableFile, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    match file.read_exact_at(&mut buf, offset) {
        Ok(()) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(Error::corruption(path, format!("truncated: cannot read {len} bytes at offset {offset}")))
        }
        Err(e) => Err(Error::io(path)(e)),
    }
}

struct Inner {
    file: Arc<dyn ReadableFile>,
    /// The whole file mapped into memory, when the file system maps it: reads are slices of
    /// it, with no system call and no copy.
    map: Option<Bytes>,
    /// The same map, to release pages of it (see [`TableFile::release`]).
    file_map: Option<FileMap>,
    path: PathBuf,
    len: u64,
    /// Bytes `[0, data_end)` are covered by `block_crcs`, one CRC32 per `block_size` bytes.
    data_end: u64,
    block_size: u64,
    block_crcs: Box<[u32]>,
    counters: Arc<Counters>,
}

/// An open table file whose reads below the Strata section are verified block by block.
///
/// Parquet's decoder reads through this ([`ChunkReader`]), so every page and page-index byte
/// it decodes has passed a checksum first.
#[derive(Clone)]
pub(crate) struct TableFile(Arc<Inner>);

impl TableFile {
    /// `map` is the file's bytes as mapped, and `file_map` the map they come from, when its
    /// pages can be released (`None` in tests that map bytes of their own).
    #[expect(clippy::too_many_arguments, reason = "the fields of a checked table file, set once at open")]
    pub(crate) fn new(
        file: Arc<dyn ReadableFile>,
        map: Option<Bytes>,
        file_map: Option<FileMap>,
        path: PathBuf,
        len: u64,
        data_end: u64,
        block_size: u64,
        block_crcs: Box<[u32]>,
        counters: Arc<Counters>,
    ) -> Self {
        // A map of another length is not this file as opened: read through the file instead.
        let map = map.filter(|m| m.len() as u64 == len);
        let file_map = file_map.filter(|_| map.is_some());
        Self(Arc::new(Inner { file, map, file_map, path, len, data_end, block_size, block_crcs, counters }))
    }

    /// Lets the OS take the mapped pages of `bytes` out of this process's resident memory, for
    /// a reader that has passed them and will not come back (see [`FileMap::release`]);
    /// nothing when the file is not mapped.
    pub(crate) fn release(&self, bytes: std::ops::Range<u64>) {
        if let Some(map) = &self.0.file_map {
            let at = |offset: u64| usize::try_from(offset).unwrap_or(usize::MAX);
            map.release(at(bytes.start), at(bytes.end).saturating_sub(at(bytes.start)));
        }
    }

    /// Whether reads are slices of a map of the file rather than system calls.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.0.map.is_some()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0.path
    }

    /// [`Error::Corruption`] naming this file.
    pub(crate) fn corruption(&self, reason: String) -> Error {
        Error::corruption(&self.0.path, reason)
    }

    pub(crate) fn memory_size(&self) -> usize {
        self.0.block_crcs.len() * 4 + self.0.path.as_os_str().len() + size_of::<Inner>()
    }

    /// [`Self::read_verified`] through `buf`, a buffer reused across reads (grown when too
    /// small, never zeroed again): the `len` bytes at `start`, in `buf`, or straight from the
    /// map when the file is mapped (then `buf` is not touched).
    pub(crate) fn read_verified_into<'a>(&'a self, start: u64, len: usize, buf: &'a mut Vec<u8>) -> Result<&'a [u8]> {
        let range = self.read_checked(start, len, buf)?;
        Ok(match &self.0.map {
            Some(map) => &map[range],
            None => &buf[range],
        })
    }

    /// Checks the blocks around the `len` bytes at `start` and says where those bytes are: in
    /// the map, when the file is mapped, else in `buf`, read there.
    fn read_checked(&self, start: u64, len: usize, buf: &mut Vec<u8>) -> Result<Range<usize>> {
        let inner = &*self.0;
        let end = self.end_in_data(start, len)?;
        if len == 0 {
            return Ok(0..0);
        }
        let block_size = inner.block_size;
        let first_block = start / block_size;
        if let Some(map) = &inner.map {
            self.check_mapped(map, first_block, end)?;
            return Ok(start as usize..start as usize + len);
        }
        let aligned_start = first_block * block_size;
        let aligned_end = end.div_ceil(block_size).saturating_mul(block_size).min(inner.data_end);
        let n = (aligned_end - aligned_start) as usize;
        let from = (start - aligned_start) as usize;
        if buf.len() < n {
            buf.resize(n, 0);
        }
        let blocks = &mut buf[..n];
        match inner.file.read_exact_at(blocks, aligned_start) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Error::corruption(
                    &inner.path,
                    format!("truncated: cannot read {n} bytes at offset {aligned_start}"),
                ));
            }
            Err(e) => return Err(Error::io(&inner.path)(e)),
        }
        Counters::add(&inner.counters.bytes_read, n as u64);
        self.check_blocks(first_block, blocks)?;
        Ok(from..from + len)
    }

    /// For a mapped file, the `len` bytes at `start` before any is checked, for a reader that
    /// needs only some of them (a value page's lengths and one value) and checks the blocks
    /// under them with [`Unchecked::check`] before trusting them. `None` when
    /// the file is not mapped.
    pub(crate) fn unchecked(&self, start: u64, len: usize) -> Result<Option<Unchecked<'_>>> {
        let Some(map) = &self.0.map else { return Ok(None) };
        let end = self.end_in_data(start, len)?;
        // NOTE: in bounds: `end <= data_end < len`, the map's length.
        Ok(Some(Unchecked { file: self, map, bytes: &map[start as usize..end as usize], start, checked_to: start }))
    }

    /// Where the `len` bytes at `start` end; [`Error::Corruption`] when that is past the data
    /// region the block CRCs cover.
    fn end_in_data(&self, start: u64, len: usize) -> Result<u64> {
        let inner = &*self.0;
        start.checked_add(len as u64).filter(|&end| end <= inner.data_end).ok_or_else(|| {
            Error::corruption(
                &inner.path,
                format!("read of {len} bytes at {start} reaches past the data region ({} bytes)", inner.data_end),
            )
        })
    }

    /// Checks the blocks of the mapped file `map` from block `first_block` to the one holding
    /// file offset `end - 1`, counting their bytes as read; returns where they end.
    fn check_mapped(&self, map: &[u8], first_block: u64, end: u64) -> Result<u64> {
        let inner = &*self.0;
        let from = first_block * inner.block_size;
        let to = end.div_ceil(inner.block_size).saturating_mul(inner.block_size).min(inner.data_end);
        // NOTE: in bounds: `to <= data_end < len`, the map's length.
        Counters::add(&inner.counters.bytes_read, to - from);
        self.check_blocks(first_block, &map[from as usize..to as usize])?;
        Ok(to)
    }

    /// Checks `blocks`, read from block `first_block` on, against their CRCs.
    fn check_blocks(&self, first_block: u64, blocks: &[u8]) -> Result<()> {
        let inner = &*self.0;
        for (i, block) in blocks.chunks(inner.block_size as usize).enumerate() {
            let index = first_block as usize + i;
            let expected = inner.block_crcs.get(index).copied();
            if expected != Some(crc32fast::hash(block)) {
                return Err(Error::corruption(
                    &inner.path,
                    format!("checksum mismatch in block {index} (bytes {}..)", index as u64 * inner.block_size),
                ));
            }
        }
        Ok(())
    }

    /// `len` bytes at `start`, every covering block checked against its CRC.
    pub(crate) fn read_verified(&self, start: u64, len: usize) -> Result<Bytes> {
        let mut buf = Vec::new();
        let range = self.read_checked(start, len, &mut buf)?;
        Ok(match &self.0.map {
            Some(map) => map.slice(range),
            None => Bytes::from(buf).slice(range),
        })
    }
}

/// Runs a call into the parquet crate's metadata decoders, turning a panic inside them into
/// [`Error::Corruption`] naming the file.
///
/// Our block checksums keep random damage away from the decoders, but a file whose checksums
/// were recomputed over bad bytes (or a crafted one) reaches them, and they are not panic-free
/// on every malformed input: the `table_bytes` fuzz target found parquet 60's
/// `DELTA_BYTE_ARRAY` decoder overflowing on a negative suffix length. A decoder that panicked
/// is dropped by the caller, never reused, so no broken state is observed afterwards.
pub(crate) fn guard_decoder<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    GUARD_DEPTH.with(|d| d.set(d.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARD_DEPTH.with(|d| d.set(d.get() - 1));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Error::corruption(path, format!("the Parquet decoder failed on malformed data: {message}")))
        }
    }
}

thread_local! {
    /// How many [`guard_decoder`] calls this thread is inside.
    static GUARD_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside [`guard_decoder`], so a panic now will be caught and
/// reported as corruption. For fuzz harnesses whose panic hook would otherwise abort.
#[cfg(feature = "testing")]
pub(crate) fn inside_decoder_guard() -> bool {
    GUARD_DEPTH.with(|d| d.get() > 0)
}

/// Turns an error from parquet back into ours: errors this module raised inside the decoder
/// come back as they were; anything else the decoder found wrong is corruption.
pub(crate) fn from_parquet(path: &Path, e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::corruption(path, format!("parquet: {other}")),
        },
        other => Error::corruption(path, format!("parquet: {other}")),
    }
}

impl Length for TableFile {
    fn len(&self) -> u64 {
        self.0.len
    }
}

impl ChunkReader for TableFile {
    type T = VerifiedRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<VerifiedRead> {
        Ok(VerifiedRead { file: self.clone(), pos: start })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.read_verified(start, length).map_err(|e| ParquetError::External(Box::new(e)))
    }
}

/// A [`Read`] over a [`TableFile`] from a position, verified like every other read.
pub(crate) struct VerifiedRead {
    file: TableFile,
    pos: u64,
}

impl Read for VerifiedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.file.0.data_end.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left).min(64 * 1024) as usize;
        if n == 0 {
            return Ok(0);
        }
        let bytes = self.file.read_verified(self.pos, n).map_err(std::io::Error::other)?;
        buf[..n].copy_from_slice(&bytes);
        self.pos += n as u64;
        Ok(n)
    }
}

/// Bytes of a mapped table file not yet checked against their CRCs (see
/// [`TableFile::unchecked`]): a reader checks the bytes it is about to rely on with
/// [`Self::check`] first. Checks that continue the checked prefix extend it, so each block of
/// a walk from the start is checked once; a range apart from the prefix (a value in the middle
/// of its page) checks only the blocks under it.
pub(crate) struct Unchecked<'a> {
    file: &'a TableFile,
    /// The whole mapped file.
    map: &'a [u8],
    /// The bytes; trust only those [`Self::check`] accepted.
    pub(crate) bytes: &'a [u8],
    /// Where the bytes start in the file.
    start: u64,
    /// Every block from `start`'s down to this file offset is checked (`start` until the
    /// first check: nothing is).
    checked_to: u64,
}

impl Unchecked<'_> {
    /// Checks the blocks under `range` of the bytes (clamped to them) not checked yet.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] naming the file and block whose checksum does not match.
    pub(crate) fn check(&mut self, range: std::ops::Range<usize>) -> Result<()> {
        let n = self.bytes.len();
        let (lo, hi) = (range.start.min(n), range.end.min(n));
        if lo >= hi {
            return Ok(());
        }
        let (lo, hi) = (self.start + lo as u64, self.start + hi as u64);
        if hi <= self.checked_to {
            return Ok(());
        }
        let bs = self.file.0.block_size;
        // The first block to check: the range's own, or the first past the checked prefix
        // when the range reaches into it (its end is block-aligned once anything is checked).
        let prefix = self.checked_to > self.start;
        let first_block = if prefix && lo <= self.checked_to { self.checked_to / bs } else { lo / bs };
        let to = self.file.check_mapped(self.map, first_block, hi)?;
        // Continuing the prefix (or starting it at the first byte) extends it.
        if lo <= self.checked_to {
            self.checked_to = to;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use strata_core::fs::{FileSystem, StdFs};

    use super::*;

    const BLOCK: u64 = 1024;
    const DATA_END: u64 = 4096;

    fn table_file(file: Arc<dyn ReadableFile>, map: Option<Bytes>, data: &[u8]) -> TableFile {
        let crcs = data[..DATA_END as usize].chunks(BLOCK as usize).map(crc32fast::hash).collect();
        let len = data.len() as u64;
        TableFile::new(file, map, None, "t.parquet".into(), len, DATA_END, BLOCK, crcs, Arc::default())
    }

    /// Mapped reads (the `unsafe` map of `StdFs`) return what positioned reads return, check
    /// the same checksums, and refuse the same out-of-range reads.
    #[test]
    fn mapped_reads_match_positioned_reads_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = StdFs.open_read(&path).unwrap();
        let map = file.map().unwrap().map(|m| m.bytes());
        let mapped = table_file(Arc::clone(&file), map, &data);
        let plain = table_file(file, None, &data);
        assert!(mapped.is_mapped() && !plain.is_mapped());
        let mut buf = Vec::new();
        for (start, len) in [(0, 1), (0, 4096), (1000, 100), (1023, 2), (3000, 1096), (4095, 1), (17, 0)] {
            let want = &data[start as usize..start as usize + len];
            assert_eq!(mapped.read_verified_into(start, len, &mut buf).unwrap(), want);
            assert_eq!(plain.read_verified_into(start, len, &mut buf).unwrap(), want);
            assert_eq!(&mapped.read_verified(start, len).unwrap()[..], want);
            assert_eq!(&plain.read_verified(start, len).unwrap()[..], want);
        }
        for t in [&mapped, &plain] {
            let past = t.read_verified(4000, 200).unwrap_err();
            assert!(past.is_corruption() && past.to_string().contains("past the data region"), "{past}");
        }

        // A flipped byte in the mapped bytes fails its block's checksum, not its neighbours'.
        let mut bad = data.clone();
        bad[2100] ^= 0x40;
        let damaged = table_file(StdFs.open_read(&path).unwrap(), Some(Bytes::from(bad)), &data);
        assert!(damaged.is_mapped());
        let err = damaged.read_verified_into(2050, 10, &mut buf).unwrap_err();
        assert!(err.is_corruption() && err.to_string().contains("checksum mismatch in block 2"), "{err}");
        assert_eq!(damaged.read_verified_into(1000, 24, &mut buf).unwrap(), &data[1000..1024]);

        // A map of another length is not used.
        let short = table_file(StdFs.open_read(&path).unwrap(), Some(Bytes::from(vec![0; 10])), &data);
        assert!(!short.is_mapped());
    }

    /// An unchecked read checks exactly the blocks under the ranges a reader relies on: a range
    /// apart from the checked prefix skips the blocks between, which may be damaged unseen
    /// until someone relies on them.
    #[test]
    fn unchecked_reads_check_only_the_blocks_relied_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut bad = data.clone();
        bad[1500] ^= 1;
        let t = table_file(StdFs.open_read(&path).unwrap(), Some(Bytes::from(bad)), &data);
        let read = |t: &TableFile| t.0.counters.bytes_read.load(std::sync::atomic::Ordering::Relaxed);

        // Bytes 100..4000 of the file; block 1 (1024..2048) is damaged.
        let mut u = t.unchecked(100, 3900).unwrap().expect("mapped");
        u.check(0..50).unwrap();
        assert_eq!(read(&t), 1024, "block 0");
        u.check(10..20).unwrap();
        assert_eq!(read(&t), 1024, "already checked");
        u.check(2000..2100).unwrap();
        assert_eq!(read(&t), 2048, "block 2 alone, block 1 skipped");
        u.check(3000..3000).unwrap();
        let err = u.check(0..1000).unwrap_err();
        assert!(err.is_corruption() && err.to_string().contains("block 1"), "{err}");

        // A first range that starts inside the bytes' first block is not taken for a prefix.
        let mut u = t.unchecked(100, 3900).unwrap().expect("mapped");
        u.check(2100..2200).unwrap();
        let err = u.check(900..1000).unwrap_err();
        assert!(err.to_string().contains("block 1"), "{err}");
    }
}
