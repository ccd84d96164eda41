//! Decoding one Parquet data page straight from its bytes, without the arrow reader.
//!
//! Strata writes its tables with the parquet crate but reads them with this: a page is parsed
//! ([`super::thrift`]), decompressed with its column chunk's codec, then decoded from the few
//! encodings Strata's writer uses (see `schema::writer_properties`):
//!
//! * `key`: `DELTA_BYTE_ARRAY` (also `PLAIN`);
//! * `seq`: `DELTA_BINARY_PACKED` `INT64` (`PLAIN` in tables written before that change);
//! * `kind`: dictionary-encoded `INT32` (`RLE_DICTIONARY`/`PLAIN_DICTIONARY`, its dictionary
//!   `PLAIN`), also `PLAIN`;
//! * `value`: `DELTA_LENGTH_BYTE_ARRAY` (`PLAIN` in tables written before that change).
//!
//! Only data page V1 of required (non-null, non-repeated) columns is read: such a page holds
//! no level bytes, its body is the values alone.
//!
//! Every function here takes untrusted bytes: lengths and counts are bounded by the bytes at
//! hand before anything is allocated or indexed, and malformed input is an `Err` saying what is
//! wrong (the caller turns it into [`crate::Error::Corruption`] naming the file), never a panic.

use std::cell::RefCell;
use std::ops::Range;

use bytes::Bytes;
use parquet::basic::Compression as Codec;

use super::lz4::Lz4Prefix;
use super::thrift::{DATA_PAGE, DICTIONARY_PAGE, PageHeader, parse_page_header};

/// Parquet encodings (`Encoding` in parquet.thrift).
const PLAIN: i32 = 0;
const PLAIN_DICTIONARY: i32 = 2;
const DELTA_BINARY_PACKED: i32 = 5;
const DELTA_LENGTH_BYTE_ARRAY: i32 = 6;
const DELTA_BYTE_ARRAY: i32 = 7;
const RLE_DICTIONARY: i32 = 8;

/// The largest decompressed page accepted, so a damaged size cannot ask for a huge buffer.
///
/// NOTE: a page holds at most `data_page_size` (≤ 16 MiB) plus the rows of one encoder batch
/// past it; with `MAX_VALUE_LEN` values (256 MiB) that stays far below 1 GiB in practice.
const MAX_PAGE_BYTES: usize = 1 << 30;

/// The most rows a page may hold (the largest `page_rows` option), which bounds what a
/// damaged row count can make a decoder allocate.
pub(crate) const MAX_PAGE_ROWS: usize = 1 << 20;

type R<T> = Result<T, String>;

/// A decompressed page: its header and its body (the encoded values).
#[derive(Debug)]
pub(crate) struct RawPage {
    pub(crate) header: PageHeader,
    pub(crate) body: Bytes,
}

/// Splits the page at the start of `bytes` into its header and its stored (possibly
/// compressed) body, checking that the two fill `bytes` exactly and that the decompressed size
/// the header claims is one a page can have.
fn split_page(bytes: &[u8]) -> R<(PageHeader, &[u8])> {
    let (header, header_len) = parse_page_header(bytes)?;
    let compressed = header.compressed_size as usize;
    if header_len + compressed != bytes.len() {
        return Err(format!(
            "page header ({header_len} bytes) and body ({compressed} bytes) do not fill the page's {} bytes",
            bytes.len()
        ));
    }
    let size = header.uncompressed_size as usize;
    if size > MAX_PAGE_BYTES {
        return Err(format!("page claims {size} uncompressed bytes"));
    }
    Ok((header, &bytes[header_len..]))
}

/// Parses the page at the start of `bytes` (header then compressed body) and decompresses its
/// body with `codec`. `bytes` must hold exactly one page.
pub(crate) fn read_page(bytes: &Bytes, codec: Codec) -> R<RawPage> {
    let (header, input) = split_page(bytes)?;
    let size = header.uncompressed_size as usize;
    let body = if codec == Codec::UNCOMPRESSED {
        check_uncompressed(input, size)?;
        bytes.slice(bytes.len() - input.len()..)
    } else {
        Bytes::from(decompress(codec, input, size)?)
    };
    Ok(RawPage { header, body })
}

/// A page borrowed from a read buffer: its header and its (decompressed) body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRef<'a> {
    pub(crate) header: PageHeader,
    pub(crate) body: &'a [u8],
}

impl RawPage {
    /// The page, borrowed (the fuzz harness feeds it to the lookup decoders).
    #[cfg(feature = "testing")]
    pub(crate) fn as_ref(&self) -> PageRef<'_> {
        PageRef { header: self.header, body: &self.body }
    }
}

/// [`read_page`] for a point lookup: the body is decompressed into `scratch`, a buffer reused
/// across pages (grown when too small, never zeroed again), instead of a new allocation; an
/// uncompressed body is used in place.
pub(crate) fn read_page_in<'a>(bytes: &'a [u8], codec: Codec, scratch: &'a mut Vec<u8>) -> R<PageRef<'a>> {
    let (header, input) = split_page(bytes)?;
    let size = header.uncompressed_size as usize;
    if codec == Codec::UNCOMPRESSED {
        check_uncompressed(input, size)?;
        return Ok(PageRef { header, body: input });
    }
    decompress_to(codec, input, size, scratch)?;
    Ok(PageRef { header, body: &scratch[..size] })
}

/// Decompresses a page body `input` (not `UNCOMPRESSED`) that its header says is `size` bytes
/// into `buf[..size]`, growing `buf` (never shrinking it) only after checking that `input`
/// can hold `size` bytes; a body that decompresses to another size is an error.
fn decompress_to(codec: Codec, input: &[u8], size: usize, buf: &mut Vec<u8>) -> R<()> {
    check_claim(codec, input, size)?;
    if buf.len() < size {
        buf.resize(size, 0);
    }
    let n = decompress_into(codec, input, &mut buf[..size])?;
    if n != size {
        return Err(format!("page decompressed to {n} bytes, header says {size}"));
    }
    Ok(())
}

fn check_uncompressed(input: &[u8], size: usize) -> R<()> {
    if input.len() == size {
        Ok(())
    } else {
        Err(format!("uncompressed page of {} bytes, header says {size}", input.len()))
    }
}

/// Rejects a decompressed size the compressed bytes cannot hold, before anything is allocated
/// for it.
fn check_claim(codec: Codec, input: &[u8], size: usize) -> R<()> {
    match codec {
        // An LZ4 sequence expands at most 255-fold, so a larger claim is damage.
        Codec::LZ4_RAW if size > input.len().saturating_mul(255).saturating_add(16) => {
            Err(format!("LZ4 page of {} bytes cannot hold {size} bytes", input.len()))
        }
        Codec::SNAPPY => {
            let claimed = snap::raw::decompress_len(input).map_err(|e| format!("snappy: {e}"))?;
            if claimed == size { Ok(()) } else { Err(format!("snappy page holds {claimed} bytes, header says {size}")) }
        }
        _ => Ok(()),
    }
}

/// Decompresses `input` into `out`; returns the bytes written.
fn decompress_into(codec: Codec, input: &[u8], out: &mut [u8]) -> R<usize> {
    match codec {
        Codec::LZ4_RAW => lz4_flex::block::decompress_into(input, out).map_err(|e| format!("LZ4: {e}")),
        Codec::SNAPPY => snap::raw::Decoder::new().decompress(input, out).map_err(|e| format!("snappy: {e}")),
        Codec::ZSTD(_) => zstd_decompress(input, out),
        other => Err(format!("unsupported page codec {other:?}")),
    }
}

