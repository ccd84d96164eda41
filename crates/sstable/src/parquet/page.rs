//! A decoded page: the rows of one page of the key column, with the same rows of the other
//! three columns, in internal key order, as two separately cached parts.

use std::cmp::Ordering;
use std::sync::Arc;

use strata_core::{Bytes, Entry, SeqNo, ValueKind, cmp_keys};

use super::decode::BinaryColumn;
use super::table::OpenTable;
use crate::Result;
use crate::cache::block_cache::{BlockCache, CachedPart, ScanAdmission};
use crate::stats::Counters;

/// The key part of a page: its keys (the decompressed page bytes, handed out as zero-copy
/// `Bytes`), sequence numbers and kinds. Small next to the values, and all a lookup needs to
/// find its row or learn the key is absent.
///
/// NOTE: laid out for the binary search of a lookup whose part is not in the CPU cache (the
/// usual case with data larger than the CPU cache): each step of a search over the keys
/// themselves costs a miss on the offsets, one on the key bytes and one on the sequence
/// numbers. So each row also keeps one 4-byte word, the first bytes of its key after the prefix
/// every key of the page shares, and the search runs over those words (256 bytes for 64 rows),
/// comparing whole keys only between rows whose words tie. Keys of one length (the usual
/// case) keep no offsets, which pays for the words.
#[derive(Debug)]
pub(crate) struct KeyPart {
    keys: Keys,
    /// The length of the prefix every key of the page shares.
    prefix_len: usize,
    /// Per row: the 4 bytes of its key after the shared prefix, zero-padded, big-endian.
    words: Box<[u32]>,
    seqs: Vec<u64>,
    kinds: Vec<ValueKind>,
}

/// A page's keys: back to back at one width, or as a binary column with offsets.
#[derive(Debug)]
enum Keys {
    Fixed { data: Bytes, width: usize },
    Varying(BinaryColumn),
}

impl Keys {
    fn new(column: BinaryColumn) -> Self {
        let rows = column.len();
        let width = if rows == 0 { 0 } else { column.get(0).len() };
        if column.skip == 0
            && column.offsets.first() == Some(&0)
            && (0..rows).all(|i| column.offsets[i + 1] as usize == (i + 1) * width)
        {
            let data = column.data.slice(..rows * width);
            return Self::Fixed { data, width };
        }
        Self::Varying(column)
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        match self {
            Self::Fixed { data, width, .. } => &data[i * width..(i + 1) * width],
            Self::Varying(c) => c.get(i),
        }
    }

    fn get_bytes(&self, i: usize) -> Bytes {
        match self {
            Self::Fixed { data, width, .. } => data.slice(i * width..(i + 1) * width),
            Self::Varying(c) => c.get_bytes(i),
        }
    }

    fn memory_size(&self) -> usize {
        match self {
            Self::Fixed { data, .. } => data.len(),
            Self::Varying(c) => c.memory_size(),
        }
    }
}

/// The first 4 bytes of `b`, zero-padded, as a big-endian word: for two keys after the same
/// prefix, `word(a) < word(b)` implies `a < b` and `word(a) > word(b)` implies `a > b` (ties
/// say nothing).
fn word(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    let n = b.len().min(4);
    w[..n].copy_from_slice(&b[..n]);
    u32::from_be_bytes(w)
}

