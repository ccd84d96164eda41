//! The conformance suite every [`Memtable`] runs, ours and yours.
//!
//! ```
//! use strata_memtable::{Memtable, SortedMemtable, testing};
//!
//! // One line checks a memtable against the whole contract.
//! testing::conformance(SortedMemtable::new);
//! ```
//!
//! Each check panics with a message saying what broke. Enable the `testing` feature in
//! your dev-dependencies to use it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use strata_core::{Entry, KeyRange, MAX_SEQNO, SeqNo, ValueKind};

use crate::Memtable;

/// Runs every check of the suite on fresh memtables made by `make`.
///
/// # Panics
///
/// When the memtable breaks the [`Memtable`] contract; the message says how.
pub fn conformance<M: Memtable, F: Fn() -> M>(make: F) {
    empty(&make());
    new_keys_overwrites_and_deletes(&make());
    reads_at_older_snapshots(&make());
    ordered_ranges(&make());
    empty_keys_and_values(&make());
    large_value(&make());
    many_versions_of_one_key(&make());
    key_before_far_back(&make());
    // Fewer under Miri, which interprets every step (`cargo +nightly miri test`).
    let (cases, ops, per_thread) = if cfg!(miri) { (2, 200, 150) } else { (8, 2_500, 2_000) };
    model_operations(&make, cases, ops);
    concurrent_inserts(&make, 4, per_thread);
}

fn collect<M: Memtable>(m: &M, range: &KeyRange) -> Vec<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)> {
    m.range(range).map(|e| (e.key.to_vec(), e.seq, e.kind, e.value.to_vec())).collect()
}

/// What [`Memtable::visit_range`] visits in `range`, stopping after `limit` entries.
fn visited<M: Memtable>(m: &M, range: &KeyRange, limit: usize) -> Vec<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)> {
    let mut out = Vec::new();
    if limit > 0 {
        m.visit_range(range, &mut |key, seq, kind, value| {
            out.push((key.to_vec(), seq, kind, value.to_vec()));
            out.len() < limit
        });
    }
    out
}

/// An empty memtable answers nothing and iterates nothing.
pub fn empty<M: Memtable>(m: &M) {
    assert_eq!(m.len(), 0, "a new memtable is not empty");
    assert!(m.is_empty());
    assert!(m.get(b"k", MAX_SEQNO).is_none(), "get on an empty memtable found something");
    assert!(m.get(b"", MAX_SEQNO).is_none());
    assert_eq!(m.iter().count(), 0, "an empty memtable yields entries");
    assert_eq!(m.range(&KeyRange::from_range("a".."z")).count(), 0);
    assert_eq!(m.key_before(Bound::Unbounded, None, 0), None, "an empty memtable has a last key");
    assert_eq!(m.key_before(Bound::Unbounded, Some(b"k"), 3), None);
    m.seal();
    assert_eq!(m.iter().count(), 0);
}

/// New keys are found, overwrites win, deletes are answers.
pub fn new_keys_overwrites_and_deletes<M: Memtable>(m: &M) {
    m.insert(b"apple", 1, ValueKind::Put, b"red");
    m.insert(b"banana", 2, ValueKind::Put, b"yellow");
    assert_eq!(m.get(b"apple", MAX_SEQNO).map(|v| v.value), Some(Bytes::from_static(b"red")));
    assert_eq!(m.get(b"banana", MAX_SEQNO).map(|v| v.seq), Some(2));
    assert!(m.get(b"cherry", MAX_SEQNO).is_none(), "a missing key was found");
    assert!(m.get(b"appl", MAX_SEQNO).is_none(), "a prefix of a key was found");
    assert!(m.get(b"apple\0", MAX_SEQNO).is_none(), "an extension of a key was found");

    m.insert(b"apple", 3, ValueKind::Put, b"green");
    let v = m.get(b"apple", MAX_SEQNO).expect("overwritten key missing");
    assert_eq!((v.seq, v.kind, &v.value[..]), (3, ValueKind::Put, &b"green"[..]), "the newest version must win");

    m.insert(b"banana", 4, ValueKind::Delete, b"");
    let v = m.get(b"banana", MAX_SEQNO).expect("a tombstone is an answer, not a miss");
    assert_eq!((v.seq, v.kind), (4, ValueKind::Delete));
    assert!(v.value.is_empty(), "a tombstone carries no value");
    assert_eq!(m.len(), 4, "len counts versions");
    assert!(!m.is_empty());
}

