//! Every memtable variant runs the same conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_memtable::{
    AnyMemtable, EnhancedSkipListMemtable, HashLinkedListMemtable, HashSkipListMemtable, LinkedListMemtable,
    MemtableKind, MemtableOptions, SkipListMemtable, SortedMemtable, TrieMemtable, VectorMemtable, testing,
};

#[test]
fn skiplist() {
    testing::conformance(SkipListMemtable::new);
}

#[test]
fn enhanced_skiplist() {
    testing::conformance(EnhancedSkipListMemtable::new);
}

#[test]
fn sorted() {
    testing::conformance(SortedMemtable::new);
}

#[test]
fn vector() {
    testing::conformance(VectorMemtable::new);
}

#[test]
fn trie() {
    testing::conformance(TrieMemtable::new);
}

#[test]
fn linked_list() {
    testing::conformance(LinkedListMemtable::new);
}

/// Prefix lengths of 1 and 2 over the suite's short keys put many keys in one bucket and
/// spread others, so both in-bucket order and the cross-bucket merge are exercised; a
/// single bucket checks the degenerate case.
#[test]
fn hash_skiplist() {
    for (prefix_len, bucket_count) in [(1, Some(16)), (2, None), (8, Some(1))] {
        let options = MemtableOptions { prefix_len, bucket_count };
        testing::conformance(|| HashSkipListMemtable::new(&options));
    }
}

#[test]
fn hash_linked_list() {
    for (prefix_len, bucket_count) in [(1, Some(16)), (2, None), (8, Some(1))] {
        let options = MemtableOptions { prefix_len, bucket_count };
        testing::conformance(|| HashLinkedListMemtable::new(&options));
    }
}

/// The run-time dispatch passes the suite for every name.
#[test]
fn any_memtable_every_kind() {
    for kind in MemtableKind::ALL {
        let options = MemtableOptions { prefix_len: 2, bucket_count: Some(64) };
        testing::conformance(|| AnyMemtable::new(kind, &options).expect("valid options"));
    }
}