impl KeyPart {
    /// Puts the three columns of the same rows together; `Err` if their lengths differ.
    pub(crate) fn new(keys: BinaryColumn, seqs: Vec<u64>, kinds: Vec<ValueKind>) -> Result<Self, String> {
        let n = keys.len();
        if seqs.len() != n || kinds.len() != n {
            return Err(format!(
                "columns disagree on the page's rows: {n} keys, {} seqs, {} kinds",
                seqs.len(),
                kinds.len()
            ));
        }
        let keys = Keys::new(keys);
        // NOTE: the prefix of the first and last key; in a sorted page every key between
        // shares it. An unsorted (damaged) page only makes the search's answer wrong for that
        // page, as a search over the keys themselves would be.
        let prefix_len = match n {
            0 => 0,
            _ => {
                let (first, last) = (keys.get(0), keys.get(n - 1));
                first.iter().zip(last).take_while(|(a, b)| a == b).count()
            }
        };
        let words = (0..n).map(|i| word(keys.get(i).get(prefix_len..).unwrap_or_default())).collect();
        Ok(Self { keys, prefix_len, words, seqs, kinds })
    }

    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }

    #[inline]
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        self.keys.get(i)
    }

    #[inline]
    pub(crate) fn seq(&self, i: usize) -> SeqNo {
        self.seqs[i]
    }

    #[inline]
    pub(crate) fn kind(&self, i: usize) -> ValueKind {
        self.kinds[i]
    }

    /// The rows `[lo, hi)` whose keys may equal `key`, from the words alone: every row before
    /// `lo` holds a smaller key, every row from `hi` on a larger one.
    fn narrow(&self, key: &[u8]) -> (usize, usize) {
        let n = self.len();
        if n == 0 {
            return (0, 0);
        }
        let p = self.prefix_len;
        let prefix = &self.keys.get(0)[..p];
        let head = &key[..p.min(key.len())];
        match cmp_keys(head, &prefix[..head.len()]) {
            // Before the shared prefix, or a proper prefix of it: before every key.
            Ordering::Less => (0, 0),
            Ordering::Equal if key.len() < p => (0, 0),
            Ordering::Greater => (n, n),
            Ordering::Equal => {
                let w = word(&key[p..]);
                let lo = self.words.partition_point(|&x| x < w);
                (lo, lo + self.words[lo..].partition_point(|&x| x <= w))
            }
        }
    }

    /// The first row at or after `(key, snapshot)` in internal key order: if it holds `key`, it
    /// is the newest version of `key` visible at `snapshot`.
    pub(crate) fn seek(&self, key: &[u8], snapshot: SeqNo) -> usize {
        let (mut lo, mut hi) = self.narrow(key);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // Internal key order: user key ascending, then sequence number descending.
            if cmp_keys(self.key(mid), key).then_with(|| snapshot.cmp(&self.seq(mid))).is_lt() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first row whose user key is `>= key` (`after == false`) or `> key` (`after == true`).
    pub(crate) fn seek_key(&self, key: &[u8], after: bool) -> usize {
        let (mut lo, mut hi) = self.narrow(key);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ord = cmp_keys(self.key(mid), key);
            if ord.is_lt() || (after && ord.is_eq()) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl CachedPart for KeyPart {
    fn memory_size(&self) -> usize {
        self.keys.memory_size()
            + self.words.len() * 4
            + self.seqs.capacity() * 8
            + self.kinds.capacity()
            + size_of::<Self>()
    }
}

impl CachedPart for BinaryColumn {
    fn memory_size(&self) -> usize {
        BinaryColumn::memory_size(self) + size_of::<Self>()
    }
}

/// A page of the key column for a scan: its key part, and the value page holding the rows
/// the scan reached last.
#[derive(Debug)]
pub(crate) struct DecodedPage {
    head: Arc<KeyPart>,
    /// The value page holding the rows the scan reached last, and the key page's row its
    /// first value belongs to; the next is read when the scan passes its end.
    ///
    /// NOTE: value pages are shorter than key pages, and a seek lands anywhere in its first
    /// page and stops anywhere in its last, so it skips the value pages before its start and
    /// after its end that decoding the whole key page's values would read.
    values: Option<(i64, Arc<BinaryColumn>)>,
    /// The page's (row group, page of the key column), to read its value pages from.
    at: (usize, usize),
    /// Whether value pages read from disk are cached.
    admission: ScanAdmission,
}

impl DecodedPage {
    /// The page whose key part is `head`; its value pages are cached only if `insert` and
    /// the block cache admits them.
    pub(crate) fn new(head: Arc<KeyPart>, at: (usize, usize), insert: bool) -> Self {
        let admission = if insert { ScanAdmission::Ask } else { ScanAdmission::Skip };
        Self { head, values: None, at, admission }
    }

    pub(crate) fn len(&self) -> usize {
        self.head.len()
    }

    /// See [`KeyPart::seek_key`].
    pub(crate) fn seek_key(&self, key: &[u8], after: bool) -> usize {
        self.head.seek_key(key, after)
    }

    /// Row `i`, reading the value page holding it through `cache` if the scan has not yet.
    pub(crate) fn entry(
        &mut self,
        i: usize,
        table: &OpenTable,
        cache: &BlockCache,
        counters: &Counters,
    ) -> Result<Entry> {
        let h = &*self.head;
        let holds = |(first, values): &(i64, Arc<BinaryColumn>)| {
            (i as i64).checked_sub(*first).is_some_and(|j| (0..values.len() as i64).contains(&j))
        };
        let (first, values) = match self.values.take() {
            Some(held) if holds(&held) => held,
            _ => table.value_page_holding(self.at, i, cache, counters, &mut self.admission)?,
        };
        let value = values.get_bytes((i as i64 - first) as usize);
        self.values = Some((first, values));
        Ok(Entry { key: h.keys.get_bytes(i), seq: h.seqs[i], kind: h.kinds[i], value })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use strata_core::{SeqNo, ValueKind};

    use super::KeyPart;
    use crate::parquet::decode::BinaryColumn;

    /// A key part of `rows` (sorted in internal key order), its keys in a plain binary column.
    fn part(rows: &[(Vec<u8>, SeqNo)]) -> KeyPart {
        let mut data = Vec::new();
        let mut offsets = vec![0u32];
        for (k, _) in rows {
            data.extend_from_slice(k);
            offsets.push(data.len() as u32);
        }
        let keys = BinaryColumn { data: data.into(), offsets, skip: 0 };
        let seqs = rows.iter().map(|r| r.1).collect();
        KeyPart::new(keys, seqs, vec![ValueKind::Put; rows.len()]).unwrap()
    }

    proptest! {
        /// The word-narrowed searches answer what a scan of the rows answers, for pages of one
        /// key width and of many, with shared prefixes, empty keys and many versions of a key.
        #[test]
        fn searches_agree_with_a_scan(
            keys in prop::collection::btree_set(
                prop_oneof![
                    prop::collection::vec(0u8..3, 0..7).prop_map(|t| [b"shared/".to_vec(), t].concat()),
                    prop::collection::vec(any::<u8>(), 16..=16),
                    prop::collection::vec(0u8..2, 0..3),
                ],
                0..40,
            ),
            versions in prop::collection::vec(1usize..4, 40),
            probes in prop::collection::vec((prop::collection::vec(0u8..3, 0..9), 0u64..8, any::<bool>()), 30),
        ) {
            let mut rows = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                for v in (0..versions[i]).rev() {
                    rows.push((k.clone(), 2 * v as SeqNo + 1));
                }
            }
            let page = part(&rows);
            let stored = keys.iter().cloned();
            let probe_keys = probes.iter().map(|(t, _, prefixed)| {
                if *prefixed { [b"shared/".to_vec(), t.clone()].concat() } else { t.clone() }
            });
            for (key, &(_, snapshot, _)) in stored.chain(probe_keys).zip(probes.iter().cycle()) {
                let want = rows.iter().position(|(k, s)| (k.as_slice(), std::cmp::Reverse(*s)) >= (key.as_slice(), std::cmp::Reverse(snapshot))).unwrap_or(rows.len());
                prop_assert_eq!(page.seek(&key, snapshot), want, "seek {:?} at {}", key, snapshot);
                for after in [false, true] {
                    let want = rows.iter().position(|(k, _)| if after { *k > key } else { *k >= key }).unwrap_or(rows.len());
                    prop_assert_eq!(page.seek_key(&key, after), want, "seek_key {:?} after {}", key, after);
                }
            }
            for (i, (k, s)) in rows.iter().enumerate() {
                prop_assert_eq!(page.key(i), k.as_slice());
                prop_assert_eq!(page.seq(i), *s);
            }
        }
    }
}
