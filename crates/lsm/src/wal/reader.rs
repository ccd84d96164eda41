//! Replaying log segments at open.

use std::path::Path;
use std::sync::Arc;

use strata_core::fs::FileSystem;
use strata_core::{MAX_WRITE_SEQNO, SeqNo};

use super::{Seal, segment_name};
use crate::batch::WriteBatch;
use crate::record::{self, Tail};
use crate::{Error, Result, WalRecovery};

/// What a replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ReplayStats {
    /// Batches replayed.
    pub(crate) batches: u64,
    /// The highest sequence number replayed.
    pub(crate) last_seq: SeqNo,
    /// Bytes at the end of the newest segment that did not form a whole, valid record: a
    /// write torn by a crash. They were never acknowledged as synced and are dropped.
    pub(crate) torn_bytes: u64,
}

/// Replays `segments` (ascending) from `dir`, calling `apply` for each batch in order.
///
/// Only the newest segment may end in an invalid record: older segments were synced when
/// the log moved past them, so damage there is corruption, not a torn write. In the newest
/// segment, damage followed by a valid record of a later batch is corruption too, unless
/// `mode` is [`WalRecovery::PointInTime`]; so is any damage in a segment a clean close
/// sealed, since no write can have been torn there.
pub(crate) fn replay(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    segments: &[u64],
    mode: WalRecovery,
    mut apply: impl FnMut(SeqNo, WriteBatch),
) -> Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    for (i, &number) in segments.iter().enumerate() {
        let path = dir.join(segment_name(number));
        let data = fs.read_all(&path).map_err(|e| Error::io(&path, e))?;
        let (payloads, mut tail) = record::scan(&data);
        let mut end = data.len();
        if let Some(reserved) = reserved_start(&data, &tail) {
            // Space the writer reserved and never wrote (see `FileSystem::create_log`).
            (end, tail) = (reserved, Tail::Clean);
        }
        let mut sealed = None;
        for payload in payloads {
            if let Some(seal) = Seal::decode(payload) {
                let expected_end = end as u64 - (record::HEADER + payload.len()) as u64;
                let fits = seal.end == expected_end || matches!(tail, Tail::Invalid { .. });
                if sealed.is_some() || !fits || (stats.batches > 0 && seal.last_seq != stats.last_seq) {
                    return Err(Error::corruption(
                        &path,
                        format!("a close seal ({seal:?}) that does not end the log it closed"),
                    ));
                }
                sealed = Some(seal);
                continue;
            }
            if let Some(seal) = sealed {
                return Err(Error::corruption(&path, format!("a log record after the close seal ({seal:?})")));
            }
            let Some((first_seq, batch)) = WriteBatch::decode(payload) else {
                return Err(Error::corruption(&path, "a log record with a valid checksum holds no valid batch"));
            };
            if first_seq <= stats.last_seq && stats.batches > 0 {
                return Err(Error::corruption(
                    &path,
                    format!("sequence numbers go backwards: {first_seq} after {}", stats.last_seq),
                ));
            }
            let last_seq =
                first_seq.checked_add(batch.len().saturating_sub(1) as u64).filter(|&s| s <= MAX_WRITE_SEQNO);
            let Some(last_seq) = last_seq else {
                return Err(Error::corruption(
                    &path,
                    format!("a batch numbered from {first_seq} ends past the highest sequence number a write may take"),
                ));
            };
            stats.last_seq = last_seq;
            stats.batches += 1;
            apply(first_seq, batch);
        }
        if let Tail::Invalid { offset, reason } = tail {
            if i + 1 < segments.len() {
                return Err(Error::corruption(&path, format!("{reason} at offset {offset} in a sealed log segment")));
            }
            if mode == WalRecovery::TornTail
                && let Some(seal) = sealed.or_else(|| later_seal(&data, offset))
            {
                return Err(Error::corruption(
                    &path,
                    format!(
                        "{reason} at offset {offset} in a log closed cleanly after sequence {} \
                         (a clean close leaves no torn write, so this is damage); opening with \
                         wal_recovery = \"point_in_time\" drops the log from offset {offset} on",
                        seal.last_seq
                    ),
                ));
            }
            if let Some(valid) = later_record(&data, offset, &stats) {
                if mode == WalRecovery::TornTail {
                    return Err(Error::corruption(
                        &path,
                        format!(
                            "{reason} at offset {offset} is followed by a valid record at offset {valid}, \
                             so this is damage, not a torn write; opening with wal_recovery = \"point_in_time\" \
                             drops the log from offset {offset} on"
                        ),
                    ));
                }
                tracing::warn!(file = %path.display(), offset, valid, reason, "point-in-time recovery drops valid records after damage");
            }
            stats.torn_bytes = end as u64 - offset;
            tracing::warn!(file = %path.display(), offset, reason, "dropping a torn log tail");
        }
    }
    Ok(stats)
}

/// Where the zeros begin that run from the end of a segment's valid records to its end: the
/// space a mapped log reserves ahead, left when the process stopped before closing it.
/// Zeros are never a valid record (the checksum of a length of 0 is not 0). A record torn
/// while it was copied has a nonzero byte after `offset` and is reported as torn; nothing
/// of one torn before a nonzero byte of it was copied is left to tell it from reserved
/// space, and it is dropped either way.
fn reserved_start(data: &[u8], tail: &Tail) -> Option<usize> {
    let Tail::Invalid { offset, .. } = *tail else { return None };
    let offset = usize::try_from(offset).ok()?;
    data[offset..].iter().all(|&b| b == 0).then_some(offset)
}

/// A seal record after the damage at `offset`: the segment was closed cleanly.
fn later_seal(data: &[u8], mut offset: u64) -> Option<Seal> {
    while let Some((pos, payload)) = record::next_valid(data, offset) {
        if let Some(seal) = Seal::decode(payload) {
            return Some(seal);
        }
        offset = pos;
    }
    None
}

/// The offset of a valid record after the damage at `offset` that holds a batch later than
/// everything replayed: proof that the damage is not a torn final write.
fn later_record(data: &[u8], mut offset: u64, stats: &ReplayStats) -> Option<u64> {
    while let Some((pos, payload)) = record::next_valid(data, offset) {
        match WriteBatch::decode(payload) {
            Some((first_seq, _)) if stats.batches == 0 || first_seq > stats.last_seq => return Some(pos),
            _ => offset = pos,
        }
    }
    None
}
