//! The error type of `strata-sstable`.

use std::path::PathBuf;

/// What can go wrong writing or reading a table.
///
/// Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system failed an operation on `file`.
    #[error("I/O error on {}: {source}", file.display())]
    Io {
        /// The file or directory.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes of `file` are damaged or are not a Strata table: a checksum failed, a structure
    /// is truncated, a magic number is wrong, or a decoded value is impossible.
    #[error("corrupt table {}: {reason}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// The entries given to `write_table` are not strictly increasing in internal key order
    /// (user key ascending, sequence number descending, no duplicates).
    #[error("entries for {} are out of order at entry {index}: {reason}", file.display())]
    OutOfOrder {
        /// The table being written.
        file: PathBuf,
        /// The 0-based position of the offending entry in the input.
        index: u64,
        /// The offending and the previous internal key.
        reason: String,
    },
    /// `write_table` got no entries; a table without keys has no key range, so none is written.
    #[error("refusing to write empty table {}", file.display())]
    EmptyTable {
        /// The table that would have been written.
        file: PathBuf,
    },
    /// A key or value is larger than the documented limit.
    #[error("{what} of {len} bytes at entry {index} exceeds the limit of {max} bytes ({})", file.display())]
    EntryTooLarge {
        /// The table being written.
        file: PathBuf,
        /// `"key"` or `"value"`.
        what: &'static str,
        /// The 0-based position of the entry in the input.
        index: u64,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `write_table` was asked for an id whose table already exists.
    #[error("table {} already exists", file.display())]
    TableExists {
        /// The existing file.
        file: PathBuf,
    },
    /// The table does not exist.
    #[error("table {} not found", file.display())]
    NotFound {
        /// The missing file.
        file: PathBuf,
    },
    /// An option is outside its allowed range.
    #[error("invalid option {field}: {reason}")]
    InvalidOptions {
        /// The option's name.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The store's encoder failed while writing `file` (not a data-corruption condition).
    /// The source is the encoder's own error (for the Parquet store, a `ParquetError`).
    #[error("table encoder failed on {}: {source}", file.display())]
    Encode {
        /// The file being written.
        file: PathBuf,
        /// The encoder's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store cannot do what was asked (a store without files to export, for example).
    #[error("the table store does not support {what}")]
    Unsupported {
        /// The operation.
        what: &'static str,
    },
    /// The input stream of `write_table` failed; the table was not written.
    #[error("the entry stream for {} failed: {source}", file.display())]
    Source {
        /// The table that was being written.
        file: PathBuf,
        /// The stream's error.
        source: Box<Error>,
    },
}

impl Error {
    /// Whether this error reports damaged data (as opposed to I/O, misuse or bad input).
    #[must_use]
    pub fn is_corruption(&self) -> bool {
        match self {
            Self::Corruption { .. } => true,
            Self::Source { source, .. } => source.is_corruption(),
            _ => false,
        }
    }

    /// Wraps an OS error on `file`, for `map_err`: `file.sync().map_err(Error::io(&path))`.
    pub fn io(file: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let file = file.into();
        move |source| Self::Io { file, source }
    }

    /// Damaged bytes in `file`, and what check failed.
    pub fn corruption(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corruption { file: file.into(), reason: reason.into() }
    }
}
