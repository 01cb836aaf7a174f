//! In-memory image data sets and readers for the official binary formats:
//! IDX (MNIST, Fashion-MNIST; plain or gzip) and the CIFAR-10 / CIFAR-100 binary versions.
//!
//! Every problem with the files (missing, truncated, wrong magic, labels out of range) is an
//! input error that names the file, so the CLI can print it as one line. No input bytes can panic:
//! sizes from headers are checked with overflow-safe arithmetic before anything is indexed.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::pixels::Norm;
use crate::bail_input;
use crate::error::input_err;

/// Images as raw bytes, N*C*H*W row-major (each image is CHW), with one label per image.
#[derive(Clone)]
pub struct ImageDataset {
    /// uint8 pixels; empty when the data set's pixels are floats (`floats`).
    pub images: Vec<u8>,
    pub labels: Vec<i64>,
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub num_classes: usize,
    /// Float pixels (NumPy float data), N*C*H*W; empty for uint8 data.
    pub floats: Vec<f32>,
    /// How pixels become network inputs: [`Norm::Unit`] for the built-in data sets.
    pub norm: Norm,
}

impl ImageDataset {
    /// A data set from memory: `images` holds N images of C×H×W bytes each (row-major, CHW),
    /// `labels` one class in `0..num_classes` per image; sizes and labels are checked. Pixels are
    /// mapped to [−1, 1] as the built-in data sets' are.
    pub fn new(images: Vec<u8>, labels: Vec<i64>, [c, h, w]: [usize; 3], num_classes: usize) -> Result<Self> {
        let n = labels.len();
        let size = c.checked_mul(h).and_then(|v| v.checked_mul(w)).unwrap_or(usize::MAX);
        if size == 0 || size == usize::MAX || Some(images.len()) != n.checked_mul(size) {
            bail_input!("images: {} bytes are not {n} labels' worth of {c}×{h}×{w} images", images.len());
        }
        if let Some((i, y)) = labels.iter().enumerate().find(|(_, &y)| y < 0 || y as usize >= num_classes) {
            bail_input!("labels: label {y} of image {i} is outside 0..{num_classes}");
        }
        Ok(Self::from_u8(images, labels, [c, h, w], num_classes))
    }

    /// uint8 pixels with the built-in normalisation.
    pub fn from_u8(images: Vec<u8>, labels: Vec<i64>, [c, h, w]: [usize; 3], num_classes: usize) -> Self {
        Self { n: labels.len(), images, labels, c, h, w, num_classes, floats: Vec::new(), norm: Norm::Unit }
    }

    /// Values per image (C*H*W).
    pub fn image_size(&self) -> usize {
        self.c * self.h * self.w
    }

    /// True when the pixels are floats (`floats`), not bytes (`images`).
    pub fn is_float(&self) -> bool {
        self.images.is_empty() && !self.floats.is_empty()
    }

    /// Keep only the first `n` samples (no-op when there are not more).
    pub fn truncate(&mut self, n: usize) {
        if n < self.n {
            let per = self.image_size();
            self.images.truncate(if self.images.is_empty() { 0 } else { n * per });
            self.floats.truncate(if self.floats.is_empty() { 0 } else { n * per });
            self.labels.truncate(n);
            self.n = n;
        }
    }

    /// Split off the samples from `at` on into a new data set (same shape, classes and norm).
    pub fn split_off(&mut self, at: usize) -> ImageDataset {
        let at = at.min(self.n);
        let per = self.image_size();
        let tail_of = |v: usize| if v == 0 { 0 } else { at * per };
        let tail = ImageDataset {
            images: self.images.split_off(tail_of(self.images.len())),
            floats: self.floats.split_off(tail_of(self.floats.len())),
            labels: self.labels.split_off(at),
            n: self.n - at,
            norm: self.norm.clone(),
            ..*self
        };
        self.n = at;
        tail
    }
}

