//! Atari 2600 games through ALE 0.12.1 with cleanRL's ppo_atari wrappers (docs/atari.md).
//!
//! - [`wrappers::AtariEnv`]: NoopReset(30) → MaxAndSkip(4) → EpisodicLife → FireReset →
//!   ClipReward → Resize 84x84 (INTER_AREA) → Gray → FrameStack(4), over any [`Emulator`];
//! - [`preprocess`]: the resize and gray conversion, byte-exact with OpenCV;
//! - [`roms`]: game names, ROM files under `<data root>/atari-roms/` and their md5s;
//! - [`make`]: the real thing, ALE via the `ale-sys` crate; needs the cargo feature `atari`
//!   (`bash scripts/fetch_ale.sh`, then `cargo build --release --features atari`) and the ROMs
//!   (`lot data fetch atari-roms`). Everything else here builds and is tested without either.

pub mod emulator;
pub mod preprocess;
pub mod roms;
pub mod wrappers;

#[cfg(feature = "atari")]
pub mod ale;

#[cfg(test)]
mod tests;

pub use emulator::Emulator;
pub use wrappers::{AtariConfig, AtariEnv};

use anyhow::Result;

use crate::rl::env::Env;

/// The training environment of `game` ("BreakoutNoFrameskip-v4" or "breakout") with cleanRL's
/// wrappers, its ROM taken from the default ROM folder (`<data root>/atari-roms`, the data root
/// being `$LOT_DATA_DIR`, else `~/.cache/lot/data`), seeded with `seed` (ALE's random seed and the
/// noop counts). Input error for an unknown game, a missing ROM (with the command that fetches it)
/// or a ROM with a wrong md5, and, without the `atari` feature, one saying how to build it.
pub fn make(game: &str, seed: u64) -> Result<Box<dyn Env>> {
    make_with(game, seed, &roms::default_rom_dir(), AtariConfig::default())
}

/// [`make`] with an explicit ROM folder (holding `breakout.bin`, ...) and wrapper settings
/// (e.g. `clip_rewards: false` for evaluation).
pub fn make_with(game: &str, seed: u64, rom_dir: &std::path::Path, cfg: AtariConfig) -> Result<Box<dyn Env>> {
    let rom = roms::resolve_rom(game, rom_dir)?;
    #[cfg(feature = "atari")]
    {
        let emu = ale::AleEmulator::new(&rom, seed)?;
        Ok(Box::new(AtariEnv::new(emu, cfg, seed)?))
    }
    #[cfg(not(feature = "atari"))]
    {
        let _ = (seed, cfg);
        crate::bail_input!(
            "Atari game {game:?} (ROM {}) needs lot built with the `atari` cargo feature: \
             run `bash scripts/fetch_ale.sh`, then build with `--features atari`",
            rom.display()
        )
    }
}
