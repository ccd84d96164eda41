//! The error type of `strata-core`.

/// What can go wrong when decoding core types.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A byte that should hold a [`crate::ValueKind`] holds something else.
    #[error("invalid value kind byte {0} (expected 0 = Put or 1 = Delete)")]
    InvalidValueKind(u8),
}
