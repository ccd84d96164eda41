//! An LZ4 block decoder that stops early: a point lookup of one value in an `LZ4_RAW` page
//! needs the page's lengths stream and the bytes up to the value's end, on average half the
//! page, and only the compressed bytes that produced them (whose checksum blocks are then all
//! it has to check). `lz4_flex` decodes whole blocks only.
//!
//! The block format: a run of sequences, each a token byte (literal count in the high four
//! bits, match length less 4 in the low four; 15 in either continues in bytes that add up
//! until one is not 255), the literals, then a 2-byte little-endian offset back into the
//! output and the match's extra length bytes. The last sequence has literals only.

type R<T> = Result<T, String>;

/// The smallest match LZ4 encodes.
const MIN_MATCH: usize = 4;

/// Decodes an LZ4 block into `out` (exactly its decompressed size) a prefix at a time.
pub(crate) struct Lz4Prefix<'a> {
    input: &'a [u8],
    /// Input bytes consumed: whole sequences so far.
    read: usize,
    out: &'a mut [u8],
    /// Output bytes written.
    written: usize,
}

impl<'a> Lz4Prefix<'a> {
    /// A decoder of `input` into `out`, which must be the block's decompressed size.
    pub(crate) fn new(input: &'a [u8], out: &'a mut [u8]) -> Self {
        Self { input, read: 0, out, written: 0 }
    }

    /// How many input bytes, from the first, the output so far came from: only these need be
    /// trusted for [`Self::output`] to be.
    pub(crate) fn consumed(&self) -> usize {
        self.read
    }

    /// The bytes decoded so far.
    pub(crate) fn output(&self) -> &[u8] {
        &self.out[..self.written]
    }

    /// Whether the whole block is decoded.
    pub(crate) fn done(&self) -> bool {
        self.read == self.input.len()
    }

    /// Decodes whole sequences until at least `want` bytes of output exist (capped at the
    /// decompressed size) or the block ends. A block that ends short of the decompressed size,
    /// overruns it, or points a match before the output's start is an error.
    pub(crate) fn decode_to(&mut self, want: usize) -> R<()> {
        let want = want.min(self.out.len());
        while self.written < want || (self.written == self.out.len() && !self.done()) {
            if self.done() {
                return Err(format!("LZ4 block ends after {} of {} bytes", self.written, self.out.len()));
            }
            self.sequence()?;
        }
        if self.done() && self.written != self.out.len() {
            return Err(format!("LZ4 block ends after {} of {} bytes", self.written, self.out.len()));
        }
        Ok(())
    }

    /// Decodes one sequence.
    fn sequence(&mut self) -> R<()> {
        let mut at = self.read;
        let token = self.input[at];
        at += 1;
        let literals = self.length(&mut at, usize::from(token >> 4))?;
        let from = at;
        let to =
            from.checked_add(literals).filter(|&e| e <= self.input.len()).ok_or("LZ4 literals overrun the block")?;
        let dst = self.written;
        let dst_end =
            dst.checked_add(literals).filter(|&e| e <= self.out.len()).ok_or("LZ4 block overruns its size")?;
        self.out[dst..dst_end].copy_from_slice(&self.input[from..to]);
        self.written = dst_end;
        at = to;
        if at == self.input.len() {
            // The last sequence: literals only.
            self.read = at;
            return Ok(());
        }
        let offset = self.input.get(at..at + 2).ok_or("LZ4 match offset overruns the block")?;
        let offset = usize::from(u16::from_le_bytes([offset[0], offset[1]]));
        at += 2;
        let len = self.length(&mut at, usize::from(token & 15))? + MIN_MATCH;
        if offset == 0 || offset > self.written {
            return Err(format!("LZ4 match at offset {offset} from output byte {}", self.written));
        }
        let start = self.written - offset;
        let end =
            self.written.checked_add(len).filter(|&e| e <= self.out.len()).ok_or("LZ4 block overruns its size")?;
        if offset >= len {
            self.out.copy_within(start..start + len, self.written);
        } else {
            // Overlapping: the match repeats the last `offset` bytes; copy as they appear.
            for i in self.written..end {
                self.out[i] = self.out[i - offset];
            }
        }
        self.written = end;
        self.read = at;
        Ok(())
    }

