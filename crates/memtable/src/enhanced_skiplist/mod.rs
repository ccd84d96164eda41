//! `enhanced_skiplist`, the default memtable: our own concurrent skip list whose nodes, keys
//! and values live inline in an arena.
//!
//! | operation | cost |
//! |---|---|
//! | insert | O(log n), lock-free; one bump allocation, no `malloc` |
//! | get | O(log n), lock-free; keys are compared in place, one cache line per hop |
//! | scan | O(log n) seek, then O(1) per entry along the bottom level |
//!
//! A node is one arena allocation: a 24-byte header (which caches the first 8 key bytes
//! as a number, so most comparisons never touch the key, and packs the key length, the
//! tower height and the kind into one word), a tower of `height` next pointers, then the
//! key bytes and the value bytes. Heights are geometric with p = 1/2. Keys are limited to
//! 16 MiB (the engine's own limit is 64 KiB) and values to 4 GiB.
//! Inserts link a node bottom-up with compare-and-swap, retrying a level from its last
//! known predecessor when another insert got there first; nothing is ever unlinked, so there
//! is no ABA problem and no reclamation scheme: the arena frees everything at once when the
//! memtable is dropped.
//!
//! Each insert remembers its splice (the nodes before and after it at every level), and the
//! next insert starts from the lowest level of that splice that still brackets its key, as
//! RocksDB's inline skip list does: an insert just after the last one (sequential keys, a
//! batch's keys in order) finds its place in O(1) instead of walking from the top. Only
//! one insert at a time can use the splice; a concurrent insert that finds it taken searches
//! from the top.
//!
//! A large memtable does not fit in cache, so a search costs about one cache miss per node
//! it visits. Two measured choices cut that cost (`strata bench --memtables`, 1M entries):
//! p = 1/2 rather than RocksDB's 1/4, and prefetching the node the search would drop down
//! to while it compares the node to its right, so the two misses overlap. Huge-page arena
//! blocks were tried too and measured no gain on this hardware, so they are not used.
//!
//! Choose it for write-heavy workloads: it inserts fastest, uses the least memory per
//! entry, and its memory accounting is exact (it counts arena blocks). The cost is that
//! memory is only returned when the whole memtable is dropped, which is exactly a
//! memtable's life cycle.

mod arena;

use std::cell::Cell;
use std::cmp::Ordering as CmpOrdering;
use std::marker::PhantomData;
use std::ops::Bound;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, TryLockError};

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue, compare_internal};

use self::arena::Arena;
use crate::Memtable;
use crate::skiplist::internal_bounds;
use crate::slab::Slab;

/// Tallest tower. With p = 1/2, 24 levels index 2^24 = 16.7 million entries well.
const MAX_HEIGHT: usize = 24;

/// Node header. The tower, key and value follow it in the same allocation.
#[repr(C)]
struct Node {
    /// The first 8 key bytes, big-endian, zero-padded: most comparisons end here, on the
    /// cache line the search already loaded, without touching the key bytes.
    prefix: u64,
    seq: SeqNo,
    value_len: u32,
    /// The key length in the low [`KEY_LEN_BITS`] bits, the tower height in the next
    /// [`HEIGHT_BITS`] and the kind byte in the top [`KIND_BITS`]: 8 bytes a node fewer than
    /// three fields of their own (and their padding) took.
    key_meta: u32,
    tower: [AtomicPtr<Node>; 0],
}

const HEADER: usize = size_of::<Node>();
const KEY_LEN_BITS: u32 = 24;
const HEIGHT_BITS: u32 = 5;
const KIND_BITS: u32 = 32 - KEY_LEN_BITS - HEIGHT_BITS;
/// The longest key a node holds.
const MAX_NODE_KEY_LEN: usize = (1 << KEY_LEN_BITS) - 1;
const _: () = {
    assert!(HEADER == 24);
    assert!(MAX_HEIGHT < 1 << HEIGHT_BITS);
    // The kind with the largest byte.
    assert!((ValueKind::RangeDelete as u32) < 1 << KIND_BITS);
};

