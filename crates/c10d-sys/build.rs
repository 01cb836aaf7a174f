//! Compiles `src/shim.cpp` against the headers of the libtorch tch links (the torch 2.11.0 wheel:
//! `LIBTORCH`, or the `torch` package of `$PYTHON`/`python3`, as torch-sys with
//! LIBTORCH_USE_PYTORCH=1), with the wheel's C++ ABI, and links it to libtorch_cpu.

use std::path::PathBuf;
use std::process::Command;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn torch_dir() -> PathBuf {
    if let Ok(d) = std::env::var("LIBTORCH") {
        return PathBuf::from(d);
    }
    let out = Command::new(python())
        .args(["-c", "import os, torch; print(os.path.dirname(torch.__file__))"])
        .output()
        .expect("c10d-sys: cannot run python to find torch (set LIBTORCH or PYTHON)");
    assert!(out.status.success(), "c10d-sys: python cannot import torch: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn cxx11_abi() -> &'static str {
    let out = Command::new(python()).args(["-c", "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"]).output();
    match out {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0" => "0",
        _ => "1",
    }
}

/// With the `nccl` feature: the folder holding the CUDA toolkit's `crt/` and `cccl/` headers
/// (`LOT_CUDA_HEADERS`, default what scripts/cuda-headers.sh extracts under ~/.cache/lot).
fn cuda_headers() -> PathBuf {
    if let Ok(d) = std::env::var("LOT_CUDA_HEADERS") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/lot/cuda-headers/nvidia/cu13/include")
}

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rerun-if-changed=src/nccl.cpp");
    println!("cargo:rerun-if-changed=src/jit.cpp");
    println!("cargo:rerun-if-changed=src/denormal.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=PYTHON");
    println!("cargo:rerun-if-env-changed=LOT_CUDA_HEADERS");
    let torch = torch_dir();
    let nccl = std::env::var_os("CARGO_FEATURE_NCCL").is_some();
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("src/shim.cpp")
        .file("src/jit.cpp")
        .file("src/denormal.cpp")
        // gloo-stub first: declarations of the gloo names c10d's headers mention (see its files).
        .include(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gloo-stub"))
        .include(torch.join("include"))
        .include(torch.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", cxx11_abi())
        .define("USE_C10D_GLOO", None)
        .define("USE_DISTRIBUTED", None)
        .warnings(false);
    if nccl {
        // The wheel's nvidia packages sit next to torch/ in site-packages.
        let site = torch.parent().expect("torch has a parent folder").to_path_buf();
        let cuda = cuda_headers();
        assert!(
            cuda.join("crt/host_config.h").is_file(),
            "c10d-sys (feature nccl): {} has no crt/host_config.h; run `bash scripts/cuda-headers.sh` or set LOT_CUDA_HEADERS",
            cuda.display()
        );
        build
            .file("src/nccl.cpp")
            .define("USE_C10D_NCCL", None)
            .include(site.join("nvidia/cu13/include"))
            .include(&cuda)
            .include(cuda.join("cccl"))
            .include(site.join("nvidia/nccl/include"));
    }
    build.compile("lot_c10d_shim");
    println!("cargo:rustc-link-search=native={}", torch.join("lib").display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    if nccl {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
}
