//! `AnyMemtable`: a memtable whose variant is chosen at run time.

use std::ops::Bound;

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue};

use crate::{
    EnhancedSkipListMemtable, Error, HashLinkedListMemtable, HashSkipListMemtable, LinkedListMemtable, Memtable,
    MemtableKind, MemtableOptions, SkipListMemtable, SortedMemtable, TrieMemtable, VectorMemtable,
};

/// Runs `$body` with `$m` bound to the variant inside `$self`.
macro_rules! dispatch {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnyMemtable::SkipList($m) => $body,
            AnyMemtable::EnhancedSkipList($m) => $body,
            AnyMemtable::Sorted($m) => $body,
            AnyMemtable::Vector($m) => $body,
            AnyMemtable::Trie($m) => $body,
            AnyMemtable::LinkedList($m) => $body,
            AnyMemtable::HashSkipList($m) => $body,
            AnyMemtable::HashLinkedList($m) => $body,
        }
    };
}

/// One of the eight memtables, chosen by [`MemtableKind`] at run time.
///
/// ```
/// use strata_memtable::{AnyMemtable, Memtable, MemtableOptions};
/// use strata_core::ValueKind;
///
/// let m = AnyMemtable::from_name("trie", &MemtableOptions::default()).unwrap();
/// m.insert(b"k", 1, ValueKind::Put, b"v");
/// assert_eq!(&m.get(b"k", 1).unwrap().value[..], b"v");
/// assert!(AnyMemtable::from_name("btree", &MemtableOptions::default()).is_err());
/// ```
#[derive(Debug)]
#[allow(missing_docs, reason = "each variant is the memtable of the same name")]
#[allow(clippy::large_enum_variant, reason = "one value per memtable; boxing would add an indirection to every call")]
pub enum AnyMemtable {
    SkipList(SkipListMemtable),
    EnhancedSkipList(EnhancedSkipListMemtable),
    Sorted(SortedMemtable),
    Vector(VectorMemtable),
    Trie(TrieMemtable),
    LinkedList(LinkedListMemtable),
    HashSkipList(HashSkipListMemtable),
    HashLinkedList(HashLinkedListMemtable),
}

impl AnyMemtable {
    /// An empty memtable of `kind`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when `options` are out of range.
    pub fn new(kind: MemtableKind, options: &MemtableOptions) -> Result<Self, Error> {
        options.validate()?;
        Ok(match kind {
            MemtableKind::SkipList => Self::SkipList(SkipListMemtable::new()),
            MemtableKind::EnhancedSkipList => Self::EnhancedSkipList(EnhancedSkipListMemtable::new()),
            MemtableKind::Sorted => Self::Sorted(SortedMemtable::new()),
            MemtableKind::Vector => Self::Vector(VectorMemtable::new()),
            MemtableKind::Trie => Self::Trie(TrieMemtable::new()),
            MemtableKind::LinkedList => Self::LinkedList(LinkedListMemtable::new()),
            MemtableKind::HashSkipList => Self::HashSkipList(HashSkipListMemtable::new(options)),
            MemtableKind::HashLinkedList => Self::HashLinkedList(HashLinkedListMemtable::new(options)),
        })
    }

    /// An empty memtable of the variant named `name`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKind`] listing the valid names, or [`Error::InvalidOption`].
    pub fn from_name(name: &str, options: &MemtableOptions) -> Result<Self, Error> {
        Self::new(name.parse()?, options)
    }

    /// The variant.
    #[must_use]
    pub const fn kind(&self) -> MemtableKind {
        match self {
            Self::SkipList(_) => MemtableKind::SkipList,
            Self::EnhancedSkipList(_) => MemtableKind::EnhancedSkipList,
            Self::Sorted(_) => MemtableKind::Sorted,
            Self::Vector(_) => MemtableKind::Vector,
            Self::Trie(_) => MemtableKind::Trie,
            Self::LinkedList(_) => MemtableKind::LinkedList,
            Self::HashSkipList(_) => MemtableKind::HashSkipList,
            Self::HashLinkedList(_) => MemtableKind::HashLinkedList,
        }
    }
}

/// The iterator of [`AnyMemtable`].
#[allow(missing_docs, reason = "each variant is the iterator of the memtable of the same name")]
#[derive(Debug)]
pub enum AnyIter<'a> {
    SkipList(<SkipListMemtable as Memtable>::Iter<'a>),
    EnhancedSkipList(<EnhancedSkipListMemtable as Memtable>::Iter<'a>),
    Sorted(<SortedMemtable as Memtable>::Iter<'a>),
    Vector(<VectorMemtable as Memtable>::Iter<'a>),
    Trie(<TrieMemtable as Memtable>::Iter<'a>),
    LinkedList(<LinkedListMemtable as Memtable>::Iter<'a>),
    HashSkipList(<HashSkipListMemtable as Memtable>::Iter<'a>),
    HashLinkedList(<HashLinkedListMemtable as Memtable>::Iter<'a>),
}

impl Iterator for AnyIter<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        match self {
            Self::SkipList(i) => i.next(),
            Self::EnhancedSkipList(i) => i.next(),
            Self::Sorted(i) => i.next(),
            Self::Vector(i) => i.next(),
            Self::Trie(i) => i.next(),
            Self::LinkedList(i) => i.next(),
            Self::HashSkipList(i) => i.next(),
            Self::HashLinkedList(i) => i.next(),
        }
    }
}

impl Memtable for AnyMemtable {
    type Iter<'a> = AnyIter<'a>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        dispatch!(self, m => m.insert(key, seq, kind, value));
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        dispatch!(self, m => m.get(key, snapshot))
    }

    fn visit_range(&self, range: &KeyRange, visit: &mut crate::EntryVisitor<'_>) {
        dispatch!(self, m => m.visit_range(range, visit));
    }

    fn range(&self, range: &KeyRange) -> AnyIter<'_> {
        match self {
            Self::SkipList(m) => AnyIter::SkipList(m.range(range)),
            Self::EnhancedSkipList(m) => AnyIter::EnhancedSkipList(m.range(range)),
            Self::Sorted(m) => AnyIter::Sorted(m.range(range)),
            Self::Vector(m) => AnyIter::Vector(m.range(range)),
            Self::Trie(m) => AnyIter::Trie(m.range(range)),
            Self::LinkedList(m) => AnyIter::LinkedList(m.range(range)),
            Self::HashSkipList(m) => AnyIter::HashSkipList(m.range(range)),
            Self::HashLinkedList(m) => AnyIter::HashLinkedList(m.range(range)),
        }
    }

    fn key_before(&self, start: Bound<&[u8]>, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        dispatch!(self, m => m.key_before(start, end, back))
    }

    fn len(&self) -> usize {
        dispatch!(self, m => m.len())
    }

    fn approximate_memory_usage(&self) -> usize {
        dispatch!(self, m => m.approximate_memory_usage())
    }

    fn supports_concurrent_inserts(&self) -> bool {
        dispatch!(self, m => m.supports_concurrent_inserts())
    }

    fn seal(&self) {
        dispatch!(self, m => m.seal());
    }
}
