//! For tests that need what a machine may lack (Python with torch, PTB, a font, ROMs).

use std::io::Write;

/// The environment variable that turns every skip into a failure (set it where the machine has
/// everything, so a missing dependency cannot pass silently).
pub const NO_SKIP: &str = "LOT_NO_SKIP";

/// Say that a test cannot run here and why, on stderr past the test harness's capture (so the
/// SKIP line shows even for a passing test); panic instead when `LOT_NO_SKIP` is set.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os(NO_SKIP).is_some() {
        panic!("{test}: cannot run ({why}) and {NO_SKIP} is set");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}

/// The full text of an error a test expects to be an input error (the CLI's one clear line and
/// exit code 2); panics if it is another kind of error.
pub fn input_error_text(e: anyhow::Error) -> String {
    assert!(crate::error::is_input_error(&e), "not an input error: {e:#}");
    format!("{e:#}")
}