/// A node's `key_meta` word.
fn key_meta(key_len: usize, height: usize, kind: ValueKind) -> u32 {
    assert!(key_len <= MAX_NODE_KEY_LEN, "a {key_len}-byte key: enhanced_skiplist holds keys up to 16 MiB");
    debug_assert!(height <= MAX_HEIGHT);
    key_len as u32 | (height as u32) << KEY_LEN_BITS | u32::from(kind.as_u8()) << (KEY_LEN_BITS + HEIGHT_BITS)
}

impl Node {
    fn alloc_size(height: usize, key_len: usize, value_len: usize) -> usize {
        HEADER + height * size_of::<AtomicPtr<Node>>() + key_len + value_len
    }
}

/// Where the tower of the node at `node` starts, right after the header (the key and value
/// follow the tower). Address arithmetic only, with `node`'s provenance: the one place that
/// finds it, for the writer and the readers alike.
fn tower_of(node: *mut Node) -> *mut AtomicPtr<Node> {
    node.wrapping_byte_add(std::mem::offset_of!(Node, tower)).cast()
}

/// A published node, by the arena's pointer to it.
///
/// Not a `&Node`: a reference covers only the 24-byte header, while the tower, key and value
/// lie after it in the same allocation. Reaching them through a pointer derived from a
/// header reference goes outside that reference's bounds, which Stacked Borrows (the aliasing
/// model Miri checks) makes undefined behaviour. This handle keeps the pointer the arena
/// returned, which covers the whole node, and makes a reference for the header's fields only.
#[derive(Clone, Copy)]
struct NodeRef<'a> {
    ptr: NonNull<Node>,
    _arena: PhantomData<&'a Node>,
}

impl<'a> NodeRef<'a> {
    /// The node at `ptr`, or `None` for null.
    ///
    /// # Safety
    ///
    /// A non-null `ptr` points at a node fully written by `alloc_node`, in an arena that
    /// outlives `'a`, and came from the arena's pointer to it (not from a `&Node`).
    unsafe fn new(ptr: *const Node) -> Option<Self> {
        NonNull::new(ptr.cast_mut()).map(|ptr| Self { ptr, _arena: PhantomData })
    }

    /// The node at `ptr`.
    ///
    /// # Safety
    ///
    /// As for [`Self::new`].
    unsafe fn from_non_null(ptr: NonNull<Node>) -> Self {
        Self { ptr, _arena: PhantomData }
    }

    fn as_ptr(self) -> *mut Node {
        self.ptr.as_ptr()
    }

