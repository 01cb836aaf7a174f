//! Your own images in torchvision's ImageFolder layout (`data.dataset = "image-folder"`):
//!
//! ```text
//! root/train/CLASS/*.png|*.jpg|*.jpeg      (subfolders of a class folder count too)
//! root/test/CLASS/...
//! ```
//!
//! The classes are the sorted names of the folders in `train/` (label i = i-th name). `test/`
//! has a folder for some or all of them, by the same names; a test class that training lacks is
//! an error. Files are read in sorted path order; other files and hidden ones (`.name`) are
//! skipped. Every image must have the size and channel count of the first training image:
//! 8-bit grey is 1 channel, 8-bit RGB 3; an alpha channel is dropped (not blended), so grey+alpha
//! is grey and RGBA is RGB. 16-bit and float images are refused.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::image::{ImageDataset, Split};
use crate::bail_input;
use crate::error::input_err;

/// File name endings read as images (compared lower-cased).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// `root/train` or `root/test`, which must exist.
pub fn split_dir(root: &Path, split: Split) -> Result<PathBuf> {
    let dir = root.join(match split {
        Split::Train => "train",
        Split::Test => "test",
    });
    if !dir.is_dir() {
        bail_input!(
            "data: image-folder: {} not found; data.dir must hold train/ and test/, each with one folder of images per class",
            dir.display()
        );
    }
    Ok(dir)
}

/// Read (train, test) from `root`: classes from `train/`, test checked against them.
pub fn load(root: &Path) -> Result<(ImageDataset, ImageDataset)> {
    let (train_dir, test_dir) = (split_dir(root, Split::Train)?, split_dir(root, Split::Test)?);
    let classes = subfolders(&train_dir)?;
    if classes.is_empty() {
        bail_input!("data: {}: no class folders (expected {}/CLASS/*.png)", train_dir.display(), train_dir.display());
    }
    let train = read_split(&train_dir, &classes, &classes, None)?;
    let test_classes = subfolders(&test_dir)?;
    if let Some(extra) = test_classes.iter().find(|c| !classes.contains(c)) {
        bail_input!(
            "data: {}: class '{extra}' has no folder in {} (training classes: {})",
            test_dir.join(extra).display(),
            train_dir.display(),
            classes.join(", ")
        );
    }
    if test_classes.is_empty() {
        bail_input!("data: {}: no class folders (expected {}/CLASS/*.png)", test_dir.display(), test_dir.display());
    }
    let test = read_split(&test_dir, &test_classes, &classes, Some(&train))?;
    Ok((train.ds, test.ds))
}

/// A split's images with the first file (named when a later one differs from it).
struct Read {
    ds: ImageDataset,
    first: PathBuf,
}

/// The sorted names of the folders in `dir` (names that are not UTF-8 are an error).
fn subfolders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| input_err(format!("data: cannot read {}: {e}", dir.display())))? {
        let e = e.map_err(|e| input_err(format!("data: cannot read {}: {e}", dir.display())))?;
        if !e.path().is_dir() || e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        match e.file_name().into_string() {
            Ok(n) => names.push(n),
            Err(n) => bail_input!("data: {}: folder name {n:?} is not UTF-8", dir.display()),
        }
    }
    names.sort();
    Ok(names)
}

/// The image files under `dir` (recursively), in sorted path order.
fn image_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| input_err(format!("data: cannot read {}: {e}", dir.display())))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| input_err(format!("data: cannot read {}: {e}", dir.display())))?;
    entries.sort();
    for p in entries {
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if p.is_dir() {
            image_files(&p, out)?;
        } else if p.extension().is_some_and(|x| EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())) {
            out.push(p);
        }
    }
    Ok(())
}

