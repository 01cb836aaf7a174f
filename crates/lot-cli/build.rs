//! Link libtorch_cuda.so for real when the libtorch we build against has it.
//!
//! The linker's default `--as-needed` drops a shared library none of whose symbols the binary
//! names; `lot` never names a CUDA symbol (CUDA is reached through libtorch's dispatcher, which
//! registers the CUDA kernels when libtorch_cuda.so is loaded), so without this the binary runs
//! with CUDA silently unavailable. With a CPU-only libtorch nothing is added.
//!
//! The libtorch folder is found as torch-sys finds it: `$LIBTORCH/lib`, or with
//! `LIBTORCH_USE_PYTORCH=1` the `torch/lib` folder of `$PYTHON_SYS_EXECUTABLE` / `python3` / `python`.
//! `LOT_NO_CUDA_LINK=1` turns it off.

use std::path::PathBuf;
use std::process::Command;

fn python_torch_lib() -> Option<PathBuf> {
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(p) = std::env::var("PYTHON_SYS_EXECUTABLE") {
        candidates.push(p);
    }
    candidates.extend(["python3".to_string(), "python".to_string()]);
    for py in candidates {
        let out = Command::new(&py)
            .args(["-c", "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"])
            .output();
        if let Ok(o) = out {
            if o.status.success() {
                let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if !s.is_empty() {
                    return Some(PathBuf::from(s));
                }
            }
        }
    }
    None
}

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(l) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(l).join("lib"));
    }
    if std::env::var("LIBTORCH_USE_PYTORCH").is_ok() {
        return python_torch_lib();
    }
    None
}

fn main() {
    for v in ["LIBTORCH", "LIBTORCH_USE_PYTORCH", "PYTHON_SYS_EXECUTABLE", "LOT_NO_CUDA_LINK"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("LOT_NO_CUDA_LINK").is_some() || std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let Some(dir) = torch_lib_dir() else { return };
    if dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
