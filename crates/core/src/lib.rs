//! Types shared by every Strata crate.
//!
//! * [`SeqNo`] and [`ValueKind`]: every write gets a sequence number; a key's versions are
//!   ordered by it, and a [`ValueKind::Delete`] is a tombstone that hides older versions.
//! * The internal key order ([`compare_internal`]): user key ascending, then sequence
//!   number descending, so the newest version of a key comes first.
//! * [`Entry`], one version of one key, and [`VersionedValue`], the answer of a point lookup.
//! * [`KeyRange`], the bounds of a scan.
//! * [`fs::FileSystem`], the one interface all file I/O goes through, so tests can inject
//!   faults; [`fs::StdFs`] is the real file system.
//! * [`MergeIter`], a k-way merge of sorted entry streams, and [`VisibleIter`], which applies
//!   the visibility rule at a snapshot: the newest version with `seq <= snapshot` wins and a
//!   tombstone hides everything older.
//!
//! # Example
//!
//! ```
//! use strata_core::{Entry, MergeIter, VisibleIter};
//! use std::convert::Infallible;
//!
//! // Two sorted sources: a newer one (a memtable) and an older one (a table).
//! let newer = vec![Entry::delete("a", 7), Entry::put("c", 9, "c@9")];
//! let older = vec![Entry::put("a", 3, "a@3"), Entry::put("b", 2, "b@2"), Entry::put("c", 4, "c@4")];
//! let sources = [newer, older].map(|s| s.into_iter().map(Ok::<_, Infallible>));
//!
//! let merged = MergeIter::new(sources.into_iter().collect());
//! let visible: Vec<Entry> = VisibleIter::new(merged, 8).map(Result::unwrap).collect();
//! // "a" is deleted at 7; "c@9" is newer than the snapshot 8, so "c@4" is seen.
//! let keys: Vec<(&[u8], &[u8])> = visible.iter().map(|e| (&e.key[..], &e.value[..])).collect();
//! assert_eq!(keys, [(&b"b"[..], &b"b@2"[..]), (&b"c"[..], &b"c@4"[..])]);
//! ```
#![deny(missing_docs)]

pub mod alloc;
mod entry;
mod error;
pub mod fs;
mod key;
mod manifest_store;
mod merge;
pub mod parallel;
mod range;
mod range_del;
pub mod rate;
#[cfg(feature = "testing")]
pub mod testing;
mod visible;

pub use bytes::Bytes;
pub use entry::{Entry, VersionedValue};
pub use error::Error;
pub use key::{MAX_SEQNO, MAX_WRITE_SEQNO, SeqNo, ValueKind, cmp_keys, compare_internal, keys_equal};
pub use manifest_store::{ManifestStore, MemManifestStore};
pub use merge::MergeIter;
pub use range::{KeyRange, prefix_successor};
pub use range_del::{RangeDelIndex, RangeTombstone};
pub use rate::{Priority, RateLimiter};
pub use visible::{LastKey, VisibleIter};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
