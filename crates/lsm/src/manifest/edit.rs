//! A version edit: one atomic change to the set of live tables.

use bytes::Bytes;
use strata_core::{MAX_WRITE_SEQNO, RangeTombstone, SeqNo};
use strata_sstable::{TableId, TableMeta};

use crate::codec::{Reader, put_bytes, put_varint};

/// Tables added and removed, and counters advanced, in one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    /// Tables added, with their level.
    pub(crate) added: Vec<(usize, TableMeta)>,
    /// Tables removed, with the level they were on.
    pub(crate) removed: Vec<(usize, TableId)>,
    /// Log segments below this number are no longer needed.
    pub(crate) log_number: Option<u64>,
    /// The next number to use for a table, log segment or manifest.
    pub(crate) next_file_number: Option<u64>,
    /// Every sequence number up to this one is in tables or in retained log segments.
    pub(crate) last_seq: Option<SeqNo>,
    /// The epoch of the writer that owns the manifest (object-store manifests only: each
    /// writer that opens one takes the next epoch, which fences the writers before it).
    pub(crate) writer_epoch: Option<u64>,
}

const TAG_LOG: u8 = 1;
const TAG_NEXT_FILE: u8 = 2;
const TAG_LAST_SEQ: u8 = 3;
const TAG_REMOVED: u8 = 4;
const TAG_ADDED: u8 = 5;
/// The range tombstones of the table added just before (omitted when it has none).
const TAG_RANGE_TOMBSTONES: u8 = 6;
const TAG_WRITER_EPOCH: u8 = 7;

impl VersionEdit {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, value) in [
            (TAG_LOG, self.log_number),
            (TAG_NEXT_FILE, self.next_file_number),
            (TAG_LAST_SEQ, self.last_seq),
            (TAG_WRITER_EPOCH, self.writer_epoch),
        ] {
            if let Some(v) = value {
                out.push(tag);
                put_varint(&mut out, v);
            }
        }
        for &(level, id) in &self.removed {
            out.push(TAG_REMOVED);
            put_varint(&mut out, level as u64);
            put_varint(&mut out, id);
        }
        for (level, m) in &self.added {
            out.push(TAG_ADDED);
            put_varint(&mut out, *level as u64);
            for v in [m.id, m.file_size, m.entries, m.tombstones, m.min_seq, m.max_seq, m.created_at_ms] {
                put_varint(&mut out, v);
            }
            put_bytes(&mut out, &m.min_key);
            put_bytes(&mut out, &m.max_key);
            if !m.range_tombstones.is_empty() {
                out.push(TAG_RANGE_TOMBSTONES);
                put_varint(&mut out, m.range_tombstones.len() as u64);
                for t in &m.range_tombstones {
                    put_varint(&mut out, t.seq);
                    put_bytes(&mut out, &t.start);
                    put_bytes(&mut out, &t.end);
                }
            }
        }
        out
    }

    /// Decodes an edit; `None` when the bytes are not a valid encoding.
    pub(crate) fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Reader::new(data);
        let mut edit = Self::default();
        let level = |r: &mut Reader<'_>| usize::try_from(r.varint()?).ok().filter(|&l| l < 64);
        while !r.is_empty() {
            match r.u8()? {
                TAG_LOG => edit.log_number = Some(r.varint()?),
                TAG_NEXT_FILE => edit.next_file_number = Some(r.varint()?),
                // A number no write can take is no valid edit: numbering writes after it
                // would overflow.
                TAG_LAST_SEQ => edit.last_seq = Some(r.varint().filter(|&s| s <= MAX_WRITE_SEQNO)?),
                TAG_WRITER_EPOCH => edit.writer_epoch = Some(r.varint()?),
                TAG_REMOVED => edit.removed.push((level(&mut r)?, r.varint()?)),
                TAG_ADDED => {
                    let lvl = level(&mut r)?;
                    let mut v = [0u64; 7];
                    for slot in &mut v {
                        *slot = r.varint()?;
                    }
                    let [id, file_size, entries, tombstones, min_seq, max_seq, created_at_ms] = v;
                    let min_key = Bytes::copy_from_slice(r.bytes()?);
                    let max_key = Bytes::copy_from_slice(r.bytes()?);
                    if min_key > max_key || min_seq > max_seq || tombstones > entries || max_seq > MAX_WRITE_SEQNO {
                        return None;
                    }
                    let meta = TableMeta {
                        id,
                        file_size,
                        entries,
                        tombstones,
                        min_key,
                        max_key,
                        min_seq,
                        max_seq,
                        created_at_ms,
                        range_tombstones: Vec::new(),
                    };
                    edit.added.push((lvl, meta));
                }
                TAG_RANGE_TOMBSTONES => {
                    let (_, meta) = edit.added.last_mut()?;
                    if !meta.range_tombstones.is_empty() {
                        return None;
                    }
                    let count = r.varint()?;
                    for _ in 0..count {
                        let seq = r.varint()?;
                        let start = Bytes::copy_from_slice(r.bytes()?);
                        let end = Bytes::copy_from_slice(r.bytes()?);
                        if start >= end || start < meta.min_key || end > meta.max_key || seq > meta.max_seq {
                            return None;
                        }
                        meta.range_tombstones.push(RangeTombstone::new(start, end, seq));
                    }
                    if meta.range_tombstones.is_empty() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        Some(edit)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn meta(id: u64) -> TableMeta {
        TableMeta {
            id,
            file_size: 4096 + id,
            entries: 10,
            tombstones: 2,
            min_key: Bytes::from_static(b"a"),
            max_key: Bytes::from_static(b"z\xff"),
            min_seq: 3,
            max_seq: 99,
            created_at_ms: 1_700_000_000_000,
            range_tombstones: Vec::new(),
        }
    }

    #[test]
    fn edits_round_trip() {
        let mut with_ranges = meta(8);
        with_ranges.range_tombstones =
            vec![RangeTombstone::new("b", "c", 50), RangeTombstone::new("m", &b"z\xff"[..], 99)];
        let edit = VersionEdit {
            added: vec![(0, meta(7)), (3, with_ranges), (1, meta(9))],
            removed: vec![(1, 4), (0, 5)],
            log_number: Some(12),
            next_file_number: Some(13),
            last_seq: Some(1 << 40),
            writer_epoch: Some(3),
        };
        assert_eq!(VersionEdit::decode(&edit.encode()), Some(edit));
        assert_eq!(VersionEdit::decode(&[]), Some(VersionEdit::default()));
        // Range tombstones outside their table's extent, or with no table before them, are
        // not a valid edit.
        let mut outside = meta(8);
        outside.range_tombstones = vec![RangeTombstone::new("b", "{", 50)];
        let one = VersionEdit { added: vec![(1, outside)], ..VersionEdit::default() };
        assert_eq!(VersionEdit::decode(&one.encode()), None);
        assert_eq!(VersionEdit::decode(&[TAG_RANGE_TOMBSTONES, 1, 1, 1, b'a', 1, b'b']), None);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = VersionEdit::decode(&data);
        }
    }
}