/// A read at snapshot S sees the newest version with seq <= S.
pub fn reads_at_older_snapshots<M: Memtable>(m: &M) {
    m.insert(b"k", 10, ValueKind::Put, b"v10");
    m.insert(b"k", 20, ValueKind::Delete, b"");
    m.insert(b"k", 30, ValueKind::Put, b"v30");
    m.insert(b"j", 25, ValueKind::Put, b"j25");
    m.insert(b"l", 5, ValueKind::Put, b"l5");
    let at = |s| m.get(b"k", s).map(|v| (v.seq, v.kind));
    assert_eq!(at(9), None, "nothing of k is visible before seq 10");
    assert_eq!(at(10), Some((10, ValueKind::Put)));
    assert_eq!(at(19), Some((10, ValueKind::Put)));
    assert_eq!(at(20), Some((20, ValueKind::Delete)));
    assert_eq!(at(29), Some((20, ValueKind::Delete)));
    assert_eq!(at(30), Some((30, ValueKind::Put)));
    assert_eq!(at(MAX_SEQNO), Some((30, ValueKind::Put)));
    assert_eq!(m.get(b"j", 24), None, "a version newer than the snapshot leaked");
    assert_eq!(m.get(b"l", 4), None);
    // Inserting out of sequence order still orders versions by sequence.
    m.insert(b"k", 15, ValueKind::Put, b"v15");
    assert_eq!(at(17), Some((15, ValueKind::Put)));
    let seqs: Vec<SeqNo> = m.range(&KeyRange::from_range("k"..="k")).map(|e| e.seq).collect();
    assert_eq!(seqs, [30, 20, 15, 10], "versions must iterate newest first");
}

/// Full and bounded iteration in internal key order, with every kind of bound.
pub fn ordered_ranges<M: Memtable>(m: &M) {
    let keys: [&[u8]; 7] = [b"a", b"ab", b"b", b"ba", b"c", b"\xff", b"\xff\xff"];
    let mut seq = 0;
    // Insert in a scrambled order, two versions for some keys.
    for &i in &[3usize, 0, 6, 2, 5, 1, 4, 2, 0] {
        seq += 1;
        m.insert(keys[i], seq, ValueKind::Put, &seq.to_be_bytes());
    }
    let all = collect(m, &KeyRange::all());
    assert_eq!(all.len(), 9);
    for w in all.windows(2) {
        let ord = strata_core::compare_internal(&w[0].0, w[0].1, &w[1].0, w[1].1);
        assert!(ord.is_lt(), "iteration out of internal key order: {:?} then {:?}", w[0], w[1]);
    }
    assert_eq!(
        collect(m, &KeyRange::all()),
        m.iter().map(|e| (e.key.to_vec(), e.seq, e.kind, e.value.to_vec())).collect::<Vec<_>>()
    );

    let check = |range: KeyRange| {
        let want: Vec<_> = all.iter().filter(|e| range.contains(&e.0)).cloned().collect();
        assert_eq!(collect(m, &range), want, "wrong entries for range {range:?}");
    };
    for (i, lo) in keys.iter().enumerate() {
        for hi in &keys[i..] {
            check(KeyRange::from_range(*lo..*hi));
            check(KeyRange::from_range(*lo..=*hi));
            check(KeyRange::new(
                Bound::Excluded(Bytes::copy_from_slice(lo)),
                Bound::Included(Bytes::copy_from_slice(hi)),
            ));
            check(KeyRange::new(
                Bound::Excluded(Bytes::copy_from_slice(lo)),
                Bound::Excluded(Bytes::copy_from_slice(hi)),
            ));
        }
        check(KeyRange::from_range(*lo..));
        check(KeyRange::from_range(..*lo));
        check(KeyRange::from_range(..=*lo));
        check(KeyRange::prefix(lo));
    }
    // Bounds between and outside the stored keys, and empty or inverted ranges.
    check(KeyRange::from_range(&b"aa"[..]..&b"bb"[..]));
    check(KeyRange::from_range(&b"\0"[..]..&b"a"[..]));
    check(KeyRange::from_range(&b"d"[..]..&b"e"[..]));
    check(KeyRange::from_range(&b"c"[..]..&b"c"[..]));
    check(KeyRange::new(Bound::Included("c".into()), Bound::Excluded("a".into())));
    assert_eq!(m.range(&KeyRange::new(Bound::Included("c".into()), Bound::Excluded("a".into()))).count(), 0);
    // Iteration keeps working after sealing.
    m.seal();
    assert_eq!(collect(m, &KeyRange::all()), all);
}

