//! [`Workload`]: the deterministic write stream the fault-injection and corruption tests
//! share, so both exercise the same mix of puts, deletes and multi-key batches.

use super::oracle::Change;
use crate::WriteBatch;

/// A repeatable stream of writes over a small key space: operation `i` is a put; every
/// `period`-th a batch of two puts and a delete; at position 4 of each period a delete.
/// Keys repeat (so versions pile up and compaction has work), and value lengths vary by
/// `value_step` bytes over `value_steps` sizes from `value_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Distinct keys (`key0000` on).
    pub keys: u64,
    /// One operation in this many is a batch.
    pub period: u64,
    /// The shortest value.
    pub value_len: usize,
    /// How much longer each larger value is.
    pub value_step: usize,
    /// How many value sizes there are.
    pub value_steps: u64,
}

impl Workload {
    /// Key `i` of the key space (multiplied by a prime, so neighbours in time are not
    /// neighbours in key order).
    #[must_use]
    pub fn key(&self, i: u64) -> Vec<u8> {
        format!("key{:04}", (i * 7919) % self.keys).into_bytes()
    }

    /// The value written by operation `i`.
    #[must_use]
    pub fn value(&self, i: u64) -> Vec<u8> {
        let mut v = format!("value-{i}-").into_bytes();
        v.resize(self.value_len + (i % self.value_steps) as usize * self.value_step, b'a' + (i % 26) as u8);
        v
    }

    /// Operation `i`, as a batch to write and as the change the oracle expects.
    #[must_use]
    pub fn op(&self, i: u64) -> (WriteBatch, Change) {
        let mut batch = WriteBatch::new();
        let mut change = Vec::new();
        if i % self.period == self.period - 1 {
            for k in [self.key(i), self.key(i + self.keys / 3)] {
                batch.put(k.clone(), self.value(i));
                change.push((k, Some(self.value(i))));
            }
            batch.delete(self.key(i + 1));
            change.push((self.key(i + 1), None));
        } else if i % self.period == 4 {
            batch.delete(self.key(i));
            change.push((self.key(i), None));
        } else {
            batch.put(self.key(i), self.value(i));
            change.push((self.key(i), Some(self.value(i))));
        }
        (batch, change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_its_change_and_keys_stay_in_the_key_space() {
        let w = Workload { keys: 300, period: 10, value_len: 150, value_step: 50, value_steps: 5 };
        for i in 0..100 {
            let (batch, change) = w.op(i);
            assert_eq!(batch.len(), change.len());
            assert_eq!(batch.len(), if i % 10 == 9 { 3 } else { 1 });
            assert!(change.iter().all(|(k, _)| k.len() == 7));
        }
        assert_eq!(w.value(3).len(), 300);
    }
}