thread_local! {
    /// Per thread, one zstd decompression context, reused for every page: making one per page
    /// (what `zstd::bulk::decompress_to_buffer` does) allocates and initializes its ~100 KiB
    /// of tables each time, which cost more than decompressing a small page.
    static ZSTD: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_decompress(input: &[u8], out: &mut [u8]) -> R<usize> {
    let failed = |e: std::io::Error| format!("zstd: {e}");
    ZSTD.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let ctx = match &mut *slot {
                Some(ctx) => ctx,
                none => none.insert(zstd::bulk::Decompressor::new().map_err(failed)?),
            };
            ctx.decompress_to_buffer(input, out).map_err(failed)
        }
        // NOTE: not reached (decompression does not nest on a thread); a fresh context keeps
        // it correct if it ever does.
        Err(_) => zstd::bulk::decompress_to_buffer(input, out).map_err(failed),
    })
}

/// Decompresses `input` (not `UNCOMPRESSED`) into exactly `size` bytes of memory of its own.
fn decompress(codec: Codec, input: &[u8], size: usize) -> R<Vec<u8>> {
    check_claim(codec, input, size)?;
    let out = if codec == Codec::LZ4_RAW {
        // Decompressed into fresh memory that is not zeroed first (lz4_flex writes every byte
        // it returns).
        lz4_flex::block::decompress(input, size).map_err(|e| format!("LZ4: {e}"))?
    } else {
        let mut out = vec![0u8; size];
        let n = decompress_into(codec, input, &mut out)?;
        out.truncate(n);
        out
    };
    if out.len() != size {
        return Err(format!("page decompressed to {} bytes, header says {size}", out.len()));
    }
    Ok(out)
}

/// Checks that `h` heads a data page of `rows` values and returns its encoding.
fn header_encoding(h: &PageHeader, rows: usize) -> R<i32> {
    if h.page_type != DATA_PAGE {
        return Err(format!("expected a data page (V1), found page type {}", h.page_type));
    }
    if rows > MAX_PAGE_ROWS {
        return Err(format!("a page of {rows} rows is more than any Strata page holds"));
    }
    if h.num_values as usize != rows {
        return Err(format!("data page holds {} values, the offset index says {rows} rows", h.num_values));
    }
    Ok(h.encoding)
}

/// A binary column of a page: value `i` is `data[offsets[i] + skip .. offsets[i + 1]]`.
///
/// NOTE: `skip` lets a `PLAIN` page be used as it is, zero-copy: its values are
/// `(u32 length, bytes)` pairs, so with `skip = 4` the offsets are the positions of the
/// length prefixes and the next prefix ends each value.
#[derive(Debug, Clone, Default)]
pub(crate) struct BinaryColumn {
    pub(crate) data: Bytes,
    pub(crate) offsets: Vec<u32>,
    pub(crate) skip: u32,
}

impl BinaryColumn {
    pub(crate) fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Value `i`; `i < len()`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        &self.data[(self.offsets[i] + self.skip) as usize..self.offsets[i + 1] as usize]
    }

    /// Value `i` as a zero-copy slice of the page's bytes; `i < len()`.
    pub(crate) fn get_bytes(&self, i: usize) -> Bytes {
        self.data.slice((self.offsets[i] + self.skip) as usize..self.offsets[i + 1] as usize)
    }

    /// Heap bytes held.
    pub(crate) fn memory_size(&self) -> usize {
        self.data.len() + self.offsets.capacity() * 4
    }

    /// Rows `[from, to)` copied into a column of their own (for pages that do not align).
    pub(crate) fn gather(parts: &[(&BinaryColumn, usize, usize)]) -> R<Self> {
        let total: usize = parts.iter().map(|(c, a, b)| (*a..*b).map(|i| c.get(i).len()).sum::<usize>()).sum();
        let rows: usize = parts.iter().map(|(_, a, b)| b - a).sum();
        u32::try_from(total).map_err(|_| "rows too large for one page".to_owned())?;
        let mut data = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        for (c, a, b) in parts {
            for i in *a..*b {
                data.extend_from_slice(c.get(i));
                offsets.push(data.len() as u32);
            }
        }
        Ok(Self { data: Bytes::from(data), offsets, skip: 0 })
    }
}

/// Decodes a binary data page of `rows` values (`PLAIN` or `DELTA_BYTE_ARRAY`); `PLAIN`
/// values stay in the page's own body.
#[cfg(feature = "testing")]
pub(crate) fn decode_binary(page: &RawPage, rows: usize) -> R<BinaryColumn> {
    match header_encoding(&page.header, rows)? {
        DELTA_BYTE_ARRAY => delta_byte_array(&page.body, rows),
        e => in_place_binary(e, &page.body, rows),
    }
}

/// [`decode_binary`] of a borrowed page: `PLAIN` and `DELTA_LENGTH_BYTE_ARRAY` pages are
/// copied out of it (into one buffer), `DELTA_BYTE_ARRAY` values are rebuilt as always.
pub(crate) fn decode_binary_ref(page: PageRef<'_>, rows: usize) -> R<BinaryColumn> {
    match header_encoding(&page.header, rows)? {
        DELTA_BYTE_ARRAY => delta_byte_array(page.body, rows),
        e => in_place_binary(e, &Bytes::copy_from_slice(page.body), rows),
    }
}

/// Decodes the binary data page at the start of `bytes` (checked bytes as stored, header
/// first) into a column of its own. A compressed page whose values lie in its body as they are
/// (`PLAIN`, `DELTA_LENGTH_BYTE_ARRAY`: the `value` column) is decompressed straight into the
/// memory the column keeps, so the values are not copied out of `scratch` as
/// [`decode_binary_ref`] would; other pages decompress into `scratch` first.
pub(crate) fn decode_binary_page(bytes: &[u8], codec: Codec, rows: usize, scratch: &mut Vec<u8>) -> R<BinaryColumn> {
    let (header, input) = split_page(bytes)?;
    if codec != Codec::UNCOMPRESSED {
        let encoding = header_encoding(&header, rows)?;
        if matches!(encoding, PLAIN | DELTA_LENGTH_BYTE_ARRAY) {
            let body = decompress(codec, input, header.uncompressed_size as usize)?;
            return in_place_binary(encoding, &Bytes::from(body), rows);
        }
    }
    decode_binary_ref(read_page_in(bytes, codec, scratch)?, rows)
}

/// A binary page body of `encoding` whose values are used where they lie in `body`: `PLAIN`
/// or `DELTA_LENGTH_BYTE_ARRAY`.
fn in_place_binary(encoding: i32, body: &Bytes, rows: usize) -> R<BinaryColumn> {
    match encoding {
        PLAIN => plain_binary(body, rows),
        DELTA_LENGTH_BYTE_ARRAY => delta_length_binary(body, rows),
        e => Err(format!("unsupported encoding {e} for a binary column")),
    }
}

/// `PLAIN` `BYTE_ARRAY`: `(u32 LE length, bytes)` per value, used in place.
fn plain_binary(body: &Bytes, rows: usize) -> R<BinaryColumn> {
    if u32::try_from(body.len()).is_err() {
        return Err("page too large".into());
    }
    // Each value takes at least its 4-byte length.
    if rows > body.len() / 4 {
        return Err(format!("{rows} values cannot fit in {} bytes", body.len()));
    }
    let mut offsets = Vec::with_capacity(rows + 1);
    let mut at = 0usize;
    for _ in 0..rows {
        let len = body.get(at..at + 4).ok_or("PLAIN value length overruns the page")?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        offsets.push(at as u32);
        at = at.checked_add(4 + len).filter(|&e| e <= body.len()).ok_or("PLAIN value overruns the page")?;
    }
    if at != body.len() {
        return Err(format!("PLAIN values end at {at}, the page at {}", body.len()));
    }
    offsets.push(at as u32);
    Ok(BinaryColumn { data: body.clone(), offsets, skip: 4 })
}

