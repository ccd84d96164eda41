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
    /// A file or directory given to the engine is not acceptable: an input of
    /// [`Db::ingest`](crate::Db::ingest) with the wrong columns or a duplicate key, or a
    /// checkpoint destination that is not empty.
    #[error("{}: {reason}", file.display())]
    InvalidInput {
        /// The file or directory.
        file: PathBuf,
        /// What is wrong with it, and what is expected.
        reason: String,
    },
    /// A range delete whose start key sorts after its end key.
    #[error("range delete from {start:?} to {end:?}: the start sorts after the end")]
    InvalidRange {
        /// The range's first key.
        start: bytes::Bytes,
        /// The range's end (exclusive).
        end: bytes::Bytes,
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
    /// A writer of a later epoch opened this database's manifest store, so this writer may
    /// no longer commit: its flushes and compactions fail, and so do its writes after the
    /// first such failure. What it flushed before is in the store; the writer that took
    /// over serves it.
    #[error("fenced: writer epoch {epoch} of {location} was taken over by writer epoch {by}")]
    Fenced {
        /// The manifest store.
        location: String,
        /// This writer's epoch.
        epoch: u64,
        /// The epoch of the writer that took over.
        by: u64,
    },
    /// A write, flush, compaction or checkpoint on a database opened with
    /// [`Db::open_read_only`](crate::Db::open_read_only).
    #[error("the database was opened read-only")]
    OpenedReadOnly,
}

/// What kind of failure an [`Error`] is, coarsely: what a caller decides on (retry, report
/// damage, fix the input, reopen) without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system failed an operation (disk full, permission, a failed fsync).
    /// Retrying may help once the cause is fixed.
    Io,
    /// Stored bytes are not what Strata wrote: a checksum failed, a file is truncated or
    /// missing. The error names the file; no wrong answer was given instead.
    Corruption,
    /// The caller's input or options are not allowed: a bad option, a key or value over the
    /// limit, a malformed compaction task or policy name.
    InvalidArgument,
    /// Another process (or `Db`) holds the database directory.
    Locked,
    /// There is no database where one was asked for.
    NotFound,
    /// The database was closed.
    Closed,
    /// An earlier background failure made the database refuse writes; reads still work and
    /// a reopen recovers. [`Error::ReadOnly`] holds the original error.
    ReadOnly,
    /// Another writer took the database's manifest store over ([`Error::Fenced`]). This
    /// handle can still read; only a reopen (which fences the other writer in turn) writes.
    Fenced,
    /// A component failed in a way none of the above describes (an encoder's internal error).
    Other,
}

impl Error {
    /// The coarse kind of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. } => ErrorKind::Io,
            Self::Corruption { .. } => ErrorKind::Corruption,
            Self::InvalidOption { .. }
            | Self::KeyTooLarge { .. }
            | Self::ValueTooLarge { .. }
            | Self::BatchTooLarge { .. }
            | Self::InvalidInput { .. }
            | Self::InvalidRange { .. }
            | Self::Memtable(_) => ErrorKind::InvalidArgument,
            Self::Locked { .. } => ErrorKind::Locked,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Closed => ErrorKind::Closed,
            Self::ReadOnly(_) | Self::OpenedReadOnly => ErrorKind::ReadOnly,
            Self::Fenced { .. } => ErrorKind::Fenced,
            Self::Table(e) => table_kind(e),
            Self::Compaction(e) => match &**e {
                strata_compaction::Error::Store(e) => table_kind(e),
                strata_compaction::Error::InvalidOption { .. }
                | strata_compaction::Error::UnknownPolicy { .. }
                | strata_compaction::Error::InvalidTask { .. }
                | strata_compaction::Error::TableNotInState { .. } => ErrorKind::InvalidArgument,
                _ => ErrorKind::Other,
            },
        }
    }

    /// Whether this reports damaged data, directly or as the cause of [`Error::ReadOnly`]:
    /// every path that meets damaged bytes (reads, scans, flushes, compactions, recovery)
    /// answers `true` here and names the damaged file.
    #[must_use]
    pub fn is_corruption(&self) -> bool {
        match self {
            Self::ReadOnly(inner) => inner.is_corruption(),
            other => other.kind() == ErrorKind::Corruption,
        }
    }

    /// An [`Error::Io`] on `file`: for stores and file systems outside this crate
    /// (`strata-object`) that report their failures as the engine's.
    pub fn io(file: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { file: file.into(), source: Arc::new(source) }
    }

    pub(crate) fn invalid_input(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::InvalidInput { file: file.into(), reason: reason.into() }
    }

    pub(crate) fn corruption(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corruption { file: file.into(), reason: reason.into() }
    }
}

/// The kind of a table-store error that was not turned into [`Error::Corruption`].
fn table_kind(e: &strata_sstable::Error) -> ErrorKind {
    use strata_sstable::Error as T;
    match e {
        T::Io { .. } => ErrorKind::Io,
        T::Corruption { .. } | T::NotFound { .. } => ErrorKind::Corruption,
        T::Source { source, .. } => table_kind(source),
        T::OutOfOrder { .. }
        | T::EmptyTable { .. }
        | T::EntryTooLarge { .. }
        | T::InvalidOptions { .. }
        | T::TableExists { .. }
        | T::Unsupported { .. } => ErrorKind::InvalidArgument,
        _ => ErrorKind::Other,
    }
}

impl From<strata_sstable::Error> for Error {
    fn from(e: strata_sstable::Error) -> Self {
        match e {
            strata_sstable::Error::Corruption { file, reason, .. } => Self::Corruption { file, reason },
            // A compaction or flush whose input stream met damaged bytes: the damage is the
            // news, and it names the damaged input, not the output being written.
            strata_sstable::Error::Source { source, .. } if source.is_corruption() => Self::from(*source),
            // The engine asks a store only for tables its manifest names: a missing one is
            // lost data, not a caller's mistake.
            strata_sstable::Error::NotFound { file } => {
                Self::Corruption { file, reason: "a table the manifest names is missing".into() }
            }
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