    /// The header. Its fields are written once, before the node is published.
    fn header(self) -> &'a Node {
        // SAFETY: `new`'s contract: a fully written node alive for `'a`; nothing writes its
        // header after publication.
        unsafe { self.ptr.as_ref() }
    }

    fn seq(self) -> SeqNo {
        self.header().seq
    }

    fn height(self) -> usize {
        (self.header().key_meta >> KEY_LEN_BITS) as usize & ((1 << HEIGHT_BITS) - 1)
    }

    fn key_len(self) -> usize {
        self.header().key_meta as usize & MAX_NODE_KEY_LEN
    }

    /// The first byte after the header: the tower's start.
    fn tail(self) -> *mut u8 {
        tower_of(self.ptr.as_ptr()).cast()
    }

    /// The `level` next pointer.
    ///
    /// # Safety
    ///
    /// `level < self.height()`.
    unsafe fn next(self, level: usize) -> &'a AtomicPtr<Node> {
        debug_assert!(level < self.height());
        // SAFETY: the tower of `height` pointers directly follows the header in the node's
        // allocation (8-aligned, as the header is 24 bytes), the caller guarantees
        // `level < height`, and `ptr` covers the whole allocation.
        unsafe { &*self.tail().cast::<AtomicPtr<Node>>().add(level) }
    }

    fn key(self) -> &'a [u8] {
        let offset = self.height() * size_of::<AtomicPtr<Node>>();
        // SAFETY: the key bytes follow the tower; they were written before the node was
        // published and are never modified afterwards.
        unsafe { std::slice::from_raw_parts(self.tail().add(offset), self.key_len()) }
    }

    fn value(self) -> &'a [u8] {
        let offset = self.height() * size_of::<AtomicPtr<Node>>() + self.key_len();
        // SAFETY: the value bytes follow the key, written before publication, never modified.
        unsafe { std::slice::from_raw_parts(self.tail().add(offset), self.header().value_len as usize) }
    }

    #[expect(clippy::expect_used, reason = "nodes are written only from a valid ValueKind")]
    fn kind(self) -> ValueKind {
        let byte = (self.header().key_meta >> (KEY_LEN_BITS + HEIGHT_BITS)) as u8;
        ValueKind::from_u8(byte).expect("invariant: nodes store a valid kind byte")
    }

    /// Compares this node to the internal key `(key, seq)`, where `prefix` is
    /// `key_prefix(key)`.
    ///
    /// Differing zero-padded prefixes order keys the same way the keys do: if they differ at
    /// byte i, either both keys have byte i, or the shorter one ended before i and is a
    /// prefix of the other (and the other's byte i is non-zero), so it is smaller either way.
    #[inline]
    fn cmp_to(self, key: &[u8], prefix: u64, seq: SeqNo) -> CmpOrdering {
        match self.header().prefix.cmp(&prefix) {
            CmpOrdering::Equal => compare_internal(self.key(), self.seq(), key, seq),
            unequal => unequal,
        }
    }
}

/// Hints the CPU to start loading the cache line at `node`. A hint only: it never faults,
/// whatever the pointer.
#[inline]
fn prefetch(node: *const Node) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch instructions do not access memory architecturally and cannot fault,
    // even for null or dangling pointers; SSE is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(node.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = node;
}

/// The first 8 bytes of `key` as a big-endian number, zero-padded.
#[inline]
fn key_prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    // splitmix64 of a per-thread counter: distinct, well-mixed seeds without a dependency.
    let mut z = NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

fn random_height() -> usize {
    let r = RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        x
    });
    // Each zero bit adds a level: P(height > h) = 2^-h.
    1 + (r.trailing_zeros() as usize).min(MAX_HEIGHT - 1)
}

/// Where the last insert linked its node: at each level, the node before the place it
/// searched for and the node that followed.
struct Splice {
    /// Levels the splice covers: the list's height when it was taken (0: none yet).
    height: usize,
    /// The head until an insert stores a node there.
    prev: [NonNull<Node>; MAX_HEIGHT],
    next: [*mut Node; MAX_HEIGHT],
}

// SAFETY: the pointers are the head or nodes of the arena of the memtable that owns the
// splice; they are only dereferenced by that memtable, which is itself `Send` and `Sync`.
unsafe impl Send for Splice {}

/// The `enhanced_skiplist` memtable. See the [module docs](self).
pub struct EnhancedSkipListMemtable {
    arena: Arena,
    head: NonNull<Node>,
    /// The tallest tower installed so far; searches start there.
    height: AtomicUsize,
    len: AtomicUsize,
    /// The last insert's splice, for the next insert to start from.
    splice: Mutex<Splice>,
}

// SAFETY: the raw pointers point into the memtable's own arena. Nodes are immutable after
// publication except for their next pointers, which are atomics, so sharing and sending the
// memtable between threads is sound.
unsafe impl Send for EnhancedSkipListMemtable {}
// SAFETY: see `Send`: all shared mutation goes through atomics.
unsafe impl Sync for EnhancedSkipListMemtable {}

impl Default for EnhancedSkipListMemtable {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EnhancedSkipListMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnhancedSkipListMemtable").field("len", &self.len()).finish()
    }
}

impl EnhancedSkipListMemtable {
    /// An empty memtable.
    #[must_use]
    pub fn new() -> Self {
        let arena = Arena::new();
        let head = Self::alloc_node(&arena, MAX_HEIGHT, b"", 0, ValueKind::Put, b"");
        let splice = Splice { height: 0, prev: [head; MAX_HEIGHT], next: [ptr::null_mut(); MAX_HEIGHT] };
        Self { arena, head, height: AtomicUsize::new(1), len: AtomicUsize::new(0), splice: Mutex::new(splice) }
    }