impl std::fmt::Debug for ImageDataset {
    // Hand-written so that printing a data set does not dump millions of pixels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImageDataset {{ n: {}, c: {}, h: {}, w: {}, num_classes: {} }}",
            self.n, self.c, self.h, self.w, self.num_classes
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    /// Your own images: `train/CLASS/*.png|jpg|jpeg` and `test/CLASS/...` (see [`super::folder`]).
    ImageFolder,
    /// Your own arrays: `train.npz`/`test.npz` with `x` and `y`, or `train_x.npy`… (see [`super::arrays`]).
    Numpy,
}

impl DatasetKind {
    /// The built-in data sets (fetchable or downloadable; listed by `lot data list`).
    pub const ALL: [DatasetKind; 4] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
    ];

    /// The kinds that read the user's own files (and normalise with per-channel statistics).
    pub const OWN: [DatasetKind; 2] = [DatasetKind::ImageFolder, DatasetKind::Numpy];

    /// True for [`Self::OWN`]: the user's files rather than a built-in data set.
    pub fn is_own(&self) -> bool {
        Self::OWN.contains(self)
    }

    /// A built-in data set by name (`lot data fetch`).
    pub fn parse(s: &str) -> Result<Self> {
        for k in Self::ALL {
            if k.name() == s {
                return Ok(k);
            }
        }
        let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        bail_input!(
            "data: unknown image data set {s:?}; valid names: {}",
            names.join(", ")
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::ImageFolder => "image-folder",
            DatasetKind::Numpy => "numpy",
        }
    }

    /// The number of classes of a built-in data set; 0 for the user's own (their files say).
    pub fn num_classes(&self) -> usize {
        match self {
            DatasetKind::Cifar100 => 100,
            DatasetKind::ImageFolder | DatasetKind::Numpy => 0,
            _ => 10,
        }
    }

    /// One line saying how to obtain this data set (used in "missing" errors and `lot data list`).
    pub fn how_to_get(&self) -> String {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => {
                format!("run `lot data fetch {}`", self.name())
            }
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
                let (tgz, sub) = self.cifar_archive();
                format!(
                    "no package registry ships it: download the binary version \
                     https://www.cs.toronto.edu/~kriz/{tgz}, extract it (it creates {sub}/) \
                     and pass that folder or its parent with data.dir"
                )
            }
            DatasetKind::ImageFolder => {
                "data.dir must hold train/ and test/, each with one folder of .png/.jpg images per class (docs/own-data.md)".into()
            }
            DatasetKind::Numpy => "data.dir must hold train.npz and test.npz (arrays x and y), or train_x.npy, \
                 train_y.npy, test_x.npy, test_y.npy (docs/own-data.md)"
                .into(),
        }
    }

    /// (archive name, folder the archive extracts to) for the CIFAR binary versions.
    fn cifar_archive(&self) -> (&'static str, &'static str) {
        match self {
            DatasetKind::Cifar100 => ("cifar-100-binary.tar.gz", "cifar-100-binary"),
            _ => ("cifar-10-binary.tar.gz", "cifar-10-batches-bin"),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// Read a whole file, gunzipping it when it starts with the gzip magic (1f 8b); the file name
/// does not matter, so a plain file called `.gz` or a gzip file without the suffix both work.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path)
        .map_err(|e| input_err(format!("data: cannot read {}: {e}", path.display())))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        gunzip(path, &raw)
    } else {
        Ok(raw)
    }
}

