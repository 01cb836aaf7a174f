//! A game's observation: C channels of 10×10 booleans, one `u16` bit row per (channel, row).

pub const SIZE: usize = 10;
/// The most channels a game has (Seaquest).
pub const MAX_CHANNELS: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub channels: usize,
    /// `rows[c][y]` has bit `x` set when cell (y, x) of channel c is on.
    pub rows: [[u16; SIZE]; MAX_CHANNELS],
}

impl Frame {
    pub fn new(channels: usize) -> Self {
        Self {
            channels,
            rows: [[0; SIZE]; MAX_CHANNELS],
        }
    }

    pub fn clear(&mut self) {
        self.rows = [[0; SIZE]; MAX_CHANNELS];
    }

    /// `state[y, x, c] = 1` with numpy's indexing: −10..−1 count from the end; anything else
    /// outside the grid (an IndexError in Python, which the games never reach) is ignored.
    pub fn set(&mut self, c: usize, y: i32, x: i32) {
        if let (Some(y), Some(x)) = (py_index(y), py_index(x)) {
            self.rows[c][y] |= 1 << x;
        }
    }

    pub fn get(&self, c: usize, y: usize, x: usize) -> bool {
        self.rows[c][y] >> x & 1 == 1
    }

    /// The observation as f32 in C×10×10 (CHW) order: 1.0 where a cell is on.
    pub fn write_f32(&self, out: &mut [f32]) {
        // One 40-byte copy per row from a table of all 1024 rows, without branches (which rows are
        // lit changes every step): bit tests per cell were 70 % of an env step (callgrind,
        // examples/bench). Fixed-size planes let the compiler unroll the rows without checks.
        let out = &mut out[..self.channels * SIZE * SIZE];
        for (o, plane) in out.chunks_exact_mut(SIZE * SIZE).zip(&self.rows) {
            let o: &mut [f32; SIZE * SIZE] = o.try_into().expect("a 10×10 plane");
            for (y, &row) in plane.iter().enumerate() {
                o[y * SIZE..][..SIZE].copy_from_slice(&ROW_F32[(row & FULL_ROW) as usize]);
            }
        }
    }

    /// numpy's `np.packbits(state.transpose(2, 0, 1))`: the CHW cells, 8 to a byte, first cell in
    /// the high bit (what the trace script records).
    pub fn packed(&self) -> Vec<u8> {
        let n = self.channels * SIZE * SIZE;
        let mut out = vec![0u8; n.div_ceil(8)];
        for i in 0..n {
            let (c, y, x) = (i / 100, i / 10 % 10, i % 10);
            if self.get(c, y, x) {
                out[i / 8] |= 0x80 >> (i % 8);
            }
        }
        out
    }
}

fn py_index(i: i32) -> Option<usize> {
    match i {
        0..=9 => Some(i as usize),
        -10..=-1 => Some((i + 10) as usize),
        _ => None,
    }
}

/// All ten cells of a row.
pub const FULL_ROW: u16 = (1 << SIZE) - 1;

/// `ROW_F32[r][x]` is 1.0 when bit x of the 10-bit row r is set (40 KB, built at compile time).
static ROW_F32: [[f32; SIZE]; 1 << SIZE] = {
    let mut t = [[0.0; SIZE]; 1 << SIZE];
    let mut r = 0;
    while r < 1 << SIZE {
        let mut x = 0;
        while x < SIZE {
            if r >> x & 1 == 1 {
                t[r][x] = 1.0;
            }
            x += 1;
        }
        r += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_f32_is_the_cells_in_chw_order() {
        // Every 10-bit row pattern appears, in every channel, against a cell-by-cell reading.
        let mut f = Frame::new(MAX_CHANNELS);
        for start in (0..1024u16).step_by(SIZE * MAX_CHANNELS) {
            for (i, row) in f.rows.iter_mut().flatten().enumerate() {
                *row = (start + i as u16) % 1024;
            }
            let mut out = vec![-1.0; MAX_CHANNELS * SIZE * SIZE + 1];
            f.write_f32(&mut out);
            for c in 0..MAX_CHANNELS {
                for y in 0..SIZE {
                    for x in 0..SIZE {
                        let want = if f.get(c, y, x) { 1.0 } else { 0.0 };
                        assert_eq!(out[(c * SIZE + y) * SIZE + x], want, "c {c} y {y} x {x}");
                    }
                }
            }
            assert_eq!(out[MAX_CHANNELS * SIZE * SIZE], -1.0, "wrote past C×10×10");
        }
    }
}