/// The empty key and the empty value are ordinary.
pub fn empty_keys_and_values<M: Memtable>(m: &M) {
    m.insert(b"", 1, ValueKind::Put, b"");
    m.insert(b"x", 2, ValueKind::Put, b"");
    m.insert(b"", 3, ValueKind::Put, b"empty-key");
    let v = m.get(b"", MAX_SEQNO).expect("the empty key is a key");
    assert_eq!(&v.value[..], b"empty-key");
    let v = m.get(b"", 2).expect("older version of the empty key");
    assert_eq!((v.seq, &v.value[..]), (1, &b""[..]));
    let v = m.get(b"x", MAX_SEQNO).expect("key with an empty value");
    assert_eq!((v.kind, v.value.len()), (ValueKind::Put, 0), "an empty value is a put, not a delete");
    let keys: Vec<Vec<u8>> = m.iter().map(|e| e.key.to_vec()).collect();
    assert_eq!(keys, [b"".to_vec(), b"".to_vec(), b"x".to_vec()], "the empty key sorts first");
    assert_eq!(m.range(&KeyRange::from_range(&b""[..]..=&b""[..])).count(), 2);
    assert_eq!(m.key_before(Bound::Unbounded, Some(b""), 0), None, "a key before the empty key");
    assert_eq!(
        m.key_before(Bound::Unbounded, Some(b"\0"), 0).as_deref(),
        Some(&b""[..]),
        "the empty key is before \\0"
    );
    assert_eq!(m.key_before(Bound::Unbounded, None, 0).as_deref(), Some(&b"x"[..]));
    assert_eq!(m.key_before(Bound::Unbounded, None, 1).as_deref(), Some(&b""[..]), "one key back from x");
    assert_eq!(m.key_before(Bound::Unbounded, None, 9).as_deref(), Some(&b""[..]), "the least key when fewer are held");
    assert_eq!(m.key_before(Bound::Excluded(b""), None, 9).as_deref(), Some(&b"x"[..]), "not below the start");
    assert_eq!(m.key_before(Bound::Included(b"y"), None, 0), None, "no key at or after the start");
}

/// A 1 MiB value is stored and returned intact.
pub fn large_value<M: Memtable>(m: &M) {
    let big: Vec<u8> = (0..1usize << 20).map(|i| (i % 251) as u8).collect();
    m.insert(b"small", 1, ValueKind::Put, b"s");
    m.insert(b"big", 2, ValueKind::Put, &big);
    m.insert(b"tiny", 3, ValueKind::Put, b"t");
    assert_eq!(&m.get(b"big", MAX_SEQNO).expect("1 MiB value missing").value[..], &big[..]);
    let e: Entry = m.range(&KeyRange::from_range("big"..="big")).next().expect("1 MiB value not iterated");
    assert_eq!(&e.value[..], &big[..]);
    assert!(m.approximate_memory_usage() >= big.len(), "memory usage must count the 1 MiB value");
    assert_eq!(&m.get(b"tiny", MAX_SEQNO).expect("entry after a large one").value[..], b"t");
}

