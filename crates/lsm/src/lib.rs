//! Strata, the engine (not built yet).
//!
//! This crate will hold `Db<M, S, C>`: the write-ahead log, manifest, write and read paths,
//! snapshots, iterators, background flush and compaction threads, and `Options`. Until then,
//! the memtable layer lives in `strata-memtable` and core types in `strata-core`.
#![deny(missing_docs)]
