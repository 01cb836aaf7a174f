//! Observation preprocessing as cleanRL's ppo_atari does it with gym 0.23: resize the RGB frame to
//! 84x84 with `cv2.resize(..., interpolation=cv2.INTER_AREA)` (ResizeObservation), then
//! `cv2.cvtColor(..., cv2.COLOR_RGB2GRAY)` (GrayScaleObservation). Both are reimplemented here to
//! give OpenCV's bytes exactly (checked against OpenCV 4.10 golden outputs, see
//! scripts/make_atari_golden.py):
//! - INTER_AREA for a non-integer shrink (210→84 is 2.5x, 160→84 is 1.905x) is OpenCV's
//!   `resizeArea_`: per axis a table of (dst, src, weight) from `computeResizeAreaTab`, weights
//!   in f32, each source row accumulated along x into a row buffer, rows accumulated into the output
//!   row in f32 in the same order as OpenCV, then `saturate_cast<uchar>` (round half to even).
//! - RGB2GRAY on bytes is fixed-point with 15-bit coefficients:
//!   `(R*9798 + G*19235 + B*3735 + 16384) >> 15` (OpenCV 4's RY15/GY15/BY15; checked equal to
//!   cv2.cvtColor 4.10 on all 2^24 colours). The 14-bit form sometimes quoted for it,
//!   `(R*4899 + G*9617 + B*1868 + 8192) >> 14`, is 1 lower on 0.26% of all colours (6 of the
//!   7056 pixels of the noise golden frame). Neither is ALE's grayscale palette, so the RGB screen is
//!   read and converted here.

/// The Atari 2600 screen ALE gives.
pub const SCREEN_H: usize = 210;
pub const SCREEN_W: usize = 160;
/// The side of the preprocessed square frame.
pub const OBS_SIDE: usize = 84;

/// One entry of an INTER_AREA decimation table: destination index, source index, weight.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AreaTab {
    di: usize,
    si: usize,
    alpha: f32,
}

/// OpenCV's `computeResizeAreaTab` (imgproc/src/resize.cpp) in pixel units (not times channels).
fn area_tab(ssize: usize, dsize: usize, scale: f64) -> Vec<AreaTab> {
    let mut tab = Vec::with_capacity(ssize * 2);
    for dx in 0..dsize {
        let fsx1 = dx as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell_width = scale.min(ssize as f64 - fsx1);
        let mut sx1 = fsx1.ceil() as i64;
        let mut sx2 = fsx2.floor() as i64;
        sx2 = sx2.min(ssize as i64 - 1);
        sx1 = sx1.min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            tab.push(AreaTab { di: dx, si: (sx1 - 1) as usize, alpha: ((sx1 as f64 - fsx1) / cell_width) as f32 });
        }
        for sx in sx1..sx2 {
            tab.push(AreaTab { di: dx, si: sx as usize, alpha: (1.0 / cell_width) as f32 });
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            tab.push(AreaTab {
                di: dx,
                si: sx2 as usize,
                alpha: ((fsx2 - sx2 as f64).min(1.0).min(cell_width) / cell_width) as f32,
            });
        }
    }
    tab
}

