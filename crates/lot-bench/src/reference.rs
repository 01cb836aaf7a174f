//! Where the reference side is found: the venv's Python and `benches/reference`.

use std::path::PathBuf;

/// The venv python: $LOT_VENV/bin/python, ~/.cache/lot/venv/bin/python, else python3.
pub fn default_python() -> PathBuf {
    let venv = std::env::var_os("LOT_VENV").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("LOT_CACHE").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lot")));
        cache.map(|c| c.join("venv"))
    });
    match venv.map(|v| v.join("bin/python")) {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("python3"),
    }
}

/// `benches/reference` found from the working directory or the executable upwards.
pub fn default_reference_dir() -> Option<PathBuf> {
    let mut starts = vec![];
    if let Ok(d) = std::env::current_dir() {
        starts.push(d);
    }
    if let Ok(e) = std::env::current_exe() {
        if let Some(d) = e.parent() {
            starts.push(d.to_path_buf());
        }
    }
    for s in starts {
        for dir in s.ancestors() {
            let cand = dir.join("benches/reference");
            if cand.join("vision_lot.py").exists() {
                return Some(cand);
            }
        }
    }
    None
}