/// Decompress gzip bytes (all members); `path` is only used in the error message.
pub fn gunzip(path: &Path, gz: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .map_err(|e| input_err(format!("data: {}: corrupt gzip data: {e}", path.display())))?;
    Ok(out)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Check the IDX header: length, magic, and that the payload size matches the dims exactly.
/// Returns the dims; the header is 4 bytes of magic plus 4 bytes per dim.
fn parse_idx(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    what: &str,
    ndims: usize,
) -> Result<Vec<usize>> {
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        bail_input!(
            "data: {}: file too short for an IDX {what} header: {} bytes, expected at least {header}",
            path.display(),
            bytes.len()
        );
    }
    let got = be_u32(bytes, 0);
    if got != magic {
        bail_input!(
            "data: {}: bad IDX magic 0x{got:08x}, expected 0x{magic:08x} ({what}); \
             is this the right file?",
            path.display()
        );
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| be_u32(bytes, 4 + 4 * i) as usize)
        .collect();
    // u64 arithmetic: n*h*w of a corrupt header can exceed usize on 32-bit targets.
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|payload| payload.checked_add(header as u64));
    let dims_str = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    match expected {
        Some(exp) if exp == bytes.len() as u64 => Ok(dims),
        Some(exp) => bail_input!(
            "data: {}: IDX {what} header says {dims_str}, so the file should be {exp} bytes \
             (after gunzip), but it is {} bytes ({})",
            path.display(),
            bytes.len(),
            if (bytes.len() as u64) < exp {
                "truncated"
            } else {
                "trailing bytes"
            }
        ),
        None => bail_input!(
            "data: {}: IDX {what} header {dims_str} overflows",
            path.display()
        ),
    }
}

/// Read an IDX3 image file (plain or gzip): returns (pixels, n, h, w).
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, usize, usize, usize)> {
    let mut bytes = read_maybe_gz(path)?;
    let dims = parse_idx(path, &bytes, IDX_IMAGES_MAGIC, "images", 3)?;
    bytes.drain(..16); // drop the header in place instead of copying 47 MB
    Ok((bytes, dims[0], dims[1], dims[2]))
}

/// Read an IDX1 label file (plain or gzip).
pub fn read_idx_labels(path: &Path) -> Result<Vec<i64>> {
    let bytes = read_maybe_gz(path)?;
    parse_idx(path, &bytes, IDX_LABELS_MAGIC, "labels", 1)?;
    Ok(bytes[8..].iter().map(|&b| b as i64).collect())
}

/// Error for a missing data folder or file, with the way to get it.
fn missing(kind: DatasetKind, path: &Path) -> anyhow::Error {
    input_err(format!(
        "data: {kind}: {} not found; {}",
        path.display(),
        kind.how_to_get()
    ))
}

fn require_dir(kind: DatasetKind, dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(missing(kind, dir));
    }
    Ok(())
}

/// `dir/name`, or `dir/name.gz` when only the compressed file exists (plain wins if both do).
fn idx_file(kind: DatasetKind, dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(missing(kind, &plain))
}

/// The files `load_dataset` would read for one split (checks only that they exist).
pub fn split_files(kind: DatasetKind, dir: &Path, split: Split) -> Result<Vec<PathBuf>> {
    require_dir(kind, dir)?;
    match kind {
        DatasetKind::ImageFolder | DatasetKind::Numpy => own_kind(kind),
        DatasetKind::Mnist | DatasetKind::FashionMnist => {
            let prefix = match split {
                Split::Train => "train",
                Split::Test => "t10k",
            };
            Ok(vec![
                idx_file(kind, dir, &format!("{prefix}-images-idx3-ubyte"))?,
                idx_file(kind, dir, &format!("{prefix}-labels-idx1-ubyte"))?,
            ])
        }
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
            let names: Vec<String> = match (kind, split) {
                (DatasetKind::Cifar10, Split::Train) => {
                    (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
                }
                (DatasetKind::Cifar10, Split::Test) => vec!["test_batch.bin".into()],
                (_, Split::Train) => vec!["train.bin".into()],
                (_, Split::Test) => vec!["test.bin".into()],
            };
            // Accept the files in `dir` itself or in the folder the official archive creates.
            let sub = dir.join(kind.cifar_archive().1);
            let base = if dir.join(&names[0]).is_file() || !sub.is_dir() {
                dir.to_path_buf()
            } else {
                sub
            };
            names
                .iter()
                .map(|n| {
                    let p = base.join(n);
                    if p.is_file() {
                        Ok(p)
                    } else {
                        Err(missing(kind, &p))
                    }
                })
                .collect()
        }
    }
}

/// Check that both splits of `kind` are present in `dir` (existence only, no parsing).
pub fn check_files(kind: DatasetKind, dir: &Path) -> Result<()> {
    split_files(kind, dir, Split::Train)?;
    split_files(kind, dir, Split::Test)?;
    Ok(())
}

