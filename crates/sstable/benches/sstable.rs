//! Parquet store benchmarks: point gets (hit and miss, cold and warm block cache), short
//! seeks (a scan from a key, 100 entries read; cold and warm block cache), a 1,000,000-entry
//! scan, write throughput and bytes per entry for each codec; and a cold point read per codec
//! and value page length on values made as `strata bench` makes them; and what decoding a
//! value page's frame up to one value costs when zstd cuts the frame into small blocks, and
//! with Parquet's other entropy coders, GZIP and BROTLI, which can stop at the value.
//!
//! Entries: 16-byte keys, 8-byte sequence numbers, 32-byte values (`codec/`: 100-byte
//! values).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strata_core::{Entry, KeyRange, MAX_SEQNO};
use strata_sstable::{Compression, ParquetOptions, ParquetStore, SsTableStore};

const N: u64 = 1_000_000;

fn key(i: u64) -> String {
    format!("key{:013}", i * 2)
}

fn entries(n: u64) -> impl Iterator<Item = strata_sstable::Result<Entry>> {
    (0..n).map(|i| Ok(Entry::put(key(i), i + 1, format!("value-{i:026}"))))
}

fn store(dir: &std::path::Path, block_cache_bytes: usize, compression: Compression) -> ParquetStore {
    let opts = ParquetOptions { block_cache_bytes, compression, ..ParquetOptions::default() };
    ParquetStore::open(dir, opts).expect("open store")
}

fn gets_and_scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = store(dir.path(), 0, Compression::default()).write_table(1, &mut entries(N)).expect("write");
    eprintln!("1M-entry table: {} bytes, {:.1} bytes/entry", meta.file_size, meta.file_size as f64 / N as f64);

    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(1));
    // Keys are built before the timed loops, so the figures are the lookup alone.
    // NOTE: a power-of-two count makes the cycling index a mask, not a division.
    const PROBES: usize = 4096;
    let probes = |f: &dyn Fn(u64) -> String| -> Vec<Vec<u8>> {
        (0..PROBES as u64).map(|n| f(n).into_bytes()).collect::<Vec<_>>()
    };
    // Warm: a working set of 1,000 keys whose pages are all in the block cache.
    let warm_keys = probes(&|n| key((n % 1000) * 997));
    let warm = store(dir.path(), 256 << 20, Compression::default());
    for k in &warm_keys {
        warm.get(1, k, MAX_SEQNO).expect("get");
    }
    let mut i = 0usize;
    g.bench_function("hit_warm", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBES - 1);
            black_box(warm.get(1, &warm_keys[i], MAX_SEQNO).expect("get"))
        })
    });
    // Cold: no block cache, every get decodes its page (the OS page cache holds the file).
    let cold_keys = probes(&|n| key(n * 7919 % N));
    let cold = store(dir.path(), 0, Compression::default());
    cold.open(1).expect("open");
    let mut j = 0usize;
    g.bench_function("hit_cold", |b| {
        b.iter(|| {
            j = (j + 1) & (PROBES - 1);
            black_box(cold.get(1, &cold_keys[j], MAX_SEQNO).expect("get"))
        })
    });
    // The same through positioned reads (`mmap_reads: false`): one system call per page.
    let pread = ParquetStore::open(
        dir.path(),
        ParquetOptions { block_cache_bytes: 0, mmap_reads: false, ..ParquetOptions::default() },
    )
    .expect("open store");
    pread.open(1).expect("open");
    g.bench_function("hit_cold_pread", |b| {
        b.iter(|| {
            j = (j + 1) & (PROBES - 1);
            black_box(pread.get(1, &cold_keys[j], MAX_SEQNO).expect("get"))
        })
    });
    // Misses between stored keys (odd numbers, inside the table's key range), almost all
    // answered by the Bloom filter; the table is open.
    let miss_keys = probes(&|n| format!("key{:013}", (n * 7919 % N) * 2 + 1));
    let mut m = 0usize;
    g.bench_function("miss_filtered", |b| {
        b.iter(|| {
            m = (m + 1) & (PROBES - 1);
            black_box(warm.get(1, &miss_keys[m], MAX_SEQNO).expect("get"))
        })
    });
    g.bench_function("miss_filtered_cold", |b| {
        b.iter(|| {
            m = (m + 1) & (PROBES - 1);
            black_box(cold.get(1, &miss_keys[m], MAX_SEQNO).expect("get"))
        })
    });
    g.finish();

    // The engine's seek: a scan from a key to the end of the table, of which only the first 100
    // entries are read (then the iterator is dropped). Warm: the start keys' pages are cached;
    // cold: no block cache, so every seek decodes what it reads.
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(100));
    let seek_ranges = |f: &dyn Fn(u64) -> String| -> Vec<KeyRange> {
        (0..PROBES as u64).map(|n| KeyRange::from_range(f(n)..)).collect::<Vec<_>>()
    };
    let seek_100 = |s: &ParquetStore, range: &KeyRange| {
        let mut n = 0usize;
        for e in s.scan(1, range).expect("scan").take(100) {
            black_box(e.expect("entry"));
            n += 1;
        }
        assert_eq!(n, 100);
    };
    let warm_seeks = seek_ranges(&|n| key((n % 1000) * 997));
    for r in &warm_seeks {
        seek_100(&warm, r);
    }
    let mut w = 0usize;
    g.bench_function("seek_100_warm", |b| {
        b.iter(|| {
            w = (w + 1) & (PROBES - 1);
            seek_100(&warm, &warm_seeks[w]);
        })
    });
    let cold_seeks = seek_ranges(&|n| key(n * 7919 % (N - 100)));
    let mut k = 0usize;
    g.bench_function("seek_100_cold", |b| {
        b.iter(|| {
            k = (k + 1) & (PROBES - 1);
            seek_100(&cold, &cold_seeks[k]);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("scan");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(N));
    g.bench_function("all_1m", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for e in cold.scan(1, &KeyRange::all()).expect("scan") {
                black_box(e.expect("entry"));
                n += 1;
            }
            assert_eq!(n, N);
        })
    });
    g.finish();
}

