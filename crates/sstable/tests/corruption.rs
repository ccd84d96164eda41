//! Damaged table files give `Error::Corruption` naming the file: never a panic, never a wrong
//! answer. One test per kind of damage, and a sweep that flips bytes all over a file.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::{Path, PathBuf};

use strata_core::{Entry, KeyRange, MAX_SEQNO};
use strata_sstable::{Error, ParquetOptions, ParquetStore, SsTableStore};

const ID: u64 = 1;

fn opts() -> ParquetOptions {
    ParquetOptions { page_rows: 100, row_group_rows: 500, sync: false, ..ParquetOptions::default() }
}

fn entries() -> Vec<Entry> {
    (0..2000u32).map(|i| Entry::put(format!("key{i:06}"), u64::from(i) + 1, format!("value-{i}-{}", i * 7))).collect()
}

/// Writes the sample table and returns its directory and path.
fn table() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStore::open(dir.path(), opts()).unwrap();
    store.write_table(ID, &mut entries().into_iter().map(Ok)).unwrap();
    let path = store.table_path(ID);
    (dir, path)
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// Every read of the whole table through a fresh store: the first error, or `Ok` when every
/// answer was right. A wrong answer panics. Gets and a scan go through a store with a block
/// cache and one without (whose point lookups decode only what they need, not whole pages).
fn read_everything(dir: &Path) -> Result<(), Error> {
    let all = entries();
    for block_cache_bytes in [0, opts().block_cache_bytes] {
        let store = ParquetStore::open(dir, ParquetOptions { block_cache_bytes, ..opts() }).unwrap();
        store.open(ID)?;
        for e in all.iter().step_by(7) {
            let got = store.get(ID, &e.key, MAX_SEQNO)?;
            assert_eq!(got, Some(e.clone().into_version()), "wrong answer for {:?}", e.key);
        }
        // Without a cache, and past its first pages with one, a scan reads value pages one
        // at a time as it reaches them.
        let scanned: Vec<Entry> = store.scan(ID, &KeyRange::all())?.collect::<Result<_, _>>()?;
        assert_eq!(scanned, all, "wrong scan");
    }
    Ok(())
}

fn assert_corruption_naming(result: Result<(), Error>, path: &Path, what: &str) {
    match result {
        Err(Error::Corruption { file, reason }) => {
            assert_eq!(file, path, "{what}: the error must name the damaged file");
            eprintln!("{what}: {reason}");
        }
        other => panic!("{what}: expected Corruption, got {other:?}"),
    }
}

fn footer_len(bytes: &[u8]) -> usize {
    let n = bytes.len();
    u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize
}

#[test]
fn undamaged_table_reads_fine() {
    let (dir, _) = table();
    read_everything(dir.path()).unwrap();
}

#[test]
fn truncated_file_is_corruption() {
    for keep in [0usize, 3, 10, 100, 4096] {
        let (dir, path) = table();
        edit(&path, |b| b.truncate(keep.min(b.len() - 1)));
        assert_corruption_naming(read_everything(dir.path()), &path, &format!("truncated to {keep}"));
    }
    let (dir, path) = table();
    edit(&path, |b| {
        let n = b.len();
        b.truncate(n - 1);
    });
    assert_corruption_naming(read_everything(dir.path()), &path, "last byte cut");
    let (dir, path) = table();
    edit(&path, |b| {
        let n = b.len();
        b.truncate(n / 2);
    });
    assert_corruption_naming(read_everything(dir.path()), &path, "cut in half");
}

#[test]
fn flipped_byte_in_footer_is_corruption() {
    let (dir, path) = table();
    edit(&path, |b| {
        let n = b.len();
        let at = n - 8 - footer_len(b) / 2;
        b[at] ^= 0x10;
    });
    assert_corruption_naming(read_everything(dir.path()), &path, "footer flip");
}

#[test]
fn flipped_byte_in_a_data_page_is_corruption() {
    let (dir, path) = table();
    edit(&path, |b| b[200] ^= 0x01);
    assert_corruption_naming(read_everything(dir.path()), &path, "page flip");
}

#[test]
fn flipped_byte_in_the_strata_section_is_corruption() {
    let (dir, path) = table();
    edit(&path, |b| {
        let n = b.len();
        let at = n - 8 - footer_len(b) - 48 - 10;
        b[at] ^= 0x80;
    });
    assert_corruption_naming(read_everything(dir.path()), &path, "section flip");
}

#[test]
fn wrong_magic_is_corruption() {
    let (dir, path) = table();
    edit(&path, |b| b[..4].copy_from_slice(b"XXXX"));
    assert_corruption_naming(read_everything(dir.path()), &path, "head magic");
    let (dir, path) = table();
    edit(&path, |b| {
        let n = b.len();
        b[n - 4..].copy_from_slice(b"PAR0");
    });
    assert_corruption_naming(read_everything(dir.path()), &path, "tail magic");
    // Not a table at all.
    let (dir, path) = table();
    std::fs::write(&path, vec![7u8; 10_000]).unwrap();
    assert_corruption_naming(read_everything(dir.path()), &path, "garbage file");
}

#[test]
fn any_flipped_byte_is_detected_never_a_wrong_answer() {
    let (dir, path) = table();
    let pristine = std::fs::read(&path).unwrap();
    let step = (pristine.len() / 150).max(1);
    for at in (0..pristine.len()).step_by(step) {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();
        assert_corruption_naming(read_everything(dir.path()), &path, &format!("flip at {at}"));
    }
}
