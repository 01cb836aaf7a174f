//! Batches for image classification: augmentation (random crop with 4-pixel zero padding, then
//! horizontal flip, then [−1, 1] normalisation, as the reference's transforms), the teacher's
//! epoch plan, the student's independent sequential stream, and a worker thread that prepares
//! batches ahead of the compute.
//!
//! Every random choice is a pure function of (seed, stream, position), so a stream can be
//! restarted at any position and yields the same batches.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use super::config::EpochStyle;
use crate::data::{ImageDataset, Norm};

pub const PAD: usize = 4;

/// A prepared batch in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<i64>,
    pub shape: [usize; 4],
}

impl Batch {
    pub fn to_tensors(&self, device: Device) -> (Tensor, Tensor) {
        let [n, c, h, w] = self.shape;
        let x = Tensor::from_slice(&self.x).view([n as i64, c as i64, h as i64, w as i64]).to_device(device);
        let y = Tensor::from_slice(&self.y).to_device(device);
        (x, y)
    }
}

fn rng_for(seed: u64, stream: u64, position: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r.set_word_pos((position as u128) << 20);
    r
}

/// Normalise a pixel byte to [−1, 1]: (v/255 − 0.5)/0.5.
#[inline]
pub fn normalize(v: u8) -> f32 {
    v as f32 / 127.5 - 1.0
}

/// Copy one image into `out` with a crop offset (dy, dx) in 0..=2·PAD of the zero-padded image and
/// an optional horizontal flip (applied after the crop). Padding is a raw 0 pixel, normalised.
pub fn crop_flip_into(ds: &ImageDataset, i: usize, dy: usize, dx: usize, flip: bool, out: &mut [f32]) {
    let per = ds.image_size();
    let shape = (ds.c, ds.h, ds.w);
    // One monomorphised loop per pixel storage and normalisation: the built-in path is unchanged.
    match (&ds.norm, ds.is_float()) {
        (Norm::Unit, false) => crop_flip(&ds.images[i * per..(i + 1) * per], shape, dy, dx, flip, out, 0, |_, v| normalize(v)),
        (Norm::Channels { lut, .. }, false) => {
            crop_flip(&ds.images[i * per..(i + 1) * per], shape, dy, dx, flip, out, 0, |ch, v| lut[ch * 256 + v as usize])
        }
        (norm, true) => crop_flip(&ds.floats[i * per..(i + 1) * per], shape, dy, dx, flip, out, 0.0, |ch, v| norm.float(ch, v)),
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn crop_flip<T: Copy>(
    img: &[T],
    (c, h, w): (usize, usize, usize),
    dy: usize,
    dx: usize,
    flip: bool,
    out: &mut [f32],
    pad: T,
    norm: impl Fn(usize, T) -> f32,
) {
    for ch in 0..c {
        let zero = norm(ch, pad);
        for y in 0..h {
            let sy = y as isize + dy as isize - PAD as isize;
            for x in 0..w {
                let cx = if flip { w - 1 - x } else { x };
                let sx = cx as isize + dx as isize - PAD as isize;
                let v = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                    norm(ch, img[ch * h * w + sy as usize * w + sx as usize])
                } else {
                    zero
                };
                out[ch * h * w + y * w + x] = v;
            }
        }
    }
}

/// Copy one image into `out`, normalised, without augmentation.
pub fn normalize_into(ds: &ImageDataset, i: usize, out: &mut [f32]) {
    let per = ds.image_size();
    let hw = ds.h * ds.w;
    match (&ds.norm, ds.is_float()) {
        (Norm::Unit, false) => {
            for (o, &v) in out.iter_mut().zip(&ds.images[i * per..(i + 1) * per]) {
                *o = normalize(v);
            }
        }
        (Norm::Channels { lut, .. }, false) => {
            for (k, (o, &v)) in out.iter_mut().zip(&ds.images[i * per..(i + 1) * per]).enumerate() {
                *o = lut[k / hw * 256 + v as usize];
            }
        }
        (norm, true) => {
            for (k, (o, &v)) in out.iter_mut().zip(&ds.floats[i * per..(i + 1) * per]).enumerate() {
                *o = norm.float(k / hw, v);
            }
        }
    }
}

/// One sample's random crop offsets and flip.
fn draw_augmentation(r: &mut ChaCha8Rng) -> (usize, usize, bool) {
    (r.gen_range(0..=2 * PAD), r.gen_range(0..=2 * PAD), r.gen_bool(0.5))
}

/// Which part of every global batch this process takes (data parallelism); `Shard::WHOLE` for a
/// single process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub rank: usize,
    pub world: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { rank: 0, world: 1 };
}

