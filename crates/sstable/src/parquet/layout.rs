//! The Strata section of a table file and the `strata.*` footer metadata.

use parquet::file::metadata::KeyValue;
use strata_core::{Bytes, RangeTombstone};

use crate::TableMeta;
use crate::options::BLOCK_SIZES;

/// Length of the trailer that ends the Strata section.
pub(crate) const TRAILER_LEN: usize = 48;
const TRAILER_MAGIC: &[u8; 8] = b"STRATAT1";
/// The table format version, in the trailer and in `strata.format_version`.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Parquet's magic number, at both ends of the file.
pub(crate) const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// The fixed-size record that ends the Strata section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trailer {
    /// Where the section starts; every byte before it is covered by block CRCs.
    pub(crate) data_end: u64,
    pub(crate) filters_len: u64,
    pub(crate) num_filters: u32,
    pub(crate) footer_crc: u32,
    /// Bytes covered by one block CRC (a power of two).
    pub(crate) block_size: u64,
}

impl Trailer {
    pub(crate) fn num_blocks(&self) -> u64 {
        self.data_end.div_ceil(self.block_size)
    }

    /// Length of the whole section, trailer included; `None` on overflow (a damaged trailer).
    pub(crate) fn section_len(&self) -> Option<u64> {
        self.filters_len
            .checked_add(4 * u64::from(self.num_filters))?
            .checked_add(self.num_blocks().checked_mul(4)?)?
            .checked_add(TRAILER_LEN as u64)
    }

    /// The trailer bytes; the last four, the section CRC, are filled by [`seal_section`].
    pub(crate) fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut t = [0u8; TRAILER_LEN];
        t[0..8].copy_from_slice(TRAILER_MAGIC);
        t[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        t[12..16].copy_from_slice(&(self.block_size as u32).to_le_bytes());
        t[16..24].copy_from_slice(&self.data_end.to_le_bytes());
        t[24..32].copy_from_slice(&self.filters_len.to_le_bytes());
        t[32..36].copy_from_slice(&self.num_filters.to_le_bytes());
        t[36..40].copy_from_slice(&self.footer_crc.to_le_bytes());
        t
    }

    /// Parses a trailer, checking what can be checked without the rest of the section.
    pub(crate) fn decode(t: &[u8]) -> Result<Self, String> {
        if t.len() != TRAILER_LEN || &t[0..8] != TRAILER_MAGIC {
            return Err(format!("no Strata trailer before the Parquet footer (found {:02x?})", &t[..8.min(t.len())]));
        }
        let u32_at = |i: usize| u32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&t[i..i + 8]);
            u64::from_le_bytes(b)
        };
        if u32_at(8) != FORMAT_VERSION {
            return Err(format!("unsupported table format version {} (this build reads {FORMAT_VERSION})", u32_at(8)));
        }
        let block_size = u64::from(u32_at(12));
        if !block_size.is_power_of_two() || !BLOCK_SIZES.contains(&block_size) {
            return Err(format!("unsupported checksum block size {block_size}"));
        }
        Ok(Self {
            data_end: u64_at(16),
            filters_len: u64_at(24),
            num_filters: u32_at(32),
            footer_crc: u32_at(36),
            block_size,
        })
    }
}

/// Writes the section CRC into the last four bytes of `section` (which ends with the trailer).
pub(crate) fn seal_section(section: &mut [u8]) {
    let n = section.len() - 4;
    let crc = crc32fast::hash(&section[..n]);
    section[n..].copy_from_slice(&crc.to_le_bytes());
}

/// Checks the section CRC written by [`seal_section`].
pub(crate) fn section_crc_ok(section: &[u8]) -> bool {
    let Some(n) = section.len().checked_sub(4) else { return false };
    let stored = u32::from_le_bytes([section[n], section[n + 1], section[n + 2], section[n + 3]]);
    stored == crc32fast::hash(&section[..n])
}

mod keys {
    pub(super) const FORMAT_VERSION: &str = "strata.format_version";
    pub(super) const TABLE_ID: &str = "strata.table_id";
    pub(super) const ENTRIES: &str = "strata.entries";
    pub(super) const TOMBSTONES: &str = "strata.tombstones";
    pub(super) const MIN_KEY: &str = "strata.min_key_hex";
    pub(super) const MAX_KEY: &str = "strata.max_key_hex";
    pub(super) const MIN_SEQ: &str = "strata.min_seq";
    pub(super) const MAX_SEQ: &str = "strata.max_seq";
    pub(super) const CREATED_AT_MS: &str = "strata.created_at_ms";
    pub(super) const FILTER: &str = "strata.filter";
    pub(super) const SORT_ORDER: &str = "strata.sort_order";
    pub(super) const RANGE_TOMBSTONES: &str = "strata.range_tombstones";
    pub(super) const ROW_GROUPS: &str = "strata.row_groups";
}

