//! The Parquet page header, parsed from the Thrift compact protocol.
//!
//! The parquet crate keeps its Thrift types private, so this is a small parser of just the
//! fields Strata's page reader needs: the page type, both sizes, and the data page's and the
//! dictionary page's value counts and encodings. Every other field is skipped by its wire type
//! (nested structs, lists and maps included, depth-bounded), so headers from writers that add
//! fields (page statistics, CRCs, size statistics) still parse. Every length is checked against
//! the bytes at hand; malformed input is an `Err` naming what is wrong, never a panic.
//!
//! Wire format (Thrift compact protocol): a struct is a sequence of fields, each introduced by
//! a byte whose high nibble is the field-id delta (0 means a zigzag `i16` id follows) and low
//! nibble the type, ended by a zero byte. Integers are zigzag varints, binaries a varint length
//! and the bytes, lists a size/element-type byte (size 15 means a varint size follows).

/// Page types (`PageType` in parquet.thrift).
pub(crate) const DATA_PAGE: i32 = 0;
pub(crate) const DICTIONARY_PAGE: i32 = 2;

/// Compact-protocol wire types.
const T_STOP: u8 = 0;
const T_TRUE: u8 = 1;
const T_FALSE: u8 = 2;
const T_BYTE: u8 = 3;
const T_I16: u8 = 4;
const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_DOUBLE: u8 = 7;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_SET: u8 = 10;
const T_MAP: u8 = 11;
const T_STRUCT: u8 = 12;
const T_UUID: u8 = 13;

/// How deep nested structs may go before the header is rejected (real headers nest two deep).
const MAX_DEPTH: u32 = 16;

/// The fields of a `PageHeader` that decoding a page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PageHeader {
    pub(crate) page_type: i32,
    pub(crate) uncompressed_size: i32,
    pub(crate) compressed_size: i32,
    /// `num_values` and `encoding` of the data page (V1) or the dictionary page.
    pub(crate) num_values: i32,
    pub(crate) encoding: i32,
    /// Whether the `data_page_header` (V1) or `dictionary_page_header` field was present.
    pub(crate) has_page_header: bool,
}

/// A cursor over header bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn byte(&mut self) -> R<u8> {
        let b = *self.buf.get(self.pos).ok_or("page header truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> R<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("page header varint longer than 10 bytes".into())
    }

    fn zigzag(&mut self) -> R<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> R<i32> {
        i32::try_from(self.zigzag()?).map_err(|_| "page header i32 out of range".to_owned())
    }

    fn skip(&mut self, n: u64) -> R<()> {
        let end = usize::try_from(n).ok().and_then(|n| self.pos.checked_add(n)).filter(|&e| e <= self.buf.len());
        self.pos = end.ok_or("page header field overruns the header")?;
        Ok(())
    }

    /// The next field's `(id, type)`, or `None` at the struct's end.
    fn field(&mut self, last_id: &mut i16) -> R<Option<(i16, u8)>> {
        let b = self.byte()?;
        let ty = b & 0x0f;
        if ty == T_STOP {
            return Ok(None);
        }
        let delta = b >> 4;
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| "page header field id out of range".to_owned())?
        } else {
            last_id.checked_add(i16::from(delta)).ok_or("page header field id overflows")?
        };
        *last_id = id;
        Ok(Some((id, ty)))
    }

    /// Skips one value of wire type `ty`.
    fn skip_value(&mut self, ty: u8, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err("page header nests too deep".into());
        }
        match ty {
            T_TRUE | T_FALSE => Ok(()),
            T_BYTE => self.skip(1),
            T_I16 | T_I32 | T_I64 => self.varint().map(drop),
            T_DOUBLE => self.skip(8),
            T_UUID => self.skip(16),
            T_BINARY => {
                let n = self.varint()?;
                self.skip(n)
            }
            T_LIST | T_SET => {
                let h = self.byte()?;
                let n = if h >> 4 == 15 { self.varint()? } else { u64::from(h >> 4) };
                self.skip_elements(h & 0x0f, n, depth)
            }
            T_MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                for _ in 0..n {
                    self.skip_element(kv >> 4, depth)?;
                    self.skip_element(kv & 0x0f, depth)?;
                }
                Ok(())
            }
            T_STRUCT => {
                let mut last = 0;
                while let Some((_, t)) = self.field(&mut last)? {
                    self.skip_value(t, depth + 1)?;
                }
                Ok(())
            }
            other => Err(format!("page header has unknown Thrift type {other}")),
        }
    }

    fn skip_elements(&mut self, ty: u8, n: u64, depth: u32) -> R<()> {
        // Every element takes at least one byte, so a count beyond the bytes left is damage
        // (and bounds the loop).
        if n > (self.buf.len() - self.pos) as u64 {
            return Err("page header list longer than the header".into());
        }
        for _ in 0..n {
            self.skip_element(ty, depth)?;
        }
        Ok(())
    }

    /// Inside lists and maps booleans take a byte each (outside they live in the field type).
    fn skip_element(&mut self, ty: u8, depth: u32) -> R<()> {
        if ty == T_TRUE || ty == T_FALSE {
            return self.skip(1);
        }
        self.skip_value(ty, depth + 1)
    }

    /// Reads the `num_values` (field 1) and `encoding` (field 2) of a data or dictionary page
    /// header struct, skipping its other fields.
    fn page_struct(&mut self, h: &mut PageHeader) -> R<()> {
        let mut last = 0;
        let (mut num, mut enc) = (None, None);
        while let Some((id, ty)) = self.field(&mut last)? {
            match (id, ty) {
                (1, T_I32) => num = Some(self.i32()?),
                (2, T_I32) => enc = Some(self.i32()?),
                (_, t) => self.skip_value(t, 1)?,
            }
        }
        let (Some(num), Some(enc)) = (num, enc) else {
            return Err("page header lacks num_values or encoding".into());
        };
        h.num_values = num;
        h.encoding = enc;
        h.has_page_header = true;
        Ok(())
    }
}

