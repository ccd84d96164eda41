//! Appending records to the current log segment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_core::fs::{FileSystem, WritableFile};

use strata_core::SeqNo;

use super::{Seal, segment_name};
use crate::{Error, Result, record};

/// The open segment the leader of each write group appends to.
#[derive(Debug)]
pub(crate) struct WalWriter {
    path: PathBuf,
    file: Box<dyn WritableFile>,
    buf: Vec<u8>,
    /// Bytes appended so far.
    written: u64,
}

impl WalWriter {
    /// Creates segment `number` in `dir` and makes its creation durable. With `mapped`, the
    /// file is created as a log ([`FileSystem::create_log`]: appends through a shared map
    /// where the file system allows it, no system call each).
    pub(crate) fn create(fs: &Arc<dyn FileSystem>, dir: &Path, number: u64, mapped: bool) -> Result<Self> {
        let path = dir.join(segment_name(number));
        let file = if mapped { fs.create_log(&path) } else { fs.create(&path) };
        let file = file.map_err(|e| Error::io(&path, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self { path, file, buf: Vec::new(), written: 0 })
    }

    /// Frames each payload as a record and writes them all with one system call.
    pub(crate) fn append<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        self.append_with(payloads, |payload, out| out.extend_from_slice(payload))
    }

    /// Writes one record per item, whose payload `encode` appends straight into the buffer
    /// of the system call, then makes the one call.
    pub(crate) fn append_with<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut encode: impl FnMut(T, &mut Vec<u8>),
    ) -> Result<()> {
        self.buf.clear();
        for item in items {
            record::encode_with(&mut self.buf, |out| encode(item, out));
        }
        self.file.write_all(&self.buf).map_err(|e| Error::io(&self.path, e))?;
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        self.written += self.buf.len() as u64;
        Ok(())
    }

    /// Ends the segment with a seal record and syncs it: the log was closed cleanly after
    /// the write of `last_seq`, so nothing in it can be a torn write.
    pub(crate) fn seal(&mut self, last_seq: SeqNo) -> Result<()> {
        let seal = Seal { last_seq, end: self.written };
        self.append([&seal.encode()[..]])?;
        self.sync()
    }

    /// Makes everything appended durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file.sync().map_err(|e| Error::io(&self.path, e))
    }
}
