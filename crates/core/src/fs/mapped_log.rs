//! A log file appended through a shared memory map of space reserved ahead of its end.
//!
//! Appending with `write` costs a system call each time: for a log written once per small
//! write batch, about a quarter of a single writer's time (a 1M-key fillrandom profile:
//! `write` and the file system under it, 12.5 % of the process, the writer thread 51 %).
//! Here the file is grown with `fallocate` a chunk at a time and the chunk is mapped shared,
//! so an append is a copy into the page cache. What an append promises is the same as
//! `write`'s: once it returns the bytes are the kernel's, and survive the process being
//! killed; `sync` makes them durable (on Linux, `fsync` writes back the pages a shared map
//! dirtied, as it does the pages `write` dirtied).
//!
//! The reserved space past the last append reads as zeros. [`Drop`] cuts the file back to
//! what was appended; a process that stops first leaves the zeros, so readers of such a file
//! must take a run of zeros to its end as its end (the log's reader does).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

use memmap2::{MmapMut, MmapOptions};

use super::WritableFile;

/// The first reservation: small, so that a database with tiny memtables (a new log segment
/// each) does not reserve much it never writes.
const FIRST_CHUNK: usize = 256 << 10;
/// Reservations double up to this: a 64 MiB memtable's log takes nine.
const MAX_CHUNK: usize = 8 << 20;

/// A file appended through a map of reserved space (see the module docs).
#[derive(Debug)]
pub(super) struct MappedLog {
    file: File,
    /// Bytes appended: where the next append goes, and the file's length once dropped.
    end: u64,
    /// The reserved bytes `[offset, offset + map.len())` of the file the next appends go to.
    chunk: Option<Chunk>,
    /// The length of the next reservation.
    next_len: usize,
}

#[derive(Debug)]
struct Chunk {
    offset: u64,
    map: MmapMut,
}

impl MappedLog {
    /// Maps `file` (open for reading and writing, empty) for appends, or gives it back when
    /// its file system cannot reserve space or map it: the caller then writes to it.
    pub(super) fn new(file: File) -> Result<Self, (File, io::Error)> {
        match Chunk::reserve(&file, 0, FIRST_CHUNK) {
            Ok(chunk) => Ok(Self { file, end: 0, chunk: Some(chunk), next_len: (FIRST_CHUNK * 2).min(MAX_CHUNK) }),
            Err(e) => Err((file, e)),
        }
    }

    /// Maps the next chunk of the file, at `end`.
    fn grow(&mut self) -> io::Result<()> {
        // The old map goes first: its dirty pages stay in the page cache.
        self.chunk = None;
        self.chunk = Some(Chunk::reserve(&self.file, self.end, self.next_len)?);
        self.next_len = (self.next_len * 2).min(MAX_CHUNK);
        Ok(())
    }
}

impl Chunk {
    /// Reserves `[offset, offset + len)` of `file` and maps it; on failure the file keeps
    /// its length.
    fn reserve(file: &File, offset: u64, len: usize) -> io::Result<Self> {
        let start = i64::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
        let count = i64::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
        // SAFETY: `fallocate` takes a descriptor `file` owns (open for writing) and two plain
        // integers; it reads and writes no memory of ours. Mode 0 allocates the range's
        // blocks and extends the file's size over it, so the map below lies within the file
        // and writing through it needs no block allocation that could fail (a full disk is
        // this error, not a SIGBUS later).
        if unsafe { libc::fallocate(file.as_raw_fd(), 0, start, count) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the map covers `[offset, offset + len)`, which `fallocate` just made part of
        // the file with its blocks allocated. The file is a log segment its `MappedLog` alone
        // writes and nothing truncates while it is open (the database's lock keeps other
        // Strata processes out; another process truncating it would corrupt the log anyway,
        // and here would raise SIGBUS, as for the table maps of `ReadableFile::map`). The map
        // is private to its `MappedLog`, which hands out no reference into it, so the only
        // accesses are the copies in `write`.
        match unsafe { MmapOptions::new().offset(offset).len(len).map_mut(file) } {
            Ok(map) => Ok(Self { offset, map }),
            Err(e) => {
                // Cut the reservation back, so that a caller falling back to `write` appends
                // where the file's bytes end.
                file.set_len(offset)?;
                Err(e)
            }
        }
    }
}

impl Write for MappedLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let end = self.end;
            let Some(chunk) = self.chunk.as_mut().filter(|c| c.offset + c.map.len() as u64 > end) else {
                if let Err(e) = self.grow() {
                    // What was copied is appended; the caller's `write_all` asks again and
                    // gets the error.
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
                continue;
            };
            let at = (end - chunk.offset) as usize;
            let n = (buf.len() - done).min(chunk.map.len() - at);
            chunk.map[at..at + n].copy_from_slice(&buf[done..done + n]);
            self.end += n as u64;
            done += n;
        }
        Ok(done)
    }

    fn flush(&mut self) -> io::Result<()> {
        // The copies are in the page cache already, where `write`'s would be.
        Ok(())
    }
}

