//! Your own images as NumPy arrays (`data.dataset = "numpy"`): `root/train.npz` and
//! `root/test.npz`, each with arrays `x` (images) and `y` (labels) as `np.savez` or
//! `np.savez_compressed` write them, or the four files `train_x.npy`, `train_y.npy`,
//! `test_x.npy`, `test_y.npy` (the `.npz` wins when both exist).
//!
//! `x`: uint8 (values 0..=255) or float32/float64 (used as they are; float64 is rounded to
//! float32), shaped N×H×W (one channel), N×C×H×W or N×H×W×C. With `data.layout = "auto"` the
//! channel axis is the one of axes 1 and 3 whose size is 1 or 3 (grey or RGB); when both or
//! neither are, set `data.layout = "nchw"` or `"nhwc"`. Train and test must have the same
//! C×H×W and both be uint8 or both float.
//!
//! `y`: integers ≥ 0, shaped N (or N×1). The classes are 0..=max(training labels); a test label
//! beyond that is an error.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::image::{check_labels, ImageDataset, Split};
use super::npy::{read_npy, read_npz, NpyArray, NpyData};
use crate::bail_input;

/// How 4-D image arrays are laid out (`data.layout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Channels on axis 1 or 3, whichever has size 1 or 3.
    #[default]
    Auto,
    /// N×C×H×W (PyTorch's order).
    Nchw,
    /// N×H×W×C (TensorFlow's, and PIL-derived arrays').
    Nhwc,
}

impl Layout {
    pub fn is_auto(&self) -> bool {
        *self == Layout::Auto
    }
}

/// Where a split's arrays are: one `.npz`, or an `x`/`y` pair of `.npy` files.
pub enum SplitFiles {
    Npz(PathBuf),
    Npy(PathBuf, PathBuf),
}

impl SplitFiles {
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            SplitFiles::Npz(p) => vec![p.clone()],
            SplitFiles::Npy(x, y) => vec![x.clone(), y.clone()],
        }
    }

    /// (file holding x, file holding y), for messages.
    fn names(&self) -> (&Path, &Path) {
        match self {
            SplitFiles::Npz(p) => (p, p),
            SplitFiles::Npy(x, y) => (x, y),
        }
    }
}

/// A split's files: `split.npz`, else `split_x.npy` + `split_y.npy`.
pub fn split_files(root: &Path, split: Split) -> Result<SplitFiles> {
    let s = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    let npz = root.join(format!("{s}.npz"));
    if npz.is_file() {
        return Ok(SplitFiles::Npz(npz));
    }
    let (x, y) = (root.join(format!("{s}_x.npy")), root.join(format!("{s}_y.npy")));
    match (x.is_file(), y.is_file()) {
        (true, true) => Ok(SplitFiles::Npy(x, y)),
        (true, false) => bail_input!("data: numpy: {} not found (it holds the labels for {})", y.display(), x.display()),
        (false, true) => bail_input!("data: numpy: {} not found (it holds the images for {})", x.display(), y.display()),
        (false, false) => bail_input!(
            "data: numpy: {} not found (nor {s}_x.npy and {s}_y.npy); data.dir must hold train.npz and test.npz with arrays x and y",
            npz.display()
        ),
    }
}

fn read_xy(files: &SplitFiles) -> Result<(NpyArray, NpyArray)> {
    match files {
        SplitFiles::Npz(p) => {
            let mut a = read_npz(p, &["x", "y"])?;
            let y = a.pop().expect("two arrays");
            Ok((a.pop().expect("two arrays"), y))
        }
        SplitFiles::Npy(x, y) => Ok((read_npy(x)?, read_npy(y)?)),
    }
}

/// Read (train, test) from `root`.
pub fn load(root: &Path, layout: Layout) -> Result<(ImageDataset, ImageDataset)> {
    let train_files = split_files(root, Split::Train)?;
    let test_files = split_files(root, Split::Test)?;
    let train = read_split(&train_files, layout, None)?;
    let test = read_split(&test_files, layout, Some((&train, &train_files)))?;
    Ok((train, test))
}

