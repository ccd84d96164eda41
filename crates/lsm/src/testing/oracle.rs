//! [`Oracle`]: the expected state of a store after a crash, for one writer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One atomic write as the oracle sees it: each key with its new value, `None` for a delete.
pub type Change = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A key-value state.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn apply(state: &mut State, change: &Change) {
    for (k, v) in change {
        match v {
            Some(v) => state.insert(k.clone(), v.clone()),
            None => state.remove(k),
        };
    }
}

/// What a store written by one writer may hold after a crash.
///
/// Writes are recorded in order as acknowledged ([`Oracle::acked`]) or in flight (started,
/// outcome unknown: it failed, or the process died during it). [`Oracle::durable`] marks
/// the point before which nothing may be lost (a synced write or a flush returned, or the
/// crash is a process kill that loses nothing the OS holds). After the crash the store must
/// hold exactly the state after some prefix of the writes: every durable write, then any
/// number of the later ones in order, possibly including the one in flight. A batch is one
/// write, so a half-applied batch matches no prefix.
#[derive(Debug, Clone, Default)]
pub struct Oracle {
    /// The state every earlier write is folded into.
    base: State,
    /// Writes since `base`, in order; the last may be in flight.
    pending: Vec<Change>,
    /// Whether the last of `pending` is in flight.
    in_flight: bool,
    /// `base` with every acknowledged write applied: what reads see while running.
    latest: State,
}

impl Oracle {
    /// An oracle of an empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an acknowledged write.
    ///
    /// # Panics
    ///
    /// If a write is in flight: one writer cannot start another before the first returns.
    pub fn acked(&mut self, change: Change) {
        assert!(!self.in_flight, "a write was recorded after one in flight");
        apply(&mut self.latest, &change);
        self.pending.push(change);
    }

    /// Records a write whose outcome is unknown. It must be the last write before the crash.
    ///
    /// # Panics
    ///
    /// If a write is already in flight.
    pub fn in_flight(&mut self, change: Change) {
        assert!(!self.in_flight, "two writes in flight");
        self.pending.push(change);
        self.in_flight = true;
    }

    /// Every acknowledged write so far must survive a crash.
    pub fn durable(&mut self) {
        let acked = self.pending.len() - usize::from(self.in_flight);
        for change in self.pending.drain(..acked) {
            apply(&mut self.base, &change);
        }
    }

    /// The state with every acknowledged write applied: what a running store must answer.
    #[must_use]
    pub fn latest(&self) -> &State {
        &self.latest
    }

    /// Checks the state a store holds after a crash (or a reopen) and takes it as the new
    /// starting point. Returns how many of the writes since the last durable point landed.
    ///
    /// # Errors
    ///
    /// A description of the first difference when `observed` is no allowed state.
    pub fn recover(&mut self, observed: &State) -> Result<usize, String> {
        let mut state = self.base.clone();
        let differs = |state: &State, k: &[u8]| state.get(k) != observed.get(k);
        let mut mismatches = state.keys().chain(observed.keys()).filter(|k| differs(&state, k)).count();
        // Keys present in both and different were counted twice above.
        mismatches -= state.keys().filter(|k| observed.contains_key(*k) && differs(&state, k)).count();
        let mut k = 0;
        loop {
            if mismatches == 0 {
                self.base = state;
                self.latest = self.base.clone();
                self.pending.clear();
                self.in_flight = false;
                return Ok(k);
            }
            let Some(change) = self.pending.get(k) else { break };
            for (key, value) in change {
                let before = differs(&state, key);
                match value {
                    Some(v) => state.insert(key.clone(), v.clone()),
                    None => state.remove(key),
                };
                let after = differs(&state, key);
                mismatches = mismatches + usize::from(after) - usize::from(before);
            }
            k += 1;
        }
        Err(self.describe(observed))
    }

    fn describe(&self, observed: &State) -> String {
        let mut all = self.base.clone();
        for change in &self.pending {
            apply(&mut all, change);
        }
        let mut out = format!(
            "the store holds no allowed state ({} writes since the last durable point, the last in flight: {}); \
             differences from the state with every write applied:",
            self.pending.len(),
            self.in_flight
        );
        let keys: std::collections::BTreeSet<&Vec<u8>> = all.keys().chain(observed.keys()).collect();
        let mut shown = 0;
        for k in keys {
            if all.get(k) != observed.get(k) && shown < 8 {
                shown += 1;
                let show = |v: Option<&Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v[..v.len().min(24)]).into_owned());
                let _ = write!(
                    out,
                    "\n  {}: expected {:?}, found {:?}",
                    String::from_utf8_lossy(k),
                    show(all.get(k)),
                    show(observed.get(k))
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Change {
        vec![(k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))]
    }

    fn state(pairs: &[(&str, &str)]) -> State {
        pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn any_prefix_after_the_durable_point_is_allowed() {
        let mut o = Oracle::new();
        o.acked(put("a", "1"));
        o.durable();
        o.acked(put("b", "2"));
        o.in_flight(vec![(b"a".to_vec(), None), (b"c".to_vec(), Some(b"3".to_vec()))]);
        for (observed, landed) in
            [(state(&[("a", "1")]), 0), (state(&[("a", "1"), ("b", "2")]), 1), (state(&[("b", "2"), ("c", "3")]), 2)]
        {
            assert_eq!(o.clone().recover(&observed), Ok(landed));
        }
        // A lost durable write, half a batch, or a write out of order are not.
        for observed in [state(&[]), state(&[("a", "1"), ("b", "2"), ("c", "3")]), state(&[("a", "1"), ("c", "3")])] {
            assert!(o.clone().recover(&observed).is_err(), "{observed:?} accepted");
        }
    }
}