fn write(c: &mut Criterion) {
    const W: u64 = 200_000;
    let payload: u64 = entries(W).map(|e| e.map(|e| e.payload_len() as u64 + 9).unwrap_or(0)).sum();
    let mut g = c.benchmark_group("write");
    g.sample_size(10).throughput(Throughput::Bytes(payload));
    for (name, codec) in [
        ("none", Compression::None),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd1", Compression::Zstd(1)),
        ("zstd3", Compression::Zstd(3)),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path(), 0, codec);
        let mut id = 0;
        let mut size = 0;
        g.bench_with_input(BenchmarkId::new("200k_entries", name), &codec, |b, _| {
            b.iter(|| {
                id += 1;
                let meta = s.write_table(id, &mut entries(W)).expect("write");
                size = meta.file_size;
                s.delete(id).expect("delete");
            })
        });
        // Nothing was written when a filter left this codec's benchmark out.
        if size > 0 {
            eprintln!("codec {name}: {:.2} bytes/entry ({} entries, {} bytes)", size as f64 / W as f64, W, size);
        }
    }
    g.finish();
}

/// 100-byte values as `strata bench` (and db_bench) makes them at its default compression
/// ratio of 0.5: 50 random printable bytes, then those 50 again, drawn from a 1 MiB pool.
fn bench_values() -> Vec<Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    (0..(1 << 20) / 100)
        .map(|_| {
            let mut value: Vec<u8> = (0..50).map(|_| b' ' + next(95) as u8).collect();
            value.extend_from_within(..);
            value
        })
        .collect()
}

