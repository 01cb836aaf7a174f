//! How pixels become network inputs. The built-in data sets use the reference's fixed
//! (v/255 − 0.5)/0.5; the user's own data use per-channel (value − mean)/std with the mean and
//! standard deviation of the training split, where a pixel's value is v/255 for uint8 pixels (the
//! torchvision `ToTensor` scale, so `data.mean`/`data.std` read like torchvision's `Normalize`)
//! and the number as stored for float pixels.

use anyhow::Result;

use crate::bail_input;

/// The normalisation of a data set's pixels.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Norm {
    /// (v/255 − 0.5)/0.5 for uint8 pixels (the built-in data sets); (v − 0.5)/0.5 for floats.
    #[default]
    Unit,
    /// Per channel (value − mean)/std; `lut` holds the result for each uint8 value, 256 per channel.
    Channels { mean: Vec<f64>, std: Vec<f64>, lut: Vec<f32> },
}

impl Norm {
    /// Per-channel normalisation (`mean`, `std` one per channel, std > 0).
    pub fn channels(mean: Vec<f64>, std: Vec<f64>) -> Self {
        let lut = mean
            .iter()
            .zip(&std)
            .flat_map(|(&m, &s)| (0..=255u8).map(move |v| ((v as f64 / 255.0 - m) / s) as f32))
            .collect();
        Norm::Channels { mean, std, lut }
    }

    /// (mean, std) per channel, when per-channel.
    pub fn stats(&self) -> Option<(&[f64], &[f64])> {
        match self {
            Norm::Unit => None,
            Norm::Channels { mean, std, .. } => Some((mean, std)),
        }
    }

    /// A float pixel of channel `ch`, normalised.
    #[inline]
    pub fn float(&self, ch: usize, v: f32) -> f32 {
        match self {
            Norm::Unit => (v - 0.5) / 0.5,
            Norm::Channels { mean, std, .. } => ((v as f64 - mean[ch]) / std[ch]) as f32,
        }
    }
}

/// Per-channel (mean, population standard deviation) of N×C×H×W pixels, `hw` = H·W per plane:
/// `bytes` (uint8, value v/255) or, when `bytes` is empty, `floats`. A constant channel gets
/// std 1 (it would divide by 0).
pub fn channel_stats(bytes: &[u8], floats: &[f32], c: usize, hw: usize) -> (Vec<f64>, Vec<f64>) {
    let (mean, mut std) = if bytes.is_empty() { float_stats(floats, c, hw) } else { byte_stats(bytes, c, hw) };
    for s in std.iter_mut() {
        if !(*s > 0.0 && s.is_finite()) {
            *s = 1.0;
        }
    }
    (mean, std)
}

/// Each channel's planes: `f(channel, plane)` for every image's every channel.
fn planes<T>(v: &[T], c: usize, hw: usize, mut f: impl FnMut(usize, &[T])) {
    if c == 0 || hw == 0 {
        return;
    }
    for (k, plane) in v.chunks_exact(hw).enumerate() {
        f(k % c, plane);
    }
}

