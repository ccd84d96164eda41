//! `strata bench`: benchmarks.

pub(crate) mod memtables;
mod workload;