/// `DELTA_LENGTH_BYTE_ARRAY`: every value's length (`DELTA_BINARY_PACKED`), then the values'
/// bytes back to back, used in place.
fn delta_length_binary(body: &Bytes, rows: usize) -> R<BinaryColumn> {
    if u32::try_from(body.len()).is_err() {
        return Err("page too large".into());
    }
    let mut values = DeltaLengthValues::new(body, rows)?;
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(values.at as u32);
    for _ in 0..rows {
        offsets.push(values.next_range()?.end as u32);
    }
    values.finish()?;
    Ok(BinaryColumn { data: body.clone(), offsets, skip: 0 })
}

/// Where the values of a `DELTA_LENGTH_BYTE_ARRAY` page body lie, one after the other, each
/// checked to lie inside the body; [`Self::finish`] checks that the last one ends it.
struct DeltaLengthValues<'a> {
    lengths: DeltaReader<'a>,
    /// Where the next value starts (first: where the lengths stream ends).
    at: usize,
    body_len: usize,
}

impl<'a> DeltaLengthValues<'a> {
    /// The values of a body of `rows` values. Reads only the lengths stream's headers.
    fn new(body: &'a [u8], rows: usize) -> R<Self> {
        Self::within(body, rows, body.len())
    }

    /// [`Self::new`] for a body of `body_len` bytes of which `prefix`, holding at least the
    /// lengths stream, is at hand (a page decompressed only so far).
    fn within(prefix: &'a [u8], rows: usize, body_len: usize) -> R<Self> {
        let (lengths, at) = DeltaReader::new_with_len(prefix, rows)?;
        Ok(Self { lengths, at, body_len })
    }

    /// Where value `row` of the `rows` lies, from the lengths alone: those before it are
    /// summed, and those after it must still end the body exactly.
    fn locate(mut self, row: usize, rows: usize) -> R<Range<usize>> {
        self.skip(row)?;
        let range = self.next_range()?;
        self.skip(rows - row - 1)?;
        self.finish()?;
        Ok(range)
    }

    /// The next value's bytes in the body.
    fn next_range(&mut self) -> R<Range<usize>> {
        let len = usize::try_from(self.lengths.next_value()?).map_err(|_| "negative value length")?;
        let start = self.at;
        self.at = start
            .checked_add(len)
            .filter(|&e| e <= self.body_len)
            .ok_or("DELTA_LENGTH_BYTE_ARRAY value overruns the page")?;
        Ok(start..self.at)
    }

    /// Steps over the next `n` values (checked to lie in the body, as one span).
    fn skip(&mut self, n: usize) -> R<()> {
        let (sum, min) = self.lengths.sum_next(n)?;
        if n > 0 && min < 0 {
            return Err("negative value length".into());
        }
        self.at = usize::try_from(sum)
            .ok()
            .and_then(|sum| self.at.checked_add(sum))
            .filter(|&e| e <= self.body_len)
            .ok_or("DELTA_LENGTH_BYTE_ARRAY value overruns the page")?;
        Ok(())
    }

    /// After the last value: checks that the values fill the body exactly.
    fn finish(&self) -> R<()> {
        if self.at == self.body_len {
            Ok(())
        } else {
            Err(format!("DELTA_LENGTH_BYTE_ARRAY values end at {}, the page at {}", self.at, self.body_len))
        }
    }
}

/// `DELTA_BYTE_ARRAY`: prefix lengths (`DELTA_BINARY_PACKED`), then the suffixes as
/// `DELTA_LENGTH_BYTE_ARRAY` (their lengths `DELTA_BINARY_PACKED`, then their bytes). Each
/// value is a prefix of the previous one plus its suffix, so values are rebuilt into a buffer.
fn delta_byte_array(body: &[u8], rows: usize) -> R<BinaryColumn> {
    let mut prefixes = Vec::new();
    let at = delta_binary_packed(body, rows, &mut prefixes)?;
    let mut suffixes = Vec::new();
    let at2 = delta_binary_packed(&body[at..], rows, &mut suffixes)?;
    let mut tail = &body[at + at2..];
    let suffix_total: u64 = suffixes.iter().try_fold(0u64, |acc, &l| {
        u64::try_from(l).ok().and_then(|l| acc.checked_add(l)).ok_or("negative or huge suffix length")
    })?;
    if suffix_total != tail.len() as u64 {
        return Err(format!("suffix lengths add up to {suffix_total}, {} bytes are left", tail.len()));
    }
    let mut data: Vec<u8> = Vec::with_capacity(tail.len() + rows * 8);
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0u32);
    let mut prev_start = 0usize;
    for (&p, &s) in prefixes.iter().zip(&suffixes) {
        let start = data.len();
        let prev_len = start - prev_start;
        let p = usize::try_from(p).ok().filter(|&p| p <= prev_len).ok_or("key prefix longer than the previous key")?;
        // `s` was checked non-negative and within `tail` by the sum above.
        let (suffix, rest) = tail.split_at(s as usize);
        // Shared prefixes could rebuild far more bytes than the page holds: bound them.
        if start + p + suffix.len() > MAX_PAGE_BYTES {
            return Err("decoded page too large".into());
        }
        data.extend_from_within(prev_start..prev_start + p);
        data.extend_from_slice(suffix);
        tail = rest;
        prev_start = start;
        offsets.push(u32::try_from(data.len()).map_err(|_| "decoded page too large")?);
    }
    Ok(BinaryColumn { data: Bytes::from(data), offsets, skip: 0 })
}

/// Where the rows holding `key` are in a binary page of `rows` sorted values (`PLAIN`,
/// `DELTA_LENGTH_BYTE_ARRAY` or `DELTA_BYTE_ARRAY`), for a point lookup that does not want
/// every value materialized: `(first row >= key, first row > key)`, both `rows` when every
/// value sorts before `key`.
///
/// Values are rebuilt one at a time into one buffer and the walk stops at the first value
/// greater than `key` (`DELTA_BYTE_ARRAY` has no random access: each value extends a prefix
/// of the one before). The length streams are still checked whole, as [`decode_binary`] does.
pub(crate) fn find_key(page: PageRef<'_>, rows: usize, key: &[u8]) -> R<(usize, usize)> {
    use std::cmp::Ordering;
    let mut lo = rows;
    let mut step = |i: usize, order: Ordering| -> Option<(usize, usize)> {
        match order {
            Ordering::Less => None,
            Ordering::Equal => {
                lo = lo.min(i);
                None
            }
            Ordering::Greater => Some((lo.min(i), i)),
        }
    };
    match header_encoding(&page.header, rows)? {
        PLAIN => {
            let body = page.body;
            if rows > body.len() / 4 {
                return Err(format!("{rows} values cannot fit in {} bytes", body.len()));
            }
            let mut at = 0usize;
            for i in 0..rows {
                let len = body.get(at..at + 4).ok_or("PLAIN value length overruns the page")?;
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
                let end =
                    at.checked_add(4 + len).filter(|&e| e <= body.len()).ok_or("PLAIN value overruns the page")?;
                if let Some(found) = step(i, strata_core::cmp_keys(&body[at + 4..end], key)) {
                    return Ok(found);
                }
                at = end;
            }
            if at != body.len() {
                return Err(format!("PLAIN values end at {at}, the page at {}", body.len()));
            }
        }
        DELTA_LENGTH_BYTE_ARRAY => {
            let mut values = DeltaLengthValues::new(page.body, rows)?;
            for i in 0..rows {
                let range = values.next_range()?;
                if let Some(found) = step(i, strata_core::cmp_keys(&page.body[range], key)) {
                    return Ok(found);
                }
            }
            values.finish()?;
        }
        DELTA_BYTE_ARRAY => {
            // NOTE: both length streams are read lazily, up to the row the walk stops at; the
            // second one starts where the first one's block headers say it ends.
            let body = page.body;
            let (mut prefixes, at) = DeltaReader::new_with_len(body, rows)?;
            let (mut suffixes, at2) = DeltaReader::new_with_len(&body[at..], rows)?;
            let mut tail = &body[at + at2..];
            // NOTE: keys are compared with `key` without being rebuilt. `matched` is the length
            // of the common prefix of the previous key and `key`. A key sharing `p` bytes with
            // the previous one: when `p > matched`, it differs from `key` where the previous
            // key did (the walk goes on only past smaller keys, or an equal one, whose
            // `matched` is its whole length, so `p > matched` cannot follow it), so it sorts
            // before `key` too; otherwise its first `p` bytes are `key`'s and its suffix
            // decides.
            let (mut prev_len, mut matched) = (0usize, 0usize);
            for i in 0..rows {
                let p = usize::try_from(prefixes.next_value()?)
                    .ok()
                    .filter(|&p| p <= prev_len)
                    .ok_or("key prefix longer than the previous key")?;
                let s = usize::try_from(suffixes.next_value()?)
                    .ok()
                    .filter(|&s| s <= tail.len())
                    .ok_or("key suffix overruns the page")?;
                let (suffix, rest) = tail.split_at(s);
                tail = rest;
                prev_len = p + s;
                if prev_len > MAX_PAGE_BYTES {
                    return Err("decoded key too large".into());
                }
                let order = if p > matched {
                    Ordering::Less
                } else {
                    // `p <= matched <= key.len()`.
                    let want = &key[p..];
                    let common = suffix.iter().zip(want).take_while(|(a, b)| a == b).count();
                    matched = p + common;
                    match (suffix.get(common), want.get(common)) {
                        (Some(a), Some(b)) => a.cmp(b),
                        _ => suffix.len().cmp(&want.len()),
                    }
                };
                if let Some(found) = step(i, order) {
                    return Ok(found);
                }
            }
        }
        e => return Err(format!("unsupported encoding {e} for a binary column")),
    }
    Ok((lo, rows))
}

