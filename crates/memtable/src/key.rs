//! Owned internal keys and a borrowed view for allocation-free lookups in ordered maps.

use std::borrow::Borrow;
use std::cmp::Ordering;

use strata_core::{SeqNo, compare_internal};

/// A user key and a sequence number, ordered as internal keys.
#[derive(Debug, Clone)]
pub(crate) struct OwnedKey {
    pub(crate) key: Box<[u8]>,
    pub(crate) seq: SeqNo,
}

/// Anything that can be seen as an internal key. Ordered maps keyed by [`OwnedKey`] can be
/// searched with a borrowed `(&[u8], SeqNo)` through `&dyn KeyView`, with no allocation.
pub(crate) trait KeyView {
    fn parts(&self) -> (&[u8], SeqNo);
}

impl KeyView for OwnedKey {
    fn parts(&self) -> (&[u8], SeqNo) {
        (&self.key, self.seq)
    }
}

impl KeyView for (&[u8], SeqNo) {
    fn parts(&self) -> (&[u8], SeqNo) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        let (ak, aseq) = self.parts();
        let (bk, bseq) = other.parts();
        compare_internal(ak, aseq, bk, bseq)
    }
}

impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for dyn KeyView + '_ {}

impl Ord for OwnedKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal(&self.key, self.seq, &other.key, other.seq)
    }
}

impl PartialOrd for OwnedKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for OwnedKey {}