/// What a cold point read costs, and what a value stores, per codec and value page length,
/// on the benchmark's values: the trade behind LZ4 as the default. LZ4 has no entropy coder,
/// so it keeps the random half of each value as it is; zstd codes it but decodes a whole page
/// (with its Huffman table) where LZ4 decodes up to the value.
fn codecs(c: &mut Criterion) {
    const ROWS: u64 = 200_000;
    let pool = bench_values();
    let rows = || (0..ROWS).map(|i| Ok(Entry::put(key(i), 0, pool[(i * 7919) as usize % pool.len()].clone())));
    let cold_keys: Vec<Vec<u8>> = (0..4096u64).map(|n| key(n * 7919 % ROWS).into_bytes()).collect();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    for (name, compression, value_page_rows) in [
        ("lz4", Compression::Lz4, ParquetOptions::default().value_page_rows),
        ("zstd3", Compression::Zstd(3), ParquetOptions::default().value_page_rows),
        ("zstd3_64_row_value_pages", Compression::Zstd(3), 64),
        ("zstd3_16_row_value_pages", Compression::Zstd(3), 16),
        ("zstd3_8_row_value_pages", Compression::Zstd(3), 8),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = ParquetOptions { block_cache_bytes: 0, compression, value_page_rows, ..ParquetOptions::default() };
        let s = ParquetStore::open(dir.path(), opts).expect("open store");
        let meta = s.write_table(1, &mut rows()).expect("write");
        let values = s.describe(1).expect("describe").bytes.iter().find(|p| p.part == "value").map_or(0, |p| p.stored);
        eprintln!(
            "codec {name}: {:.1} bytes/entry, value column {:.1} bytes/value",
            meta.file_size as f64 / ROWS as f64,
            values as f64 / ROWS as f64
        );
        s.open(1).expect("open");
        let mut j = 0usize;
        g.bench_function(BenchmarkId::new("hit_cold_100_byte_values", name), |b| {
            b.iter(|| {
                j = (j + 1) & (cold_keys.len() - 1);
                black_box(s.get(1, &cold_keys[j], MAX_SEQNO).expect("get"))
            })
        });
    }
    g.finish();
}

/// One zstd frame of `raw` at `level`, ending a block every `block` bytes (0: as zstd cuts it).
fn zstd_frame(raw: &[u8], level: i32, block: usize) -> Vec<u8> {
    use zstd::stream::raw::{Encoder, InBuffer, Operation, OutBuffer};
    if block == 0 {
        return zstd::bulk::compress(raw, level).expect("compress");
    }
    let mut enc = Encoder::new(level).expect("encoder");
    let mut out = vec![0u8; zstd::zstd_safe::compress_bound(raw.len()) + 64 * raw.len().div_ceil(block)];
    let mut pos = 0;
    let mut drain = |enc: &mut Encoder<'_>, chunk: &[u8], last: bool| {
        let mut input = InBuffer::around(chunk);
        loop {
            let mut o = OutBuffer::around_pos(&mut out[..], pos);
            enc.run(&mut input, &mut o).expect("compress");
            let left = if last { enc.finish(&mut o, true) } else { enc.flush(&mut o) }.expect("end a block");
            pos = o.pos();
            if left == 0 && input.pos() == chunk.len() {
                break;
            }
        }
    };
    for chunk in raw.chunks(block) {
        drain(&mut enc, chunk, false);
    }
    drain(&mut enc, &[], true);
    out.truncate(pos);
    out
}