/// The first `limit` values of an `INT64` data page of `rows` values, as [`decode_u64`]
/// decodes them, without decoding the rest (`limit <= rows`).
pub(crate) fn decode_u64_prefix(page: PageRef<'_>, rows: usize, limit: usize, out: &mut Vec<u64>) -> R<()> {
    match header_encoding(&page.header, rows)? {
        PLAIN => {
            if Some(page.body.len()) != rows.checked_mul(8) {
                return Err(format!("PLAIN INT64 page of {} bytes for {rows} values", page.body.len()));
            }
            out.extend(page.body.chunks_exact(8).take(limit).map(le_u64));
            Ok(())
        }
        DELTA_BINARY_PACKED => {
            let mut v = Vec::with_capacity(limit.min(rows));
            delta_binary_packed_upto(page.body, rows, limit, &mut v)?;
            out.extend(v.into_iter().map(|x| x as u64));
            Ok(())
        }
        e => Err(format!("unsupported encoding {e} for an INT64 column")),
    }
}

/// Value `row` of a binary page of `rows` values whose values lie in it as they are (`PLAIN`
/// or `DELTA_LENGTH_BYTE_ARRAY`), borrowed from the page: no offsets are built.
pub(crate) fn binary_value<'a>(page: PageRef<'a>, rows: usize, row: usize) -> R<&'a [u8]> {
    let range = value_in(&page.header, page.body, rows, row, |_| Ok(()), |r| r)?;
    Ok(&page.body[range])
}

/// Where value `row` lies in `bytes`, a whole stored binary page (header and body) of `rows`
/// values stored uncompressed (`PLAIN` or `DELTA_LENGTH_BYTE_ARRAY`), whose bytes are trusted
/// only where `check` accepts them: `check(range)` must succeed before anything in `range` is
/// relied on. The walk asks for the header, then for the lengths up to the row, then for the
/// value, so the bytes of other values need not be checked. Errors other than `check`'s
/// become `bad(reason)`.
pub(crate) fn value_range<E>(
    bytes: &[u8],
    rows: usize,
    row: usize,
    mut check: impl FnMut(Range<usize>) -> Result<(), E>,
    bad: impl Fn(String) -> E,
) -> Result<Range<usize>, E> {
    let (header, body, base) = split_checked(bytes, &mut check, &bad)?;
    check_uncompressed(body, header.uncompressed_size as usize).map_err(&bad)?;
    let range = value_in(&header, body, rows, row, |r| check(base + r.start..base + r.end), bad)?;
    Ok(base + range.start..base + range.end)
}

/// [`split_page`] for a reader that trusts only what `check` accepted: the header, the body,
/// and where the body starts, once the header's bytes passed `check`. A page that does not
/// split is checked whole first, so damage shows as a checksum mismatch if it is one.
fn split_checked<'b, E>(
    bytes: &'b [u8],
    check: &mut impl FnMut(Range<usize>) -> Result<(), E>,
    bad: &impl Fn(String) -> E,
) -> Result<(PageHeader, &'b [u8], usize), E> {
    // NOTE: the header is parsed before it is checked (the parser is bounds-checked and fuzzed
    // on arbitrary bytes); nothing it says is used until its bytes pass.
    let (header, body) = match split_page(bytes) {
        Ok(split) => split,
        Err(reason) => {
            check(0..bytes.len())?;
            return Err(bad(reason));
        }
    };
    let base = bytes.len() - body.len();
    check(0..base)?;
    Ok((header, body, base))
}

/// Where value `row` lies in `body`, the (uncompressed) body of a binary page of `rows` values
/// headed by `header`, `check(range)` vouching for `range` of `body` before it is relied on.
/// Errors other than `check`'s become `bad(reason)`.
///
/// * `PLAIN`: the length prefixes are walked up to the row, each checked before it is read.
/// * `DELTA_LENGTH_BYTE_ARRAY`: the lengths stream at the page's start is checked whole (for
///   values of one size it is a few bytes), every length is summed (their total must end the
///   page exactly), and the value is checked: the values before it are not.
fn value_in<E>(
    header: &PageHeader,
    body: &[u8],
    rows: usize,
    row: usize,
    mut check: impl FnMut(Range<usize>) -> Result<(), E>,
    bad: impl Fn(String) -> E,
) -> Result<Range<usize>, E> {
    let encoding = header_encoding(header, rows).map_err(&bad)?;
    if row >= rows {
        return Err(bad(format!("row {row} of a page of {rows} values")));
    }
    match encoding {
        PLAIN => plain_value_in(body, rows, row, check, bad),
        DELTA_LENGTH_BYTE_ARRAY => {
            // NOTE: the lengths stream's headers are walked before they are checked
            // (bounds-checked, as the page header above); a failure there is reported as
            // damage if it is.
            let values = match DeltaLengthValues::new(body, rows) {
                Ok(values) => values,
                Err(reason) => {
                    check(0..body.len())?;
                    return Err(bad(reason));
                }
            };
            check(0..values.at)?;
            let range = values.locate(row, rows).map_err(&bad)?;
            check(range.clone())?;
            Ok(range)
        }
        e => Err(bad(format!("unsupported encoding {e} for a value page"))),
    }
}

/// Bytes of an `LZ4_RAW` value page decoded before its lengths stream is parsed: enough for
/// the stream's headers and up to 40-bit lengths of every row (values of one size take a few
/// bytes), so a second pass is rare.
fn lengths_guess(rows: usize) -> usize {
    64 + rows.saturating_mul(5)
}

