//! The error type of `strata-memtable`.

/// What can go wrong when choosing or configuring a memtable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The memtable name is not one of the eight variants.
    #[error("unknown memtable type {name:?}; valid names are: {valid}")]
    UnknownKind {
        /// The name that was given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// An option is outside its allowed range.
    #[error("invalid memtable option `{field}` = {value}: {allowed}")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// The value that was given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
}