/// One split; `like` = the training split (and its files), which the test split must match.
fn read_split(files: &SplitFiles, layout: Layout, like: Option<(&ImageDataset, &SplitFiles)>) -> Result<ImageDataset> {
    let (xf, yf) = files.names();
    let (x, y) = read_xy(files)?;
    let what = |f: &Path, a: &str| if matches!(files, SplitFiles::Npz(_)) { format!("{}: array '{a}'", f.display()) } else { f.display().to_string() };
    let ([n, c, h, w], nhwc) = image_shape(&x.shape, layout).map_err(|e| crate::error::input_err(format!("data: {}: {e}", what(xf, "x"))))?;
    if n == 0 {
        bail_input!("data: {}: no images (shape {:?})", what(xf, "x"), x.shape);
    }
    if !matches!(y.shape.as_slice(), [_] | [_, 1]) {
        bail_input!("data: {}: labels must be one-dimensional (N,), got shape {:?}", what(yf, "y"), y.shape);
    }
    let labels: Vec<i64> = match y.data {
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I64(v) => v,
        NpyData::F32(_) => bail_input!("data: {}: labels must be integers, got {}", what(yf, "y"), y.descr),
    };
    if labels.len() != n {
        bail_input!("data: {}: {n} images but {} holds {} labels; the counts must agree", what(xf, "x"), what(yf, "y"), labels.len());
    }
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l < 0) {
        bail_input!("data: {}: label {l} of record {i} is negative", what(yf, "y"));
    }
    let num_classes = match like {
        Some((train, _)) => train.num_classes,
        None => *labels.iter().max().expect("n > 0") as usize + 1,
    };
    check_labels(&PathBuf::from(what(yf, "y")), &labels, num_classes)
        .map_err(|e| crate::error::input_err(format!("{e:#} (the classes are those of the training labels)")))?;
    let mut ds = ImageDataset::from_u8(Vec::new(), labels, [c, h, w], num_classes);
    match x.data {
        NpyData::U8(v) => ds.images = if nhwc { to_chw(&v, n, c, h * w) } else { v },
        NpyData::F32(v) => {
            if let Some(bad) = v.iter().find(|f| !f.is_finite()) {
                bail_input!("data: {}: pixel value {bad} is not finite", what(xf, "x"));
            }
            ds.floats = if nhwc { to_chw(&v, n, c, h * w) } else { v };
        }
        NpyData::I64(_) => bail_input!("data: {}: images must be uint8, float32 or float64, got {}", what(xf, "x"), x.descr),
    }
    if let Some((train, train_files)) = like {
        let (txf, _) = train_files.names();
        if [c, h, w] != [train.c, train.h, train.w] {
            bail_input!(
                "data: {}: images are {c}x{h}x{w} (CxHxW) but {} holds {}x{}x{}; both splits must have the same size and channels",
                what(xf, "x"),
                txf.display(),
                train.c,
                train.h,
                train.w
            );
        }
        if ds.is_float() != train.is_float() {
            bail_input!("data: {}: images are {} but {} holds {}; use one dtype for both splits", what(xf, "x"), x.descr, txf.display(), if train.is_float() { "floats" } else { "uint8" });
        }
    }
    Ok(ds)
}

/// ([N, C, H, W], whether the array is N×H×W×C) of an image array's shape under `layout`, or
/// what is wrong with it.
fn image_shape(shape: &[usize], layout: Layout) -> Result<([usize; 4], bool), String> {
    let s = match shape {
        [n, h, w] => return Ok(([*n, 1, *h, *w], false)),
        [a, b, c, d] => [*a, *b, *c, *d],
        _ => return Err(format!("images must be N×H×W, N×C×H×W or N×H×W×C, got shape {shape:?}")),
    };
    let chans = |k: usize| k == 1 || k == 3;
    let nchw = match layout {
        Layout::Nchw => true,
        Layout::Nhwc => false,
        Layout::Auto => match (chans(s[1]), chans(s[3])) {
            (true, false) => true,
            (false, true) => false,
            (both, _) => {
                return Err(format!(
                    "shape {shape:?}: cannot tell the channel axis ({}); set data.layout = \"nchw\" or \"nhwc\"",
                    if both { "axes 1 and 3 both have size 1 or 3" } else { "neither axis 1 nor axis 3 has size 1 or 3" }
                ))
            }
        },
    };
    Ok(if nchw { (s, false) } else { ([s[0], s[3], s[1], s[2]], true) })
}

