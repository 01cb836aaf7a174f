//! `scripts/import_cycles.py`, the check behind docs/architecture.md's "no cycles": it passes on
//! this crate and fails, naming the modules, on a tree with a cycle.

use std::path::Path;
use std::process::Command;

fn check(src: &Path) -> Option<(bool, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/import_cycles.py");
    let out = Command::new("python3").arg(script).arg(src).output().ok()?;
    Some((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[test]
fn import_check_passes_the_crate_and_catches_a_cycle() {
    let Some((ok, text)) = check(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))) else {
        lot::testing::skip("import_check_passes_the_crate_and_catches_a_cycle", "python3 not found");
        return;
    };
    assert!(ok && text.contains(" 0 cycles"), "{text}");

    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("net")).unwrap();
    std::fs::write(d.path().join("lib.rs"), "pub mod a;\npub mod net;\n").unwrap();
    std::fs::write(d.path().join("a.rs"), "use crate::net::{wire::Frame, other};\n").unwrap();
    std::fs::write(d.path().join("net/mod.rs"), "pub mod wire;\n").unwrap();
    // A test module's imports and comments do not count; `super::super::a` does.
    std::fs::write(
        d.path().join("net/wire.rs"),
        "// crate::nothing::here\npub struct Frame;\nfn f() { super::super::a::g(); }\n#[cfg(test)]\nmod tests { use crate::zzz; }\n",
    )
    .unwrap();
    let (ok, text) = check(d.path()).unwrap();
    assert!(!ok && text.contains("cycle (2 modules): a <-> net::wire"), "{text}");
}