/// Hundreds of versions of one key, enough to span any internal block, run or chunk
/// boundary, read with every kind of bound around that key.
///
/// Regression: `sorted` once yielded versions of an excluded start key when they
/// continued into the next run of its array.
pub fn many_versions_of_one_key<M: Memtable>(m: &M) {
    let versions = 700u64;
    m.insert(b"j", 1, ValueKind::Put, b"before");
    for seq in 2..versions + 2 {
        m.insert(b"k", seq, ValueKind::Put, &seq.to_le_bytes());
    }
    m.insert(b"l", versions + 2, ValueKind::Put, b"after");
    let keys = |range: KeyRange| m.range(&range).map(|e| e.key.to_vec()).collect::<Vec<_>>();
    let n = versions as usize;
    assert_eq!(keys(KeyRange::new(Bound::Excluded("k".into()), Bound::Unbounded)), [b"l".to_vec()]);
    assert_eq!(keys(KeyRange::new(Bound::Unbounded, Bound::Excluded("k".into()))), [b"j".to_vec()]);
    assert_eq!(keys(KeyRange::from_range("k"..="k")).len(), n);
    assert_eq!(keys(KeyRange::from_range("k".."l")).len(), n);
    assert_eq!(keys(KeyRange::from_range("j"..)).len(), n + 2);
    let seqs: Vec<SeqNo> = m.range(&KeyRange::prefix(b"k")).map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "versions of one key out of order");
    for snapshot in [0, 1, 2, 350, versions + 1, MAX_SEQNO] {
        let want = (snapshot >= 2).then(|| snapshot.min(versions + 1));
        assert_eq!(m.get(b"k", snapshot).map(|v| v.seq), want, "get(k) at {snapshot}");
    }
}

/// [`Memtable::key_before`] stepping up to thousands of keys back over 3,000 keys, every
/// seventh with three versions and every tenth a delete, from ends and starts across the
/// range: every answer a key of the range, the greatest at `back` 0, and answers about
/// `back` keys back on average (within a factor of four of an exact step's distance, over
/// 40 ends).
pub fn key_before_far_back<M: Memtable>(m: &M) {
    let n = 3_000u32;
    let key = |i: u32| format!("key{:06}", i * 3).into_bytes();
    let mut seq = 0;
    for i in 0..n {
        for _ in 0..if i % 7 == 0 { 3 } else { 1 } {
            seq += 1;
            let kind = if i % 10 == 0 { ValueKind::Delete } else { ValueKind::Put };
            m.insert(&key(i), seq, kind, b"v");
        }
    }
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    let mut ends: Vec<Option<Vec<u8>>> = (0..40).map(|i| Some(key(i * 75 + 7))).collect();
    ends.extend([None, Some(b"key004500x".to_vec()), Some(key(0)), Some(key(1))]);
    let backs = [0, 1, 2, 31, 32, 63, 100, 511, 2_999, 5_000, usize::MAX];
    // Per `back`, keys below the greatest summed over the ends: the answers', an exact step's.
    let mut below = vec![(0usize, 0usize); backs.len()];
    for end in &ends {
        let before = keys.partition_point(|k| end.as_ref().is_none_or(|e| k < e));
        for start in [None, Some(key(7)), Some(b"key002000x".to_vec())] {
            let first = keys.partition_point(|k| start.as_ref().is_some_and(|s| k < s));
            let from: Vec<&Vec<u8>> = keys[first.min(before)..before].iter().collect();
            let bound = start.as_deref().map_or(Bound::Unbounded, Bound::Included);
            for (&back, (got_below, exact_below)) in backs.iter().zip(&mut below) {
                let got = m.key_before(bound, end.as_deref(), back);
                match check_key_answer(&from, back, got.as_deref()) {
                    Ok(b) => *got_below += b,
                    Err(e) => panic!("key_before({bound:?}, {end:?}, {back}): {e}"),
                }
                *exact_below += back.min(from.len().saturating_sub(1));
            }
        }
    }
    for (back, (got_below, exact_below)) in backs.iter().zip(below) {
        assert!(
            got_below <= exact_below.saturating_mul(4) && exact_below <= got_below.saturating_mul(4),
            "key_before(.., {back}): answers lie {got_below} keys below the greatest in all, an exact step's {exact_below}"
        );
    }
}

