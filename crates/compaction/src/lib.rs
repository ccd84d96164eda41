//! Compaction for Strata (not built yet).
//!
//! This crate will hold `trait CompactionPolicy` (a pure function of level state that picks
//! the next task), the leveled, size-tiered and FIFO policies, and the executor that merges
//! tables, drops shadowed versions and tombstones, and splits outputs.
#![deny(missing_docs)]
