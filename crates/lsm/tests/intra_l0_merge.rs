//! Leveled compaction with `intra_l0_merge`: while L0 holds fewer bytes than it overlaps in
//! L1, L0 is merged into one L0 table (holding several flushes) instead of into L1; without
//! the option no L0 table ever holds more than one flush.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::time::{Duration, Instant};

use strata::{Db, Options, PolicyConfig};

const ROUNDS: u64 = 10;
const KEYS_PER_FLUSH: u64 = 2_000;

/// Flushes `ROUNDS` memtables of distinct keys spread over the whole key space, waiting after
/// each for L0 to fall under its trigger. Returns the most entries one L0 table held, and the
/// tables of L1 at the end.
fn run(intra_l0_merge: bool) -> (u64, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = Options {
        max_memtable_size: 64 << 20,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 16 << 20,
            level_multiplier: 10,
            target_table_size: 64 << 20,
            num_levels: 4,
            intra_l0_merge,
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), options).expect("open");
    let mut most = 0;
    for round in 0..ROUNDS {
        for i in 0..KEYS_PER_FLUSH {
            let n = (round * KEYS_PER_FLUSH + i).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000_007;
            db.put(format!("key{n:012}"), vec![b'v'; 100]).expect("put");
        }
        db.flush().expect("flush");
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.tables()[0].len() >= 2 {
            assert!(Instant::now() < deadline, "L0 stayed at its trigger");
            std::thread::sleep(Duration::from_millis(5));
        }
        most = db.tables()[0].iter().map(|t| t.entries).max().unwrap_or(0).max(most);
    }
    assert_eq!(db.iter(..).count() as u64, ROUNDS * KEYS_PER_FLUSH);
    let l1 = db.tables()[1].len();
    db.close().expect("close");
    (most, l1)
}

#[test]
fn l0_is_merged_within_l0_until_it_holds_what_it_overlaps_below() {
    let (most, l1) = run(true);
    assert!(most >= 2 * KEYS_PER_FLUSH, "no L0 table held more than one flush: {most} entries at most");
    assert!(l1 > 0, "L0 never went down to L1");
    let (most, l1) = run(false);
    assert_eq!(most, KEYS_PER_FLUSH, "without the option each L0 table is one flush");
    assert!(l1 > 0);
}