/// One operation of the model test.
#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Get a key at `current_seq - back`.
    Get(Vec<u8>, u64),
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet and short keys make collisions, shared prefixes and versions common.
    prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xff]), 0..4)
}

fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        key_strategy().prop_map(Bound::Included),
        key_strategy().prop_map(Bound::Excluded),
        Just(Bound::Unbounded),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        50 => (key_strategy(), prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(k, v)| Op::Put(k, v)),
        15 => key_strategy().prop_map(Op::Delete),
        34 => (key_strategy(), prop_oneof![Just(0u64), 0u64..50, 0u64..5_000]).prop_map(|(k, b)| Op::Get(k, b)),
        1 => (bound_strategy(), bound_strategy()).prop_map(|(s, e)| Op::Range(s, e)),
    ]
}

/// Random operations checked against a `BTreeMap` model: `cases` runs of up to
/// `ops_per_case` operations each (half that on average, so shrinking can shorten a failing
/// run), on a fresh memtable per run. The suite runs 8 x 2,500: about 10,000 operations.
///
/// # Panics
///
/// On the first disagreement with the model, after proptest's shrinking.
pub fn model_operations<M: Memtable, F: Fn() -> M>(make: &F, cases: u32, ops_per_case: usize) {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = prop::collection::vec(op_strategy(), 1..=ops_per_case);
    let result = runner.run(&strategy, |ops| check_against_model(&make(), &ops).map_err(TestCaseError::fail));
    if let Err(e) = result {
        panic!("memtable disagrees with the BTreeMap model: {e}");
    }
}

/// [`Memtable::key_before`] against the model's keys before `end`, from no start and from
/// `start`, stepping back 0, 1 and 5 keys: a key of the range, the greatest at 0.
fn check_key_before<M: Memtable>(m: &M, model: &Model, start: &[u8], end: Option<&[u8]>) -> Result<(), String> {
    let before: Vec<&Vec<u8>> = match end {
        Some(end) => model.range(..(end.to_vec(), Reverse(SeqNo::MAX))).map(|((k, _), _)| k).collect(),
        None => model.keys().map(|(k, _)| k).collect(),
    };
    let mut all = before;
    all.dedup();
    let from_start: Vec<&Vec<u8>> = all.iter().copied().filter(|k| k[..] >= *start).collect();
    for (bound, keys) in [(Bound::Unbounded, &all), (Bound::Included(start), &from_start)] {
        for back in [0, 1, 5] {
            let got = m.key_before(bound, end, back);
            check_key_answer(keys, back, got.as_deref())
                .map_err(|e| format!("key_before({bound:?}, {end:?}, {back}): {e}"))?;
        }
    }
    Ok(())
}

/// Checks one answer of [`Memtable::key_before`] against the distinct keys of its range,
/// ascending, and returns how many keys below the greatest it lies.
fn check_key_answer(keys: &[&Vec<u8>], back: usize, got: Option<&[u8]>) -> Result<usize, String> {
    let Some(got) = got else {
        return if keys.is_empty() { Ok(0) } else { Err(format!("None, but {} keys lie in the range", keys.len())) };
    };
    let Ok(at) = keys.binary_search_by(|k| k[..].cmp(got)) else {
        return Err(format!("{got:?} is not a key of the range"));
    };
    let below = keys.len() - 1 - at;
    if back == 0 && below != 0 {
        return Err(format!("{got:?} lies {below} keys below the greatest"));
    }
    Ok(below)
}