/// What `strata.row_groups` records of one row group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowGroupCounts {
    /// Distinct user keys; as many as rows when each key has one version.
    pub(crate) keys: u64,
    /// Rows that are point tombstones.
    pub(crate) tombstones: u64,
    /// Rows that are range tombstones.
    pub(crate) range_tombstones: u64,
}

/// `strata.row_groups`: `keys/tombstones/range tombstones` of each row group,
/// comma-separated. Compaction copies a row group whole only when it holds one version per
/// key and no tombstone of either kind.
pub(crate) fn row_groups_to_kv(counts: &[RowGroupCounts]) -> KeyValue {
    let list: Vec<String> =
        counts.iter().map(|c| format!("{}/{}/{}", c.keys, c.tombstones, c.range_tombstones)).collect();
    KeyValue::new(keys::ROW_GROUPS.to_owned(), list.join(","))
}

/// Parses `strata.row_groups` for a file of `row_groups` row groups: `None` when the file
/// does not record it (written before it existed).
pub(crate) fn row_groups_from_kv(
    kv: Option<&Vec<KeyValue>>,
    row_groups: usize,
) -> Result<Option<Vec<RowGroupCounts>>, String> {
    let Some(value) = kv.and_then(|kv| kv.iter().find(|e| e.key == keys::ROW_GROUPS)) else {
        return Ok(None);
    };
    let value = value.value.as_deref().unwrap_or("");
    let bad = || format!("{} is malformed", keys::ROW_GROUPS);
    let parse = |item: &str| -> Result<RowGroupCounts, String> {
        let mut numbers = item.split('/').map(|n| n.parse::<u64>().map_err(|_| bad()));
        let mut next = || numbers.next().unwrap_or_else(|| Err(bad()));
        let counts = RowGroupCounts { keys: next()?, tombstones: next()?, range_tombstones: next()? };
        if numbers.next().is_some() {
            return Err(bad());
        }
        Ok(counts)
    };
    let counts: Vec<RowGroupCounts> =
        if value.is_empty() { Vec::new() } else { value.split(',').map(parse).collect::<Result<_, _>>()? };
    if counts.len() != row_groups {
        return Err(format!("{} lists {} row groups of {row_groups}", keys::ROW_GROUPS, counts.len()));
    }
    Ok(Some(counts))
}

/// The `strata.*` key-value metadata describing `meta` (file size excluded: it is not known
/// until the footer is written).
pub(crate) fn meta_to_kv(meta: &TableMeta, filter_policy: &str) -> Vec<KeyValue> {
    let kv = |k: &str, v: String| KeyValue::new(k.to_owned(), v);
    let mut out = vec![
        kv(keys::FORMAT_VERSION, FORMAT_VERSION.to_string()),
        kv(keys::TABLE_ID, meta.id.to_string()),
        kv(keys::ENTRIES, meta.entries.to_string()),
        kv(keys::TOMBSTONES, meta.tombstones.to_string()),
        kv(keys::MIN_KEY, hex(&meta.min_key)),
        kv(keys::MAX_KEY, hex(&meta.max_key)),
        kv(keys::MIN_SEQ, meta.min_seq.to_string()),
        kv(keys::MAX_SEQ, meta.max_seq.to_string()),
        kv(keys::CREATED_AT_MS, meta.created_at_ms.to_string()),
        kv(keys::FILTER, filter_description(filter_policy)),
        kv(keys::SORT_ORDER, "key ASC, seq DESC".to_owned()),
    ];
    if !meta.range_tombstones.is_empty() {
        // `seq:start:end` with hex keys, comma-separated; the same tombstones are rows of
        // kind 2 in the data, this copy spares readers a scan at open.
        let list: Vec<String> =
            meta.range_tombstones.iter().map(|t| format!("{}:{}:{}", t.seq, hex(&t.start), hex(&t.end))).collect();
        out.push(kv(keys::RANGE_TOMBSTONES, list.join(",")));
    }
    out
}

/// `strata.filter` for tables whose filters follow `filter_policy` (its `Debug` form).
pub(crate) fn filter_description(filter_policy: &str) -> String {
    format!("strata-bloom v{} per row group, {filter_policy}", strata_bloom::FORMAT_VERSION)
}

/// `strata.filter` of a file, if it has one.
pub(crate) fn filter_from_kv(kv: Option<&Vec<KeyValue>>) -> Option<&str> {
    kv?.iter().find(|e| e.key == keys::FILTER)?.value.as_deref()
}

/// Parses `strata.range_tombstones` (absent: none).
fn range_tombstones_from_kv(value: Option<&str>) -> Result<Vec<RangeTombstone>, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    let bad = || format!("{} is malformed", keys::RANGE_TOMBSTONES);
    let mut out = value
        .split(',')
        .map(|item| {
            let mut parts = item.split(':');
            let seq = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let start = parts.next().and_then(unhex).ok_or_else(bad)?;
            let end = parts.next().and_then(unhex).ok_or_else(bad)?;
            if parts.next().is_some() || start >= end {
                return Err(bad());
            }
            Ok(RangeTombstone::new(start, end, seq))
        })
        .collect::<Result<Vec<_>, String>>()?;
    out.sort_unstable();
    Ok(out)
}

