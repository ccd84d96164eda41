//! What an open table holds in memory, counted by the allocator itself, against what the
//! table cache charges for it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use strata_core::Entry;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

/// The system allocator, counting per thread the bytes live in allocations this thread made
/// less those it freed, each allocation with the 16 bytes a `malloc` chunk header takes.
struct Counting;

/// A `malloc` chunk's header, which a small allocation pays on top of its bytes.
const CHUNK_HEADER: isize = 16;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // NOTE: `try_with`: a thread's last frees run after its locals are gone.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is passed straight to `System`, which upholds `GlobalAlloc`'s contract;
// the counting around it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize + CHUNK_HEADER);
        // SAFETY: the caller's `layout` is passed on as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize + CHUNK_HEADER));
        // SAFETY: `ptr` came from `System.alloc` with this `layout`, as the caller promises.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's pointer, layout and size are passed on as they came.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

const N: u32 = 200_000;

/// An open table of 200,000 16-byte keys takes under 4 bytes of memory per row (its page
/// locations, page key bounds, Bloom filters and block checksums), counted by the allocator
/// with each allocation's header, and the table cache charges within a tenth of that. (A
/// `Bytes` pair per page for its key bounds and 24-byte page locations made it 5.9 bytes a
/// row, charged as 4.9.)
#[test]
fn an_open_table_takes_what_the_table_cache_charges_and_little_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParquetOptions { sync: false, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).unwrap();
    let entries = (0..N).map(|i| Ok(Entry::put(format!("user{:012}", i * 7), u64::from(i) + 1, format!("{i:0100}"))));
    store.write_table(1, &mut entries.collect::<Vec<_>>().into_iter()).unwrap();

    let before = live();
    store.open(1).unwrap();
    let taken = (live() - before) as f64;
    let charged = store.stats().table_cache.bytes as f64;
    let per_row = taken / f64::from(N);
    eprintln!("open table: {taken} bytes taken ({per_row:.2} a row), {charged} charged");
    assert!(per_row < 4.0, "{per_row:.2} bytes a row");
    assert!((charged - taken).abs() < taken / 10.0, "charged {charged} bytes for {taken} taken");
}
