//! The `page_bytes` fuzz target's logic: Strata's own page decoder, fed raw page bytes, must
//! return a value or an error and never panic, whatever the bytes.

use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression as Codec, ZstdLevel};
use strata_core::Entry;

use super::MemFs;
use crate::parquet::decode::{
    MAX_PAGE_ROWS, binary_value, decode_binary, decode_binary_page, decode_binary_ref, decode_i32_dictionary,
    decode_i32_prefix, decode_u64, decode_u64_prefix, find_key, lz4_value, read_page, read_page_in, value_range,
};
use crate::{Compression, ParquetOptions, ParquetStore, SsTableStore};

/// The codec a fuzz input names (its first byte's low two bits).
fn codec(b: u8) -> Codec {
    match b & 3 {
        0 => Codec::UNCOMPRESSED,
        1 => Codec::SNAPPY,
        2 => Codec::LZ4_RAW,
        _ => Codec::ZSTD(ZstdLevel::default()),
    }
}

/// Feeds `data` to the page decoder. Byte 0 picks the codec (bits 0–1) and the column decoder
/// (bits 2–3: binary as for `key` and `value`, `INT64` as for `seq`, dictionary `INT32` as for
/// `kind` with a two-entry dictionary, or the bytes as a dictionary page); bytes 1–2 are the
/// row count the offset index would give (little endian); the rest is the page, header first.
///
/// # Panics
///
/// When the decoder panics (the bug the fuzzer looks for), or decodes a different number of
/// values than it was asked for.
pub fn fuzz_page_bytes(data: &[u8]) {
    let [mode, r0, r1, page @ ..] = data else { return };
    let rows = usize::from(u16::from_le_bytes([*r0, *r1])).min(MAX_PAGE_ROWS);
    let bytes = Bytes::copy_from_slice(page);
    let mut scratch = vec![7u8; usize::from(*r0)];
    let borrowed = read_page_in(page, codec(*mode), &mut scratch).map(|p| (p.header, p.body.to_vec()));
    let Ok(raw) = read_page(&bytes, codec(*mode)) else {
        assert!(borrowed.is_err(), "read_page_in took a page read_page refuses");
        return;
    };
    assert_eq!(borrowed, Ok((raw.header, raw.body.to_vec())), "read_page_in and read_page disagree");
    match (mode >> 2) & 3 {
        0 => {
            let full = decode_binary(&raw, rows);
            // The borrowed-page decoder the block cache uses agrees with it, error or not.
            let borrowed = decode_binary_ref(raw.as_ref(), rows);
            let values = |c: &Result<crate::parquet::decode::BinaryColumn, String>| {
                c.as_ref().ok().map(|c| (0..c.len()).map(|i| c.get(i).to_vec()).collect::<Vec<_>>())
            };
            assert_eq!(values(&full), values(&borrowed), "the two binary decoders disagree");
            // So does the one that decodes straight from the stored bytes.
            let direct = decode_binary_page(page, codec(*mode), rows, &mut scratch);
            assert_eq!(values(&full), values(&direct), "decode_binary_page disagrees");
            if let Ok(col) = &full {
                assert_eq!(col.len(), rows);
                // Every value must be a valid slice of the page.
                let total: usize = (0..rows).map(|i| col.get(i).len() + col.get_bytes(i).len()).sum();
                std::hint::black_box(total);
            }
            // The point-lookup decoders: never a panic, and on a page the full decoder takes,
            // the same values.
            let probe = full.as_ref().ok().filter(|c| c.len() > 0).map_or(&b"key"[..], |c| c.get(c.len() / 2));
            if let Ok((lo, hi)) = find_key(raw.as_ref(), rows, probe) {
                assert!(lo <= hi && hi <= rows, "find_key: {lo}..{hi} of {rows} rows");
                if let Ok(col) = &full {
                    let keys: Vec<&[u8]> = (0..rows).map(|i| col.get(i)).collect();
                    if keys.is_sorted() {
                        let want = (keys.partition_point(|k| *k < probe), keys.partition_point(|k| *k <= probe));
                        assert_eq!((lo, hi), want, "find_key on sorted values");
                    }
                }
            } else {
                assert!(full.is_err(), "find_key failed on a page decode_binary takes");
            }
            for row in [0, rows / 2, rows.saturating_sub(1)] {
                let direct = binary_value(raw.as_ref(), rows, row);
                if let (Ok(v), Ok(col)) = (&direct, &full) {
                    assert_eq!(*v, col.get(row), "binary_value of row {row}");
                }
                // The walk over an unchecked stored page (uncompressed only) asks for the bytes
                // before it reads them, in order, and finds the same value.
                if codec(*mode) == Codec::UNCOMPRESSED {
                    let mut asked = vec![false; page.len()];
                    let lazy = value_range(
                        page,
                        rows,
                        row,
                        |r: std::ops::Range<usize>| {
                            assert!(r.start <= r.end && r.end <= page.len(), "asked for {r:?} of {}", page.len());
                            asked[r].fill(true);
                            Ok::<(), String>(())
                        },
                        |r| r,
                    );
                    match (&direct, &lazy) {
                        (Ok(v), Ok(range)) => {
                            assert_eq!(&page[range.clone()], *v, "value_range of row {row}");
                            assert!(asked[range.clone()].iter().all(|&a| a), "the value was not checked");
                        }
                        (Err(_), Err(_)) => {}
                        (a, b) => panic!("binary_value {a:?} and value_range {b:?} disagree on row {row}"),
                    }
                }
                // The LZ4 walk that decompresses only up to the value: it asks for prefixes of
                // the page, and finds the same value. (It may take a page whose bytes past the
                // value are damaged, which the full decoder refuses.)
                if codec(*mode) == Codec::LZ4_RAW {
                    let mut out = vec![3u8; usize::from(*r1)];
                    let lazy = lz4_value(
                        page,
                        rows,
                        row,
                        &mut out,
                        |r: std::ops::Range<usize>| {
                            assert!(r.start == 0 && r.end <= page.len(), "asked for {r:?} of {}", page.len());
                            Ok::<(), String>(())
                        },
                        |r| r,
                    );
                    if let (Ok(v), Ok(Some(lazy))) = (&direct, &lazy) {
                        assert_eq!(*v, *lazy, "lz4_value of row {row}");
                    }
                    if direct.is_ok() && full.is_ok() {
                        assert!(lazy.is_ok(), "lz4_value failed on a page the full decoder takes: {lazy:?}");
                    }
                }
            }
        }
        1 => {
            let mut out = Vec::new();
            let full = decode_u64(raw.as_ref(), rows, &mut out).is_ok();
            if full {
                assert_eq!(out.len(), rows);
            }
            for limit in [1, rows / 2, rows] {
                let mut prefix = Vec::new();
                let ok = decode_u64_prefix(raw.as_ref(), rows, limit.min(rows), &mut prefix).is_ok();
                if full {
                    assert!(ok, "decode_u64_prefix failed on a page decode_u64 takes");
                    assert_eq!(prefix, out[..limit.min(rows)], "decode_u64_prefix of {limit} rows");
                }
            }
        }
        2 => {
            let mut out = Vec::new();
            let full = decode_i32_prefix(raw.as_ref(), rows, rows, Some(&[0, 1]), &mut out).is_ok();
            if full {
                assert_eq!(out.len(), rows);
                assert!(out.iter().all(|v| (0..=1).contains(v)), "a dictionary index escaped the dictionary");
            }
            for limit in [1, rows / 2, rows] {
                let mut prefix = Vec::new();
                let ok = decode_i32_prefix(raw.as_ref(), rows, limit, Some(&[0, 1]), &mut prefix).is_ok();
                if full {
                    assert!(ok, "a prefix of a page failed where the whole page decodes");
                    assert_eq!(prefix, out[..limit.min(rows)], "decode_i32_prefix of {limit} rows");
                }
            }
        }
        _ => {
            let _ = decode_i32_dictionary(&raw);
        }
    }
}

