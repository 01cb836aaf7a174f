//! Small exact encodings for the RL resume checkpoint: env states and RNG positions as
//! little-endian bytes (stored as hex in the checkpoint's JSON meta), and f64 values as their bit
//! patterns (JSON's decimal floats are not guaranteed to read back to the same bits).

use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fsio::ByteReader;

/// Appends values as little-endian bytes.
#[derive(Default)]
pub struct StateWriter(Vec<u8>);

impl StateWriter {
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.u64(v.to_bits())
    }
    /// A ChaCha RNG's full position: seed, stream and word position.
    pub fn rng(&mut self, r: &ChaCha8Rng) -> &mut Self {
        self.0.extend_from_slice(&r.get_seed());
        self.u64(r.get_stream());
        self.0.extend_from_slice(&r.get_word_pos().to_le_bytes());
        self
    }
    pub fn into_bytes(self) -> Vec<u8> {
        std::mem::take(&mut { self }.0)
    }
}

/// Reads what a [`StateWriter`] wrote, in the same order.
pub struct StateReader<'a>(ByteReader<'a>);

impl<'a> StateReader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self(ByteReader::new(b))
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some(a) = self.0.array::<N>() else { bail!("saved state is too short") };
        Ok(a)
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub fn rng(&mut self) -> Result<ChaCha8Rng> {
        let mut r = ChaCha8Rng::from_seed(self.take::<32>()?);
        r.set_stream(self.u64()?);
        r.set_word_pos(u128::from_le_bytes(self.take()?));
        Ok(r)
    }
    /// Fails unless every byte was read (a state of another env kind or version).
    pub fn finish(self) -> Result<()> {
        if self.0.remaining() != 0 {
            bail!("saved state has {} bytes, expected {}", self.0.position() + self.0.remaining(), self.0.position());
        }
        Ok(())
    }
}

pub fn rng_to_hex(r: &ChaCha8Rng) -> String {
    let mut w = StateWriter::default();
    w.rng(r);
    to_hex(&w.into_bytes())
}

pub fn rng_from_hex(s: &str) -> Result<ChaCha8Rng> {
    let bytes = from_hex(s)?;
    let mut r = StateReader::new(&bytes);
    let rng = r.rng()?;
    r.finish()?;
    Ok(rng)
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(s: &str) -> Result<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        bail!("not a hex string");
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| anyhow::anyhow!("not a hex string"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore};

    #[test]
    fn rng_positions_round_trip_mid_buffer() {
        // Odd word counts leave half a u64 in the block buffer; 63/64/65 straddle a buffer refill.
        for n in [0usize, 1, 7, 63, 64, 65, 255, 256, 257] {
            let mut a = ChaCha8Rng::seed_from_u64(42);
            a.set_stream(3);
            for _ in 0..n {
                a.next_u32();
            }
            let mut b = rng_from_hex(&rng_to_hex(&a)).unwrap();
            for _ in 0..300 {
                assert_eq!(a.next_u64(), b.next_u64(), "after {n} words");
                assert_eq!(a.gen_range(-0.05f64..0.05).to_bits(), b.gen_range(-0.05f64..0.05).to_bits());
            }
        }
    }

    #[test]
    fn values_round_trip_exactly_and_length_is_checked() {
        let mut w = StateWriter::default();
        w.f64(0.1 + 0.2).u64(u64::MAX).f64(-0.0);
        let bytes = from_hex(&to_hex(&w.into_bytes())).unwrap();
        let mut r = StateReader::new(&bytes);
        assert_eq!(r.f64().unwrap().to_bits(), (0.1f64 + 0.2).to_bits());
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.f64().unwrap().to_bits(), (-0.0f64).to_bits());
        r.finish().unwrap();
        let mut r = StateReader::new(&bytes);
        r.f64().unwrap();
        assert!(r.finish().is_err());
        assert!(StateReader::new(&bytes[..3]).u64().is_err());
        assert!(from_hex("abc").is_err() && from_hex("zz").is_err());
    }
}