/// Parses the page header at the start of `buf`; returns it and its length in bytes.
pub(crate) fn parse_page_header(buf: &[u8]) -> Result<(PageHeader, usize), String> {
    let mut r = Reader { buf, pos: 0 };
    let mut h = PageHeader::default();
    let (mut ty, mut usize_, mut csize) = (None, None, None);
    let mut last = 0;
    while let Some((id, t)) = r.field(&mut last)? {
        match (id, t) {
            (1, T_I32) => ty = Some(r.i32()?),
            (2, T_I32) => usize_ = Some(r.i32()?),
            (3, T_I32) => csize = Some(r.i32()?),
            (5, T_STRUCT) | (7, T_STRUCT) => {
                let is_data = id == 5;
                // A header holds the sub-header matching its type; which one is checked below.
                let mut sub = PageHeader::default();
                r.page_struct(&mut sub)?;
                if h.has_page_header {
                    return Err("page header has two page sub-headers".into());
                }
                h.num_values = sub.num_values;
                h.encoding = sub.encoding;
                h.has_page_header = true;
                h.page_type = if is_data { DATA_PAGE } else { DICTIONARY_PAGE };
            }
            (_, t) => r.skip_value(t, 0)?,
        }
    }
    let (Some(ty), Some(us), Some(cs)) = (ty, usize_, csize) else {
        return Err("page header lacks its type or sizes".into());
    };
    if us < 0 || cs < 0 {
        return Err(format!("page header has negative sizes ({us}, {cs})"));
    }
    if !h.has_page_header || h.page_type != ty {
        return Err(format!("page of type {ty} lacks its data or dictionary page header"));
    }
    if h.num_values < 0 {
        return Err(format!("page header has a negative value count {}", h.num_values));
    }
    h.uncompressed_size = us;
    h.compressed_size = cs;
    Ok((h, r.pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compact-protocol writer for the tests: `(field delta << 4 | type)` then the value.
    fn zz(v: i64) -> Vec<u8> {
        let mut u = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let b = (u & 0x7f) as u8;
            u >>= 7;
            if u == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn header(ty: i64, us: i64, cs: i64, sub_field: u8, extra: &[u8]) -> Vec<u8> {
        let mut h = vec![0x15];
        h.extend(zz(ty));
        h.push(0x15);
        h.extend(zz(us));
        h.push(0x15);
        h.extend(zz(cs));
        h.extend_from_slice(extra);
        // Field `sub_field` as a struct, relative to field 3 (or to the extra's last field 4).
        let delta = sub_field - if extra.is_empty() { 3 } else { 4 };
        h.push(delta << 4 | 0x0c);
        h.push(0x15);
        h.extend(zz(256));
        h.push(0x15);
        h.extend(zz(7));
        // A statistics struct (field 5) with a binary inside, then a list of i32s (field 6):
        // unknown to us, skipped.
        h.push(0x3c);
        h.push(0x18);
        h.extend([3, b'a', b'b', b'c']);
        h.push(0x00);
        h.push(0x19);
        h.push(0x35);
        h.extend([2, 4, 6]);
        h.push(0x00);
        h.push(0x00);
        h
    }

    #[test]
    fn parses_data_and_dictionary_headers_and_skips_unknown_fields() {
        let mut h = header(0, 1000, 500, 5, &[0x15, 0x08]); // plus a crc field (4) = 4
        h.extend_from_slice(b"page body");
        let (ph, len) = parse_page_header(&h).unwrap();
        assert_eq!(&h[len..], b"page body");
        assert_eq!(
            ph,
            PageHeader {
                page_type: DATA_PAGE,
                uncompressed_size: 1000,
                compressed_size: 500,
                num_values: 256,
                encoding: 7,
                has_page_header: true
            }
        );
        let h = header(2, 8, 8, 7, &[]);
        let (ph, len) = parse_page_header(&h).unwrap();
        assert_eq!((ph.page_type, ph.num_values, len), (DICTIONARY_PAGE, 256, h.len()));
    }

    #[test]
    fn every_truncation_and_damage_is_an_error_not_a_panic() {
        let h = header(0, 1000, 500, 5, &[]);
        for cut in 0..h.len() {
            assert!(parse_page_header(&h[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..h.len() {
            for x in [0x01, 0x10, 0x80, 0xff] {
                let mut d = h.clone();
                d[i] ^= x;
                let _ = parse_page_header(&d);
            }
        }
        // A data page whose sub-header is the dictionary one, and a wrong-typed size field.
        assert!(parse_page_header(&header(0, 1, 1, 7, &[])).is_err());
        assert!(parse_page_header(&[0x16, 0x00, 0x00]).is_err());
        // Deep nesting is refused without recursing without bound.
        let mut deep = vec![0x1c; 10_000];
        deep.push(0);
        assert!(parse_page_header(&deep).is_err());
        // A huge list count is refused up front.
        assert!(parse_page_header(&[0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