/// Load one split of a built-in data set from `dir` (the folder holding the files). The user's
/// own kinds read both splits together, to check one against the other: [`super::load_splits`].
pub fn load_dataset(kind: DatasetKind, dir: &Path, split: Split) -> Result<ImageDataset> {
    let files = split_files(kind, dir, split)?;
    match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => load_idx_pair(kind, &files[0], &files[1]),
        _ => load_cifar(kind, &files),
    }
}

/// The error for a user kind asked of a built-in data set's reader.
fn own_kind<T>(kind: DatasetKind) -> Result<T> {
    bail_input!("data: {kind} is read with both splits together (lot::data::load_splits)")
}

fn load_idx_pair(
    kind: DatasetKind,
    images_path: &Path,
    labels_path: &Path,
) -> Result<ImageDataset> {
    let (images, n, h, w) = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    if labels.len() != n {
        bail_input!(
            "data: {kind}: {} holds {n} images but {} holds {} labels; the counts must agree",
            images_path.display(),
            labels_path.display(),
            labels.len()
        );
    }
    let num_classes = kind.num_classes();
    check_labels(labels_path, &labels, num_classes)?;
    Ok(ImageDataset::from_u8(images, labels, [1, h, w], num_classes))
}

pub(crate) fn check_labels(path: &Path, labels: &[i64], num_classes: usize) -> Result<()> {
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l < 0 || l as usize >= num_classes)
    {
        bail_input!(
            "data: {}: label {l} of record {i} is out of range (expected 0..{num_classes})",
            path.display()
        );
    }
    Ok(())
}