    /// Whether level `level` of `splice` still brackets `(key, seq)`: its node before is
    /// before the key and its node after is at or after it (or the end). A node inserted in
    /// between since does not make this wrong, only stale: linking compares and swaps the
    /// pointer from the node after, so it fails and walks on from the node before.
    fn brackets(&self, splice: &Splice, level: usize, key: &[u8], prefix: u64, seq: SeqNo) -> bool {
        let prev = splice.prev[level];
        // SAFETY: below `splice.height`, the splice holds the head or nodes of this
        // memtable's arena (only `insert` writes it), published before they were stored.
        let before =
            prev == self.head || unsafe { NodeRef::from_non_null(prev) }.cmp_to(key, prefix, seq) == CmpOrdering::Less;
        // SAFETY: as above; a null next is the end of the level.
        before
            && unsafe { NodeRef::new(splice.next[level]) }
                .is_none_or(|n| n.cmp_to(key, prefix, seq) != CmpOrdering::Less)
    }

    /// Allocates and fully initializes a node with null next pointers.
    #[expect(clippy::expect_used, reason = "the engine limits values far below 4 GiB")]
    fn alloc_node(
        arena: &Arena,
        height: usize,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> NonNull<Node> {
        let key_meta = key_meta(key.len(), height, kind);
        let value_len = u32::try_from(value.len()).expect("invariant: the engine limits values far below 4 GiB");
        let ptr = arena.alloc(Node::alloc_size(height, key.len(), value.len())).cast::<Node>();
        // SAFETY: the arena returned an 8-aligned block of `alloc_size` bytes, enough for the
        // header, `height` tower slots, the key and the value; we write each exactly once
        // before the pointer escapes.
        unsafe {
            let node = ptr.as_ptr();
            ptr::addr_of_mut!((*node).prefix).write(key_prefix(key));
            ptr::addr_of_mut!((*node).seq).write(seq);
            ptr::addr_of_mut!((*node).value_len).write(value_len);
            ptr::addr_of_mut!((*node).key_meta).write(key_meta);
            let tower = tower_of(node);
            for level in 0..height {
                tower.add(level).write(AtomicPtr::new(ptr::null_mut()));
            }
            let data = tower.add(height).cast::<u8>();
            ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
            ptr::copy_nonoverlapping(value.as_ptr(), data.add(key.len()), value.len());
        }
        ptr
    }

    fn head(&self) -> NodeRef<'_> {
        // SAFETY: the head is the arena's pointer to a node `new` wrote, alive as long as `self`.
        unsafe { NodeRef::from_non_null(self.head) }
    }

