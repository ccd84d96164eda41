//! The engine's error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// What can go wrong in the engine. Errors of the component crates are wrapped; corruption
/// anywhere is reported as [`Error::Corruption`] naming the file.
///
/// Cloneable, so one failure of a group commit can be reported to every writer in the group.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error("I/O error on {}: {source}", file.display())]
    Io {
        /// The file or directory.
        file: PathBuf,
        /// The OS error.
        source: Arc<io::Error>,
    },
    /// A file holds bytes that are not what Strata wrote.
    #[error("corruption in {}: {reason}", file.display())]
    Corruption {
        /// The corrupt file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An option is outside its allowed range.
    #[error("invalid option `{field}`: {reason}")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// What was given and what is allowed.
        reason: String,
    },
    /// Another process (or another `Db` in this process) has the directory open.
    #[error("{} is locked: another process has this database open", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory holds no database and `create_if_missing` is off.
    #[error("no database in {}", dir.display())]
    NotFound {
        /// The data directory.
        dir: PathBuf,
    },
    /// A key is longer than [`crate::MAX_KEY_LEN`].
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value is longer than [`crate::MAX_VALUE_LEN`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch is too large to be one write-ahead log record.
    #[error("write batch of {bytes} bytes is too large for one log record")]
    BatchTooLarge {
        /// The batch's payload bytes.
        bytes: usize,
    },
    /// A table-store error other than corruption.
    #[error(transparent)]
    Table(Arc<strata_sstable::Error>),
    /// A memtable configuration error.
    #[error(transparent)]
    Memtable(#[from] strata_memtable::Error),
    /// A compaction error other than a table error.
    #[error(transparent)]
    Compaction(Arc<strata_compaction::Error>),
    /// An earlier background failure (flush, compaction or log write) left the database
    /// unable to accept writes safely; reads still work. Reopen to recover.
    #[error("writes are refused after an earlier failure: {0}")]
    ReadOnly(Arc<Error>),
    /// The database was closed.
    #[error("the database is closed")]
    Closed,
}

impl Error {
    /// Whether this is (or wraps) a corruption error.
    #[must_use]
    pub fn is_corruption(&self) -> bool {
        match self {
            Self::Corruption { .. } => true,
            Self::ReadOnly(inner) => inner.is_corruption(),
            _ => false,
        }
    }

    pub(crate) fn io(file: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { file: file.into(), source: Arc::new(source) }
    }

    pub(crate) fn corruption(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corruption { file: file.into(), reason: reason.into() }
    }
}

impl From<strata_sstable::Error> for Error {
    fn from(e: strata_sstable::Error) -> Self {
        match e {
            strata_sstable::Error::Corruption { file, reason, .. } => Self::Corruption { file, reason },
            other => Self::Table(Arc::new(other)),
        }
    }
}

impl From<strata_compaction::Error> for Error {
    fn from(e: strata_compaction::Error) -> Self {
        match e {
            strata_compaction::Error::Store(t) => Self::from(t),
            other => Self::Compaction(Arc::new(other)),
        }
    }
}