/// CIFAR binary version: fixed-size records of label byte(s) then 3072 CHW pixels.
/// CIFAR-10 has 1 label byte; CIFAR-100 has 2 (coarse, fine) and we use the fine one.
fn load_cifar(kind: DatasetKind, files: &[PathBuf]) -> Result<ImageDataset> {
    let label_bytes = if kind == DatasetKind::Cifar100 { 2 } else { 1 };
    let record = label_bytes + CIFAR_PIXELS;
    let num_classes = kind.num_classes();
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let bytes = std::fs::read(path)
            .map_err(|e| input_err(format!("data: cannot read {}: {e}", path.display())))?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            bail_input!(
                "data: {}: size {} bytes is not a positive multiple of the {kind} record size {record} \
                 ({label_bytes} label byte(s) + {CIFAR_PIXELS} pixels); is this the binary version?",
                path.display(),
                bytes.len()
            );
        }
        let first = labels.len();
        images.reserve(bytes.len() / record * CIFAR_PIXELS);
        for rec in bytes.chunks_exact(record) {
            labels.push(rec[label_bytes - 1] as i64); // last label byte: the fine label for CIFAR-100
            images.extend_from_slice(&rec[label_bytes..]);
        }
        check_labels(path, &labels[first..], num_classes)?;
    }
    Ok(ImageDataset::from_u8(images, labels, [3, 32, 32], num_classes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn in_memory_data_sets_check_sizes_and_labels() {
        let ds = ImageDataset::new(vec![7; 2 * 3 * 4 * 5], vec![0, 2], [3, 4, 5], 3).unwrap();
        assert_eq!((ds.n, ds.c, ds.h, ds.w, ds.image_size()), (2, 3, 4, 5, 60));
        let e = ImageDataset::new(vec![7; 119], vec![0, 2], [3, 4, 5], 3).unwrap_err().to_string();
        assert_eq!(e, "images: 119 bytes are not 2 labels' worth of 3×4×5 images");
        let e = ImageDataset::new(vec![7; 120], vec![0, 3], [3, 4, 5], 3).unwrap_err().to_string();
        assert_eq!(e, "labels: label 3 of image 1 is outside 0..3");
        assert!(ImageDataset::new(vec![], vec![], [0, 4, 5], 3).is_err());
    }

    fn idx_images_bytes(n: u32, h: u32, w: u32, pixels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [IDX_IMAGES_MAGIC, n, h, w] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(pixels);
        b
    }

    fn idx_labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [IDX_LABELS_MAGIC, labels.len() as u32] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(labels);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn pixels(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 256) as u8).collect()
    }

    use crate::testing::input_error_text as msg;

    #[test]
    fn idx_plain_and_gz_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let px = pixels(3 * 4 * 5);
        let img = idx_images_bytes(3, 4, 5, &px);
        let lab = idx_labels_bytes(&[9, 0, 4]);
        std::fs::write(d.path().join("plain-img"), &img).unwrap();
        std::fs::write(d.path().join("plain-lab"), &lab).unwrap();
        // gzip detected by magic, not by name: no ".gz" suffix here
        std::fs::write(d.path().join("gz-img"), gz(&img)).unwrap();
        std::fs::write(d.path().join("gz-lab.gz"), gz(&lab)).unwrap();
        for (i, l) in [("plain-img", "plain-lab"), ("gz-img", "gz-lab.gz")] {
            let (p, n, h, w) = read_idx_images(&d.path().join(i)).unwrap();
            assert_eq!((n, h, w), (3, 4, 5));
            assert_eq!(p, px);
            assert_eq!(read_idx_labels(&d.path().join(l)).unwrap(), vec![9, 0, 4]);
        }
    }

    #[test]
    fn idx_wrong_magic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        // a label file where images are expected
        std::fs::write(&p, idx_labels_bytes(&[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
        let m = msg(read_idx_images(&p).unwrap_err());
        assert!(
            m.contains("magic") && m.contains("0x00000801") && m.contains("0x00000803"),
            "{m}"
        );
        assert!(m.contains(&p.display().to_string()), "{m}");
        std::fs::write(&p, idx_images_bytes(1, 1, 1, &[0])).unwrap();
        assert!(msg(read_idx_labels(&p).unwrap_err()).contains("magic"));
    }

    #[test]
    fn idx_truncated_and_short() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        let img = idx_images_bytes(2, 28, 28, &pixels(2 * 784));
        std::fs::write(&p, &img[..img.len() - 10]).unwrap();
        let m = msg(read_idx_images(&p).unwrap_err());
        let expect = (16 + 2 * 784).to_string();
        assert!(
            m.contains(&expect) && m.contains(&(16 + 2 * 784 - 10).to_string()),
            "{m}"
        );
        assert!(m.contains("truncated"), "{m}");
        // truncated inside a gzip stream: the gzip error, naming the file
        let z = gz(&img);
        std::fs::write(&p, &z[..z.len() / 2]).unwrap();
        assert!(msg(read_idx_images(&p).unwrap_err()).contains("gzip"));
        // shorter than the header, and a header whose size overflows: errors, not panics
        std::fs::write(&p, [0u8, 0, 8]).unwrap();
        assert!(msg(read_idx_images(&p).unwrap_err()).contains("too short"));
        std::fs::write(&p, idx_images_bytes(u32::MAX, u32::MAX, u32::MAX, &[])).unwrap();
        assert!(read_idx_images(&p).is_err());
        std::fs::write(&p, []).unwrap();
        assert!(read_idx_labels(&p).is_err());
    }

    fn write_mnist(dir: &Path, prefix: &str, n_img: usize, labels: &[u8], gzip: bool) {
        let img = idx_images_bytes(n_img as u32, 28, 28, &pixels(n_img * 784));
        let lab = idx_labels_bytes(labels);
        let (img, lab, sfx) = if gzip {
            (gz(&img), gz(&lab), ".gz")
        } else {
            (img, lab, "")
        };
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{sfx}")), img).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{sfx}")), lab).unwrap();
    }

    #[test]
    fn mnist_load_both_splits() {
        let d = tempfile::tempdir().unwrap();
        write_mnist(d.path(), "train", 3, &[5, 0, 4], true);
        write_mnist(d.path(), "t10k", 2, &[7, 2], false);
        let tr = load_dataset(DatasetKind::FashionMnist, d.path(), Split::Train).unwrap();
        assert_eq!((tr.n, tr.c, tr.h, tr.w, tr.num_classes), (3, 1, 28, 28, 10));
        assert_eq!(tr.labels, vec![5, 0, 4]);
        assert_eq!(tr.images, pixels(3 * 784));
        let te = load_dataset(DatasetKind::Mnist, d.path(), Split::Test).unwrap();
        assert_eq!(te.labels, vec![7, 2]);
        assert_eq!(te.images.len(), 2 * 784);
        // plain wins over .gz when both exist
        write_mnist(d.path(), "t10k", 1, &[3], true);
        assert_eq!(
            load_dataset(DatasetKind::Mnist, d.path(), Split::Test)
                .unwrap()
                .labels,
            vec![7, 2]
        );
    }

    #[test]
    fn mnist_count_mismatch_and_bad_label() {
        let d = tempfile::tempdir().unwrap();
        write_mnist(d.path(), "train", 3, &[1, 2], false);
        let m = msg(load_dataset(DatasetKind::Mnist, d.path(), Split::Train).unwrap_err());
        assert!(m.contains("3 images") && m.contains("2 labels"), "{m}");
        write_mnist(d.path(), "train", 2, &[1, 10], false);
        let m = msg(load_dataset(DatasetKind::Mnist, d.path(), Split::Train).unwrap_err());
        assert!(m.contains("label 10") && m.contains("out of range"), "{m}");
    }

    #[test]
    fn missing_dir_and_files() {
        let d = tempfile::tempdir().unwrap();
        let gone = d.path().join("nope");
        let m = msg(load_dataset(DatasetKind::FashionMnist, &gone, Split::Train).unwrap_err());
        assert!(
            m.contains(&gone.display().to_string()) && m.contains("lot data fetch fashion-mnist"),
            "{m}"
        );
        let m = msg(load_dataset(DatasetKind::Mnist, d.path(), Split::Test).unwrap_err());
        assert!(
            m.contains("t10k-images-idx3-ubyte") && m.contains("lot data fetch mnist"),
            "{m}"
        );
        let m = msg(load_dataset(DatasetKind::Cifar10, d.path(), Split::Train).unwrap_err());
        assert!(
            m.contains("data_batch_1.bin") && m.contains("cifar-10-binary.tar.gz"),
            "{m}"
        );
        let m = msg(load_dataset(DatasetKind::Cifar100, &gone, Split::Test).unwrap_err());
        assert!(
            m.contains(&gone.display().to_string()) && m.contains("cifar-100-binary.tar.gz"),
            "{m}"
        );
        assert!(check_files(DatasetKind::Mnist, d.path()).is_err());
    }

    /// CIFAR records whose pixels start with (seed, seed+1, ...) so each record is recognizable.
    fn cifar_records(label_bytes: &[&[u8]], seed: u8) -> Vec<u8> {
        let mut b = Vec::new();
        for (i, lb) in label_bytes.iter().enumerate() {
            b.extend_from_slice(lb);
            b.extend((0..CIFAR_PIXELS).map(|j| seed.wrapping_add(i as u8).wrapping_add(j as u8)));
        }
        b
    }

    #[test]
    fn cifar10_train_and_test() {
        let d = tempfile::tempdir().unwrap();
        // in the official subfolder, to check that it is found
        let sub = d.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&sub).unwrap();
        for i in 1..=5u8 {
            let recs = cifar_records(&[&[i], &[9 - i]], 10 * i);
            std::fs::write(sub.join(format!("data_batch_{i}.bin")), recs).unwrap();
        }
        std::fs::write(
            sub.join("test_batch.bin"),
            cifar_records(&[&[3], &[0], &[9]], 200),
        )
        .unwrap();
        let tr = load_dataset(DatasetKind::Cifar10, d.path(), Split::Train).unwrap();
        assert_eq!(
            (tr.n, tr.c, tr.h, tr.w, tr.num_classes),
            (10, 3, 32, 32, 10)
        );
        assert_eq!(tr.labels, vec![1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
        assert_eq!(tr.images.len(), 10 * 3072);
        assert_eq!(&tr.images[..3], &[10, 11, 12]);
        assert_eq!(&tr.images[3072..3074], &[11, 12]); // second record of batch 1
        assert_eq!(tr.images[2 * 3072], 20); // first record of batch 2
        assert_eq!(
            tr.images[9 * 3072 + 3071],
            50u8.wrapping_add(1).wrapping_add((3071 % 256) as u8)
        );
        // files directly in the folder work too
        let te = load_dataset(DatasetKind::Cifar10, &sub, Split::Test).unwrap();
        assert_eq!(te.labels, vec![3, 0, 9]);
        assert_eq!(&te.images[..2], &[200, 201]);
        assert_eq!(te.images[2 * 3072], 202);
    }

    #[test]
    fn cifar100_uses_fine_label() {
        let d = tempfile::tempdir().unwrap();
        // (coarse, fine): fine labels up to 99, coarse only up to 19
        std::fs::write(
            d.path().join("train.bin"),
            cifar_records(&[&[19, 99], &[0, 42]], 1),
        )
        .unwrap();
        std::fs::write(d.path().join("test.bin"), cifar_records(&[&[4, 7]], 5)).unwrap();
        let tr = load_dataset(DatasetKind::Cifar100, d.path(), Split::Train).unwrap();
        assert_eq!((tr.n, tr.num_classes), (2, 100));
        assert_eq!(tr.labels, vec![99, 42]);
        assert_eq!(&tr.images[..2], &[1, 2]); // pixels start after both label bytes
        let te = load_dataset(DatasetKind::Cifar100, d.path(), Split::Test).unwrap();
        assert_eq!(te.labels, vec![7]);
        assert!(check_files(DatasetKind::Cifar100, d.path()).is_ok());
        // fine label 100 is out of range
        std::fs::write(d.path().join("test.bin"), cifar_records(&[&[4, 100]], 5)).unwrap();
        let m = msg(load_dataset(DatasetKind::Cifar100, d.path(), Split::Test).unwrap_err());
        assert!(m.contains("label 100"), "{m}");
    }

    #[test]
    fn cifar_wrong_size() {
        let d = tempfile::tempdir().unwrap();
        let mut recs = cifar_records(&[&[1]], 0);
        recs.push(0);
        std::fs::write(d.path().join("test_batch.bin"), &recs).unwrap();
        let m = msg(load_dataset(DatasetKind::Cifar10, d.path(), Split::Test).unwrap_err());
        assert!(
            m.contains("test_batch.bin") && m.contains("3074") && m.contains("3073"),
            "{m}"
        );
        // a CIFAR-10 record size is not a CIFAR-100 record size
        std::fs::write(d.path().join("test.bin"), cifar_records(&[&[1], &[2]], 0)).unwrap();
        let m = msg(load_dataset(DatasetKind::Cifar100, d.path(), Split::Test).unwrap_err());
        assert!(m.contains("3074") && m.contains("6146"), "{m}");
        // label 10 is out of range for CIFAR-10
        std::fs::write(d.path().join("test_batch.bin"), cifar_records(&[&[10]], 0)).unwrap();
        assert!(
            msg(load_dataset(DatasetKind::Cifar10, d.path(), Split::Test).unwrap_err())
                .contains("label 10")
        );
    }

    #[test]
    fn kind_parse() {
        assert_eq!(
            DatasetKind::parse("fashion-mnist").unwrap(),
            DatasetKind::FashionMnist
        );
        assert_eq!(DatasetKind::parse("cifar100").unwrap().num_classes(), 100);
        for k in DatasetKind::ALL {
            assert_eq!(DatasetKind::parse(k.name()).unwrap(), k);
        }
        let m = msg(DatasetKind::parse("cifar-10").unwrap_err());
        assert!(
            m.contains("\"cifar-10\"") && m.contains("mnist, fashion-mnist, cifar10, cifar100"),
            "{m}"
        );
        assert!(DatasetKind::parse("").is_err());
    }
}