/// This rank's rows of the global batch `idx` (see [`crate::dist::shard`]), augmented with the
/// same draws a single process makes for those rows: the ranks' batches together are the single
/// process's batch, sample for sample.
pub fn make_shard(ds: &ImageDataset, idx: &[usize], shard: Shard, mut rng: Option<&mut ChaCha8Rng>) -> Batch {
    if shard.world == 1 {
        return make_batch(ds, idx, rng);
    }
    let (start, per) = crate::dist::shard(idx.len(), shard.rank, shard.world);
    let mine: Vec<usize> = (start..start + per).map(|p| idx[p % idx.len()]).collect();
    if let Some(r) = rng.as_deref_mut() {
        for _ in 0..start {
            draw_augmentation(r); // the rows of lower ranks
        }
    }
    make_batch(ds, &mine, rng)
}

/// Build a batch of the given sample indices; `rng` drives augmentation (None = no augmentation).
pub fn make_batch(ds: &ImageDataset, idx: &[usize], mut rng: Option<&mut ChaCha8Rng>) -> Batch {
    let per = ds.c * ds.h * ds.w;
    let mut x = vec![0f32; idx.len() * per];
    let mut y = Vec::with_capacity(idx.len());
    for (k, &i) in idx.iter().enumerate() {
        let out = &mut x[k * per..(k + 1) * per];
        match rng.as_deref_mut() {
            Some(r) => {
                let (dy, dx, flip) = draw_augmentation(r);
                crop_flip_into(ds, i, dy, dx, flip, out);
            }
            None => normalize_into(ds, i, out),
        }
        y.push(ds.labels[i]);
    }
    Batch { x, y, shape: [idx.len(), ds.c, ds.h, ds.w] }
}

/// Number of batches in a loader over `n` samples (the last one may be partial).
pub fn num_batches(n: usize, batch: usize) -> usize {
    n.div_ceil(batch)
}

/// Teacher steps per epoch.
pub fn steps_per_epoch(style: EpochStyle, n: usize, batch: usize) -> usize {
    let nb = num_batches(n, batch);
    match style {
        // ⌊len(loader)/10⌋ restarts × batches 0..=10 of a fresh shuffle (fewer if the loader is shorter).
        EpochStyle::Reference => (nb / 10).max(1) * nb.min(11),
        EpochStyle::FullPass => nb,
    }
}

/// The sample indices of every teacher batch of epoch `epoch` (0-based).
pub fn teacher_epoch_plan(style: EpochStyle, n: usize, batch: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
    let nb = num_batches(n, batch);
    let restarts = match style {
        EpochStyle::Reference => (nb / 10).max(1),
        EpochStyle::FullPass => 1,
    };
    let take = match style {
        EpochStyle::Reference => nb.min(11),
        EpochStyle::FullPass => nb,
    };
    let mut plan = Vec::with_capacity(restarts * take);
    for r in 0..restarts {
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng_for(seed, 1, epoch * 1_000_003 + r as u64));
        for b in 0..take {
            plan.push(perm[b * batch..((b + 1) * batch).min(n)].to_vec());
        }
    }
    plan
}

/// The student's stream: batch `k` is batch `k mod len(loader)` of the unshuffled training set
/// (the reference's `student_index`), augmented.
pub fn student_batch_indices(n: usize, batch: usize, k: u64) -> Vec<usize> {
    let b = (k % num_batches(n, batch) as u64) as usize;
    (b * batch..((b + 1) * batch).min(n)).collect()
}

/// A background producer of batches; `next()` blocks until the next one is ready.
pub struct Prefetch {
    rx: Receiver<Batch>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Produce `make(k)` for k = start, start+1, … (`count` of them, or forever) on a worker thread.
    pub fn spawn<F>(start: u64, count: Option<u64>, depth: usize, mut make: F) -> Self
    where
        F: FnMut(u64) -> Batch + Send + 'static,
    {
        let (tx, rx) = sync_channel(depth);
        let handle = std::thread::spawn(move || {
            let mut k = start;
            while count.map_or(true, |c| k < start + c) {
                if tx.send(make(k)).is_err() {
                    return; // consumer gone
                }
                k += 1;
            }
        });
        Self { rx, handle: Some(handle) }
    }

