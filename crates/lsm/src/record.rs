//! Checksummed record framing shared by the write-ahead log and the manifest.
//!
//! A record is `crc32(len ‖ payload): u32 LE ‖ len: u32 LE ‖ payload` (CRC-32/ISO-HDLC). A reader walks
//! records front to back; the first one that is short or fails its checksum ends the valid
//! prefix of the file, and [`scan`] reports where.

/// Bytes before a record's payload.
pub(crate) const HEADER: usize = 8;

/// The largest payload a record may carry.
pub(crate) const MAX_PAYLOAD: usize = u32::MAX as usize;

/// Appends `payload` framed as one record.
pub(crate) fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    encode_with(out, |out| out.extend_from_slice(payload));
}

/// Appends one record whose payload `fill` appends to `out`, framing it in place: the
/// payload is written once, where it ends up, rather than built apart and copied.
#[expect(clippy::expect_used, reason = "callers bound payloads below MAX_PAYLOAD")]
pub(crate) fn encode_with(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    fill(out);
    let len = u32::try_from(out.len() - start - HEADER).expect("invariant: callers bound payloads below MAX_PAYLOAD");
    out[start + 4..start + HEADER].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// How a scan of a file's records ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Every byte belonged to a valid record.
    Clean,
    /// The bytes from `offset` on do not form a valid record.
    Invalid { offset: u64, reason: &'static str },
}

/// Why a record is invalid when the file ends inside its header.
const TRUNCATED_HEADER: &str = "truncated header";
/// Why a record is invalid when the file ends inside its payload.
const TRUNCATED_PAYLOAD: &str = "truncated payload";

impl Tail {
    /// Whether the file ends inside its last record: what a write cut short leaves (a process
    /// killed during a `write` of more than a page can leave part of it), as opposed to a
    /// whole record that fails its checksum.
    pub(crate) fn is_truncated(&self) -> bool {
        matches!(self, Self::Invalid { reason, .. } if *reason == TRUNCATED_HEADER || *reason == TRUNCATED_PAYLOAD)
    }
}

/// The record starting at `pos`: its payload, or why the bytes there are not a valid record.
fn record_at(data: &[u8], pos: usize) -> Result<&[u8], &'static str> {
    let header = data.get(pos..pos + HEADER).ok_or(TRUNCATED_HEADER)?;
    let crc = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let payload = data.get(pos + HEADER..pos + HEADER + len).ok_or(TRUNCATED_PAYLOAD)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[4..8]);
    hasher.update(payload);
    if hasher.finalize() == crc { Ok(payload) } else { Err("checksum mismatch") }
}

/// Splits `data` into record payloads, stopping at the first invalid record.
pub(crate) fn scan(data: &[u8]) -> (Vec<&[u8]>, Tail) {
    let mut payloads = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        match record_at(data, pos) {
            Ok(payload) => {
                payloads.push(payload);
                pos += HEADER + payload.len();
            }
            Err(reason) => return (payloads, Tail::Invalid { offset: pos as u64, reason }),
        }
    }
    (payloads, Tail::Clean)
}

/// The offset of the first whole record with a valid checksum that starts after `offset`,
/// with its payload: how [`scan`]'s caller tells damage in the middle of a file (valid
/// records follow it) from a write torn at the end (nothing valid follows).
///
/// Every start position is tried. A checksum is computed only where the length field fits
/// in the rest of the file, which random bytes almost never do, so this is linear in practice.
pub(crate) fn next_valid(data: &[u8], offset: u64) -> Option<(u64, &[u8])> {
    let start = usize::try_from(offset).ok()?.checked_add(1)?;
    (start..data.len()).find_map(|pos| record_at(data, pos).ok().map(|payload| (pos as u64, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_located() {
        let mut data = Vec::new();
        encode(&mut data, b"first");
        encode(&mut data, b"");
        let clean_len = data.len();
        encode(&mut data, b"third record");
        let (payloads, tail) = scan(&data);
        assert_eq!(payloads, [&b"first"[..], b"", b"third record"]);
        assert_eq!(tail, Tail::Clean);

        for cut in clean_len + 1..data.len() {
            let (payloads, tail) = scan(&data[..cut]);
            assert_eq!(payloads.len(), 2, "cut at {cut}");
            assert!(matches!(tail, Tail::Invalid { offset, .. } if offset == clean_len as u64));
        }
    }

    #[test]
    fn next_valid_finds_the_record_after_damage_and_nothing_after_a_torn_tail() {
        let mut data = Vec::new();
        encode(&mut data, b"first");
        let second = data.len();
        encode(&mut data, b"second record");
        let third = data.len();
        encode(&mut data, b"third");

        let mut damaged = data.clone();
        damaged[second + 3] ^= 0x01;
        let (payloads, tail) = scan(&damaged);
        assert_eq!(payloads, [&b"first"[..]]);
        let Tail::Invalid { offset, .. } = tail else { panic!("damage undetected") };
        assert_eq!(next_valid(&damaged, offset), Some((third as u64, &b"third"[..])));

        for cut in third + 1..data.len() {
            let (_, tail) = scan(&data[..cut]);
            let Tail::Invalid { offset, .. } = tail else { panic!("cut at {cut} undetected") };
            assert_eq!(next_valid(&data[..cut], offset), None, "cut at {cut}");
        }
        assert_eq!(next_valid(&[0; 64], 0), None, "zeroed blocks are not records");
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let mut data = Vec::new();
        encode(&mut data, b"payload under test");
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x40;
            let (payloads, tail) = scan(&bad);
            assert!(payloads.is_empty(), "flip at {i} undetected");
            assert!(matches!(tail, Tail::Invalid { offset: 0, .. }), "flip at {i}: {tail:?}");
        }
    }
}
