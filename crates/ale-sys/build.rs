//! Builds ALE 0.12.1 (C++) from the ale-py 0.12.1 sdist sources with cmake, plus our C shim, and
//! links both statically (docs/atari.md, "Building"). The sources are not in git: they come from
//! `bash scripts/fetch_ale.sh` (into third_party/ale-py-0.12.1), or from `$ALE_SRC_DIR`.
use std::path::PathBuf;

const FETCH_HINT: &str = "run `bash scripts/fetch_ale.sh` (or set ALE_SRC_DIR to an ale-py 0.12.1 source folder)";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_NATIVE").is_none() {
        // Without the `native` feature the crate is empty: nothing to build or link.
        return;
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-env-changed=ALE_SRC_DIR");
    println!("cargo:rerun-if-changed=src/shim.cpp");
    let ale_dir = std::env::var_os("ALE_SRC_DIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../third_party/ale-py-0.12.1"));
    // A missing file counts as changed, so a build after the fetch reruns this script.
    println!("cargo:rerun-if-changed={}", ale_dir.join("version.txt").display());
    let version = std::fs::read_to_string(ale_dir.join("version.txt")).unwrap_or_default();
    if !ale_dir.join("CMakeLists.txt").is_file()
        || !ale_dir.join("src/ale/ale_interface.cpp").is_file()
        || version.trim() != "0.12.1"
    {
        eprintln!(
            "error: ALE 0.12.1 sources not found in {}: {FETCH_HINT}",
            ale_dir.display()
        );
        std::process::exit(1);
    }

    find_cmake();

    // RelWithDebInfo, not Release: ALE's CMakeLists turns on IPO (gcc -flto, slim objects) for
    // every other build type, and rust-lld cannot link those ("undefined symbol ale::...").
    let dst = cmake::Config::new(&ale_dir)
        .define("BUILD_CPP_LIB", "ON")
        .define("BUILD_PYTHON_LIB", "OFF")
        .define("BUILD_VECTOR_LIB", "OFF")
        .define("BUILD_VECTOR_XLA_LIB", "OFF")
        .define("SDL_SUPPORT", "OFF")
        .profile("RelWithDebInfo")
        // its default "-O2 -g -DNDEBUG" without -g (the debug info made libale.a 38 MB)
        .define("CMAKE_CXX_FLAGS_RELWITHDEBINFO", "-O2 -DNDEBUG")
        .build_target("ale-lib")
        .build();
    let build = dst.join("build");
    let lib_dir = build.join("src").join("ale");

    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .opt_level(2)
        .debug(false)
        .warnings(false) // ALE's headers trip -Wextra
        .file("src/shim.cpp")
        .include(ale_dir.join("src"))
        .include(build.join("src"))
        .include(&lib_dir) // the generated version.hpp
        .compile("lot_ale_shim");

    // after the shim, which needs it
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=static=ale");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=z");
}

/// The cmake crate runs `$CMAKE`, else `cmake` from PATH. scripts/fetch_ale.sh installs cmake into
/// the lot venv (on PATH after `source scripts/env.sh`); use that one when PATH has none.
fn find_cmake() {
    println!("cargo:rerun-if-env-changed=CMAKE");
    println!("cargo:rerun-if-env-changed=LOT_VENV");
    if std::env::var_os("CMAKE").is_some() {
        return;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("cmake").is_file()))
        .unwrap_or(false);
    if on_path {
        return;
    }
    let venv = std::env::var_os("LOT_VENV").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lot/venv"))
    });
    match venv.map(|v| v.join("bin/cmake")).filter(|c| c.is_file()) {
        Some(c) => std::env::set_var("CMAKE", c),
        None => {
            eprintln!("error: cmake not found (needed to build ALE): {FETCH_HINT}, which installs it");
            std::process::exit(1);
        }
    }
}
