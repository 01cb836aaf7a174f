//! numpy's legacy `np.random.RandomState`, only as far as MinAtar uses it: MT19937 seeded with an
//! integer (`init_genrand`), `rand()`/`random_sample()` and `randint(low, high)` for small ranges.
//! Every draw is bit-for-bit numpy's, so a game seeded alike steps alike.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The Mersenne Twister state of a `RandomState(seed)`: 624 words and the read position.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed (numpy accepts only 0..2^32 there).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (i, k) in key.iter_mut().enumerate() {
            *k = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(i as u32 + 1);
        }
        Self { key, pos: N }
    }

    /// Regenerate all 624 words (the reference `genrand_int32` refill, in its three loops so that
    /// no index wraps inside one).
    fn refill(&mut self) {
        let k = &mut self.key;
        let twist = |a: u32, b: u32, m: u32| {
            let y = (a & UPPER_MASK) | (b & LOWER_MASK);
            m ^ (y >> 1) ^ if y & 1 == 0 { 0 } else { MATRIX_A }
        };
        for i in 0..N - M {
            k[i] = twist(k[i], k[i + 1], k[i + M]);
        }
        for i in N - M..N - 1 {
            k[i] = twist(k[i], k[i + 1], k[i + M - N]);
        }
        k[N - 1] = twist(k[N - 1], k[0], k[M - 1]);
        self.pos = 0;
    }

    /// One 32-bit draw (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.refill();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `rand()`: a double in [0, 1) from 53 bits of two draws.
    pub fn rand(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `randint(low, high)`: uniform in [low, high) by numpy's legacy masked rejection sampling
    /// (one 32-bit draw per try for ranges below 2^32). An empty range returns `low` (numpy
    /// raises; MinAtar never asks for one).
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        if high <= low + 1 {
            return low;
        }
        let rng = (high - low - 1) as u64;
        debug_assert!(rng < u32::MAX as u64);
        let rng = rng as u32;
        let mask = u32::MAX >> rng.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= rng {
                return low + v as i64;
            }
        }
    }

    /// The state as bytes: 624 little-endian words, then the position.
    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        for k in self.key {
            out.extend_from_slice(&k.to_le_bytes());
        }
        out.extend_from_slice(&(self.pos as u32).to_le_bytes());
    }

    /// Bytes `to_bytes` wrote (exactly `Self::BYTES` of them); `None` when they cannot be a state.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::BYTES {
            return None;
        }
        let word =
            |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let key = std::array::from_fn(word);
        let pos = word(N) as usize;
        (pos <= N).then_some(Self { key, pos })
    }

    pub const BYTES: usize = 4 * (N + 1);
}

#[cfg(test)]
mod tests {
    //! Expected values come from numpy (`scripts/minatar_rng_vectors.py`, which prints this table).
    use super::*;
    include!("rng_vectors.rs");

    #[test]
    fn raw_draws_match_numpy() {
        for &(seed, skip, want) in RAW_U32 {
            let mut r = RandomState::new(seed);
            for _ in 0..skip {
                r.next_u32();
            }
            let got: Vec<u32> = (0..want.len()).map(|_| r.next_u32()).collect();
            assert_eq!(got, want, "seed {seed}, after {skip} draws");
        }
    }

    #[test]
    fn rand_matches_numpy_bit_for_bit() {
        for &(seed, want) in RAND_BITS {
            let mut r = RandomState::new(seed);
            let got: Vec<u64> = (0..want.len()).map(|_| r.rand().to_bits()).collect();
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn randint_matches_numpy() {
        for &(seed, low, high, want) in RANDINT {
            let mut r = RandomState::new(seed);
            let got: Vec<i64> = (0..want.len()).map(|_| r.randint(low, high)).collect();
            assert_eq!(got, want, "seed {seed}, randint({low}, {high})");
        }
    }

    #[test]
    fn mixed_calls_share_one_stream() {
        // What the games do: rand, rand, randint interleaved (Seaquest's spawn), past a refill.
        for &(seed, want) in MIXED {
            let mut r = RandomState::new(seed);
            let mut got = Vec::new();
            for _ in 0..want.len() / 3 {
                got.push(r.rand().to_bits() as i128);
                got.push(r.rand().to_bits() as i128);
                got.push(r.randint(1, 9) as i128);
            }
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn state_round_trips_mid_stream() {
        let mut a = RandomState::new(7);
        for _ in 0..700 {
            a.next_u32();
        }
        let mut bytes = Vec::new();
        a.to_bytes(&mut bytes);
        let mut b = RandomState::from_bytes(&bytes).unwrap();
        for _ in 0..1000 {
            assert_eq!(a.next_u32(), b.next_u32());
        }
        assert!(RandomState::from_bytes(&bytes[1..]).is_none());
        bytes[4 * N + 3] = 0xff; // a position past the 624 words
        assert!(RandomState::from_bytes(&bytes).is_none());
    }
}