/// OpenCV's `saturate_cast<uchar>(float)`: round half to even, clamp to 0..=255.
#[inline]
fn saturate_u8(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// `cv2.resize(src, (dw, dh), interpolation=cv2.INTER_AREA)` for u8 images with `cn` (≤ 4)
/// interleaved channels, for shrinking by non-integer factors (the only case the Atari frames
/// need; integer factors take a different OpenCV path and are refused).
///
/// OpenCV runs one loop over its y table, redoing the horizontal pass of a source row for each
/// output row it feeds. Here the horizontal pass of each source row is done once, with a register
/// accumulator per output column, and the vertical pass per output row; every output value still
/// gets the very same f32 operations in the same order (a sum starting at 0 and adding
/// `src * alpha` in table order, then `beta * h` in table order), so the bytes are OpenCV's.
#[derive(Clone, Debug)]
pub struct AreaResize {
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    cn: usize,
    /// x table entries of output column dx: `dx*xk..(dx+1)*xk` of `xsi_pad` (times cn) and
    /// `xalpha_pad`, the real ones first, then weight-0 padding
    xk: usize,
    xsi_pad: Vec<usize>,
    xalpha_pad: Vec<f32>,
    /// y table entries of output row dy: `yrow[dy]..yrow[dy + 1]` into `ysi`, `yalpha`
    yrow: Vec<usize>,
    ysi: Vec<usize>,
    yalpha: Vec<f32>,
    /// the horizontal pass of every source row, sh x (dw*cn)
    hrows: Vec<f32>,
    sum: Vec<f32>,
}

/// Split a table (sorted by `di`) into per-destination ranges.
fn ranges(tab: &[AreaTab], dsize: usize) -> Vec<usize> {
    (0..=dsize).map(|d| tab.partition_point(|t| t.di < d)).collect()
}

impl AreaResize {
    pub fn new(sh: usize, sw: usize, dh: usize, dw: usize, cn: usize) -> Self {
        assert!(dh > 0 && dw > 0 && sh >= dh && sw >= dw && (1..=4).contains(&cn), "AreaResize {sh}x{sw}x{cn} -> {dh}x{dw}");
        // cv::resize: inv_scale = dsize / ssize, scale = 1 / inv_scale (in double, as OpenCV).
        let scale_x = 1.0 / (dw as f64 / sw as f64);
        let scale_y = 1.0 / (dh as f64 / sh as f64);
        // OpenCV's is_area_fast test: both scales integral (to DBL_EPSILON) after saturate_cast<int>
        let integral = |s: f64| (s - s.round_ties_even()).abs() < f64::EPSILON;
        assert!(
            !(integral(scale_x) && integral(scale_y)),
            "integer INTER_AREA factors use OpenCV's fast path, not implemented"
        );
        let xtab = area_tab(sw, dw, scale_x);
        let ytab = area_tab(sh, dh, scale_y);
        assert!(xtab.windows(2).all(|w| w[0].di <= w[1].di) && ytab.windows(2).all(|w| w[0].di <= w[1].di));
        let xcol = ranges(&xtab, dw);
        let xk = (0..dw).map(|d| xcol[d + 1] - xcol[d]).max().unwrap_or(1);
        let (mut xsi_pad, mut xalpha_pad) = (Vec::with_capacity(dw * xk), Vec::with_capacity(dw * xk));
        for d in 0..dw {
            let col = &xtab[xcol[d]..xcol[d + 1]];
            assert!(!col.is_empty() && col.iter().all(|t| t.alpha >= 0.0));
            for j in 0..xk {
                let t = col.get(j).copied().unwrap_or(AreaTab { alpha: 0.0, ..col[col.len() - 1] });
                xsi_pad.push(t.si * cn);
                xalpha_pad.push(t.alpha);
            }
        }
        AreaResize {
            sh,
            sw,
            dh,
            dw,
            cn,
            xk,
            xsi_pad,
            xalpha_pad,
            yrow: ranges(&ytab, dh),
            ysi: ytab.iter().map(|t| t.si).collect(),
            yalpha: ytab.iter().map(|t| t.alpha).collect(),
            hrows: vec![0.0; sh * dw * cn],
            sum: vec![0.0; dw * cn],
        }
    }

    /// The horizontal pass of every source row into `hrows`, for CN channels. Each column's x
    /// entries are padded to the same count K with weight 0 at the end (adding `v * 0.0 = +0.0`
    /// to a non-negative sum leaves it unchanged, bit for bit), so the inner loop has a fixed length.
    fn horizontal<const CN: usize, const K: usize>(&mut self, src: &[u8]) {
        let (row_in, row_out) = (self.sw * CN, self.dw * CN);
        let (xsi, xalpha) = (&self.xsi_pad, &self.xalpha_pad);
        for (s, h) in src.chunks_exact(row_in).zip(self.hrows.chunks_exact_mut(row_out)) {
            for ((hc, sis), alphas) in h.chunks_exact_mut(CN).zip(xsi.chunks_exact(K)).zip(xalpha.chunks_exact(K)) {
                let mut acc = [0f32; CN];
                for k in 0..K {
                    let (si, alpha) = (sis[k], alphas[k]);
                    let px: &[u8; CN] = s[si..si + CN].try_into().unwrap();
                    for c in 0..CN {
                        acc[c] += px[c] as f32 * alpha;
                    }
                }
                hc.copy_from_slice(&acc);
            }
        }
    }

    /// As `horizontal` for column entry counts without a specialisation.
    fn horizontal_any(&mut self, src: &[u8]) {
        let (cn, k) = (self.cn, self.xk);
        let (row_in, row_out) = (self.sw * cn, self.dw * cn);
        for (s, h) in src.chunks_exact(row_in).zip(self.hrows.chunks_exact_mut(row_out)) {
            for (dx, hc) in h.chunks_exact_mut(cn).enumerate() {
                let mut acc = [0f32; 4];
                for j in dx * k..(dx + 1) * k {
                    let (si, alpha) = (self.xsi_pad[j], self.xalpha_pad[j]);
                    for (a, &v) in acc.iter_mut().zip(&s[si..si + cn]) {
                        *a += v as f32 * alpha;
                    }
                }
                hc.copy_from_slice(&acc[..cn]);
            }
        }
    }

    /// `src`: sh*sw*cn bytes, row-major interleaved; `dst`: dh*dw*cn bytes.
    pub fn run(&mut self, src: &[u8], dst: &mut [u8]) {
        let (cn, row_in, row_out) = (self.cn, self.sw * self.cn, self.dw * self.cn);
        assert_eq!(src.len(), self.sh * row_in, "AreaResize source size");
        assert_eq!(dst.len(), self.dh * row_out, "AreaResize destination size");
        // horizontal: h[dx*cn + c] = (((0 + s[si0 + c]*a0) + s[si1 + c]*a1) + ...)
        match (cn, self.xk) {
            (3, 3) => self.horizontal::<3, 3>(src), // the Atari case: 160 -> 84
            (1, 3) => self.horizontal::<1, 3>(src),
            _ => self.horizontal_any(src),
        }
        // vertical: sum = beta0*h(row0), then sum += beta_j*h(row_j); round
        let sum = &mut self.sum;
        for (dy, d) in dst.chunks_exact_mut(row_out).enumerate() {
            let (j0, j1) = (self.yrow[dy], self.yrow[dy + 1]);
            for j in j0..j1 {
                let beta = self.yalpha[j];
                let h = &self.hrows[self.ysi[j] * row_out..][..row_out];
                if j == j0 {
                    for (s, &b) in sum.iter_mut().zip(h) {
                        *s = beta * b;
                    }
                } else {
                    for (s, &b) in sum.iter_mut().zip(h) {
                        *s += beta * b;
                    }
                }
            }
            for (o, &s) in d.iter_mut().zip(sum.iter()) {
                *o = saturate_u8(s);
            }
        }
    }
}

/// `cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)` for bytes (OpenCV 4: fixed point, 15 bits).
pub fn rgb_to_gray(rgb: &[u8], gray: &mut [u8]) {
    assert_eq!(rgb.len(), gray.len() * 3, "rgb_to_gray sizes");
    for (g, p) in gray.iter_mut().zip(rgb.chunks_exact(3)) {
        *g = gray_of(p[0], p[1], p[2]);
    }
}

/// One pixel of [`rgb_to_gray`].
#[inline]
pub fn gray_of(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 9798 + g as u32 * 19235 + b as u32 * 3735 + 16384) >> 15) as u8
}

