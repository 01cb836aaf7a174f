//! `lot train` on your own images (`data.dataset = "image-folder"`): a tiny run whose config.toml
//! records the per-channel mean/std it used, and bad folders giving one `error:` line and exit 2.

mod common;

use common::{lot, stderr};
use std::path::Path;

/// `root/{train,test}/CLASS/*.png`: 8×8 RGB, class k a noisy version of its own colour.
fn write_folder(root: &Path, per_class_train: usize, per_class_test: usize) {
    let colours = [("blue", [20u8, 40, 220]), ("green", [30, 200, 40]), ("red", [210, 30, 30])];
    let mut seed = 7u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 31) as u8
    };
    for (split, n) in [("train", per_class_train), ("test", per_class_test)] {
        for (name, rgb) in colours {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let px: Vec<u8> = (0..64).flat_map(|_| rgb).map(|v| v.saturating_add(noise())).collect();
                image::save_buffer(dir.join(format!("{i:03}.png")), &px, 8, 8, image::ColorType::Rgb8).unwrap();
            }
        }
    }
}

fn write_config(dir: &Path, data: &Path) -> String {
    let cfg = format!(
        r#"task = "vision"
[run]
name = "own"
seed = 1
threads = 1
[lot]
student_steps = 2
[data]
dataset = "image-folder"
dir = "{}"
[model]
depth = "8_8"
[train]
epochs = 2
batch_size = 8
eval_batch_size = 16
lr = 0.05
epoch_style = "full_pass"
"#,
        data.display()
    );
    let p = dir.join("own.toml");
    std::fs::write(&p, cfg).unwrap();
    p.to_str().unwrap().to_string()
}

/// One `error:` line and exit 2, never a panic.
fn bad(args: &[&str]) -> String {
    let o = lot(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: expected exit 2; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

#[test]
fn image_folder_run_records_its_normalisation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("imgs");
    write_folder(&data, 12, 4);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("run");
    let o = lot(&["train", &cfg, "--out", out.to_str().unwrap(), "--set", "data.valid_limit=6"]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    assert!(out.join("summary.json").is_file());
    let text = std::fs::read_to_string(out.join("config.toml")).unwrap();
    let saved: toml::Table = toml::from_str(&text).unwrap();
    let stats = |k: &str| -> Vec<f64> { saved["data"][k].as_array().unwrap().iter().map(|v| v.as_float().unwrap()).collect() };
    let (mean, std) = (stats("mean"), stats("std"));
    assert_eq!((mean.len(), std.len()), (3, 3), "{text}");
    // The three colours' channel means over the 30 training images (valid_limit holds out 6).
    assert!(mean.iter().all(|m| (0.1..0.8).contains(m)) && std.iter().all(|s| (0.05..0.6).contains(s)), "{mean:?} {std:?}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(s["models"]["teacher"]["final_test_accuracy"].as_f64().is_some(), "{s}");
    // `lot eval` reads the recorded numbers back.
    let o = lot(&["eval", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bad_image_folders_give_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let case = |name: &str, spoil: &dyn Fn(&Path)| -> String {
        let data = tmp.path().join(name);
        write_folder(&data, 2, 1);
        spoil(&data);
        let cfg = write_config(tmp.path(), &data);
        let line = bad(&["train", &cfg, "--out", &out(&format!("{name}-run"))]);
        assert!(!Path::new(&out(&format!("{name}-run"))).exists(), "bad input must not create the run folder");
        line
    };
    let line = case("empty", &|d| std::fs::create_dir_all(d.join("train/yellow")).unwrap());
    assert!(line.contains("train/yellow: empty class folder"), "{line}");
    let line = case("sizes", &|d| {
        image::save_buffer(d.join("train/green/001.png"), &[0u8; 9 * 8 * 3], 9, 8, image::ColorType::Rgb8).unwrap()
    });
    assert!(line.contains("train/green/001.png: image is 9x8 RGB") && line.contains("is 8x8 RGB"), "{line}");
    let line = case("corrupt", &|d| std::fs::write(d.join("train/red/000.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap());
    assert!(line.contains("train/red/000.png: cannot decode image"), "{line}");
}