/// The model: every version, in internal key order.
type Model = BTreeMap<(Vec<u8>, Reverse<SeqNo>), (ValueKind, Vec<u8>)>;

/// Applies `ops` to `m` and to a `BTreeMap` model, comparing every answer.
fn check_against_model<M: Memtable>(m: &M, ops: &[Op]) -> Result<(), String> {
    let mut model = Model::new();
    let mut seq: SeqNo = 0;
    let as_rows = |model: &Model, range: &KeyRange| {
        model
            .iter()
            .filter(|((k, _), _)| range.contains(k))
            .map(|((k, Reverse(s)), (kind, v))| (k.clone(), *s, *kind, v.clone()))
            .collect::<Vec<_>>()
    };
    for op in ops {
        match op {
            Op::Put(k, v) => {
                seq += 1;
                m.insert(k, seq, ValueKind::Put, v);
                model.insert((k.clone(), Reverse(seq)), (ValueKind::Put, v.clone()));
            }
            Op::Delete(k) => {
                seq += 1;
                m.insert(k, seq, ValueKind::Delete, b"");
                model.insert((k.clone(), Reverse(seq)), (ValueKind::Delete, Vec::new()));
            }
            Op::Get(k, back) => {
                let snapshot = seq.saturating_sub(*back);
                let want = model
                    .range((k.clone(), Reverse(snapshot))..)
                    .next()
                    .filter(|((mk, _), _)| mk == k)
                    .map(|((_, Reverse(s)), (kind, v))| (*s, *kind, v.clone()));
                let got = m.get(k, snapshot).map(|v| (v.seq, v.kind, v.value.to_vec()));
                if got != want {
                    return Err(format!("get({k:?}, {snapshot}): got {got:?}, model says {want:?}"));
                }
                check_key_before(m, &model, &k[..k.len() / 2], Some(k))?;
            }
            Op::Range(s, e) => {
                let range = KeyRange::new(s.clone().map(Bytes::from), e.clone().map(Bytes::from));
                let (got, want) = (collect(m, &range), as_rows(&model, &range));
                if got != want {
                    return Err(format!("range {range:?}: got {got:?}, model says {want:?}"));
                }
                // The borrowed visit sees the same, and stops when told to.
                let visit = visited(m, &range, usize::MAX);
                if visit != want {
                    return Err(format!("visit_range {range:?}: got {visit:?}, model says {want:?}"));
                }
                let limit = want.len() / 2;
                if visited(m, &range, limit) != want[..limit] {
                    return Err(format!("visit_range {range:?} did not stop after {limit} entries"));
                }
            }
        }
    }
    check_key_before(m, &model, b"a", None)?;
    if m.len() != model.len() {
        return Err(format!("len {} but the model holds {}", m.len(), model.len()));
    }
    let (got, want) = (collect(m, &KeyRange::all()), as_rows(&model, &KeyRange::all()));
    if got != want {
        return Err(format!("full iteration at the end: got {got:?}, model says {want:?}"));
    }
    Ok(())
}