/// Value `row` of a stored binary page (`bytes`: header and `LZ4_RAW` body) of `rows`
/// `DELTA_LENGTH_BYTE_ARRAY` values, decompressed into `scratch` only as far as the value's
/// end: the lengths stream, the values before it, and it. `check(range)` must accept `range`
/// of `bytes` before anything in it, or decompressed from it, is relied on; the compressed
/// bytes after the ones the value came from are not checked. `Ok(None)` for a page of another
/// encoding (the caller decodes it whole). Errors other than `check`'s become `bad(reason)`.
pub(crate) fn lz4_value<'s, E>(
    bytes: &[u8],
    rows: usize,
    row: usize,
    scratch: &'s mut Vec<u8>,
    mut check: impl FnMut(Range<usize>) -> Result<(), E>,
    bad: impl Fn(String) -> E,
) -> Result<Option<&'s [u8]>, E> {
    let (header, input, base) = split_checked(bytes, &mut check, &bad)?;
    if header_encoding(&header, rows).map_err(&bad)? != DELTA_LENGTH_BYTE_ARRAY {
        return Ok(None);
    }
    if row >= rows {
        return Err(bad(format!("row {row} of a page of {rows} values")));
    }
    let size = header.uncompressed_size as usize;
    check_claim(Codec::LZ4_RAW, input, size).map_err(&bad)?;
    if scratch.len() < size {
        scratch.resize(size, 0);
    }
    let mut lz4 = Lz4Prefix::new(input, &mut scratch[..size]);
    // Decodes to `want` and checks the compressed bytes used so far; on a decoding error the
    // whole page is checked, so damage shows as a checksum mismatch.
    let mut decode_to = |lz4: &mut Lz4Prefix<'_>, want: usize| -> Result<(), E> {
        let decoded = lz4.decode_to(want);
        if let Err(reason) = decoded {
            check(0..bytes.len())?;
            return Err(bad(reason));
        }
        check(0..base + lz4.consumed())
    };
    decode_to(&mut lz4, lengths_guess(rows))?;
    // The lengths are in the prefix decoded; the values they give end the whole page.
    let values = |prefix: &[u8]| DeltaLengthValues::within(prefix, rows, size)?.locate(row, rows);
    let range = match values(lz4.output()) {
        Ok(range) => range,
        Err(_) if !lz4.done() => {
            // The lengths run past the guess: decode the page whole and look again.
            decode_to(&mut lz4, size)?;
            values(lz4.output()).map_err(&bad)?
        }
        Err(reason) => return Err(bad(reason)),
    };
    decode_to(&mut lz4, range.end)?;
    Ok(Some(&scratch[range]))
}

/// [`value_in`] of a `PLAIN` page: every byte up to the value is checked, as the length
/// prefixes are spread among the values.
fn plain_value_in<E>(
    body: &[u8],
    rows: usize,
    row: usize,
    mut check: impl FnMut(Range<usize>) -> Result<(), E>,
    bad: impl Fn(String) -> E,
) -> Result<Range<usize>, E> {
    if rows > body.len() / 4 {
        return Err(bad(format!("row {row} of {rows} values in {} bytes", body.len())));
    }
    // Value `i` starts at `at`: its length prefix, then its bytes.
    let mut at = 0usize;
    let mut i = 0;
    let end = loop {
        let prefix = body.get(at..at + 4).ok_or_else(|| bad("PLAIN value length overruns the page".into()))?;
        check(0..at + 4)?;
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let end = at
            .checked_add(4 + len)
            .filter(|&e| e <= body.len())
            .ok_or_else(|| bad("PLAIN value overruns the page".into()))?;
        if i == row {
            break end;
        }
        at = end;
        i += 1;
    };
    check(0..end)?;
    Ok(at + 4..end)
}

/// Decodes an `INT64` data page of `rows` values (`PLAIN` or `DELTA_BINARY_PACKED`) as `u64`
/// (Strata's `seq` is an unsigned 64-bit column stored in Parquet's signed `INT64`).
pub(crate) fn decode_u64(page: PageRef<'_>, rows: usize, out: &mut Vec<u64>) -> R<()> {
    match header_encoding(&page.header, rows)? {
        PLAIN => {
            if Some(page.body.len()) != rows.checked_mul(8) {
                return Err(format!("PLAIN INT64 page of {} bytes for {rows} values", page.body.len()));
            }
            out.extend(page.body.chunks_exact(8).map(le_u64));
            Ok(())
        }
        DELTA_BINARY_PACKED => {
            let mut v = Vec::with_capacity(rows);
            let used = delta_binary_packed(page.body, rows, &mut v)?;
            if used != page.body.len() {
                return Err("DELTA_BINARY_PACKED page has trailing bytes".into());
            }
            out.extend(v.into_iter().map(|x| x as u64));
            Ok(())
        }
        e => Err(format!("unsupported encoding {e} for an INT64 column")),
    }
}

/// Decodes a dictionary page of `INT32` values (always `PLAIN`).
pub(crate) fn decode_i32_dictionary(page: &RawPage) -> R<Vec<i32>> {
    let h = &page.header;
    if h.page_type != DICTIONARY_PAGE || !(h.encoding == PLAIN || h.encoding == PLAIN_DICTIONARY) {
        return Err(format!("expected a PLAIN dictionary page, found type {} encoding {}", h.page_type, h.encoding));
    }
    let n = h.num_values as usize;
    if Some(page.body.len()) != n.checked_mul(4) {
        return Err(format!("dictionary of {n} INT32 values in {} bytes", page.body.len()));
    }
    Ok(page.body.chunks_exact(4).map(le_i32).collect())
}

/// The first `limit` (at most `rows`) values of an `INT32` data page of `rows` values:
/// `PLAIN`, or dictionary indices into `dict` (`None` when the column chunk has no dictionary
/// page). The runs past them are not read.
pub(crate) fn decode_i32_prefix(
    page: PageRef<'_>,
    rows: usize,
    limit: usize,
    dict: Option<&[i32]>,
    out: &mut Vec<i32>,
) -> R<()> {
    let limit = limit.min(rows);
    match header_encoding(&page.header, rows)? {
        PLAIN => {
            if Some(page.body.len()) != rows.checked_mul(4) {
                return Err(format!("PLAIN INT32 page of {} bytes for {rows} values", page.body.len()));
            }
            out.extend(page.body.chunks_exact(4).take(limit).map(le_i32));
            Ok(())
        }
        RLE_DICTIONARY | PLAIN_DICTIONARY => {
            let dict = dict.ok_or("dictionary-encoded page in a column chunk without a dictionary")?;
            let (&width, runs) = page.body.split_first().ok_or("dictionary page body is empty")?;
            let start = out.len();
            rle_bit_packed_hybrid(runs, width, limit, out)?;
            for v in &mut out[start..] {
                *v = *usize::try_from(*v).ok().and_then(|i| dict.get(i)).ok_or("dictionary index out of range")?;
            }
            Ok(())
        }
        e => Err(format!("unsupported encoding {e} for an INT32 column")),
    }
}

/// An unsigned LEB128 varint at `buf[*at..]`.
fn uvarint(buf: &[u8], at: &mut usize) -> R<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("varint overruns the page")?;
        *at += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn zigzag(buf: &[u8], at: &mut usize) -> R<i64> {
    let v = uvarint(buf, at)?;
    Ok((v >> 1) as i64 ^ -((v & 1) as i64))
}

/// `width` bits (≤ 64) at bit `bit` of `buf`, least significant bit first; bits past the end
/// of `buf` read as zero (callers check that the bits they use lie inside).
#[inline]
fn bits_at(buf: &[u8], bit: usize, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let byte = bit / 8;
    let shift = (bit % 8) as u32;
    let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
    // NOTE: the common case (width ≤ 56) needs one 8-byte load; only wider values can span
    // nine bytes, and only the last few values of a buffer lack eight bytes to load.
    if width <= 56
        && let Some(w) = buf.get(byte..byte + 8)
    {
        return (le_u64(w) >> shift) & mask;
    }
    let mut w = [0u8; 16];
    let tail = buf.get(byte..).unwrap_or_default();
    let n = tail.len().min(16);
    w[..n].copy_from_slice(&tail[..n]);
    ((u128::from_le_bytes(w) >> shift) as u64) & mask
}