    /// Walks `level` forward from `from`, returning the last node before `(key, seq)` and the
    /// first node at or after it (null at the end).
    ///
    /// # Safety
    ///
    /// `from` is the head or a node linked at `level`, so its tower has that level.
    unsafe fn walk_level<'a>(
        &'a self,
        mut from: NodeRef<'a>,
        level: usize,
        key: &[u8],
        prefix: u64,
        seq: SeqNo,
    ) -> (NodeRef<'a>, *mut Node) {
        loop {
            // SAFETY: `from` is linked at `level` (caller's contract, then by induction: a node
            // reached through a level-`level` pointer is linked at that level).
            let next = unsafe { from.next(level) }.load(Ordering::Acquire);
            if level > 0 {
                // If `next` turns out to be past the key, the search drops a level and visits
                // this node instead: start fetching it now so the two misses overlap.
                // SAFETY: `level - 1 < level`, which `from` has.
                prefetch(unsafe { from.next(level - 1) }.load(Ordering::Relaxed));
            }
            // SAFETY: non-null next pointers point at published nodes in our arena.
            match unsafe { NodeRef::new(next) } {
                Some(n) if n.cmp_to(key, prefix, seq) == CmpOrdering::Less => from = n,
                _ => return (from, next),
            }
        }
    }

    /// The first node at or after `(key, seq)` in internal key order.
    fn seek(&self, key: &[u8], seq: SeqNo) -> Option<NodeRef<'_>> {
        let prefix = key_prefix(key);
        let mut x = self.head();
        let mut next = ptr::null_mut();
        for level in (0..self.height.load(Ordering::Acquire)).rev() {
            // SAFETY: `x` is the head (which has every level) or was reached at a level
            // >= `level`, so it is linked at `level`.
            (x, next) = unsafe { self.walk_level(x, level, key, prefix, seq) };
        }
        // SAFETY: non-null next pointers point at published nodes in our arena.
        unsafe { NodeRef::new(next) }
    }

    /// At each level, the last node of that level before every version of `key` (of all
    /// nodes when `None`): the head where no node of the level is, and at the levels above
    /// the list's height.
    fn lasts_before(&self, key: Option<&[u8]>) -> [NodeRef<'_>; MAX_HEIGHT] {
        let head = self.head();
        let mut lasts = [head; MAX_HEIGHT];
        let mut x = head;
        for level in (0..self.height.load(Ordering::Acquire)).rev() {
            x = match key {
                // `(key, MAX)` sorts before every version of `key`.
                // SAFETY: `x` is the head (which has every level) or was reached at a level
                // >= `level`, so it is linked at `level`.
                Some(key) => unsafe { self.walk_level(x, level, key, key_prefix(key), SeqNo::MAX) }.0,
                None => loop {
                    // SAFETY: as above, `x` is linked at `level`; a non-null next pointer
                    // points at a published node in our arena, linked at `level` too.
                    match unsafe { NodeRef::new(x.next(level).load(Ordering::Acquire)) } {
                        Some(n) => x = n,
                        None => break x,
                    }
                },
            };
            lasts[level] = x;
        }
        lasts
    }

    /// The first node after every version of keys below the range start.
    fn seek_bound(&self, start: crate::skiplist::InternalBound<'_>) -> *mut Node {
        let node = match start {
            Bound::Unbounded => {
                // SAFETY: the head has every level.
                return unsafe { self.head().next(0) }.load(Ordering::Acquire);
            }
            Bound::Included((k, s)) => self.seek(k, s),
            Bound::Excluded((k, s)) => {
                let mut n = self.seek(k, s);
                let prefix = key_prefix(k);
                while let Some(found) = n.filter(|n| n.cmp_to(k, prefix, s) == CmpOrdering::Equal) {
                    // SAFETY: every node has level 0; its pointee is a published node.
                    n = unsafe { NodeRef::new(found.next(0).load(Ordering::Acquire)) };
                }
                n
            }
        };
        node.map_or(ptr::null_mut(), NodeRef::as_ptr)
    }
}

impl Memtable for EnhancedSkipListMemtable {
    type Iter<'a> = EnhancedSkipListIter<'a>;

    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let value = if kind.is_delete() { &[][..] } else { value };
        let height = random_height();
        let node_ptr = Self::alloc_node(&self.arena, height, key, seq, kind, value);
        // SAFETY: freshly allocated and initialized by the arena; lives as long as it.
        let node = unsafe { NodeRef::from_non_null(node_ptr) };

        let mut list_height = self.height.load(Ordering::Relaxed);
        while height > list_height {
            match self.height.compare_exchange_weak(list_height, height, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => list_height = height,
                Err(h) => list_height = h,
            }
        }