/// Read the class folders `folders` of `dir`; labels are positions in `classes`. The first image
/// (of `like`, when given: the training split) fixes size and channels.
fn read_split(dir: &Path, folders: &[String], classes: &[String], like: Option<&Read>) -> Result<Read> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut shape: Option<([usize; 3], PathBuf)> = like.map(|r| ([r.ds.c, r.ds.h, r.ds.w], r.first.clone()));
    let mut first = None;
    for name in folders {
        let label = classes.iter().position(|c| c == name).expect("folders are a subset of classes") as i64;
        let class_dir = dir.join(name);
        let mut files = Vec::new();
        image_files(&class_dir, &mut files)?;
        if files.is_empty() {
            bail_input!("data: {}: empty class folder (no .png, .jpg or .jpeg files)", class_dir.display());
        }
        for f in files {
            let (chw, pixels) = decode(&f)?;
            match &shape {
                None => shape = Some((chw, f.clone())),
                Some((want, from)) if *want != chw => bail_input!(
                    "data: {}: image is {} but {} is {}; all images must have the same size and channels",
                    f.display(),
                    describe(chw),
                    from.display(),
                    describe(*want)
                ),
                Some(_) => {}
            }
            first.get_or_insert_with(|| f.clone());
            images.extend_from_slice(&pixels);
            labels.push(label);
        }
    }
    let ([c, h, w], _) = shape.expect("at least one image was read");
    Ok(Read { ds: ImageDataset::from_u8(images, labels, [c, h, w], classes.len()), first: first.expect("at least one image") })
}

fn describe([c, h, w]: [usize; 3]) -> String {
    format!("{w}x{h} {}", if c == 1 { "grey (1 channel)".to_string() } else { format!("RGB ({c} channels)") })
}

