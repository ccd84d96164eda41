//! `strata bench`: benchmarks.

pub(crate) mod engine;
pub(crate) mod engines;
pub(crate) mod memory;
pub(crate) mod memtables;
pub(crate) mod plot;
pub(crate) mod report;
pub(crate) mod stalls;
mod workload;
mod zipf;