/// N×HW×C (interleaved) → N×C×HW (planar).
fn to_chw<T: Copy + Default>(v: &[T], n: usize, c: usize, hw: usize) -> Vec<T> {
    let mut out = vec![T::default(); v.len()];
    for i in 0..n {
        let (src, dst) = (&v[i * c * hw..(i + 1) * c * hw], &mut out[i * c * hw..(i + 1) * c * hw]);
        for p in 0..hw {
            for ch in 0..c {
                dst[ch * hw + p] = src[p * c + ch];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::npy::{npy_bytes, npz_bytes};
    use crate::testing::input_error_text as msg;

    fn i64s(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// 2 images, 3 channels, 2×2: value = 100·i + 10·ch + pixel, written NCHW and NHWC.
    fn nchw() -> Vec<u8> {
        (0..2).flat_map(|i| (0..3).flat_map(move |ch| (0..4).map(move |p| (100 * i + 10 * ch + p) as u8))).collect()
    }
    fn nhwc() -> Vec<u8> {
        (0..2).flat_map(|i| (0..4).flat_map(move |p| (0..3).map(move |ch| (100 * i + 10 * ch + p) as u8))).collect()
    }

    fn write_npz(root: &Path, split: &str, x: Vec<u8>, y: Vec<u8>) {
        std::fs::write(root.join(format!("{split}.npz")), npz_bytes(&[("x", x), ("y", y)], true)).unwrap();
    }

    #[test]
    fn nchw_and_nhwc_give_the_same_dataset() {
        let a = tempfile::tempdir().unwrap();
        write_npz(a.path(), "train", npy_bytes("|u1", &[2, 3, 2, 2], &nchw()), npy_bytes("<i8", &[2], &i64s(&[1, 0])));
        write_npz(a.path(), "test", npy_bytes("|u1", &[1, 3, 2, 2], &nchw()[..12]), npy_bytes("<i8", &[1], &i64s(&[1])));
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("train_x.npy"), npy_bytes("|u1", &[2, 2, 2, 3], &nhwc())).unwrap();
        std::fs::write(b.path().join("train_y.npy"), npy_bytes("|u1", &[2], &[1, 0])).unwrap();
        std::fs::write(b.path().join("test_x.npy"), npy_bytes("|u1", &[1, 2, 2, 3], &nhwc()[..12])).unwrap();
        std::fs::write(b.path().join("test_y.npy"), npy_bytes("<i4", &[1, 1], &1i32.to_le_bytes())).unwrap();
        let (ta, ea) = load(a.path(), Layout::Auto).unwrap();
        let (tb, eb) = load(b.path(), Layout::Auto).unwrap();
        assert_eq!((ta.n, ta.c, ta.h, ta.w, ta.num_classes), (2, 3, 2, 2, 2));
        assert_eq!(ta.images, nchw());
        assert_eq!((&tb.images, &tb.labels), (&ta.images, &ta.labels));
        assert_eq!((&eb.images, &eb.labels), (&ea.images, &ea.labels));
        // An explicit layout reads the same; the wrong one is caught by the shape.
        assert_eq!(load(b.path(), Layout::Nhwc).unwrap().0.images, nchw());
    }

    #[test]
    fn grey_float_and_layout_rules() {
        let d = tempfile::tempdir().unwrap();
        let f: Vec<u8> = [0.5f32, -1.0, 2.0, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npz(d.path(), "train", npy_bytes("<f4", &[1, 2, 2], &f), npy_bytes("<i8", &[1], &i64s(&[2])));
        let f8: Vec<u8> = [0.25f64; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npz(d.path(), "test", npy_bytes("<f8", &[1, 2, 2], &f8), npy_bytes("<i8", &[1], &i64s(&[0])));
        let (tr, te) = load(d.path(), Layout::Auto).unwrap();
        assert_eq!((tr.c, tr.num_classes, tr.floats.clone(), tr.is_float()), (1, 3, vec![0.5, -1.0, 2.0, 0.0], true));
        assert_eq!(te.floats, vec![0.25; 4]);
        assert_eq!(image_shape(&[5, 3, 8, 8], Layout::Auto).unwrap(), ([5, 3, 8, 8], false));
        assert_eq!(image_shape(&[5, 8, 8, 1], Layout::Auto).unwrap(), ([5, 1, 8, 8], true));
        assert!(image_shape(&[5, 3, 8, 3], Layout::Auto).unwrap_err().contains("data.layout"));
        assert!(image_shape(&[5, 4, 8, 8], Layout::Auto).unwrap_err().contains("neither"));
        assert_eq!(image_shape(&[5, 4, 8, 8], Layout::Nchw).unwrap(), ([5, 4, 8, 8], false));
        assert_eq!(image_shape(&[5, 3, 8, 3], Layout::Nhwc).unwrap(), ([5, 3, 3, 8], true));
        assert!(image_shape(&[5, 8], Layout::Auto).unwrap_err().contains("N×H×W"));
    }

    #[test]
    fn bad_arrays_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("train.npz not found") && m.contains("train_x.npy"), "{m}");
        let x = npy_bytes("|u1", &[2, 1, 2, 2], &[0; 8]);
        let test = || write_npz(r, "test", npy_bytes("|u1", &[1, 1, 2, 2], &[0; 4]), npy_bytes("|u1", &[1], &[0]));
        test();
        // x/y length mismatch
        write_npz(r, "train", x.clone(), npy_bytes("<i8", &[3], &i64s(&[0, 1, 1])));
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("train.npz: array 'x': 2 images but") && m.contains("3 labels"), "{m}");
        // negative label
        write_npz(r, "train", x.clone(), npy_bytes("<i8", &[2], &i64s(&[0, -1])));
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("train.npz: array 'y': label -1 of record 1 is negative"), "{m}");
        // a test label beyond the training classes
        write_npz(r, "train", x.clone(), npy_bytes("<i8", &[2], &i64s(&[0, 1])));
        write_npz(r, "test", npy_bytes("|u1", &[1, 1, 2, 2], &[0; 4]), npy_bytes("|u1", &[1], &[2]));
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("test.npz: array 'y': label 2 of record 0 is out of range (expected 0..2)"), "{m}");
        test();
        // float labels, unknown dtype, big-endian
        write_npz(r, "train", x.clone(), npy_bytes("<f4", &[2], &[0; 8]));
        assert!(msg(load(r, Layout::Auto).unwrap_err()).contains("labels must be integers, got <f4"));
        write_npz(r, "train", npy_bytes("<c8", &[2, 1, 2, 2], &[0; 64]), npy_bytes("|u1", &[2], &[0, 1]));
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("train.npz: array 'x': dtype '<c8' is not supported"), "{m}");
        write_npz(r, "train", npy_bytes(">f4", &[2, 1, 2, 2], &[0; 32]), npy_bytes("|u1", &[2], &[0, 1]));
        assert!(msg(load(r, Layout::Auto).unwrap_err()).contains("big-endian"));
        write_npz(r, "train", npy_bytes("<i8", &[2, 1, 2, 2], &[0; 64]), npy_bytes("|u1", &[2], &[0, 1]));
        assert!(msg(load(r, Layout::Auto).unwrap_err()).contains("images must be uint8, float32 or float64"));
        // test images of another size or dtype than training's
        write_npz(r, "train", x.clone(), npy_bytes("|u1", &[2], &[0, 1]));
        write_npz(r, "test", npy_bytes("|u1", &[1, 1, 3, 4], &[0; 12]), npy_bytes("|u1", &[1], &[0]));
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("test.npz: array 'x': images are 1x3x4") && m.contains("train.npz holds 1x2x2"), "{m}");
        write_npz(r, "test", npy_bytes("<f4", &[1, 1, 2, 2], &[0; 16]), npy_bytes("|u1", &[1], &[0]));
        assert!(msg(load(r, Layout::Auto).unwrap_err()).contains("use one dtype for both splits"));
        // .npy pairs: a missing half is named
        std::fs::remove_file(r.join("test.npz")).unwrap();
        std::fs::write(r.join("test_x.npy"), npy_bytes("|u1", &[1, 2, 2], &[0; 4])).unwrap();
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("test_y.npy not found"), "{m}");
        std::fs::write(r.join("test_y.npy"), b"\x93NUMPY junk").unwrap();
        let m = msg(load(r, Layout::Auto).unwrap_err());
        assert!(m.contains("test_y.npy: ") && m.contains("version"), "{m}");
    }
}
