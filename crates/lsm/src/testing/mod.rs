//! Test support, behind the `testing` feature: fault injection, a crash oracle, and the
//! logic of the engine's fuzz targets.
//!
//! - [`FaultFs`] (from `strata_core::testing`, re-exported) wraps any
//!   [`crate::FileSystem`] (the real one or [`MemFs`]), fails the Nth create, write, sync,
//!   directory sync, rename or delete with `EIO` or `ENOSPC`, counts every operation, and
//!   simulates a power cut with [`FaultFs::crash`].
//! - [`Workload`] is the repeatable write stream the fault and corruption tests share.
//! - [`Oracle`] says which states a store may hold after a crash: every durable write, then
//!   a prefix of the later ones, never part of a batch.
//! - [`model`] runs the engine against a `BTreeMap` model, opened however the caller opens
//!   it (the local model test and `strata-object`'s share it).
//! - [`fuzz_wal_bytes`], [`fuzz_manifest_bytes`] and [`fuzz_engine_ops`] are the bodies of
//!   the `wal_record`, `manifest` and `engine_ops` fuzz targets in `fuzz/`; the tests in
//!   `tests/fuzz_corpus.rs` replay their seed corpora with plain `cargo test`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

mod fuzz;
pub mod model;
mod oracle;
mod workload;

pub use fuzz::{fuzz_engine_ops, fuzz_manifest_bytes, fuzz_wal_bytes};
pub use oracle::{Change, Oracle, State};
pub use strata_core::testing::{Fault, FaultError, FaultFs, MemFs, OpCounts, OpKind};
pub use workload::Workload;
