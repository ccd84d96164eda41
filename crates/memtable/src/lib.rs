//! Memtables: the in-memory write buffers of Strata.
//!
//! Every write lands in a memtable after the write-ahead log; when the memtable is full it
//! is sealed and flushed to a table. [`Memtable`] is the contract; eight variants implement
//! it, each with its own trade-off, chosen at run time by name through [`MemtableKind`] and
//! [`AnyMemtable`]:
//!
//! | name | structure | choose it for |
//! |---|---|---|
//! | `skiplist` | [`SkipListMemtable`]: crossbeam's lock-free skip list | a well-proven structure for concurrent writers and readers |
//! | `enhanced_skiplist` | [`EnhancedSkipListMemtable`]: our arena skip list, data inline | the default: the fastest inserts and gets, least memory |
//! | `sorted` | [`SortedMemtable`]: sorted array in runs | read-mostly, compact, few writer threads |
//! | `vector` | [`VectorMemtable`]: append, sort when read | bulk loads that are read after writing |
//! | `trie` | [`TrieMemtable`]: radix trie | keys with long shared prefixes, prefix scans |
//! | `linked_list` | [`LinkedListMemtable`]: one sorted list | tiny memtables only (O(n) inserts) |
//! | `hash_skiplist` | [`HashSkipListMemtable`]: prefix buckets of skip lists | point lookups and single-prefix scans |
//! | `hash_linked_list` | [`HashLinkedListMemtable`]: prefix buckets of lists | few keys per prefix, lowest overhead |
//!
//! Each variant's module documents the cost of insert, get and scan. Every variant passes
//! the same conformance suite (`testing::conformance`, feature `testing`), which your own
//! memtable can run too.
//!
//! # Example
//!
//! ```
//! use strata_core::{KeyRange, MAX_SEQNO, ValueKind};
//! use strata_memtable::{AnyMemtable, Memtable, MemtableKind, MemtableOptions};
//!
//! let kind: MemtableKind = "enhanced_skiplist".parse()?;
//! let m = AnyMemtable::new(kind, &MemtableOptions::default())?;
//! m.insert(b"user/1", 1, ValueKind::Put, b"ada");
//! m.insert(b"user/2", 2, ValueKind::Put, b"grace");
//! m.insert(b"user/1", 3, ValueKind::Delete, b"");
//!
//! // A tombstone is an answer: user/1 is deleted at seq 3, but visible at seq 2.
//! assert_eq!(m.get(b"user/1", MAX_SEQNO).unwrap().kind, ValueKind::Delete);
//! assert_eq!(&m.get(b"user/1", 2).unwrap().value[..], b"ada");
//!
//! // Iteration yields every version in internal key order.
//! let seqs: Vec<u64> = m.range(&KeyRange::prefix(b"user/")).map(|e| e.seq).collect();
//! assert_eq!(seqs, [3, 1, 2]);
//! # Ok::<(), strata_memtable::Error>(())
//! ```
#![deny(missing_docs)]

mod any;
mod cursor;
pub mod enhanced_skiplist;
mod error;
mod hash;
pub mod hash_linked_list;
pub mod hash_skiplist;
mod key;
mod kind;
pub mod linked_list;
mod list;
mod memtable;
pub mod skiplist;
mod slab;
mod slot;
pub mod sorted;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trie;
pub mod vector;

pub use any::{AnyIter, AnyMemtable};
pub use cursor::{ChunkSource, ChunkedIter};
pub use enhanced_skiplist::EnhancedSkipListMemtable;
pub use error::Error;
pub use hash::HashIter;
pub use hash_linked_list::HashLinkedListMemtable;
pub use hash_skiplist::HashSkipListMemtable;
pub use kind::{MemtableKind, MemtableOptions};
pub use linked_list::LinkedListMemtable;
pub use list::ListIter;
pub use memtable::{EntryVisitor, Memtable};
pub use skiplist::SkipListMemtable;
pub use sorted::SortedMemtable;
pub use trie::TrieMemtable;
pub use vector::VectorMemtable;