        let prefix = key_prefix(key);
        let mut prev = [self.head(); MAX_HEIGHT];
        let mut next = [ptr::null_mut(); MAX_HEIGHT];
        // The last insert's splice, unless another insert is using it.
        let mut splice = match self.splice.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        // Levels from `search_from` up are taken from the splice, checked level by level from
        // the top down while they still bracket the key; the rest are searched below them.
        let mut search_from = list_height;
        if let Some(s) = splice.as_deref().filter(|s| s.height == list_height) {
            while search_from > 0 && self.brackets(s, search_from - 1, key, prefix, seq) {
                search_from -= 1;
                // SAFETY: `brackets` just read this pointer: the head or a published node of
                // this memtable's arena, which lives as long as `self`.
                prev[search_from] = unsafe { NodeRef::from_non_null(s.prev[search_from]) };
                next[search_from] = s.next[search_from];
            }
        }
        let mut x = if search_from < list_height { prev[search_from] } else { self.head() };
        for level in (0..search_from).rev() {
            // SAFETY: `x` is the head or was reached at a level > `level` (a splice's node
            // before at a level is linked at that level).
            let (p, n) = unsafe { self.walk_level(x, level, key, prefix, seq) };
            (prev[level], next[level], x) = (p, n, p);
        }

        // Link bottom-up: once level 0 is linked the entry is visible to every reader.
        for level in 0..height {
            loop {
                // SAFETY: `level < height`, the node's own tower height.
                unsafe { node.next(level) }.store(next[level], Ordering::Relaxed);
                // SAFETY: `prev[level]` is the head or a node linked at `level`.
                let slot = unsafe { prev[level].next(level) };
                // Release publishes the node's contents (and its next pointer) to readers
                // who acquire the pointer.
                match slot.compare_exchange(next[level], node_ptr.as_ptr(), Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(_) => {
                        // Someone linked a node after prev[level]; walk on from there. prev
                        // stays before our key because nothing is ever unlinked.
                        // SAFETY: `prev[level]` is linked at `level`.
                        let (p, n) = unsafe { self.walk_level(prev[level], level, key, prefix, seq) };
                        (prev[level], next[level]) = (p, n);
                    }
                }
            }
        }
        if let Some(s) = splice.as_deref_mut() {
            // The new node is now the node before the next key at its levels.
            s.height = list_height;
            for level in 0..list_height {
                s.prev[level] = if level < height { node_ptr } else { prev[level].ptr };
                s.next[level] = next[level];
            }
        }
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue> {
        let node = self.seek(key, snapshot)?;
        (node.key() == key).then(|| VersionedValue {
            seq: node.seq(),
            kind: node.kind(),
            value: Bytes::copy_from_slice(node.value()),
        })
    }

    fn range(&self, range: &KeyRange) -> EnhancedSkipListIter<'_> {
        let (start, _) = internal_bounds(range);
        let next = if range.is_empty() { ptr::null_mut() } else { self.seek_bound(start) };
        EnhancedSkipListIter { _list: self, next, range: range.clone(), slab: Slab::default() }
    }

    /// One search for `end`, and no walk: stepping back a key at a time would take a search
    /// per key, since nodes link forward only. The answer for `back > 0` is the last node
    /// before `end` of the level whose nodes lie about `back + 1` apart (p = 1/2: level h's
    /// 2^h), so it lies `back + 1` nodes back on average, geometrically spread.
    fn key_before(&self, start: Bound<&[u8]>, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        let head = self.head().as_ptr();
        let in_range = |n: &NodeRef<'_>| n.as_ptr() != head && crate::memtable::not_below(start, n.key());
        let mut lasts = self.lasts_before(end);
        let last = Some(lasts[0]).filter(in_range)?;
        // The level whose gap, 2^level, is the largest power of two up to `back + 1`.
        let level = (usize::BITS - 1 - back.saturating_add(1).leading_zeros()) as usize;
        if back > 0 && lasts.get(level).copied().filter(in_range).is_some_and(|n| n.key() == last.key()) {
            // A tall node of the greatest key itself: step back from that key instead, so a
            // step back moves back whenever a key lies below.
            lasts = self.lasts_before(Some(last.key()));
        }
        let node = match lasts.get(level).copied().filter(in_range) {
            Some(node) => node,
            None => {
                // Fewer nodes than that before `end` past the start: the first in the range.
                let range = KeyRange::new(start.map(Bytes::copy_from_slice), Bound::Unbounded);
                // SAFETY: `seek_bound` returns null or a published node of this memtable's
                // arena, alive as long as `self`.
                unsafe { NodeRef::new(self.seek_bound(internal_bounds(&range).0)) }.unwrap_or(last)
            }
        };
        Some(Bytes::copy_from_slice(node.key()))
    }

    fn visit_range(&self, range: &KeyRange, visit: &mut crate::EntryVisitor<'_>) {
        let mut nodes = self.range(range);
        while let Some(node) = nodes.next_node() {
            if !visit(node.key(), node.seq(), node.kind(), node.value()) {
                return;
            }
        }
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn approximate_memory_usage(&self) -> usize {
        self.arena.memory_usage()
    }

    fn supports_concurrent_inserts(&self) -> bool {
        true
    }
}

