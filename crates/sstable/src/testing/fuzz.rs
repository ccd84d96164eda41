//! The `table_bytes` fuzz target's logic: damaged and arbitrary table files must give clean
//! errors, never a panic, and damage the checksums can see must never give a wrong answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use strata_core::{Entry, KeyRange, MAX_SEQNO, VersionedValue};

use super::MemFs;
use crate::parquet::layout::{TRAILER_LEN, Trailer, seal_section};
use crate::{Compression, Error, ParquetOptions, ParquetStore, Result, SsTableStore, table_file_name};

const DIR: &str = "/fuzz";
const ID: u64 = 1;

/// What a read of the template table answers, to compare damaged copies against.
struct Template {
    bytes: Vec<u8>,
    trailer: Trailer,
    /// Keys probed by every input (present, absent, tombstoned, out of range).
    probes: Vec<Vec<u8>>,
    gets: Vec<Result<Option<VersionedValue>, ()>>,
    scan: Vec<Entry>,
}

fn options() -> ParquetOptions {
    ParquetOptions {
        page_rows: 16,
        row_group_rows: 100,
        block_cache_bytes: 1 << 20,
        sync: false,
        compression: Compression::Lz4,
        ..ParquetOptions::default()
    }
}

fn template_entries() -> Vec<Entry> {
    let mut out = Vec::new();
    for i in 0..240u32 {
        let key = format!("k{:04}", i * 2);
        if i % 7 == 0 {
            out.push(Entry::delete(key.clone(), u64::from(i) + 1000));
        }
        out.push(Entry::put(key, u64::from(i) + 1, format!("v{i}").repeat(1 + i as usize % 5)));
    }
    out
}

fn open_store(fs: &MemFs) -> ParquetStore {
    ParquetStore::open_with_fs(Arc::new(fs.clone()), DIR, options()).expect("the in-memory store opens")
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let fs = MemFs::new();
        let store = open_store(&fs);
        store.write_table(ID, &mut template_entries().into_iter().map(Ok)).expect("the template table is written");
        let path = store.table_path(ID);
        let bytes = strata_core::fs::FileSystem::read_all(&fs, &path).expect("the template table reads back");
        let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().expect("4 bytes"));
        let trailer_end = bytes.len() - 8 - footer_len as usize;
        let trailer = Trailer::decode(&bytes[trailer_end - TRAILER_LEN..trailer_end]).expect("template trailer");
        let mut probes: Vec<Vec<u8>> = ["", "a", "k0000", "k0001", "k0014", "k0200", "k0201", "k0478", "k0479", "z"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        probes.push(vec![0xff; 3]);
        let gets = probes.iter().map(|k| store.get(ID, k, MAX_SEQNO).map_err(drop)).collect();
        let scan = store.scan(ID, &KeyRange::all()).expect("scan").collect::<Result<_>>().expect("template scan");
        Template { bytes, trailer, probes, gets, scan }
    })
}

/// A valid table file, the one the `table_bytes` target damages; for seed corpora.
#[must_use]
pub fn fuzz_template_table() -> Vec<u8> {
    template().bytes.clone()
}

/// Recomputes every checksum of a (damaged) copy of the template, so the damage reaches the
/// Parquet decoders instead of stopping at a checksum.
fn reseal(bytes: &mut [u8], t: &Trailer) {
    let data_end = t.data_end as usize;
    let Some(section_len) = t.section_len() else { return };
    let section_end = data_end + section_len as usize;
    if section_end + 8 > bytes.len() {
        return;
    }
    let footer_crc = crc32fast::hash(&bytes[section_end..bytes.len() - 8]);
    let (data, rest) = bytes.split_at_mut(data_end);
    let section = &mut rest[..section_len as usize];
    let crcs_at = t.filters_len as usize + 4 * t.num_filters as usize;
    for (i, block) in data.chunks(t.block_size as usize).enumerate() {
        section[crcs_at + 4 * i..crcs_at + 4 * i + 4].copy_from_slice(&crc32fast::hash(block).to_le_bytes());
    }
    let trailer_at = section.len() - TRAILER_LEN;
    section[trailer_at + 36..trailer_at + 40].copy_from_slice(&footer_crc.to_le_bytes());
    seal_section(section);
}

