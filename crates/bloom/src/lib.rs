//! Persisted Bloom filters for Strata tables (not built yet).
//!
//! This crate will hold a Bloom filter on `fastbloom` sized by bits per key or by a target
//! false-positive rate, with a fixed, versioned hash seed so a filter written today answers
//! the same after a restart, and checksummed `to_bytes`/`from_bytes`.
#![deny(missing_docs)]