    pub fn next(&mut self) -> anyhow::Result<Batch> {
        self.rx.recv().map_err(|_| anyhow::anyhow!("batch worker stopped unexpectedly"))
    }

    /// Stop the worker (dropping the stream does too); `next()` fails afterwards.
    pub fn stop(&mut self) {
        // Unblock the worker by dropping the receiver first, then join it.
        let (_tx, rx) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The teacher's batches from global step `start` on: epoch plans flattened, augmented. `batch`
/// is the global batch; `shard` says which rows of each this process takes.
#[allow(clippy::too_many_arguments)]
pub fn teacher_stream(
    ds: Arc<ImageDataset>,
    style: EpochStyle,
    batch: usize,
    seed: u64,
    augment: bool,
    start: u64,
    count: u64,
    shard: Shard,
) -> Prefetch {
    let spe = steps_per_epoch(style, ds.n, batch) as u64;
    let mut plan: Option<(u64, Vec<Vec<usize>>)> = None;
    Prefetch::spawn(start, Some(count), 4, move |k| {
        let (epoch, pos) = (k / spe, (k % spe) as usize);
        if plan.as_ref().map(|(e, _)| *e) != Some(epoch) {
            plan = Some((epoch, teacher_epoch_plan(style, ds.n, batch, seed, epoch)));
        }
        let idx = &plan.as_ref().unwrap().1[pos];
        let mut rng = rng_for(seed, 2, k);
        make_shard(&ds, idx, shard, augment.then_some(&mut rng))
    })
}

/// The student's independent stream from position `start` on (`batch` global, as the teacher's).
pub fn student_stream(ds: Arc<ImageDataset>, batch: usize, seed: u64, augment: bool, start: u64, shard: Shard) -> Prefetch {
    Prefetch::spawn(start, None, 4, move |k| {
        let idx = student_batch_indices(ds.n, batch, k);
        let mut rng = rng_for(seed, 3, k);
        make_shard(&ds, &idx, shard, augment.then_some(&mut rng))
    })
}

/// Test-set batches, in order, without augmentation.
pub fn eval_batches(ds: &ImageDataset, batch: usize) -> impl Iterator<Item = Batch> + '_ {
    eval_batches_of(ds, 0..ds.n, batch)
}

/// Batches of the samples `range`, in order, without augmentation (a rank's part of an evaluation).
pub fn eval_batches_of(ds: &ImageDataset, range: std::ops::Range<usize>, batch: usize) -> impl Iterator<Item = Batch> + '_ {
    let batch = batch.max(1);
    (0..num_batches(range.len(), batch)).map(move |b| {
        let idx: Vec<usize> = (range.start + b * batch..(range.start + (b + 1) * batch).min(range.end)).collect();
        make_batch(ds, &idx, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(n: usize, c: usize, h: usize, w: usize) -> ImageDataset {
        let images: Vec<u8> = (0..n * c * h * w).map(|i| (i % 251) as u8 + 1).collect();
        ImageDataset::from_u8(images, (0..n as i64).map(|i| i % 10).collect(), [c, h, w], 10)
    }

    #[test]
    fn normalisation_range() {
        assert_eq!(normalize(0), -1.0);
        assert_eq!(normalize(255), 1.0);
        assert!((normalize(51) - (51.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    }

    #[test]
    fn crop_offsets_shift_and_pad_with_zero_pixels() {
        let ds = tiny(1, 1, 5, 6);
        let per = 30;
        let mut out = vec![0f32; per];
        // Offset (PAD, PAD) is the identity.
        crop_flip_into(&ds, 0, PAD, PAD, false, &mut out);
        let id: Vec<f32> = ds.images.iter().map(|&v| normalize(v)).collect();
        assert_eq!(out, id);
        // Offset (0, 0): the image moves down-right by 4; rows/cols 0..4 are padding (pixel 0 → −1).
        crop_flip_into(&ds, 0, 0, 0, false, &mut out);
        for y in 0..5 {
            for x in 0..6 {
                let v = out[y * 6 + x];
                if y < 4 || x < 4 {
                    assert_eq!(v, -1.0, "({y},{x})");
                } else {
                    assert_eq!(v, normalize(ds.images[(y - 4) * 6 + (x - 4)]));
                }
            }
        }
        // Offset (8, 5): shifted up by 4, left by 1; bottom rows padded.
        crop_flip_into(&ds, 0, 8, 5, false, &mut out);
        assert_eq!(out[0], normalize(ds.images[4 * 6 + 1]));
        assert_eq!(out[1 * 6], -1.0);
        // Flip after the identity crop mirrors each row.
        crop_flip_into(&ds, 0, PAD, PAD, true, &mut out);
        for y in 0..5 {
            for x in 0..6 {
                assert_eq!(out[y * 6 + x], id[y * 6 + (5 - x)]);
            }
        }
    }

    #[test]
    fn augmented_batch_shapes_and_values() {
        let ds = tiny(10, 3, 8, 8);
        let mut rng = rng_for(7, 2, 0);
        let b = make_batch(&ds, &[3, 1, 4], Some(&mut rng));
        assert_eq!(b.shape, [3, 3, 8, 8]);
        assert_eq!(b.x.len(), 3 * 3 * 64);
        assert_eq!(b.y, vec![3, 1, 4]);
        assert!(b.x.iter().all(|v| (-1.0..=1.0).contains(v)));
        let (x, y) = b.to_tensors(Device::Cpu);
        assert_eq!(x.size(), vec![3, 3, 8, 8]);
        assert_eq!(y.size(), vec![3]);
    }

    /// Your own data: (v/255 − mean)/std per channel for bytes, (v − mean)/std for floats, and a
    /// crop's padding is a raw 0 pixel normalised the same way.
    #[test]
    fn per_channel_normalisation_of_bytes_and_floats() {
        let mut ds = tiny(2, 2, 5, 6);
        let (mean, std) = ([0.5, 0.0], [0.25, 1.0]);
        ds.norm = Norm::channels(mean.to_vec(), std.to_vec());
        let b = make_batch(&ds, &[1], None);
        for (k, &v) in ds.images[60..120].iter().enumerate() {
            let ch = k / 30;
            assert_eq!(b.x[k], ((v as f64 / 255.0 - mean[ch]) / std[ch]) as f32, "pixel {k}");
        }
        let mut out = vec![0f32; 60];
        crop_flip_into(&ds, 0, 0, 0, false, &mut out);
        assert_eq!((out[0], out[30]), (-2.0, 0.0)); // padding: (0 − 0.5)/0.25 and (0 − 0)/1
        // The same pixels as floats v/255 give the same inputs (to float rounding), augmented too.
        let f = ImageDataset { floats: ds.images.iter().map(|&v| v as f32 / 255.0).collect(), images: Vec::new(), ..ds.clone() };
        assert!(f.is_float());
        let mut out_f = vec![0f32; 60];
        for (dy, dx, flip) in [(0, 0, false), (PAD, PAD, true), (8, 3, true)] {
            crop_flip_into(&ds, 1, dy, dx, flip, &mut out);
            crop_flip_into(&f, 1, dy, dx, flip, &mut out_f);
            assert!(out.iter().zip(&out_f).all(|(a, b)| (a - b).abs() < 1e-6));
        }
        let bf = make_batch(&f, &[1], None);
        assert!(b.x.iter().zip(&bf.x).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn reference_epoch_structure() {
        // CIFAR: 50,000 / 256 → 196 batches → 19 restarts × 11 = 209 steps.
        assert_eq!(steps_per_epoch(EpochStyle::Reference, 50_000, 256), 209);
        assert_eq!(steps_per_epoch(EpochStyle::FullPass, 50_000, 256), 196);
        let plan = teacher_epoch_plan(EpochStyle::Reference, 1000, 10, 0, 0);
        assert_eq!(plan.len(), 10 * 11);
        // Each restart is a fresh permutation: no repeats within one restart.
        let mut first: Vec<usize> = plan[..11].concat();
        first.sort();
        first.dedup();
        assert_eq!(first.len(), 110);
        // Different epochs shuffle differently; the same epoch is reproducible.
        assert_ne!(plan, teacher_epoch_plan(EpochStyle::Reference, 1000, 10, 0, 1));
        assert_eq!(plan, teacher_epoch_plan(EpochStyle::Reference, 1000, 10, 0, 0));
        // A full pass covers every sample once, last batch partial.
        let full = teacher_epoch_plan(EpochStyle::FullPass, 25, 10, 3, 0);
        assert_eq!(full.iter().map(|b| b.len()).collect::<Vec<_>>(), vec![10, 10, 5]);
        let mut all = full.concat();
        all.sort();
        assert_eq!(all, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn student_stream_is_sequential_and_wraps() {
        assert_eq!(student_batch_indices(25, 10, 0), (0..10).collect::<Vec<_>>());
        assert_eq!(student_batch_indices(25, 10, 2), (20..25).collect::<Vec<_>>());
        assert_eq!(student_batch_indices(25, 10, 3), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn streams_restart_at_any_position_identically() {
        let ds = Arc::new(tiny(40, 1, 6, 6));
        let mut a = teacher_stream(ds.clone(), EpochStyle::FullPass, 8, 5, true, 0, 12, Shard::WHOLE);
        let seq: Vec<Batch> = (0..12).map(|_| a.next().unwrap()).collect();
        let mut b = teacher_stream(ds.clone(), EpochStyle::FullPass, 8, 5, true, 7, 5, Shard::WHOLE);
        for k in 7..12 {
            assert_eq!(b.next().unwrap(), seq[k]);
        }
        assert!(b.next().is_err(), "stream should end after its count");
        let mut s1 = student_stream(ds.clone(), 8, 5, true, 0, Shard::WHOLE);
        let s: Vec<Batch> = (0..7).map(|_| s1.next().unwrap()).collect();
        let mut s2 = student_stream(ds, 8, 5, true, 6, Shard::WHOLE);
        assert_eq!(s2.next().unwrap(), s[6]);
        assert_eq!(s[0].y, (0..8).map(|i| i % 10).collect::<Vec<i64>>());
    }

    /// The ranks' shards of each global batch, put together, are the single process's batch —
    /// indices, augmentation and all —, followed (for a partial last batch) by padding rows that
    /// repeat the batch's first samples.
    #[test]
    fn rank_shards_together_are_the_whole_batch() {
        let ds = Arc::new(tiny(40, 1, 6, 6));
        for world in [2usize, 3] {
            let batch = 4 * world; // 40 samples: full batches, then a partial last one
            let mut whole = teacher_stream(ds.clone(), EpochStyle::FullPass, batch, 5, true, 0, 6, Shard::WHOLE);
            let mut ranks: Vec<Prefetch> =
                (0..world).map(|rank| teacher_stream(ds.clone(), EpochStyle::FullPass, batch, 5, true, 0, 6, Shard { rank, world })).collect();
            let mut whole_s = student_stream(ds.clone(), batch, 5, true, 0, Shard::WHOLE);
            let mut ranks_s: Vec<Prefetch> = (0..world).map(|rank| student_stream(ds.clone(), batch, 5, true, 0, Shard { rank, world })).collect();
            for _ in 0..6 {
                for (w, rs) in [(&mut whole, &mut ranks), (&mut whole_s, &mut ranks_s)] {
                    let w = w.next().unwrap();
                    let parts: Vec<Batch> = rs.iter_mut().map(|r| r.next().unwrap()).collect();
                    let per = parts[0].y.len();
                    assert!(parts.iter().all(|p| p.y.len() == per), "ranks get equal rows");
                    let n = w.y.len();
                    let ys: Vec<i64> = parts.iter().flat_map(|p| p.y.clone()).collect();
                    let xs: Vec<f32> = parts.iter().flat_map(|p| p.x.clone()).collect();
                    assert_eq!(&ys[..n], &w.y[..], "world {world}");
                    assert_eq!(&xs[..w.x.len()], &w.x[..], "world {world}: augmented pixels");
                    // Padding rows (a partial last batch) repeat the batch's first samples.
                    assert_eq!(&ys[n..], &w.y[..ys.len() - n]);
                    assert_eq!(ys.len() - n, (world - n % world) % world);
                }
            }
        }
    }
}
