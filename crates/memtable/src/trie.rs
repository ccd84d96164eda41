//! `trie`: a byte-wise radix trie with compressed paths.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(key length); splits at most one edge |
//! | get | O(key length), independent of how many keys are stored |
//! | scan | a depth-first walk; subtrees outside the range are skipped whole |
//!
//! Each edge holds a run of key bytes, so keys that share a prefix store it once: long
//! keys with common prefixes (paths, tenant ids, timestamps) take less memory than in the
//! other variants. Versions of a key hang off its node, newest first.
//!
//! A single reader-writer lock guards the trie: inserts are serialized, reads proceed in
//! parallel, and iterators copy a chunk at a time under the read lock (see `cursor`). Every
//! walk, including drop, uses an explicit stack, so a trie of very long keys cannot
//! overflow the thread's stack.
//!
//! Choose it for prefix-heavy key spaces and prefix scans. For random keys without shared
//! prefixes it pays a node per key plus branching nodes, and lookups chase more pointers
//! than a skip list.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue, compare_internal};

use crate::Memtable;
use crate::cursor::{ChunkSource, ChunkedIter};

struct Version {
    seq: SeqNo,
    kind: ValueKind,
    value: Box<[u8]>,
}

#[derive(Default)]
struct Node {
    /// The key bytes on the edge from the parent.
    label: Box<[u8]>,
    /// Versions of the key that ends here, newest first.
    versions: Vec<Version>,
    /// Children, ordered by the first byte of their labels (which are distinct).
    children: Vec<Node>,
}

impl Node {
    fn child_index(&self, byte: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&byte, |c| c.label[0])
    }
}

#[derive(Default)]
struct Trie {
    root: Node,
    len: usize,
}

impl Drop for Trie {
    fn drop(&mut self) {
        // Dropping nested vectors recursively would use stack proportional to key length.
        let mut stack = std::mem::take(&mut self.root.children);
        while let Some(mut node) = stack.pop() {
            stack.append(&mut node.children);
        }
    }
}

fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

impl Trie {
    /// Inserts a version and returns the heap bytes it added.
    fn insert(&mut self, key: &[u8], version: Version) -> usize {
        let mut added = version.value.len();
        let mut node = &mut self.root;
        let mut rest = key;
        while let Some(&first) = rest.first() {
            let pos = match node.child_index(first) {
                Ok(pos) => pos,
                Err(pos) => {
                    let before = vec_bytes(&node.children);
                    let leaf = Node { label: rest.into(), versions: Vec::with_capacity(1), children: Vec::new() };
                    added += rest.len() + vec_bytes(&leaf.versions);
                    node.children.insert(pos, leaf);
                    added += vec_bytes(&node.children) - before;
                    node = &mut node.children[pos];
                    break;
                }
            };
            let child = &mut node.children[pos];
            let common = child.label.iter().zip(rest).take_while(|(a, b)| a == b).count();
            if common < child.label.len() {
                // Split the edge: the child keeps the tail of its label under a new node that
                // holds the shared head. Label bytes are conserved; the new child vector is not.
                let tail: Box<[u8]> = child.label[common..].into();
                let head: Box<[u8]> = child.label[..common].into();
                let mut lower = std::mem::take(child);
                lower.label = tail;
                child.label = head;
                child.children = Vec::with_capacity(2);
                child.children.push(lower);
                added += vec_bytes(&child.children);
            }
            node = child;
            rest = &rest[common..];
        }
        let before = vec_bytes(&node.versions);
        let at = node.versions.partition_point(|v| v.seq > version.seq);
        node.versions.insert(at, version);
        added += vec_bytes(&node.versions) - before;
        self.len += 1;
        added
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<&Version> {
        let mut node = &self.root;
        let mut rest = key;
        while let Some(&first) = rest.first() {
            let child = &node.children[node.child_index(first).ok()?];
            rest = rest.strip_prefix(&child.label[..])?;
            node = child;
        }
        node.versions.iter().find(|v| v.seq <= snapshot)
    }
}

/// Whether every key that starts with `prefix` sorts before `bound`.
fn subtree_before(prefix: &[u8], bound: &[u8]) -> bool {
    prefix < bound && !bound.starts_with(prefix)
}

/// The `trie` memtable. See the [module docs](self).
#[derive(Default)]
pub struct TrieMemtable {
    trie: RwLock<Trie>,
    bytes: AtomicUsize,
}

impl std::fmt::Debug for TrieMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrieMemtable").field("len", &self.len()).finish()
    }
}

impl TrieMemtable {
    /// An empty memtable.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Trie> {
        self.trie.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Memtable for TrieMemtable {
    type Iter<'a> = ChunkedIter<'a, Self>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let value = if kind.is_delete() { Box::default() } else { value.into() };
        let added = self.trie.write().unwrap_or_else(PoisonError::into_inner).insert(key, Version { seq, kind, value });
        self.bytes.fetch_add(added, Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let trie = self.read();
        let v = trie.get(key, snapshot)?;
        Some(VersionedValue { seq: v.seq, kind: v.kind, value: Bytes::copy_from_slice(&v.value) })
    }

    fn range(&self, range: &KeyRange) -> ChunkedIter<'_, Self> {
        ChunkedIter::new(self, range)
    }

    fn len(&self) -> usize {
        self.read().len
    }

    fn approximate_memory_usage(&self) -> usize {
        size_of::<Trie>() + self.bytes.load(Ordering::Relaxed)
    }

    fn supports_concurrent_inserts(&self) -> bool {
        false
    }
}

impl ChunkSource for TrieMemtable {
    fn fill_chunk(&self, range: &KeyRange, after: Option<(&[u8], SeqNo)>, max: usize, out: &mut VecDeque<Entry>) {
        let trie = self.read();
        // The lowest key still wanted: the cursor if there is one, else the range start.
        let lower = match (after, range.start()) {
            (Some((k, _)), _) | (None, Bound::Included(k) | Bound::Excluded(k)) => Some(k),
            (None, Bound::Unbounded) => None,
        };
        let mut key = Vec::new();
        // Pre-order with children in byte order visits keys in ascending order.
        let mut stack: Vec<(&Node, usize)> = vec![(&trie.root, 0)];
        while let Some((node, depth)) = stack.pop() {
            key.truncate(depth);
            key.extend_from_slice(&node.label);
            if lower.is_some_and(|l| subtree_before(&key, l)) {
                continue;
            }
            // Every key left to visit is >= this one.
            if range.is_past_end(&key) {
                return;
            }
            if range.contains(&key) {
                for v in &node.versions {
                    let is_new = after.is_none_or(|(ak, aseq)| compare_internal(&key, v.seq, ak, aseq).is_gt());
                    if is_new {
                        let value = Bytes::copy_from_slice(&v.value);
                        out.push_back(Entry { key: Bytes::copy_from_slice(&key), seq: v.seq, kind: v.kind, value });
                        if out.len() == max {
                            return;
                        }
                    }
                }
            }
            stack.extend(node.children.iter().rev().map(|c| (c, key.len())));
        }
    }
}