/// Feeds `data` to the table reader as a table file, in one of four ways chosen by its first
/// byte: the bytes as they are; the template table with bytes flipped (pairs of a 3-byte
/// position and an XOR mask); the same with every checksum recomputed afterwards; the template
/// truncated. Opens the table, gets a few keys and scans.
///
/// # Panics
///
/// When reading panics (the bug the fuzzer looks for), when an error is anything but
/// [`Error::Corruption`], or when a copy with damage the checksums cover answers differently
/// from the undamaged table.
pub fn fuzz_table_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let t = template();
    let (bytes, checked) = match mode % 4 {
        0 => (rest.to_vec(), false),
        3 => {
            let cut = rest.iter().fold(0usize, |a, &b| a.wrapping_mul(256).wrapping_add(usize::from(b)));
            (t.bytes[..cut % t.bytes.len()].to_vec(), true)
        }
        m => {
            let mut bytes = t.bytes.clone();
            for flip in rest.chunks_exact(4) {
                let pos = usize::from(flip[0]) | usize::from(flip[1]) << 8 | usize::from(flip[2]) << 16;
                let pos = pos % bytes.len();
                bytes[pos] ^= flip[3].max(1);
            }
            if m == 2 {
                reseal(&mut bytes, &t.trailer);
            }
            // NOTE: one flip is one burst of at most 8 bits, which CRC32 always detects; several
            // could in principle cancel out, so only single flips are held to exact answers.
            (bytes, m == 1 && rest.len() / 4 == 1)
        }
    };
    let fs = MemFs::new();
    let store = open_store(&fs);
    fs.put_file(&Path::new(DIR).join(table_file_name(ID)), bytes);
    read_everything(&store, data, checked.then_some(t));
}

fn clean(e: Error) {
    assert!(e.is_corruption(), "damaged table gave a non-corruption error: {e}");
}

fn read_everything(store: &ParquetStore, data: &[u8], expect: Option<&Template>) {
    if let Err(e) = store.open(ID) {
        return clean(e);
    }
    let t = template();
    for (i, key) in t.probes.iter().enumerate() {
        match store.get(ID, key, MAX_SEQNO) {
            Ok(v) => {
                if let Some(expect) = expect {
                    assert_eq!(Ok(v), expect.gets[i], "get({key:?}) from a damaged table answered wrong");
                }
            }
            Err(e) => clean(e),
        }
    }
    for key in data.chunks(6).take(4) {
        if let Err(e) = store.get(ID, key, key.first().map_or(0, |&b| u64::from(b) * 4)) {
            clean(e);
        }
    }
    let ranges = [
        KeyRange::all(),
        KeyRange::from_range::<&[u8], _>((Bound::Included(&b"k0100"[..]), Bound::Excluded(&b"k0300"[..]))),
    ];
    for (r, range) in ranges.iter().enumerate() {
        let scan = match store.scan(ID, range) {
            Ok(s) => s,
            Err(e) => return clean(e),
        };
        let mut got = Vec::new();
        for item in scan.take(100_000) {
            match item {
                Ok(e) => got.push(e),
                Err(e) => {
                    clean(e);
                    break;
                }
            }
        }
        if let (Some(expect), 0) = (expect, r) {
            assert!(expect.scan.starts_with(&got), "scan of a damaged table yielded wrong entries");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_reads_back_whole_and_every_mode_runs() {
        let t = template();
        assert!(t.bytes.len() < 64 * 1024, "template is {} bytes", t.bytes.len());
        assert_eq!(t.scan.len(), template_entries().len());
        let mut raw = vec![0];
        raw.extend_from_slice(&t.bytes);
        fuzz_table_bytes(&raw);
        for data in [&[1u8, 10, 0, 0, 0xff][..], &[2, 10, 0, 0, 0xff], &[2, 0xf0, 0xff, 0, 1], &[3, 200], &[0, 1, 2]] {
            fuzz_table_bytes(data);
        }
    }
}
