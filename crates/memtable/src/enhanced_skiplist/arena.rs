//! A concurrent bump allocator: memory handed out in 8-byte-aligned pieces from large
//! blocks, all freed together when the arena is dropped.
//!
//! The fast path is one `fetch_add` on the current block's fill mark, with no lock. Only
//! when a block runs out does a thread take a mutex to install a new one. Requests larger
//! than a quarter block get a block of their own so they do not waste the current one.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Alignment of every allocation; enough for the `u64` and pointer fields of a node.
pub(super) const ALIGN: usize = 8;

/// Size of a regular block.
const BLOCK_SIZE: usize = 64 * 1024;

/// Size of the first block. Blocks double from here up to [`BLOCK_SIZE`], so an empty or
/// small memtable holds little memory, and a size-triggered flush of a small memtable is
/// not set off by the arena's first reservation alone.
const FIRST_BLOCK: usize = 4 * 1024;

struct Block {
    data: NonNull<u8>,
    cap: usize,
    used: AtomicUsize,
}

// SAFETY: a block owns its allocation outright (freed only in `Drop`); the bytes behind
// `data` are handed out in disjoint pieces by the atomic `used` counter, so sharing a block
// between threads never gives two of them the same bytes.
unsafe impl Send for Block {}
// SAFETY: see `Send`: the only shared mutation is the atomic `used`.
unsafe impl Sync for Block {}

impl Block {
    #[expect(clippy::expect_used, reason = "block sizes are small multiples of 8, always a valid layout")]
    fn new(cap: usize) -> Box<Self> {
        let layout = Layout::from_size_align(cap, ALIGN).expect("invariant: block sizes are small multiples of 8");
        // SAFETY: `cap` is non-zero (callers pass BLOCK_SIZE or a rounded-up request of at
        // least ALIGN bytes), so the layout has a non-zero size as `alloc` requires.
        let ptr = unsafe { alloc(layout) };
        let Some(data) = NonNull::new(ptr) else { handle_alloc_error(layout) };
        Box::new(Self { data, cap, used: AtomicUsize::new(0) })
    }

    /// Claims `size` bytes, or `None` when the block cannot hold them.
    fn try_claim(&self, size: usize) -> Option<NonNull<u8>> {
        let off = self.used.fetch_add(size, Ordering::Relaxed);
        if off.checked_add(size)? <= self.cap {
            // SAFETY: `off + size <= cap`, so `off` lies inside the block's allocation.
            Some(unsafe { self.data.add(off) })
        } else {
            None
        }
    }
}

impl Drop for Block {
    #[expect(clippy::expect_used, reason = "the layout was valid when the block was allocated")]
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.cap, ALIGN).expect("invariant: layout was valid at allocation");
        // SAFETY: `data` was returned by `alloc` with exactly this layout and is freed once,
        // here; the arena that owns the block no longer hands out pointers into it.
        unsafe { dealloc(self.data.as_ptr(), layout) };
    }
}

/// A block owned through a raw pointer taken from its box, freed when this is dropped.
///
/// Not a `Box<Block>`: a box asserts unique access each time it is moved, which would
/// invalidate the shared pointer `Arena::current` keeps to the same block (Miri reports it
/// under Stacked Borrows). A raw pointer asserts nothing, so both pointers stay valid.
struct OwnedBlock(NonNull<Block>);

impl OwnedBlock {
    fn new(block: Box<Block>) -> Self {
        Self(NonNull::from(Box::leak(block)))
    }

    fn as_ptr(&self) -> *mut Block {
        self.0.as_ptr()
    }
}

impl Drop for OwnedBlock {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is turned back into its box
        // once, here. The arena drops its blocks only when it is dropped itself, so no pointer
        // it handed out, nor `current`, is used after this.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

// SAFETY: an `OwnedBlock` is a `Box<Block>` by another name, and `Block` is `Send`.
unsafe impl Send for OwnedBlock {}
// SAFETY: shared access reaches only `Block`'s own `Sync` methods (see `Block`'s impls).
unsafe impl Sync for OwnedBlock {}

/// The arena. Pointers it returns stay valid until it is dropped.
pub(super) struct Arena {
    /// The block small allocations are carved from; one of `blocks`.
    current: AtomicPtr<Block>,
    /// Every block, so they can be freed on drop. Each lives at its own address, so `current`
    /// stays valid as the vector grows.
    blocks: Mutex<Vec<OwnedBlock>>,
    /// Bytes held: block capacities plus their bookkeeping.
    memory: AtomicUsize,
}

impl Arena {
    pub(super) fn new() -> Self {
        let first = OwnedBlock::new(Block::new(FIRST_BLOCK));
        let current = AtomicPtr::new(first.as_ptr());
        Self { current, blocks: Mutex::new(vec![first]), memory: AtomicUsize::new(Self::block_cost(FIRST_BLOCK)) }
    }