/// `DELTA_BINARY_PACKED`: decodes `count` values into `out` (checking the header's count) and
/// returns the bytes used (so a following stream can be found).
///
/// Header: block size, miniblocks per block, value count (uvarints), first value (zigzag).
/// Each block: its minimum delta (zigzag), one bit width per miniblock, then the miniblocks,
/// each `block_size / miniblocks` deltas bit-packed; a value is the previous plus the minimum
/// delta plus its packed delta (wrapping, as the format specifies). Miniblocks past the last
/// value are not written.
fn delta_binary_packed(buf: &[u8], count: usize, out: &mut Vec<i64>) -> R<usize> {
    delta_binary_packed_upto(buf, count, count, out)
}

/// [`delta_binary_packed`] of a stream of `count` values that stops after the first `limit`
/// (`limit <= count`): the bytes used it returns are those of the values decoded, so only a
/// full decode (`limit == count`) says where a following stream starts.
fn delta_binary_packed_upto(buf: &[u8], count: usize, limit: usize, out: &mut Vec<i64>) -> R<usize> {
    let DeltaHeader { per_mini, miniblocks, first: mut value, len: mut at } = DeltaHeader::parse(buf, count)?;
    let limit = limit.min(count);
    if limit == 0 {
        return Ok(at);
    }
    // NOTE: callers bound `count` by `MAX_PAGE_ROWS`.
    out.reserve(limit);
    out.push(value);
    let mut left = limit - 1;
    while left > 0 {
        let min_delta = zigzag(buf, &mut at)?;
        let widths = buf.get(at..at + miniblocks).ok_or("DELTA_BINARY_PACKED bit widths overrun the page")?;
        at += miniblocks;
        for &w in widths {
            if left == 0 {
                break;
            }
            if w > 64 {
                return Err(format!("DELTA_BINARY_PACKED bit width {w}"));
            }
            let bytes = per_mini * usize::from(w) / 8;
            let mini = buf.get(at..at + bytes).ok_or("DELTA_BINARY_PACKED miniblock overruns the page")?;
            at += bytes;
            let n = left.min(per_mini);
            for j in 0..n {
                let d = bits_at(mini, j * usize::from(w), u32::from(w));
                value = value.wrapping_add(min_delta).wrapping_add(d as i64);
                out.push(value);
            }
            left -= n;
        }
    }
    Ok(at)
}

/// The header of a `DELTA_BINARY_PACKED` stream, checked.
#[derive(Clone, Copy)]
struct DeltaHeader {
    /// Values per miniblock, and miniblocks per block.
    per_mini: usize,
    miniblocks: usize,
    /// The first value.
    first: i64,
    /// The header's bytes.
    len: usize,
}

impl DeltaHeader {
    /// Parses the header at the start of `buf`, which must announce `count` values.
    fn parse(buf: &[u8], count: usize) -> R<Self> {
        let mut at = 0usize;
        let block_size = uvarint(buf, &mut at)?;
        let miniblocks = uvarint(buf, &mut at)?;
        let total = uvarint(buf, &mut at)?;
        let first = zigzag(buf, &mut at)?;
        if total != count as u64 {
            return Err(format!("DELTA_BINARY_PACKED holds {total} values, expected {count}"));
        }
        if block_size == 0 || block_size % 128 != 0 || block_size > 1 << 20 {
            return Err(format!("DELTA_BINARY_PACKED block size {block_size} is not a multiple of 128"));
        }
        if miniblocks == 0 || block_size % miniblocks != 0 || (block_size / miniblocks) % 32 != 0 {
            return Err(format!("DELTA_BINARY_PACKED: {miniblocks} miniblocks do not divide a block of {block_size}"));
        }
        let (block_size, miniblocks) = (block_size as usize, miniblocks as usize);
        Ok(Self { per_mini: block_size / miniblocks, miniblocks, first, len: at })
    }
}

/// [`stream_len`] with the header parsed here (the tests' way in).
#[cfg(test)]
fn delta_binary_packed_len(buf: &[u8], count: usize) -> R<usize> {
    stream_len(buf, count, &DeltaHeader::parse(buf, count)?)
}

/// The length in bytes of the `DELTA_BINARY_PACKED` stream of `count` values at the start of
/// `buf`, headed by `h` (already parsed), found from its block headers without unpacking a
/// value.
fn stream_len(buf: &[u8], count: usize, h: &DeltaHeader) -> R<usize> {
    let DeltaHeader { per_mini, miniblocks, len: mut at, .. } = *h;
    let mut left = count.saturating_sub(1);
    while left > 0 {
        zigzag(buf, &mut at)?;
        let widths = buf.get(at..at + miniblocks).ok_or("DELTA_BINARY_PACKED bit widths overrun the page")?;
        at += miniblocks;
        for &w in widths {
            if left == 0 {
                break;
            }
            if w > 64 {
                return Err(format!("DELTA_BINARY_PACKED bit width {w}"));
            }
            at = at
                .checked_add(per_mini * usize::from(w) / 8)
                .filter(|&e| e <= buf.len())
                .ok_or("DELTA_BINARY_PACKED miniblock overruns the page")?;
            left -= left.min(per_mini);
        }
    }
    Ok(at)
}

/// A `DELTA_BINARY_PACKED` stream decoded one value at a time, for a walk that may stop early.
///
/// NOTE: values are unpacked 32 at a time (a run of one miniblock) into a small array, so the
/// per-value step is an array read; the block and miniblock bookkeeping runs once per run.
struct DeltaReader<'a> {
    buf: &'a [u8],
    /// The next unread byte: a block header or a miniblock.
    at: usize,
    per_mini: usize,
    miniblocks: usize,
    /// Values not yet unpacked.
    left: usize,
    /// The last value unpacked (before the first run: the first value, not yet returned).
    value: i64,
    started: bool,
    /// The current block's minimum delta and the bit widths of its miniblocks not yet begun.
    min_delta: i64,
    widths: &'a [u8],
    /// The current miniblock, its bit width, and the index of its next packed delta.
    mini: &'a [u8],
    width: u8,
    next: usize,
    /// The current run: `run[pos..filled]` are still to be returned.
    run: [i64; 32],
    pos: usize,
    filled: usize,
}

impl<'a> DeltaReader<'a> {
    /// A reader of the stream of `count` values at the start of `buf`.
    #[cfg(test)]
    fn new(buf: &'a [u8], count: usize) -> R<Self> {
        Ok(Self::with_header(buf, count, &DeltaHeader::parse(buf, count)?))
    }

    /// A reader of the stream, and its length in bytes (where a following stream starts), from
    /// one parse of its header.
    fn new_with_len(buf: &'a [u8], count: usize) -> R<(Self, usize)> {
        let h = DeltaHeader::parse(buf, count)?;
        Ok((Self::with_header(buf, count, &h), stream_len(buf, count, &h)?))
    }

    fn with_header(buf: &'a [u8], count: usize, h: &DeltaHeader) -> Self {
        Self {
            buf,
            at: h.len,
            per_mini: h.per_mini,
            miniblocks: h.miniblocks,
            left: count,
            value: h.first,
            started: false,
            min_delta: 0,
            widths: &[],
            mini: &[],
            width: 0,
            next: h.per_mini,
            run: [0; 32],
            pos: 0,
            filled: 0,
        }
    }

    /// The next value; `Err` past the last one or on malformed bytes.
    #[inline(always)]
    fn next_value(&mut self) -> R<i64> {
        if self.pos == self.filled {
            self.unpack_run()?;
        }
        let v = self.run[self.pos];
        self.pos += 1;
        Ok(v)
    }