    /// A length whose first part (`nibble`) is in the token: 15 continues in the bytes at
    /// `*at`, each added until one is below 255.
    fn length(&self, at: &mut usize, nibble: usize) -> R<usize> {
        let mut len = nibble;
        if nibble == 15 {
            loop {
                let b = *self.input.get(*at).ok_or("LZ4 length overruns the block")?;
                *at += 1;
                len = len.checked_add(usize::from(b)).ok_or("LZ4 length overflows")?;
                if b != 255 {
                    break;
                }
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a failed step is a failed test")]

    use proptest::prelude::*;

    use super::*;

    /// Bytes that compress: runs, repeats near and far, and random stretches.
    fn compressible(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            let r = next();
            match r % 4 {
                0 => v.extend(std::iter::repeat_n(r as u8, (r >> 8) as usize % 40)),
                1 if !v.is_empty() => {
                    let back = 1 + (r >> 8) as usize % v.len().min(70_000);
                    let n = (r >> 32) as usize % 300;
                    for _ in 0..n {
                        v.push(v[v.len() - back]);
                    }
                }
                _ => v.extend((0..(r >> 8) as usize % 30).map(|_| next() as u8)),
            }
        }
        v.truncate(len);
        v
    }

    fn decode_all(input: &[u8], size: usize) -> R<Vec<u8>> {
        let mut out = vec![0; size];
        let mut d = Lz4Prefix::new(input, &mut out);
        d.decode_to(size)?;
        if !d.done() {
            return Err("not done".into());
        }
        Ok(out)
    }

    #[test]
    fn decodes_what_lz4_flex_encodes_a_prefix_at_a_time() {
        for (seed, len) in [(1, 0), (2, 1), (3, 15), (4, 16), (5, 300), (6, 6400), (7, 70_000), (8, 300_000)] {
            let data = compressible(seed, len);
            let block = lz4_flex::block::compress(&data);
            assert_eq!(decode_all(&block, len).unwrap(), data, "len {len}");
            for want in [0, 1, len / 3, len / 2, len.saturating_sub(1), len, len + 10] {
                let mut out = vec![0; len];
                let mut d = Lz4Prefix::new(&block, &mut out);
                d.decode_to(want).unwrap();
                let got = d.output().len();
                assert!(got >= want.min(len), "asked for {want}, got {got}");
                assert_eq!(d.output(), &data[..got]);
                // The prefix came from the consumed input alone: decoding just that input
                // gives the same bytes.
                let consumed = &block[..d.consumed()];
                let mut again = vec![0; len];
                let mut e = Lz4Prefix::new(consumed, &mut again);
                while !e.done() {
                    e.sequence().unwrap();
                }
                assert_eq!(e.output(), &data[..got]);
                // And it goes on to the end.
                d.decode_to(len).unwrap();
                assert!(d.done() || len == 0);
                assert_eq!(&out[..], &data[..]);
            }
        }
    }

    #[test]
    fn long_lengths_and_overlapping_matches_decode() {
        // A run (a match at offset 1 longer than 15) and literals longer than 15.
        let mut data = vec![7u8; 1000];
        data.extend((0..=255u8).cycle().take(700));
        data.extend(b"abcabcabcabcabcabcabcabc".repeat(20));
        let block = lz4_flex::block::compress(&data);
        assert_eq!(decode_all(&block, data.len()).unwrap(), data);
    }

    #[test]
    fn bad_blocks_are_errors() {
        let data = compressible(9, 5000);
        let block = lz4_flex::block::compress(&data);
        // Too short a size, too long a size, a cut block.
        assert!(decode_all(&block, data.len() - 1).is_err());
        assert!(decode_all(&block, data.len() + 1).is_err());
        assert!(decode_all(&block[..block.len() / 2], data.len()).is_err());
        // A match reaching before the output's start: literal "a", then offset 2.
        assert!(decode_all(&[0x10, b'a', 2, 0, 0x00], 10).unwrap_err().contains("offset 2"));
        assert!(decode_all(&[0x10, b'a', 0, 0, 0x00], 10).unwrap_err().contains("offset 0"));
        // Lengths that overrun.
        assert!(decode_all(&[0xF0, 255, 255], 1000).is_err());
        assert!(decode_all(&[0x50, b'a'], 5).is_err());
    }

    proptest! {
        /// Arbitrary bytes never panic, and what decodes is what lz4_flex decodes.
        #[test]
        fn arbitrary_blocks_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200), size in 0usize..2000, want in 0usize..2000) {
            let mut out = vec![0; size];
            let mut d = Lz4Prefix::new(&input, &mut out);
            let _ = d.decode_to(want);
            if let Ok(ours) = decode_all(&input, size) {
                prop_assert_eq!(Some(ours), lz4_flex::block::decompress(&input, size).ok());
            }
        }

        /// Damage in a real block is an error or other bytes, never a panic.
        #[test]
        fn damaged_blocks_never_panic(seed in any::<u64>(), at in any::<usize>(), bit in 0u8..8) {
            let data = compressible(seed, 3000);
            let mut block = lz4_flex::block::compress(&data);
            let i = at % block.len();
            block[i] ^= 1 << bit;
            let _ = decode_all(&block, data.len());
        }
    }
}
