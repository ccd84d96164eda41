//! Appending records to the current log segment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_core::fs::{FileSystem, WritableFile};

use super::segment_name;
use crate::{Error, Result, record};

/// The open segment the leader of each write group appends to.
#[derive(Debug)]
pub(crate) struct WalWriter {
    path: PathBuf,
    file: Box<dyn WritableFile>,
    buf: Vec<u8>,
}

impl WalWriter {
    /// Creates segment `number` in `dir` and makes its creation durable.
    pub(crate) fn create(fs: &Arc<dyn FileSystem>, dir: &Path, number: u64) -> Result<Self> {
        let path = dir.join(segment_name(number));
        let file = fs.create(&path).map_err(|e| Error::io(&path, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self { path, file, buf: Vec::new() })
    }

    /// Frames each payload as a record and writes them all with one system call.
    pub(crate) fn append<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        self.buf.clear();
        for p in payloads {
            record::encode(&mut self.buf, p);
        }
        self.file.write_all(&self.buf).map_err(|e| Error::io(&self.path, e))?;
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }

    /// Makes everything appended durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file.sync().map_err(|e| Error::io(&self.path, e))
    }
}