    /// The sum and the smallest of the next `n` values (`n` at most the values left), a
    /// run at a time rather than value by value.
    fn sum_next(&mut self, mut n: usize) -> R<(i128, i64)> {
        let (mut sum, mut min) = (0i128, i64::MAX);
        while n > 0 {
            if self.pos == self.filled {
                self.unpack_run()?;
            }
            let take = n.min(self.filled - self.pos);
            for &v in &self.run[self.pos..self.pos + take] {
                sum += i128::from(v);
                min = min.min(v);
            }
            self.pos += take;
            n -= take;
        }
        Ok((sum, min))
    }

    /// Unpacks the next run of values (at most 32, never past a miniblock) into `run`.
    #[inline(never)]
    fn unpack_run(&mut self) -> R<()> {
        if self.left == 0 {
            return Err("DELTA_BINARY_PACKED read past its last value".into());
        }
        (self.pos, self.filled) = (0, 0);
        if !self.started {
            self.started = true;
            self.left -= 1;
            self.run[0] = self.value;
            self.filled = 1;
            return Ok(());
        }
        if self.next == self.per_mini {
            if self.widths.is_empty() {
                self.min_delta = zigzag(self.buf, &mut self.at)?;
                self.widths = self
                    .buf
                    .get(self.at..self.at + self.miniblocks)
                    .ok_or("DELTA_BINARY_PACKED bit widths overrun the page")?;
                self.at += self.miniblocks;
            }
            let (&w, rest) = self.widths.split_first().ok_or("DELTA_BINARY_PACKED: no miniblock")?;
            if w > 64 {
                return Err(format!("DELTA_BINARY_PACKED bit width {w}"));
            }
            let bytes = self.per_mini * usize::from(w) / 8;
            self.mini =
                self.buf.get(self.at..self.at + bytes).ok_or("DELTA_BINARY_PACKED miniblock overruns the page")?;
            self.at += bytes;
            (self.widths, self.width, self.next) = (rest, w, 0);
        }
        let n = self.left.min(self.per_mini - self.next).min(32);
        let w = usize::from(self.width);
        let (mut value, min_delta) = (self.value, self.min_delta);
        if w == 0 {
            // Every delta is the minimum (the lengths of values of one size, for example).
            for slot in &mut self.run[..n] {
                value = value.wrapping_add(min_delta);
                *slot = value;
            }
        } else {
            for (k, slot) in self.run[..n].iter_mut().enumerate() {
                let d = bits_at(self.mini, (self.next + k) * w, u32::from(self.width));
                value = value.wrapping_add(min_delta).wrapping_add(d as i64);
                *slot = value;
            }
        }
        self.value = value;
        self.next += n;
        self.left -= n;
        self.filled = n;
        Ok(())
    }
}

/// The RLE/bit-packed hybrid of dictionary indices: runs, each a uvarint header whose low bit
/// says bit-packed (`header >> 1` groups of 8 values, `width` bits each) or repeated
/// (`header >> 1` copies of one value in `ceil(width / 8)` bytes). Decodes exactly `count`.
fn rle_bit_packed_hybrid(buf: &[u8], width: u8, count: usize, out: &mut Vec<i32>) -> R<()> {
    if width > 32 {
        return Err(format!("dictionary index bit width {width}"));
    }
    let w = usize::from(width);
    let mut at = 0usize;
    let mut left = count;
    out.reserve(count);
    while left > 0 {
        let header = uvarint(buf, &mut at)?;
        let n = usize::try_from(header >> 1).map_err(|_| "run too long")?;
        if header & 1 == 1 {
            let values = n.checked_mul(8).ok_or("bit-packed run too long")?;
            let bytes = n.checked_mul(w).ok_or("bit-packed run too long")?;
            let run = buf.get(at..at.saturating_add(bytes)).ok_or("bit-packed run overruns the page")?;
            at += bytes;
            let take = values.min(left);
            out.extend((0..take).map(|j| bits_at(run, j * w, u32::from(width)) as i32));
            left -= take;
        } else {
            if n == 0 {
                return Err("empty RLE run".into());
            }
            let bytes = w.div_ceil(8);
            let v = buf.get(at..at + bytes).ok_or("RLE run value overruns the page")?;
            at += bytes;
            let mut word = [0u8; 4];
            word[..bytes].copy_from_slice(v);
            let take = n.min(left);
            out.extend(std::iter::repeat_n(i32::from_le_bytes(word), take));
            left -= take;
        }
    }
    Ok(())
}

/// The little-endian `u64` in `b`, which is 8 bytes long (a `chunks_exact(8)` chunk).
fn le_u64(b: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(b);
    u64::from_le_bytes(word)
}

