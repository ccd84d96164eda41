//! A global allocator that counts live heap bytes, for memory measurements in tests and
//! benchmarks. Install it in a binary with `#[global_allocator]`.
//!
//! It forwards to the system allocator. Counting starts with [`start_counting`]; from then
//! on each call adds one relaxed atomic add on a counter every thread shares, so call it only
//! in a binary (or phase) that measures: a process that never calls it pays one load of a
//! flag that never changes per call. The count is process-wide, so measure where nothing else
//! allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The counting allocator. See the [module docs](self).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Starts counting. Call it before the allocations to be measured are made; it cannot be
/// undone, so that a free is counted whenever its allocation was.
pub fn start_counting() {
    COUNTING.store(true, Ordering::SeqCst);
}

/// Adds `delta` to the count while counting.
#[inline]
fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Bytes allocated through [`CountingAllocator`] since [`start_counting`] and not freed
/// since, less the frees of older allocations (0 when it is not installed or not counting):
/// the difference between two calls is the change in live heap bytes.
#[must_use]
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

// SAFETY: every method forwards to `System` unchanged and only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