/// Seed inputs for the `page_bytes` target: real pages of every column of a small table, in
/// every codec, each prefixed as [`fuzz_page_bytes`] expects, with a name for the corpus file.
#[must_use]
pub fn fuzz_page_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let codecs = [
        (0u8, "none", Compression::None),
        (1, "snappy", Compression::Snappy),
        (2, "lz4", Compression::Lz4),
        (3, "zstd", Compression::Zstd(3)),
    ];
    for (code, name, compression) in codecs {
        let fs = MemFs::new();
        let opts = ParquetOptions { compression, page_rows: 40, sync: false, ..ParquetOptions::default() };
        let store = ParquetStore::open_with_fs(Arc::new(fs), "/seed", opts).expect("the in-memory store opens");
        let entries: Vec<Entry> = (0..100u64)
            .map(|i| {
                let key = format!("key{:05}", i / 2);
                // Values that every codec shrinks, so the value pages are stored compressed as
                // the seed's codec says.
                let value = format!("v{i}-").repeat(4);
                if i % 9 == 4 { Entry::delete(key, 1000 - i) } else { Entry::put(key, 1000 - i, value) }
            })
            .collect();
        store.write_table(1, &mut entries.into_iter().map(Ok)).expect("the seed table is written");
        let table = store.open_table_for_tests(1).expect("the seed table opens");
        for (col, col_name, decoder) in [(0, "key", 0u8), (1, "seq", 1), (2, "kind", 2), (3, "value", 0)] {
            let (rows, page) = table.page_bytes_for_tests(0, col, 0).expect("first page");
            let mut input = vec![code | decoder << 2];
            input.extend_from_slice(&(rows as u16).to_le_bytes());
            input.extend_from_slice(&page);
            out.push((format!("{name}-{col_name}"), input));
        }
        if let Some(dict) = table.dictionary_bytes_for_tests(0, 2) {
            let mut input = vec![code | 3 << 2, 0, 0];
            input.extend_from_slice(&dict);
            out.push((format!("{name}-kind-dictionary"), input));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_decode_and_damaged_seeds_do_not_panic() {
        let seeds = fuzz_page_seeds();
        assert!(seeds.len() >= 16);
        for (name, data) in &seeds {
            let raw = read_page(&Bytes::copy_from_slice(&data[3..]), codec(data[0]));
            assert!(raw.is_ok(), "{name}: {raw:?}");
            fuzz_page_bytes(data);
            for i in 0..data.len().min(200) {
                let mut d = data.clone();
                d[i] ^= 0x5a;
                fuzz_page_bytes(&d);
                fuzz_page_bytes(&data[..i]);
            }
        }
    }

    /// A few thousand random mutations of the seeds (a poor man's fuzzer that runs on every
    /// `cargo test`): flipped bytes anywhere, other codecs, decoders and row counts.
    #[test]
    fn random_mutations_of_real_pages_never_panic() {
        let seeds = fuzz_page_seeds();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let (_, seed) = &seeds[next() as usize % seeds.len()];
            let mut d = seed.clone();
            for _ in 0..1 + next() % 4 {
                let r = next();
                let at = (r >> 8) as usize % d.len();
                d[at] ^= (r as u8).max(1);
            }
            fuzz_page_bytes(&d);
        }
    }
}
