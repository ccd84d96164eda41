//! Sorted tables for Strata (not built yet).
//!
//! This crate will hold `trait SsTableStore` (write a table from a sorted stream, open, point
//! get, range scan, delete), `TableMeta`, the Parquet implementation with page-level point
//! lookups and pruned range scans, and the table and block caches.
#![deny(missing_docs)]
