//! What every fetcher shares: the data root, running pip and apt-get, hash checks, and the atomic
//! install of verified files. A leaf of `data`: it imports no fetcher.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::Result;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::image::DatasetKind;
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

/// Write each (name, bytes) into `dest`, each file atomically (`fsio::write_atomic`).
pub(crate) fn install(dest: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dest)
        .map_err(|e| input_err(format!("data fetch: cannot create {}: {e}", dest.display())))?;
    for (name, bytes) in files {
        let path = dest.join(name);
        crate::fsio::write_atomic(&path, bytes).map_err(|e| input_err(format!("data fetch: cannot write {}: {e:#}", path.display())))?;
        eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| input_err(format!("data fetch: cannot read {}: {e}", path.display())))
}

/// The single file in `dir` whose name ends with `suffix` (e.g. the .deb apt-get downloaded).
pub(crate) fn find_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
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

    use crate::testing::input_error_text as msg;

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
        let m = msg(verify_sha256(p, b"abc", "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0").unwrap_err());
        assert!(
            m.contains("sha256") && m.contains("39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0") && m.contains("ba7816bf"),
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
}
