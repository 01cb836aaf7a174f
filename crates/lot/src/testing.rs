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