/// The whole observation step: 210x160 RGB → INTER_AREA 84x84 RGB → gray 84x84.
#[derive(Clone, Debug)]
pub struct Preprocess {
    resize: AreaResize,
    small: Vec<u8>,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self::new(SCREEN_H, SCREEN_W)
    }
}

impl Preprocess {
    pub fn new(h: usize, w: usize) -> Self {
        Preprocess { resize: AreaResize::new(h, w, OBS_SIDE, OBS_SIDE, 3), small: vec![0; OBS_SIDE * OBS_SIDE * 3] }
    }

    /// `rgb`: h*w*3 bytes; `gray`: 84*84 bytes.
    pub fn run(&mut self, rgb: &[u8], gray: &mut [u8]) {
        self.resize.run(rgb, &mut self.small);
        rgb_to_gray(&self.small, gray);
    }

    /// The resized RGB of the last `run` (84*84*3 bytes).
    pub fn last_resized(&self) -> &[u8] {
        &self.small
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::registry::sha256_hex;
    use std::io::Read;

    /// The integer hash of scripts/make_atari_golden.py (h32).
    fn h32(x: u32) -> u32 {
        let mut x = x.wrapping_mul(0x9E37_79B1);
        x ^= x >> 15;
        x = x.wrapping_mul(0x85EB_CA77);
        x ^= x >> 13;
        x = x.wrapping_mul(0xC2B2_AE3D);
        x ^ (x >> 16)
    }

    const PALETTE: [[u8; 3]; 8] = [
        [0, 0, 0],
        [200, 72, 72],
        [198, 108, 58],
        [180, 122, 48],
        [162, 162, 42],
        [72, 160, 72],
        [66, 72, 200],
        [236, 236, 236],
    ];

    /// The synthetic 210x160 RGB frames of scripts/make_atari_golden.py (`frame(kind)`).
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; rust-version is 1.80
    pub(crate) fn synthetic_frame(kind: usize) -> Vec<u8> {
        let (h, w) = (SCREEN_H, SCREEN_W);
        let mut f = vec![0u8; h * w * 3];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let i = (y * w + x) * 3 + c;
                    f[i] = match kind {
                        0 => (h32(i as u32) & 255) as u8,
                        1 => PALETTE[(h32(((y / 7) * 32 + x / 5 + 1000) as u32) % 8) as usize][c],
                        2 => [(y * 255 / (h - 1)) as u8, (x * 255 / (w - 1)) as u8, ((x * 3 + y * 5) % 256) as u8][c],
                        _ => {
                            if (57..63).contains(&y) {
                                [200, 72, 72][c]
                            } else if h32((y * w + x + 7777) as u32) % 50 == 0 {
                                236
                            } else {
                                0
                            }
                        }
                    };
                }
            }
        }
        f
    }

    const GOLDEN_SHA: &str = include_str!("../../../tests/fixtures/atari/golden.sha256");
    const GOLDEN_GRAY_GZ: &[u8] = include_bytes!("../../../tests/fixtures/atari/gray84.bin.gz");

    #[test]
    fn h32_matches_python() {
        // values printed by the Python h32
        assert_eq!(
            [h32(0), h32(1), h32(12345), h32((1 << 31) + 7)],
            [0, 179721900, 2810747986, 2802869339]
        );
    }

    #[test]
    fn area_tables_match_opencv_structure() {
        // 210 -> 84: scale exactly 2.5; each output row covers 2.5 rows: weights 1/2.5 and 0.5/2.5
        let t = area_tab(210, 84, 1.0 / (84.0 / 210.0));
        for dy in 0..84 {
            let w: f32 = t.iter().filter(|e| e.di == dy).map(|e| e.alpha).sum();
            assert!((w - 1.0).abs() < 1e-6, "row {dy} weights sum to {w}");
        }
        assert_eq!(t[0], AreaTab { di: 0, si: 0, alpha: 0.4 });
        assert_eq!(t[2], AreaTab { di: 0, si: 2, alpha: 0.2 });
        assert_eq!(t[3], AreaTab { di: 1, si: 2, alpha: 0.2 });
        let t = area_tab(160, 84, 1.0 / (84.0 / 160.0));
        for dx in 0..84 {
            let w: f32 = t.iter().filter(|e| e.di == dx).map(|e| e.alpha).sum();
            assert!((w - 1.0).abs() < 1e-5, "col {dx} weights sum to {w}");
        }
        assert_eq!(t.last().unwrap().si, 159);
    }

    #[test]
    fn gray_is_opencv_fixed_point() {
        let mut g = [0u8; 5];
        rgb_to_gray(&[255, 255, 255, 0, 0, 0, 255, 0, 0, 10, 200, 30, 5, 158, 90], &mut g);
        // 255*(9798+19235+3735) = 255*32768 -> 255; R only: (255*9798+16384)>>15 = 76;
        // (10*9798+200*19235+30*3735+16384)>>15 = 124. The last pixel is one of the 0.26% of
        // colours where the 14-bit form (104) differs from OpenCV 4.10 (105).
        assert_eq!(g, [255, 0, 76, 124, 105]);
        assert_eq!((5 * 4899 + 158 * 9617 + 90 * 1868 + 8192) >> 14, 104);
    }

    #[test]
    fn constant_frames_stay_constant() {
        let mut p = Preprocess::default();
        let mut out = vec![0u8; OBS_SIDE * OBS_SIDE];
        for v in [0u8, 1, 127, 254, 255] {
            p.run(&vec![v; SCREEN_H * SCREEN_W * 3], &mut out);
            assert!(p.last_resized().iter().all(|&x| x == v), "resize of constant {v}");
            assert!(out.iter().all(|&x| x == v), "gray of constant {v}");
        }
    }

    /// Byte-for-byte against OpenCV 4.10 (scripts/make_atari_golden.py): the synthetic inputs, the
    /// INTER_AREA-resized RGB (by sha256) and the gray output (bytes, with the first difference
    /// reported).
    #[test]
    fn matches_opencv_golden_outputs() {
        let mut gray_all = Vec::new();
        flate2::read::GzDecoder::new(GOLDEN_GRAY_GZ).read_to_end(&mut gray_all).unwrap();
        let n = OBS_SIDE * OBS_SIDE;
        let lines: Vec<&str> = GOLDEN_SHA.lines().collect();
        assert_eq!((lines.len(), gray_all.len()), (4, 4 * n));
        let mut p = Preprocess::default();
        let mut gray = vec![0u8; n];
        for (k, line) in lines.iter().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (in_sha, rgb_sha, gray_sha, name) = (f[0], f[1], f[2], f[3]);
            let frame = synthetic_frame(k);
            assert_eq!(sha256_hex(&frame), in_sha, "synthetic frame {name} differs from the Python one");
            p.run(&frame, &mut gray);
            let want = &gray_all[k * n..(k + 1) * n];
            if let Some(i) = (0..n).find(|&i| gray[i] != want[i]) {
                let diffs = (0..n).filter(|&i| gray[i] != want[i]).count();
                panic!(
                    "{name}: gray differs at {} pixels; first at (y {}, x {}): got {}, OpenCV {}",
                    diffs,
                    i / OBS_SIDE,
                    i % OBS_SIDE,
                    gray[i],
                    want[i]
                );
            }
            assert_eq!(sha256_hex(&gray), gray_sha, "{name}");
            assert_eq!(sha256_hex(p.last_resized()), rgb_sha, "{name}: resized RGB differs from OpenCV");
        }
    }
}
