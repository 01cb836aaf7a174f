//! The Atari ROMs: where they live (`<data root>/atari-roms/`, put there by
//! `lot data fetch atari-roms` from the ale-py 0.12.1 wheel), their md5s, and the mapping from gym
//! names ("BreakoutNoFrameskip-v4", "Breakout", "breakout") to ROM files ("breakout.bin").

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::bail_input;
use crate::data::registry::md5_hex;
pub use crate::data::atari_roms::{rom_dir, rom_md5, PAPER_GAMES, ROMS, ROM_DIR};

/// The ROM file stem of a game name: "BreakoutNoFrameskip-v4", "Breakout" and "breakout" give
/// "breakout"; "UpNDownNoFrameskip-v4" and "up_n_down" give "up_n_down". Input error for names
/// ALE 0.12.1 has no ROM for, and for other gym flavours ("-v5", "Deterministic", "-ram"), whose
/// frame skip and sticky actions differ from what the wrappers here implement.
pub fn rom_stem(game: &str) -> Result<&'static str> {
    let base = game.strip_suffix("NoFrameskip-v4").unwrap_or(game);
    if base.is_empty() || !base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail_input!(
            "unknown Atari game {game:?}: use a gym NoFrameskip-v4 id such as \
             \"BreakoutNoFrameskip-v4\", or a ROM name such as \"breakout\""
        );
    }
    // CamelCase → snake_case: an underscore before every capital but the first.
    let mut snake = String::with_capacity(base.len() + 4);
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !base.contains('_') {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    match ROMS.binary_search_by(|(s, _)| s.cmp(&snake.as_str())) {
        Ok(i) => Ok(ROMS[i].0),
        Err(_) => bail_input!(
            "unknown Atari game {game:?}: ALE 0.12.1 has no ROM {snake}.bin \
             (e.g. BreakoutNoFrameskip-v4, BeamRiderNoFrameskip-v4, UpNDownNoFrameskip-v4, \
             GravitarNoFrameskip-v4)"
        ),
    }
}

/// `<default data root>/atari-roms` (`$LOT_DATA_DIR`, else `~/.cache/lot/data`).
pub fn default_rom_dir() -> PathBuf {
    rom_dir(&crate::data::registry::default_data_dir())
}

/// The checked ROM file of `game` in the ROM folder `dir` (`<stem>.bin`): input error (exit code
/// 2 in the CLI) if the game is unknown, the file is missing (with the command that fetches it)
/// or its md5 is wrong.
pub fn resolve_rom(game: &str, dir: &Path) -> Result<PathBuf> {
    let stem = rom_stem(game)?;
    let path = dir.join(format!("{stem}.bin"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail_input!(
            "Atari ROM {} not found: run `lot data fetch atari-roms`",
            path.display()
        ),
        Err(e) => bail_input!("cannot read Atari ROM {}: {e}", path.display()),
    };
    let want = rom_md5(stem).expect("stem comes from ROMS");
    let got = md5_hex(&bytes);
    if got != want {
        bail_input!(
            "Atari ROM {}: md5 mismatch: expected {want}, got {got}; \
             run `lot data fetch atari-roms` again",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::is_input_error;

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        let e = r.unwrap_err();
        assert!(is_input_error(&e), "not an input error: {e:#}");
        format!("{e:#}")
    }

    #[test]
    fn game_names_map_to_rom_stems() {
        for (name, stem) in [
            ("BreakoutNoFrameskip-v4", "breakout"),
            ("Breakout", "breakout"),
            ("breakout", "breakout"),
            ("BeamRiderNoFrameskip-v4", "beam_rider"),
            ("beam_rider", "beam_rider"),
            ("UpNDownNoFrameskip-v4", "up_n_down"),
            ("GravitarNoFrameskip-v4", "gravitar"),
            ("MontezumaRevengeNoFrameskip-v4", "montezuma_revenge"),
            ("SpaceInvaders", "space_invaders"),
        ] {
            assert_eq!(rom_stem(name).unwrap(), stem, "{name}");
        }
        for bad in ["Breakout-v5", "BreakoutDeterministic-v4", "Breakout-ramNoFrameskip-v4", "", "Pacman2", "../x"] {
            let m = err(rom_stem(bad));
            assert!(m.contains("unknown Atari game") && m.contains(&format!("{bad:?}")), "{m}");
        }
    }

    #[test]
    fn resolve_reports_missing_corrupt_and_unknown() {
        let d = tempfile::tempdir().unwrap();
        let m = err(resolve_rom("BreakoutNoFrameskip-v4", d.path()));
        assert!(m.contains("breakout.bin not found") && m.contains("lot data fetch atari-roms"), "{m}");
        std::fs::write(d.path().join("breakout.bin"), b"not a rom").unwrap();
        let m = err(resolve_rom("breakout", d.path()));
        assert!(m.contains("md5 mismatch") && m.contains("f34f08e5eb96e500e851a80be3277a56"), "{m}");
        let m = err(resolve_rom("Tetris2", d.path()));
        assert!(m.contains("unknown Atari game") && m.contains("tetris2.bin"), "{m}");
    }
}
