//! `strata bench`: benchmarks.

pub(crate) mod engine;
pub(crate) mod engines;
pub(crate) mod memtables;
pub(crate) mod plot;
pub(crate) mod report;
mod workload;
mod zipf;
