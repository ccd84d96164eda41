//! The error type of `strata-bloom`.

/// What can go wrong when sizing or decoding a filter.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A sizing parameter is outside its allowed range.
    #[error("invalid filter policy: {field} = {value} (allowed: {allowed})")]
    InvalidPolicy {
        /// The parameter's name.
        field: &'static str,
        /// The rejected value.
        value: f64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// Persisted filter bytes are damaged or not a Strata filter.
    #[error("corrupt bloom filter: {reason}")]
    Corrupt {
        /// What check failed.
        reason: String,
    },
    /// The bytes are a Strata filter of a format version this build does not know.
    #[error("unsupported bloom filter format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version found in the bytes.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
}