/// The little-endian `i32` in `b`, which is 4 bytes long (a `chunks_exact(4)` chunk).
fn le_i32(b: &[u8]) -> i32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(b);
    i32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uv(mut u: u64, out: &mut Vec<u8>) {
        loop {
            let b = (u & 0x7f) as u8;
            u >>= 7;
            if u == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A simple DELTA_BINARY_PACKED encoder (one miniblock width per block: the widest), for
    /// round-trip tests.
    fn dbp(values: &[i64]) -> Vec<u8> {
        let (block, minis) = (128usize, 4usize);
        let mut out = Vec::new();
        uv(block as u64, &mut out);
        uv(minis as u64, &mut out);
        uv(values.len() as u64, &mut out);
        let zz = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        uv(zz(values.first().copied().unwrap_or(0)), &mut out);
        let deltas: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        for chunk in deltas.chunks(block) {
            let min = *chunk.iter().min().unwrap();
            uv(zz(min), &mut out);
            let rel: Vec<u64> = chunk.iter().map(|d| d.wrapping_sub(min) as u64).collect();
            let w = rel.iter().map(|r| 64 - r.leading_zeros()).max().unwrap() as usize;
            let used = chunk.len().div_ceil(block / minis);
            out.extend(std::iter::repeat_n(w as u8, minis));
            for m in 0..used {
                let mut bits = vec![0u8; block / minis * w / 8 + 16];
                for j in 0..block / minis {
                    let r = rel.get(m * (block / minis) + j).copied().unwrap_or(0);
                    for b in 0..w {
                        if r >> b & 1 == 1 {
                            let bit = j * w + b;
                            bits[bit / 8] |= 1 << (bit % 8);
                        }
                    }
                }
                out.extend_from_slice(&bits[..block / minis * w / 8]);
            }
        }
        out
    }

    #[test]
    fn delta_binary_packed_round_trips_extremes() {
        let cases: Vec<Vec<i64>> = vec![
            vec![],
            vec![5],
            (0..300).collect(),
            (0..129).map(|i| i * i * 1000 - 7).collect(),
            vec![i64::MIN, i64::MAX, 0, -1, i64::MAX, i64::MIN, 3],
            (0..1000).map(|i| (i * 7919 % 1013) - 500).collect(),
        ];
        for values in cases {
            let enc = dbp(&values);
            let mut out = Vec::new();
            let used = delta_binary_packed(&enc, values.len(), &mut out).unwrap();
            assert_eq!(out, values);
            assert_eq!(used, enc.len());
            for cut in 0..enc.len() {
                let _ = delta_binary_packed(&enc[..cut], values.len(), &mut Vec::new());
            }
        }
    }

    #[test]
    fn delta_reader_and_len_agree_with_the_full_decoder() {
        let cases: Vec<Vec<i64>> = vec![
            vec![5],
            (0..300).collect(),
            (0..129).map(|i| i * i * 1000 - 7).collect(),
            vec![i64::MIN, i64::MAX, 0, -1, i64::MAX, i64::MIN, 3],
            (0..1000).map(|i| (i * 7919 % 1013) - 500).collect(),
        ];
        for values in cases {
            let enc = dbp(&values);
            assert_eq!(delta_binary_packed_len(&enc, values.len()).unwrap(), enc.len());
            let mut r = DeltaReader::new(&enc, values.len()).unwrap();
            let read: Vec<i64> = (0..values.len()).map(|_| r.next_value().unwrap()).collect();
            assert_eq!(read, values);
            assert!(r.next_value().is_err(), "a read past the last value is an error");
            for cut in 0..enc.len() {
                let _ = delta_binary_packed_len(&enc[..cut], values.len());
                if let Ok(mut r) = DeltaReader::new(&enc[..cut], values.len()) {
                    for _ in 0..values.len() {
                        let _ = r.next_value();
                    }
                }
            }
        }
    }

    /// `keys` encoded as a DELTA_BYTE_ARRAY page body: prefix lengths, suffix lengths, suffixes.
    fn delta_byte_array_body(keys: &[&[u8]]) -> Vec<u8> {
        let mut prefixes = vec![0i64];
        for w in keys.windows(2) {
            prefixes.push(w[0].iter().zip(w[1]).take_while(|(a, b)| a == b).count() as i64);
        }
        let suffixes: Vec<&[u8]> = keys.iter().zip(&prefixes).map(|(k, &p)| &k[p as usize..]).collect();
        let mut body = dbp(&prefixes);
        body.extend(dbp(&suffixes.iter().map(|s| s.len() as i64).collect::<Vec<_>>()));
        for s in &suffixes {
            body.extend_from_slice(s);
        }
        body
    }

    #[test]
    fn delta_byte_array_rebuilds_prefixes_and_rejects_bad_prefixes() {
        let keys: [&[u8]; 5] = [b"apple", b"applesauce", b"apply", b"b", b""];
        let body = delta_byte_array_body(&keys);
        let col = delta_byte_array(&body, keys.len()).unwrap();
        assert_eq!((0..col.len()).map(|i| col.get(i)).collect::<Vec<_>>(), keys);

        // The point-lookup walk over sorted keys: where each probe's rows are.
        let sorted: [&[u8]; 5] = [b"", b"apple", b"apple", b"applesauce", b"b"];
        let body = delta_byte_array_body(&sorted);
        let header = PageHeader {
            page_type: DATA_PAGE,
            num_values: 5,
            encoding: DELTA_BYTE_ARRAY,
            has_page_header: true,
            ..PageHeader::default()
        };
        let page = PageRef { header, body: &body };
        for (probe, want) in [(&b""[..], (0, 1)), (b"a", (1, 1)), (b"apple", (1, 3)), (b"b", (4, 5)), (b"c", (5, 5))] {
            assert_eq!(find_key(page, 5, probe).unwrap(), want, "{probe:?}");
        }
        assert!(find_key(PageRef { header, body: &body[..body.len() - 1] }, 5, b"c").is_err());

        let mut bad = dbp(&[0, 9]);
        bad.extend(dbp(&[1, 1]));
        bad.extend_from_slice(b"ab");
        assert!(delta_byte_array(&bad, 2).unwrap_err().contains("prefix"));
        let mut neg = dbp(&[0, 0]);
        neg.extend(dbp(&[-1, 3]));
        neg.extend_from_slice(b"ab");
        assert!(delta_byte_array(&neg, 2).is_err());
    }

    /// `values` encoded as a DELTA_LENGTH_BYTE_ARRAY page body: their lengths, then their bytes.
    fn delta_length_body(values: &[&[u8]]) -> Vec<u8> {
        let mut body = dbp(&values.iter().map(|v| v.len() as i64).collect::<Vec<_>>());
        for v in values {
            body.extend_from_slice(v);
        }
        body
    }

    #[test]
    fn delta_length_byte_array_reads_values_in_place_and_rejects_bad_lengths() {
        let big = vec![b'x'; 300];
        let values: [&[u8]; 6] = [b"abc", b"", b"hello", &big, b"z", b""];
        let body = Bytes::from(delta_length_body(&values));
        let col = delta_length_binary(&body, values.len()).unwrap();
        assert_eq!((0..col.len()).map(|i| col.get(i)).collect::<Vec<_>>(), values);
        assert_eq!(col.data.as_ptr(), body.as_ptr(), "the values stay in the page's body");

        let header = PageHeader {
            page_type: DATA_PAGE,
            num_values: values.len() as i32,
            encoding: DELTA_LENGTH_BYTE_ARRAY,
            has_page_header: true,
            ..PageHeader::default()
        };
        let page = PageRef { header, body: &body };
        for (row, want) in values.iter().enumerate() {
            assert_eq!(binary_value(page, values.len(), row).unwrap(), *want, "row {row}");
            // The lazy walk vouches for every byte it relies on, the lengths and the value, and
            // for nothing of the values before it.
            let mut asked = vec![false; body.len()];
            let range = value_in(
                &header,
                &body,
                values.len(),
                row,
                |r: Range<usize>| {
                    asked[r].fill(true);
                    Ok::<(), String>(())
                },
                |r| r,
            )
            .unwrap();
            assert_eq!(&body[range.clone()], *want);
            let lengths = delta_binary_packed_len(&body, values.len()).unwrap();
            assert!(asked[..lengths].iter().chain(&asked[range.clone()]).all(|&a| a), "row {row}");
            assert_eq!(asked.iter().filter(|&&a| a).count(), lengths + range.len(), "row {row}: only those");
        }
        assert!(binary_value(page, values.len(), values.len()).is_err(), "a row past the page");

        // Lengths that overrun the page, fall short of it, or are negative.
        let mut long = dbp(&[2, 9]);
        long.extend_from_slice(b"abcd");
        let mut short = dbp(&[1, 1]);
        short.extend_from_slice(b"abcd");
        let mut neg = dbp(&[-1, 5]);
        neg.extend_from_slice(b"abcd");
        for bad in [long, short, neg] {
            let page = PageRef { header: PageHeader { num_values: 2, ..header }, body: &bad };
            assert!(delta_length_binary(&Bytes::from(bad.clone()), 2).is_err());
            assert!(binary_value(page, 2, 0).is_err());
            assert!(find_key(page, 2, b"zz").is_err(), "a walk past every value checks every length");
        }
    }

    #[test]
    fn rle_hybrid_mixes_runs_and_bit_packed_groups() {
        // Width 1: an RLE run of 3 ones, then one bit-packed group of 8: 0b1010_0101.
        let buf = [3 << 1, 1, (1 << 1) | 1, 0b1010_0101];
        let mut out = Vec::new();
        rle_bit_packed_hybrid(&buf, 1, 9, &mut out).unwrap();
        assert_eq!(out, [1, 1, 1, 1, 0, 1, 0, 0, 1]);
        assert!(rle_bit_packed_hybrid(&buf, 1, 12, &mut Vec::new()).is_err());
        assert!(rle_bit_packed_hybrid(&[0], 1, 1, &mut Vec::new()).is_err());
        assert!(rle_bit_packed_hybrid(&buf, 33, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn plain_binary_is_zero_copy_and_bounded() {
        let body = Bytes::from_static(b"\x02\0\0\0hi\0\0\0\0\x03\0\0\0abc");
        let col = plain_binary(&body, 3).unwrap();
        assert_eq!([col.get(0), col.get(1), col.get(2)], [&b"hi"[..], b"", b"abc"]);
        assert_eq!(col.get_bytes(2).as_ptr(), body[14..].as_ptr());
        assert!(plain_binary(&body, 2).is_err());
        assert!(plain_binary(&body, 4).is_err());
        assert!(plain_binary(&Bytes::from_static(b"\xff\xff\xff\xffx"), 1).is_err());
    }

    #[test]
    fn bits_at_reads_across_bytes_and_at_the_end() {
        let buf = [0xffu8, 0x00, 0xff, 0x0f];
        assert_eq!(bits_at(&buf, 4, 8), 0x0f);
        assert_eq!(bits_at(&buf, 0, 32), 0x0fff00ff);
        assert_eq!(bits_at(&buf, 28, 4), 0);
        assert_eq!(bits_at(&[0xff; 9], 3, 64), u64::MAX);
    }
}
