//! The real emulator: ALE 0.12.1 through `ale-sys` (feature `atari`).

use std::path::Path;

use anyhow::Result;

use super::emulator::Emulator;
use crate::error::input_err;

/// The emulator settings (seed, sticky actions, frame skip, frame limit) of `ale-sys`.
pub use ale_sys::Settings as AleSettings;

/// ALE's frame limit of the v4 registrations (ale-py 0.7 with gym 0.23 as well as ale-py 0.12):
/// `max_num_frames_per_episode = 108_000` (30 minutes of play), no gym TimeLimit.
pub const V4_MAX_FRAMES: i32 = 108_000;

/// ALE set up as gym's NoFrameskip-v4: frame skip 1, sticky actions off, minimal action set,
/// episodes cut after [`V4_MAX_FRAMES`] frames.
pub struct AleEmulator(ale_sys::Ale);

impl AleEmulator {
    /// ALE's `random_seed` is a C int: the low 31 bits of `seed`.
    pub fn new(rom: &Path, seed: u64) -> Result<Self> {
        let settings = ale_sys::Settings {
            seed: (seed & 0x7fff_ffff) as i32,
            max_num_frames_per_episode: V4_MAX_FRAMES,
            ..ale_sys::Settings::default()
        };
        Self::with_settings(rom, &settings)
    }

    pub fn with_settings(rom: &Path, settings: &ale_sys::Settings) -> Result<Self> {
        let ale = ale_sys::Ale::with_settings(rom, settings).map_err(|e| input_err(format!("atari: {e}")))?;
        Ok(AleEmulator(ale))
    }

    pub fn ale(&self) -> &ale_sys::Ale {
        &self.0
    }

    pub fn ale_mut(&mut self) -> &mut ale_sys::Ale {
        &mut self.0
    }
}

impl Emulator for AleEmulator {
    fn act(&mut self, action: i32) -> i32 {
        self.0.act(action)
    }

    fn lives(&self) -> i32 {
        self.0.lives()
    }

    fn game_over(&self) -> bool {
        self.0.game_over()
    }

    fn truncated(&self) -> bool {
        self.0.game_truncated()
    }

    fn reset(&mut self) {
        self.0.reset_game()
    }

    fn screen_rgb(&self, out: &mut [u8]) {
        self.0.screen_rgb(out)
    }

    fn screen_size(&self) -> (usize, usize) {
        (self.0.height(), self.0.width())
    }

    fn minimal_actions(&self) -> &[i32] {
        self.0.minimal_action_set()
    }
}
