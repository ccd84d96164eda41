//! Bounds of a key range.

use std::ops::{Bound, RangeBounds};

use bytes::Bytes;

/// A range of user keys with inclusive, exclusive or open ends.
///
/// ```
/// use strata_core::KeyRange;
///
/// let r = KeyRange::from_range(&b"b"[..]..&b"d"[..]);
/// assert!(r.contains(b"b") && r.contains(b"c") && !r.contains(b"d"));
///
/// let p = KeyRange::prefix(b"user/");
/// assert!(p.contains(b"user/42") && !p.contains(b"user0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRange {
    start: Bound<Bytes>,
    end: Bound<Bytes>,
}

impl Default for KeyRange {
    fn default() -> Self {
        Self::all()
    }
}

impl KeyRange {
    /// Every key.
    #[must_use]
    pub const fn all() -> Self {
        Self { start: Bound::Unbounded, end: Bound::Unbounded }
    }

    /// A range from explicit bounds.
    #[must_use]
    pub const fn new(start: Bound<Bytes>, end: Bound<Bytes>) -> Self {
        Self { start, end }
    }

    /// Every key, cut at `cuts` (ascending, each after the one before): the range below the
    /// first cut, one from each cut up to the next, and one from the last cut on. Each key
    /// falls in exactly one of them.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use strata_core::KeyRange;
    ///
    /// let ranges = KeyRange::cut_at([Bytes::from("g"), Bytes::from("p")]);
    /// assert_eq!(ranges.len(), 3);
    /// assert!(ranges[0].contains(b"a") && !ranges[0].contains(b"g"));
    /// assert!(ranges[1].contains(b"g") && !ranges[1].contains(b"p"));
    /// assert!(ranges[2].contains(b"p") && ranges[2].contains(b"z"));
    /// ```
    #[must_use]
    pub fn cut_at(cuts: impl IntoIterator<Item = Bytes>) -> Vec<Self> {
        let mut ranges = Vec::new();
        let mut start = Bound::Unbounded;
        for cut in cuts {
            ranges.push(Self::new(start, Bound::Excluded(cut.clone())));
            start = Bound::Included(cut);
        }
        ranges.push(Self::new(start, Bound::Unbounded));
        ranges
    }

    /// A range from any Rust range over byte-string-like keys, such as `"a".."m"`.
    pub fn from_range<K: AsRef<[u8]>, R: RangeBounds<K>>(range: R) -> Self {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
            Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Self { start: own(range.start_bound()), end: own(range.end_bound()) }
    }

    /// All keys that start with `prefix`.
    #[must_use]
    pub fn prefix(prefix: &[u8]) -> Self {
        let start = Bound::Included(Bytes::copy_from_slice(prefix));
        let end = match prefix_successor(prefix) {
            Some(succ) => Bound::Excluded(Bytes::from(succ)),
            None => Bound::Unbounded,
        };
        Self { start, end }
    }

    /// The start bound.
    #[must_use]
    pub fn start(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.start)
    }

    /// The end bound.
    #[must_use]
    pub fn end(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.end)
    }

    /// Whether `key` lies before the start of the range.
    #[must_use]
    pub fn is_before_start(&self, key: &[u8]) -> bool {
        match self.start() {
            Bound::Included(s) => key < s,
            Bound::Excluded(s) => key <= s,
            Bound::Unbounded => false,
        }
    }

    /// Whether `key` lies past the end of the range.
    #[must_use]
    pub fn is_past_end(&self, key: &[u8]) -> bool {
        match self.end() {
            Bound::Included(e) => key > e,
            Bound::Excluded(e) => key >= e,
            Bound::Unbounded => false,
        }
    }

    /// Whether `key` lies in the range.
    #[must_use]
    pub fn contains(&self, key: &[u8]) -> bool {
        !self.is_before_start(key) && !self.is_past_end(key)
    }

    /// Whether the range can hold no key at all (its start lies after its end).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match (self.start(), self.end()) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e))
            | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
            _ => false,
        }
    }

    /// Whether the range shares at least one key with `[min, max]`.
    #[must_use]
    pub fn overlaps(&self, min: &[u8], max: &[u8]) -> bool {
        min <= max && !self.is_past_end(min) && !self.is_before_start(max) && !self.is_empty()
    }
}

impl RangeBounds<[u8]> for KeyRange {
    fn start_bound(&self) -> Bound<&[u8]> {
        self.start()
    }

    fn end_bound(&self) -> Bound<&[u8]> {
        self.end()
    }
}

fn as_slice_bound(b: &Bound<Bytes>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when no such
/// key exists (the prefix is empty or all `0xff`).
///
/// ```
/// assert_eq!(strata_core::prefix_successor(b"ab\xff").as_deref(), Some(&b"ac"[..]));
/// assert_eq!(strata_core::prefix_successor(b"\xff"), None);
/// ```
#[must_use]
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut succ = prefix[..=last].to_vec();
    succ[last] += 1;
    Some(succ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_honoured() {
        let r = KeyRange::new(Bound::Excluded("b".into()), Bound::Included("d".into()));
        assert!(!r.contains(b"b"));
        assert!(r.contains(b"c"));
        assert!(r.contains(b"d"));
        assert!(!r.contains(b"da"));
        assert!(r.is_before_start(b"a"));
        assert!(r.is_past_end(b"e"));
        assert!(KeyRange::all().contains(b""));
    }

    #[test]
    fn prefix_range_covers_exactly_the_prefix() {
        let r = KeyRange::prefix(b"ab\xff");
        assert!(r.contains(b"ab\xff"));
        assert!(r.contains(b"ab\xff\xff\x01"));
        assert!(!r.contains(b"ac"));
        assert!(!r.contains(b"ab"));
        assert_eq!(r.end(), Bound::Excluded(&b"ac"[..]));
        assert_eq!(KeyRange::prefix(b"\xff\xff").end(), Bound::Unbounded);
        assert_eq!(KeyRange::prefix(b""), KeyRange::new(Bound::Included(Bytes::new()), Bound::Unbounded));
    }

    #[test]
    fn empty_and_overlap() {
        assert!(KeyRange::from_range("b".."b").is_empty());
        assert!(!KeyRange::from_range("b"..="b").is_empty());
        let r = KeyRange::from_range("c".."f");
        assert!(r.overlaps(b"a", b"c"));
        assert!(!r.overlaps(b"a", b"bz"));
        assert!(!r.overlaps(b"f", b"z"));
        assert!(r.overlaps(b"e", b"z"));
    }
}

impl From<std::ops::RangeFull> for KeyRange {
    fn from(_: std::ops::RangeFull) -> Self {
        Self::all()
    }
}

macro_rules! from_std_range {
    ($($range:ident),*) => {$(
        impl<K: AsRef<[u8]>> From<std::ops::$range<K>> for KeyRange {
            fn from(range: std::ops::$range<K>) -> Self {
                Self::from_range(range)
            }
        }
    )*};
}

from_std_range!(Range, RangeInclusive, RangeFrom, RangeTo, RangeToInclusive);