/// The iterator of [`EnhancedSkipListMemtable`]: walks the bottom level, copying each entry
/// into buffers it shares with its neighbours.
pub struct EnhancedSkipListIter<'a> {
    _list: &'a EnhancedSkipListMemtable,
    next: *mut Node,
    range: KeyRange,
    slab: Slab,
}

// SAFETY: the iterator only reads published, immutable node contents and atomic next
// pointers of a memtable it borrows, which is itself `Sync`.
unsafe impl Send for EnhancedSkipListIter<'_> {}

impl<'a> EnhancedSkipListIter<'a> {
    /// The next node in the range, borrowed from the memtable.
    fn next_node(&mut self) -> Option<NodeRef<'a>> {
        // SAFETY: `next` is null or a published node of the borrowed memtable's arena, which
        // lives as long as the borrow `'a`.
        let node = unsafe { NodeRef::<'a>::new(self.next) }?;
        if self.range.is_past_end(node.key()) {
            self.next = ptr::null_mut();
            return None;
        }
        // SAFETY: every node has level 0.
        self.next = unsafe { node.next(0) }.load(Ordering::Acquire);
        // Nodes lie in the arena in insertion order, so each step of a walk is a cache miss:
        // start loading the next node while the caller works on this one.
        prefetch(self.next);
        Some(node)
    }
}

impl Iterator for EnhancedSkipListIter<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let node = self.next_node()?;
        Some(self.slab.copy(node.key(), node.seq(), node.kind(), node.value()))
    }
}