/// Decodes arbitrary bytes into operations: the fuzzer's view of [`Op`].
fn decode_ops(data: &[u8]) -> Vec<Op> {
    const ALPHABET: [u8; 5] = [0, 1, b'a', b'b', 0xff];
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let key = |next: &mut dyn FnMut() -> Option<u8>| -> Option<Vec<u8>> {
        let len = next()? % 4;
        (0..len).map(|_| next().map(|b| ALPHABET[usize::from(b) % ALPHABET.len()])).collect()
    };
    let mut ops = Vec::new();
    while let Some(tag) = next() {
        let op = match tag % 8 {
            0..=3 => {
                let Some(k) = key(&mut next) else { break };
                let Some(len) = next() else { break };
                let value: Option<Vec<u8>> = (0..len % 16).map(|_| next()).collect();
                let Some(value) = value else { break };
                Op::Put(k, value)
            }
            4 => match key(&mut next) {
                Some(k) => Op::Delete(k),
                None => break,
            },
            5 | 6 => match (key(&mut next), next()) {
                (Some(k), Some(back)) => Op::Get(k, u64::from(back)),
                _ => break,
            },
            _ => {
                let bound = |next: &mut dyn FnMut() -> Option<u8>| -> Option<Bound<Vec<u8>>> {
                    Some(match next()? % 3 {
                        0 => Bound::Included(key(next)?),
                        1 => Bound::Excluded(key(next)?),
                        _ => Bound::Unbounded,
                    })
                };
                match (bound(&mut next), bound(&mut next)) {
                    (Some(s), Some(e)) => Op::Range(s, e),
                    _ => break,
                }
            }
        };
        ops.push(op);
    }
    ops
}

/// The fuzz target `memtable_ops`: decodes `data` into operations and checks every
/// variant against the model. Ordinary tests replay the fuzz corpus through it.
///
/// # Panics
///
/// When any variant disagrees with the model.
pub fn fuzz_memtable_ops(data: &[u8]) {
    let ops = decode_ops(data);
    for kind in crate::MemtableKind::ALL {
        // A one-byte prefix over a small bucket array puts several keys in each bucket.
        let options = crate::MemtableOptions { prefix_len: 1, bucket_count: Some(4) };
        let m = crate::AnyMemtable::new(kind, &options).expect("valid options");
        if let Err(e) = check_against_model(&m, &ops) {
            panic!("{kind} disagrees with the model: {e}\nops: {ops:?}");
        }
    }
}

/// `threads` threads insert `per_thread` distinct keys each while a reader scans; then
/// every key must be there, in order, with its value.
///
/// Variants without concurrent inserts run this too: they must be safe to share, and
/// serialize inside.
///
/// # Panics
///
/// When an insert was lost, or a concurrent scan saw entries out of order.
pub fn concurrent_inserts<M: Memtable, F: Fn() -> M>(make: &F, threads: u64, per_thread: u64) {
    let m = make();
    let key = |t: u64, i: u64| {
        // Interleave threads' keys so inserts contend for the same neighbourhoods.
        let n = i * threads + t;
        format!("key{:08}", n.wrapping_mul(2_654_435_761) % 100_000_000).into_bytes()
    };
    std::thread::scope(|s| {
        for t in 0..threads {
            let (m, key) = (&m, &key);
            s.spawn(move || {
                for i in 0..per_thread {
                    let seq = 1 + t * per_thread + i;
                    m.insert(&key(t, i), seq, ValueKind::Put, &seq.to_le_bytes());
                }
            });
        }
        let m = &m;
        s.spawn(move || {
            for _ in 0..5 {
                let mut last: Option<Entry> = None;
                for e in m.iter() {
                    if let Some(prev) = &last {
                        assert!(prev.cmp_internal(&e).is_lt(), "a scan during inserts went out of order");
                    }
                    last = Some(e);
                }
            }
        });
    });
    let total = threads * per_thread;
    assert_eq!(m.len() as u64, total, "inserts were lost");
    for t in 0..threads {
        for i in 0..per_thread {
            let seq = 1 + t * per_thread + i;
            let v = m.get(&key(t, i), MAX_SEQNO).unwrap_or_else(|| panic!("key of thread {t}, insert {i} lost"));
            assert_eq!((v.seq, &v.value[..]), (seq, &seq.to_le_bytes()[..]));
        }
    }
    let all: Vec<Entry> = m.iter().collect();
    assert_eq!(all.len() as u64, total, "iteration lost entries");
    assert!(all.windows(2).all(|w| w[0].cmp_internal(&w[1]).is_lt()), "iteration out of order");
}