impl WritableFile for MappedLog {
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.chunk = None;
        self.file.set_len(len)?;
        self.end = len;
        Ok(())
    }
}

impl Drop for MappedLog {
    fn drop(&mut self) {
        self.chunk = None;
        // Best effort: a file left longer ends in zeros, which its readers take as its end.
        let _ = self.file.set_len(self.end);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fs::{FileSystem, StdFs};

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("strata-mapped-log-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("000001.wal")
    }

    /// Appends of uneven sizes, some larger than a chunk, some across a chunk's end.
    fn appends() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut x = 7u32;
        for i in 0..600 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let len = match i % 50 {
                0 => 700_000,
                _ => (x % 9_000) as usize,
            };
            out.push((0..len).map(|j| (j as u32 ^ x) as u8 | 1).collect());
        }
        out
    }

    #[test]
    fn appends_read_back_whole_and_the_file_is_cut_to_them_when_dropped() {
        let path = temp_file("whole");
        let mut file = StdFs.create_log(&path).unwrap();
        assert!(format!("{file:?}").starts_with("MappedLog"), "the log is mapped: {file:?}");
        let mut expected = Vec::new();
        for (i, a) in appends().iter().enumerate() {
            file.write_all(a).unwrap();
            file.flush().unwrap();
            expected.extend_from_slice(a);
            if i == 300 {
                file.sync().unwrap();
            }
        }
        // Chunks of 256 KiB to 4 MiB hold 7.75 MiB: the appends reach an 8 MiB one.
        assert!(expected.len() > 8 << 20, "the appends cross chunks up to the largest: {}", expected.len());
        // Another reader sees every append at once, past it only reserved zeros.
        let seen = std::fs::read(&path).unwrap();
        assert_eq!(&seen[..expected.len()], &expected[..]);
        assert!(seen[expected.len()..].iter().all(|&b| b == 0));
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_process_that_stops_leaves_its_appends_and_zeros_after_them() {
        let path = temp_file("stops");
        let mut file = StdFs.create_log(&path).unwrap();
        file.write_all(b"first").unwrap();
        file.write_all(&[9; FIRST_CHUNK]).unwrap();
        // No drop: as when the process is killed.
        std::mem::forget(file);
        let seen = std::fs::read(&path).unwrap();
        assert_eq!(seen.len(), FIRST_CHUNK + FIRST_CHUNK * 2, "the second chunk is reserved whole");
        assert_eq!(&seen[..5], b"first");
        assert!(seen[5..5 + FIRST_CHUNK].iter().all(|&b| b == 9));
        assert!(seen[5 + FIRST_CHUNK..].iter().all(|&b| b == 0));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn appends_after_a_truncate_continue_at_the_cut() {
        let path = temp_file("truncate");
        let mut file = StdFs.create_log(&path).unwrap();
        file.write_all(&[1; 5000]).unwrap();
        file.truncate(100).unwrap();
        file.write_all(&[2; 10]).unwrap();
        file.sync().unwrap();
        drop(file);
        let seen = std::fs::read(&path).unwrap();
        assert_eq!(seen.len(), 110);
        assert!(seen[..100].iter().all(|&b| b == 1) && seen[100..].iter().all(|&b| b == 2));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
