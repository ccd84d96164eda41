//! The error type of `strata-compaction`.

use crate::TableId;

/// What can go wrong configuring a policy or executing a compaction task.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The table store failed while reading inputs or writing outputs. Tables this task had
    /// already written were deleted before the error was returned.
    #[error("table store: {0}")]
    Store(#[from] strata_sstable::Error),
    /// A policy option is outside its allowed range.
    #[error("invalid compaction option {field} = {value}: allowed {allowed}")]
    InvalidOption {
        /// The option's name, as written in the configuration.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// No policy has this name.
    #[error("unknown compaction policy {name:?}; valid policies are: {valid}")]
    UnknownPolicy {
        /// The name asked for.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A task names a table that is not at the stated level of the level state.
    #[error("compaction task input table {id} is not in level {level} of the level state")]
    TableNotInState {
        /// The table.
        id: TableId,
        /// The level the task says it is in.
        level: usize,
    },
    /// A task is malformed: no inputs, a table listed twice, or a shape its kind does not allow.
    #[error("invalid compaction task: {reason}")]
    InvalidTask {
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid_option(field: &'static str, value: impl ToString, allowed: impl Into<String>) -> Self {
        Self::InvalidOption { field, value: value.to_string(), allowed: allowed.into() }
    }

    pub(crate) fn invalid_task(reason: impl Into<String>) -> Self {
        Self::InvalidTask { reason: reason.into() }
    }
}
