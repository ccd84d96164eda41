//! The write-ahead log: numbered segment files of checksummed records, one record per
//! write batch.
//!
//! Every memtable has its own segment; when a memtable is sealed the log moves to a new
//! segment, and once the memtable's table is recorded in the manifest its segment is
//! deleted. Recovery replays the segments the manifest does not cover, in order.
//!
//! A clean close ends the segment with a *seal* record (see [`Seal`]): after it, no write
//! can have been torn, so recovery reports any damage in a sealed segment as corruption
//! instead of dropping it as a torn tail.

mod reader;
mod seal;
mod writer;

pub(crate) use seal::Seal;

pub(crate) use reader::{ReplayStats, replay};
pub(crate) use writer::WalWriter;

/// The file name of segment `number`.
pub(crate) fn segment_name(number: u64) -> String {
    format!("{number:06}.wal")
}

/// The number of a segment file name.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name(&segment_name(12_345_678)), Some(12_345_678));
        assert_eq!(parse_segment_name("000042.wal.tmp"), None);
        assert_eq!(parse_segment_name(".wal"), None);
        assert_eq!(parse_segment_name("x1.wal"), None);
    }
}
