//! The record a clean close appends to the log.
//!
//! Payload (32 bytes): `u64::MAX` LE, the magic `b"STRATA\0S"`, the last sequence number
//! written, and the segment's length before the seal, both u64 LE. A write batch's payload
//! starts with its first sequence number, which is never `u64::MAX` (a batch needs at least
//! one sequence number after its first), so the two cannot be confused.

use strata_core::SeqNo;

const MARK: u64 = u64::MAX;
const MAGIC: &[u8; 8] = b"STRATA\0S";
const LEN: usize = 32;

/// What a clean close recorded about the log it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seal {
    /// The highest sequence number in the log when it was closed (0 when none).
    pub(crate) last_seq: SeqNo,
    /// The segment's length in bytes before the seal record.
    pub(crate) end: u64,
}

impl Seal {
    pub(crate) fn encode(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0..8].copy_from_slice(&MARK.to_le_bytes());
        out[8..16].copy_from_slice(MAGIC);
        out[16..24].copy_from_slice(&self.last_seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.end.to_le_bytes());
        out
    }

    /// The seal in `payload`, or `None` when the payload is not a seal (a write batch).
    pub(crate) fn decode(payload: &[u8]) -> Option<Self> {
        let bytes: &[u8; LEN] = payload.try_into().ok()?;
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        (u64_at(0) == MARK && &bytes[8..16] == MAGIC).then(|| Self { last_seq: u64_at(16), end: u64_at(24) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::WriteBatch;

    #[test]
    fn a_seal_round_trips_and_is_never_a_batch() {
        let seal = Seal { last_seq: 42, end: 4096 };
        let bytes = seal.encode();
        assert_eq!(Seal::decode(&bytes), Some(seal));
        assert_eq!(WriteBatch::decode(&bytes), None, "a seal must not replay as a batch");
        assert_eq!(Seal::decode(&bytes[..31]), None);
        let mut batch = WriteBatch::new();
        batch.put("k", "v");
        let mut payload = Vec::new();
        batch.encode(7, &mut payload);
        assert_eq!(Seal::decode(&payload), None);
    }
}