    const fn block_cost(cap: usize) -> usize {
        cap + size_of::<Block>() + size_of::<OwnedBlock>()
    }

    /// Bytes of heap memory the arena holds.
    pub(super) fn memory_usage(&self) -> usize {
        self.memory.load(Ordering::Relaxed) + size_of::<Self>()
    }

    /// Allocates `size` bytes aligned to [`ALIGN`]. The memory is uninitialized.
    pub(super) fn alloc(&self, size: usize) -> NonNull<u8> {
        let size = size.max(1).next_multiple_of(ALIGN);
        if size > BLOCK_SIZE / 4 {
            return self.alloc_dedicated(size);
        }
        loop {
            let current = self.current.load(Ordering::Acquire);
            // SAFETY: `current` always points at a block owned by `self.blocks`, which are
            // only freed when the arena is dropped, and `&self` keeps it alive.
            let block = unsafe { &*current };
            if let Some(ptr) = block.try_claim(size) {
                return ptr;
            }
            let mut blocks = self.blocks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Another thread may have installed a fresh block while we waited.
            if self.current.load(Ordering::Acquire) == current {
                let cap = (block.cap * 2).min(BLOCK_SIZE);
                let fresh = OwnedBlock::new(Block::new(cap));
                self.current.store(fresh.as_ptr(), Ordering::Release);
                blocks.push(fresh);
                self.memory.fetch_add(Self::block_cost(cap), Ordering::Relaxed);
            }
        }
    }

    #[expect(clippy::expect_used, reason = "a dedicated block is sized for its one request")]
    fn alloc_dedicated(&self, size: usize) -> NonNull<u8> {
        let block = Block::new(size);
        let ptr = block.try_claim(size).expect("invariant: a dedicated block fits its request");
        self.blocks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(OwnedBlock::new(block));
        self.memory.fetch_add(Self::block_cost(size), Ordering::Relaxed);
        ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_disjoint_and_writable() {
        let arena = Arena::new();
        let mut spans = Vec::new();
        // Fewer under Miri, which interprets every step (`cargo +nightly miri test`).
        let count = if cfg!(miri) { 1_000 } else { 10_000 };
        for i in 0..count {
            let size = 1 + (i * 37) % 300;
            let p = arena.alloc(size);
            assert_eq!(p.as_ptr() as usize % ALIGN, 0);
            // SAFETY: the arena handed out `size` writable bytes at `p`.
            unsafe { std::ptr::write_bytes(p.as_ptr(), (i % 251) as u8, size) };
            spans.push((p.as_ptr() as usize, size, (i % 251) as u8));
        }
        for &(addr, size, fill) in &spans {
            // SAFETY: every span is still owned by the live arena and was fully written.
            let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
            assert!(bytes.iter().all(|&b| b == fill), "a later allocation overwrote an earlier one");
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "allocations overlap");
        }
    }

    #[test]
    fn large_requests_get_their_own_block_and_are_counted() {
        let arena = Arena::new();
        let before = arena.memory_usage();
        let p = arena.alloc(1 << 20);
        // SAFETY: 1 MiB was allocated at `p`.
        unsafe { std::ptr::write_bytes(p.as_ptr(), 7, 1 << 20) };
        assert!(arena.memory_usage() >= before + (1 << 20));
    }

    #[test]
    fn concurrent_allocations_never_overlap() {
        let arena = Arena::new();
        let spans = Mutex::new(Vec::new());
        let per_thread = if cfg!(miri) { 500 } else { 20_000usize };
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let (arena, spans) = (&arena, &spans);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..per_thread {
                        let size = 8 + (i % 5) * 24;
                        let p = arena.alloc(size);
                        // SAFETY: the arena handed out `size` writable bytes at `p`.
                        unsafe { std::ptr::write_bytes(p.as_ptr(), t, size) };
                        mine.push((p.as_ptr() as usize, size));
                    }
                    spans.lock().unwrap().extend(mine);
                });
            }
        });
        let mut spans = spans.into_inner().unwrap();
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "concurrent allocations overlap");
        }
    }
}