/// uint8 pixels through a histogram per channel: exact, one pass.
fn byte_stats(bytes: &[u8], c: usize, hw: usize) -> (Vec<f64>, Vec<f64>) {
    let mut hist = vec![[0u64; 256]; c];
    planes(bytes, c, hw, |ch, p| {
        for &v in p {
            hist[ch][v as usize] += 1;
        }
    });
    hist.iter()
        .map(|h| {
            let n = h.iter().sum::<u64>().max(1) as f64;
            let mean = h.iter().enumerate().map(|(v, &k)| k as f64 * (v as f64 / 255.0)).sum::<f64>() / n;
            let var = h.iter().enumerate().map(|(v, &k)| k as f64 * (v as f64 / 255.0 - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        })
        .unzip()
}

/// Float pixels in two passes (mean, then squared deviations), summed in f64.
fn float_stats(floats: &[f32], c: usize, hw: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut sum, mut count) = (vec![0.0f64; c], vec![0u64; c]);
    planes(floats, c, hw, |ch, p| {
        sum[ch] += p.iter().map(|&v| v as f64).sum::<f64>();
        count[ch] += p.len() as u64;
    });
    let mean: Vec<f64> = sum.iter().zip(&count).map(|(s, &n)| s / n.max(1) as f64).collect();
    let mut sq = vec![0.0f64; c];
    planes(floats, c, hw, |ch, p| {
        sq[ch] += p.iter().map(|&v| (v as f64 - mean[ch]).powi(2)).sum::<f64>();
    });
    let std = sq.iter().zip(&count).map(|(s, &n)| (s / n.max(1) as f64).sqrt()).collect();
    (mean, std)
}

/// The normalisation of a user's data set: `mean`/`std` as configured (`data.mean`, `data.std`),
/// or, when both are empty, computed from the training pixels. Errors name the key.
pub fn resolve(mean: &[f64], std: &[f64], c: usize, computed: impl FnOnce() -> (Vec<f64>, Vec<f64>)) -> Result<Norm> {
    if mean.is_empty() && std.is_empty() {
        let (m, s) = computed();
        return Ok(Norm::channels(m, s));
    }
    for (key, v) in [("data.mean", mean), ("data.std", std)] {
        if v.len() != c {
            bail_input!("key '{key}': {} value(s) for images with {c} channel(s); give one per channel, or leave both data.mean and data.std empty to compute them from the training split", v.len());
        }
    }
    if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
        bail_input!("key 'data.std': every value must be > 0, got {s}");
    }
    if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
        bail_input!("key 'data.mean': every value must be finite, got {m}");
    }
    Ok(Norm::channels(mean.to_vec(), std.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_stats_match_a_hand_computation() {
        // 2 images, 2 channels, 2 pixels per plane. Channel 0: 0, 255, 51, 102 → /255: 0, 1, .2, .4
        // mean .4, var (.16 + .36 + .04 + 0)/4 = .14. Channel 1: all 255 → mean 1, std 0 → 1.
        let bytes = [0, 255, 255, 255, 51, 102, 255, 255];
        let (m, s) = channel_stats(&bytes, &[], 2, 2);
        assert!((m[0] - 0.4).abs() < 1e-12 && (s[0] - 0.14f64.sqrt()).abs() < 1e-12, "{m:?} {s:?}");
        assert_eq!((m[1], s[1]), (1.0, 1.0));
    }

    #[test]
    fn float_stats_match_a_hand_computation() {
        // One channel: 1, 2, 3, 6 → mean 3, var (4 + 1 + 0 + 9)/4 = 3.5.
        let (m, s) = channel_stats(&[], &[1.0, 2.0, 3.0, 6.0], 1, 2);
        assert_eq!(m, vec![3.0]);
        assert!((s[0] - 3.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn channel_norm_of_bytes_and_floats() {
        let n = Norm::channels(vec![0.5, 0.0], vec![0.25, 2.0]);
        let Norm::Channels { lut, .. } = &n else { panic!() };
        assert_eq!(lut.len(), 512);
        assert_eq!(lut[255], 2.0); // (1 − .5)/.25
        assert_eq!(lut[256], 0.0);
        assert_eq!(lut[256 + 255], 0.5);
        assert_eq!(n.float(0, 1.0), 2.0);
        assert_eq!(n.float(1, -4.0), -2.0);
        assert_eq!(Norm::Unit.float(0, 1.0), 1.0);
    }

    #[test]
    fn resolve_checks_the_keys() {
        let computed = || (vec![0.1], vec![0.2]);
        assert_eq!(resolve(&[], &[], 1, computed).unwrap().stats().unwrap(), (&[0.1][..], &[0.2][..]));
        let given = resolve(&[0.5, 0.5, 0.5], &[0.25; 3], 3, || unreachable!()).unwrap();
        assert_eq!(given.stats().unwrap().1, &[0.25; 3]);
        let msg = |r: Result<Norm>| crate::testing::input_error_text(r.unwrap_err());
        let m = msg(resolve(&[0.5], &[0.5], 3, computed));
        assert!(m.contains("data.mean") && m.contains("1 value(s)") && m.contains("3 channel"), "{m}");
        assert!(msg(resolve(&[0.5], &[], 1, computed)).contains("data.std"));
        assert!(msg(resolve(&[0.5], &[0.0], 1, computed)).contains("> 0"));
    }
}