impl std::fmt::Debug for EnhancedSkipListIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnhancedSkipListIter").field("range", &self.range).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a failed step is a failed test")]

    use super::*;

    /// Checks that every level is in strictly increasing internal key order and holds only
    /// nodes tall enough for it, and that level 0 holds `len` nodes.
    fn check_levels(m: &EnhancedSkipListMemtable) {
        for level in 0..MAX_HEIGHT {
            let mut count = 0;
            // SAFETY: the head has every level; nodes reached at `level` are linked there.
            let mut node = unsafe { m.head().next(level) }.load(Ordering::Acquire);
            let mut last: Option<NodeRef<'_>> = None;
            // SAFETY: non-null next pointers point at published nodes of the arena.
            while let Some(n) = unsafe { NodeRef::new(node) } {
                assert!(n.height() > level, "a node of height {} linked at level {level}", n.height());
                if let Some(l) = last {
                    assert_eq!(
                        compare_internal(l.key(), l.seq(), n.key(), n.seq()),
                        CmpOrdering::Less,
                        "level {level} out of order"
                    );
                }
                last = Some(n);
                count += 1;
                // SAFETY: `n` is linked at `level`, so its tower has it.
                node = unsafe { n.next(level) }.load(Ordering::Acquire);
            }
            if level == 0 {
                assert_eq!(count, m.len(), "level 0 holds every entry");
            }
        }
    }

    fn key(i: u64) -> [u8; 12] {
        let mut k = [b'k'; 12];
        k[4..].copy_from_slice(&i.to_be_bytes());
        k
    }

    /// The packed key length, height and kind read back at their extremes: the engine's
    /// longest key (64 KiB), every kind, the head's tallest tower and the shortest.
    #[test]
    fn the_packed_header_word_reads_back_at_its_edges() {
        let arena = Arena::new();
        let long_key = vec![0xA5; 64 * 1024];
        let kinds = [ValueKind::Put, ValueKind::Delete, ValueKind::RangeDelete];
        for (i, &kind) in kinds.iter().enumerate() {
            for (height, key) in [(1, &long_key[..]), (MAX_HEIGHT, b"".as_slice()), (7, b"k".as_slice())] {
                let value = vec![i as u8; 1 + i * 1000];
                let node = EnhancedSkipListMemtable::alloc_node(&arena, height, key, 42, kind, &value);
                // SAFETY: `alloc_node` returned a fully written node in `arena`, alive here.
                let node = unsafe { NodeRef::from_non_null(node) };
                assert_eq!((node.height(), node.kind(), node.seq()), (height, kind, 42));
                assert_eq!((node.key(), node.value()), (key, &value[..]));
            }
        }
        let m = EnhancedSkipListMemtable::new();
        m.insert(&long_key, 1, ValueKind::Delete, b"");
        m.insert(&long_key, 2, ValueKind::Put, b"v");
        assert_eq!(m.get(&long_key, 2).map(|v| (v.kind, v.value)), Some((ValueKind::Put, Bytes::from_static(b"v"))));
        check_levels(&m);
    }

    #[test]
    #[should_panic(expected = "up to 16 MiB")]
    fn a_key_over_16_mib_is_refused() {
        EnhancedSkipListMemtable::new().insert(&vec![0; 16 << 20], 1, ValueKind::Put, b"");
    }

    #[test]
    fn inserts_from_the_last_splice_keep_every_level_ordered() {
        // Ascending (every insert reuses the splice), descending (none can), alternating ends
        // and a random walk (some levels can), and versions of one key (equal keys, newer
        // sequence numbers sort first).
        // Fewer under Miri, which interprets every step (`cargo +nightly miri test`).
        let n = if cfg!(miri) { 200 } else { 5_000u64 };
        let orders: Vec<(&str, Vec<u64>)> = vec![
            ("ascending", (0..n).collect()),
            ("descending", (0..n).rev().collect()),
            ("alternating", (0..n).map(|i| if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 }).collect()),
            ("random", (0..n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40).collect()),
        ];
        for (name, order) in orders {
            let m = EnhancedSkipListMemtable::new();
            for (seq, &i) in order.iter().enumerate() {
                m.insert(&key(i), seq as SeqNo + 1, ValueKind::Put, name.as_bytes());
            }
            check_levels(&m);
            for (seq, &i) in order.iter().enumerate() {
                let found = m.get(&key(i), SeqNo::MAX).unwrap();
                assert!(found.seq > seq as SeqNo, "{name}: key {i} lost");
            }
        }
        let m = EnhancedSkipListMemtable::new();
        for seq in 1..=1_000 {
            m.insert(&key(seq % 7), seq, ValueKind::Put, b"v");
        }
        check_levels(&m);
        // Key 3 has versions at 3, 10, ..., 493, 500.
        assert_eq!(m.get(&key(3), 499).unwrap().seq, 493);
        assert_eq!(m.get(&key(3), SeqNo::MAX).unwrap().seq, 997);
    }

    #[test]
    fn concurrent_inserts_that_find_the_splice_taken_search_from_the_top() {
        let m = EnhancedSkipListMemtable::new();
        let threads = 4u64;
        let per = if cfg!(miri) { 150 } else { 5_000u64 };
        std::thread::scope(|scope| {
            for t in 0..threads {
                let m = &m;
                scope.spawn(move || {
                    // Interleaved ascending runs: each thread's next key is just after another
                    // thread's last one, so splices go stale between uses.
                    for i in 0..per {
                        m.insert(&key(i * threads + t), i * threads + t + 1, ValueKind::Put, b"v");
                    }
                });
            }
        });
        check_levels(&m);
        assert_eq!(m.len(), (threads * per) as usize);
        for i in 0..threads * per {
            assert_eq!(m.get(&key(i), SeqNo::MAX).unwrap().seq, i + 1);
        }
    }
}