/// Reads the `strata.*` metadata back.
pub(crate) fn meta_from_kv(kv: Option<&Vec<KeyValue>>, file_size: u64) -> Result<TableMeta, String> {
    let kv = kv.ok_or("footer has no key-value metadata")?;
    let get = |k: &str| -> Result<&str, String> {
        kv.iter()
            .find(|e| e.key == k)
            .and_then(|e| e.value.as_deref())
            .ok_or_else(|| format!("footer metadata lacks {k}"))
    };
    let num = |k: &str| -> Result<u64, String> { get(k)?.parse().map_err(|_| format!("{k} is not a number")) };
    let version = num(keys::FORMAT_VERSION)?;
    if version != u64::from(FORMAT_VERSION) {
        return Err(format!("unsupported {} {version} (this build reads {FORMAT_VERSION})", keys::FORMAT_VERSION));
    }
    let key = |k: &str| -> Result<Bytes, String> { unhex(get(k)?).map(Bytes::from).ok_or(format!("{k} is not hex")) };
    let range_tombstones = range_tombstones_from_kv(get(keys::RANGE_TOMBSTONES).ok())?;
    Ok(TableMeta {
        id: num(keys::TABLE_ID)?,
        file_size,
        entries: num(keys::ENTRIES)?,
        tombstones: num(keys::TOMBSTONES)?,
        min_key: key(keys::MIN_KEY)?,
        max_key: key(keys::MAX_KEY)?,
        min_seq: num(keys::MIN_SEQ)?,
        max_seq: num(keys::MAX_SEQ)?,
        created_at_ms: num(keys::CREATED_AT_MS)?,
        range_tombstones,
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)).unwrap(), all);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn range_tombstones_round_trip_through_the_footer_metadata() {
        let meta = TableMeta {
            id: 7,
            file_size: 0,
            entries: 2,
            tombstones: 0,
            min_key: Bytes::from_static(b"a"),
            max_key: Bytes::from_static(b"z"),
            min_seq: 1,
            max_seq: 9,
            created_at_ms: 5,
            range_tombstones: vec![RangeTombstone::new(&b"a\0"[..], "m", 9), RangeTombstone::new("c", "z", 4)],
        };
        let kv = meta_to_kv(&meta, "p");
        let back = meta_from_kv(Some(&kv), 0).unwrap();
        assert_eq!(
            back.range_tombstones,
            vec![RangeTombstone::new(&b"a\0"[..], "m", 9), RangeTombstone::new("c", "z", 4)]
        );
        assert_eq!(range_tombstones_from_kv(None), Ok(Vec::new()));
        for bad in ["1:61", "x:61:62", "1:62:61", "1:61:62:63", "1:6:62"] {
            assert!(range_tombstones_from_kv(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn row_group_counts_round_trip_and_reject_damage() {
        let counts = [
            RowGroupCounts { keys: 3, tombstones: 0, range_tombstones: 0 },
            RowGroupCounts { keys: 1, tombstones: 1, range_tombstones: 2 },
            RowGroupCounts { keys: 4096, tombstones: 7, range_tombstones: 0 },
        ];
        let kv = vec![row_groups_to_kv(&counts)];
        assert_eq!(row_groups_from_kv(Some(&kv), 3), Ok(Some(counts.to_vec())));
        assert!(row_groups_from_kv(Some(&kv), 2).unwrap_err().contains("lists 3 row groups of 2"));
        assert_eq!(row_groups_from_kv(None, 3), Ok(None));
        for bad in ["3/0/0,x/1/0", "3", "3/0", "3/0/1/2", "-1/0/0"] {
            let kv = vec![KeyValue::new(keys::ROW_GROUPS.to_owned(), bad.to_owned())];
            assert!(row_groups_from_kv(Some(&kv), bad.split(',').count()).unwrap_err().contains("malformed"), "{bad}");
        }
    }

    #[test]
    fn trailer_round_trips_and_rejects_damage() {
        let t =
            Trailer { data_end: 123_456, filters_len: 789, num_filters: 3, footer_crc: 0xdead_beef, block_size: 4096 };
        let bytes = t.encode();
        assert_eq!(Trailer::decode(&bytes), Ok(t));
        let mut bad = bytes;
        bad[0] = b'X';
        assert!(Trailer::decode(&bad).unwrap_err().contains("trailer"));
        let mut bad = bytes;
        bad[8] = 7;
        assert!(Trailer::decode(&bad).unwrap_err().contains("version"));
        assert!(Trailer::decode(&bytes[..10]).is_err());
    }
}