/// Could an entropy coder's smaller values come at LZ4's read cost? First, zstd with a page's
/// frame cut into blocks, so that a read decodes only the blocks up to its value; then
/// Parquet's two other entropy coders, GZIP (deflate) and BROTLI, whose streams interleave
/// literals and matches and so can stop at the value as LZ4 does. A page here is the values
/// of `rows` rows back to back, compressed as one frame (zstd ending a block every
/// `block_rows` rows, LZ4 as one block, GZIP as one gzip member as Parquet stores it); a read
/// decompresses the page up to the end of a random row, as Strata's LZ4 path does. Prints the
/// stored bytes per value.
fn zstd_frames(c: &mut Criterion) {
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
    const VALUE: usize = 100;
    let pool = bench_values();
    let values: Vec<&[u8]> = (0..200_000usize).map(|i| pool[i * 7919 % pool.len()].as_slice()).collect();
    let mut g = c.benchmark_group("codec_frames");
    g.throughput(Throughput::Elements(1));
    for (name, codec, rows, block_rows) in [
        ("lz4_32_rows", "lz4", 32, 0),
        ("zstd3_32_rows", "zstd", 32, 0),
        ("zstd3_64_rows", "zstd", 64, 0),
        ("zstd3_64_rows_blocks_of_8", "zstd", 64, 8),
        ("zstd3_64_rows_blocks_of_4", "zstd", 64, 4),
        ("gzip6_32_rows", "gzip", 32, 0),
        ("gzip6_64_rows", "gzip", 64, 0),
        ("brotli5_32_rows", "brotli", 32, 0),
    ] {
        let pages: Vec<Vec<u8>> = values
            .chunks(rows)
            .map(|c| match codec {
                "lz4" => lz4_flex::block::compress(&c.concat()),
                "gzip" => gzip_member(&c.concat()),
                "brotli" => brotli_stream(&c.concat()),
                _ => zstd_frame(&c.concat(), 3, block_rows * VALUE),
            })
            .collect();
        let stored: usize = pages.iter().map(Vec::len).sum();
        eprintln!("codec_frames {name}: {:.1} bytes/value", stored as f64 / values.len() as f64);
        let mut out = vec![0u8; rows * VALUE];
        let mut decoder = Decoder::new().expect("decoder");
        let mut inflate = Box::new(miniz_oxide::inflate::core::DecompressorOxide::new());
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % values.len();
                let (page, need) = (&pages[i / rows], (i % rows + 1) * VALUE);
                match codec {
                    "lz4" => {
                        let n = lz4_flex::block::decompress_into(page, &mut out).expect("lz4");
                        assert!(n >= need);
                    }
                    "gzip" => {
                        // The raw deflate stream after the gzip header, decoded straight into
                        // the page buffer until `need` bytes are out (its Huffman tables are
                        // built first, once a block), as an LZ4-like prefix decoder would.
                        use miniz_oxide::inflate::core::{decompress, inflate_flags};
                        inflate.init();
                        let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
                            | inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
                        let (_, _, n) = decompress(&mut inflate, &page[GZIP_HEADER..], &mut out[..need], 0, flags);
                        assert_eq!(n, need, "deflate");
                    }
                    "brotli" => {
                        use std::io::Read;
                        brotli::Decompressor::new(page.as_slice(), 4096).read_exact(&mut out[..need]).expect("brotli");
                    }
                    _ => {
                        decoder.reinit().expect("reinit");
                        let mut input = InBuffer::around(page);
                        let mut o = OutBuffer::around(&mut out[..need]);
                        while o.pos() < need {
                            let before = (input.pos(), o.pos());
                            decoder.run(&mut input, &mut o).expect("zstd");
                            assert_ne!(before, (input.pos(), o.pos()), "zstd made no progress");
                        }
                    }
                }
                assert_eq!(&out[need - VALUE..need], values[i]);
                black_box(out[need - 1])
            })
        });
    }
    g.finish();
}

/// The fixed header `flate2` writes before a gzip member's deflate stream (no name, no
/// comment, no extra field).
const GZIP_HEADER: usize = 10;

/// `raw` as Parquet's GZIP codec stores a page: one gzip member at the default level (6).
fn gzip_member(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw).expect("gzip");
    let member = enc.finish().expect("gzip");
    assert_eq!(member[3], 0, "a gzip header with optional fields");
    member
}

/// `raw` as one brotli stream at quality 5 with a 64 KiB window (a page is smaller).
fn brotli_stream(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 5, 16);
    enc.write_all(raw).expect("brotli");
    drop(enc);
    out
}

criterion_group!(benches, gets_and_scan, write, codecs, zstd_frames);
criterion_main!(benches);