/// Decode one image to ([C, H, W], CHW bytes): grey → 1 channel, RGB → 3, alpha dropped.
fn decode(path: &Path) -> Result<([usize; 3], Vec<u8>)> {
    let bad = |e: String| input_err(format!("data: {}: cannot decode image: {e}", path.display()));
    let img = image::io::Reader::open(path)
        .map_err(|e| input_err(format!("data: cannot read {}: {e}", path.display())))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?
        .decode()
        .map_err(|e| bad(e.to_string()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    // (bytes per pixel in the decoded buffer, channels kept)
    let (raw, stride, c): (&[u8], usize, usize) = match &img {
        image::DynamicImage::ImageLuma8(b) => (b.as_raw(), 1, 1),
        image::DynamicImage::ImageLumaA8(b) => (b.as_raw(), 2, 1),
        image::DynamicImage::ImageRgb8(b) => (b.as_raw(), 3, 3),
        image::DynamicImage::ImageRgba8(b) => (b.as_raw(), 4, 3),
        other => bail_input!(
            "data: {}: {:?} pixels are not supported; save 8-bit grey or RGB images",
            path.display(),
            other.color()
        ),
    };
    let hw = h * w;
    let mut chw = vec![0u8; c * hw];
    for ch in 0..c {
        for (o, px) in chw[ch * hw..(ch + 1) * hw].iter_mut().zip(raw.chunks_exact(stride)) {
            *o = px[ch];
        }
    }
    Ok(([c, h, w], chw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::input_error_text as msg;

    /// Write a PNG (or JPEG, by the name's ending) of `w`×`h` pixels from interleaved bytes.
    pub fn write_image(path: &Path, w: u32, h: u32, color: image::ColorType, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::save_buffer(path, bytes, w, h, color).unwrap();
    }

    fn rgb(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32, usize) -> u8) {
        let bytes: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| [0, 1, 2].map(|ch| (x, y, ch)))).map(|(x, y, ch)| f(x, y, ch)).collect();
        write_image(path, w, h, image::ColorType::Rgb8, &bytes);
    }

    #[test]
    fn decodes_exact_pixels_with_labels_in_folder_order() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        // classes sorted: "cat" = 0, "dog" = 1; files sorted within a class.
        rgb(&r.join("train/dog/b.png"), 3, 2, |x, y, ch| (10 * x + 100 * y) as u8 + ch as u8);
        rgb(&r.join("train/dog/a.png"), 3, 2, |_, _, ch| 200 + ch as u8);
        rgb(&r.join("train/cat/z.PNG"), 3, 2, |_, _, _| 7);
        std::fs::write(r.join("train/cat/notes.txt"), "not an image").unwrap();
        std::fs::write(r.join("train/cat/.hidden.png"), "not an image either").unwrap();
        rgb(&r.join("test/dog/q.png"), 3, 2, |_, _, _| 1);
        let (train, test) = load(r).unwrap();
        assert_eq!((train.n, train.c, train.h, train.w, train.num_classes), (3, 3, 2, 3, 2));
        assert_eq!(train.labels, vec![0, 1, 1]);
        assert!(train.images[..18].iter().all(|&v| v == 7));
        assert_eq!(&train.images[18..24], &[200; 6]); // dog/a.png, red plane
        assert_eq!(&train.images[24..30], &[201; 6]); // green plane
        // dog/b.png, red plane row-major (x fastest), then green = red + 1
        assert_eq!(&train.images[36..42], &[0, 10, 20, 100, 110, 120]);
        assert_eq!(&train.images[42..48], &[1, 11, 21, 101, 111, 121]);
        assert_eq!((test.n, test.labels.clone(), test.num_classes), (1, vec![1], 2));
    }

    #[test]
    fn grey_and_alpha_and_jpeg() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write_image(&r.join("train/a/1.png"), 2, 1, image::ColorType::La8, &[9, 255, 11, 0]);
        write_image(&r.join("train/b/1.png"), 2, 1, image::ColorType::L8, &[3, 4]);
        write_image(&r.join("test/a/1.jpg"), 2, 1, image::ColorType::L8, &[128, 128]);
        let (train, test) = load(r).unwrap();
        assert_eq!((train.c, train.images.clone()), (1, vec![9, 11, 3, 4]));
        assert_eq!(test.c, 1);
        assert!(test.images.iter().all(|&v| (120..=136).contains(&v)), "{:?}", test.images); // lossy JPEG
        // RGBA: alpha dropped.
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write_image(&r.join("train/a/1.png"), 1, 1, image::ColorType::Rgba8, &[1, 2, 3, 0]);
        write_image(&r.join("test/a/1.png"), 1, 1, image::ColorType::Rgb8, &[4, 5, 6]);
        let (train, test) = load(r).unwrap();
        assert_eq!((train.c, train.images, test.images), (3, vec![1, 2, 3], vec![4, 5, 6]));
    }

    #[test]
    fn bad_folders_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("train not found") && m.contains("data.dir must hold train/ and test/"), "{m}");
        rgb(&r.join("train/a/1.png"), 4, 4, |_, _, _| 0);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("test not found"), "{m}");
        // An empty class folder.
        std::fs::create_dir_all(r.join("train/b")).unwrap();
        rgb(&r.join("test/a/1.png"), 4, 4, |_, _, _| 0);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains(&format!("{}: empty class folder", r.join("train/b").display())), "{m}");
        // Mixed sizes: the later file is named, with both sizes.
        rgb(&r.join("train/b/2.png"), 5, 4, |_, _, _| 0);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("b/2.png: image is 5x4 RGB (3 channels) but") && m.contains("a/1.png is 4x4 RGB"), "{m}");
        // Mixed channels.
        write_image(&r.join("train/b/2.png"), 4, 4, image::ColorType::L8, &[0; 16]);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("b/2.png: image is 4x4 grey (1 channel)"), "{m}");
        rgb(&r.join("train/b/2.png"), 4, 4, |_, _, _| 0);
        // The test split must match the training images.
        rgb(&r.join("test/a/1.png"), 8, 8, |_, _, _| 0);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("test/a/1.png: image is 8x8") && m.contains("train/a/1.png is 4x4"), "{m}");
        rgb(&r.join("test/a/1.png"), 4, 4, |_, _, _| 0);
        assert!(load(r).is_ok());
        // A test class that training lacks.
        rgb(&r.join("test/zebra/1.png"), 4, 4, |_, _, _| 0);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("class 'zebra' has no folder") && m.contains("training classes: a, b"), "{m}");
        std::fs::remove_dir_all(r.join("test/zebra")).unwrap();
        // A corrupt image: truncated, and not an image at all.
        let png = std::fs::read(r.join("train/b/2.png")).unwrap();
        std::fs::write(r.join("train/b/2.png"), &png[..png.len() / 2]).unwrap();
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("b/2.png: cannot decode image"), "{m}");
        std::fs::write(r.join("train/b/2.png"), b"hello").unwrap();
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("b/2.png: cannot decode image"), "{m}");
        // Every truncation of a PNG before its end chunk (12 bytes) is an error, never a panic.
        for cut in (0..png.len() - 12).step_by(7) {
            std::fs::write(r.join("train/b/2.png"), &png[..cut]).unwrap();
            assert!(load(r).is_err());
        }
        // 16-bit images are refused.
        write_image(&r.join("train/b/2.png"), 4, 4, image::ColorType::L16, &[0; 32]);
        let m = msg(load(r).unwrap_err());
        assert!(m.contains("b/2.png") && m.contains("L16") && m.contains("8-bit"), "{m}");
    }
}
