//! The MinAtar games (Young & Tian 2019) as the `minatar` 1.0.15 Python package plays them:
//! the same rules, the same numpy `RandomState` draws in the same order, so that a game seeded
//! alike and given the same actions produces the same frames, rewards and terminals step for step
//! (`tests/traces.rs` checks this against the package).
//!
//! [`MinAtar`] is the package's `Environment` under its gym wrapper (`MinAtar/<Game>-v0/-v1`):
//! sticky actions (probability 0.1: one `rand()` every step, the previous action repeated when it
//! falls below), difficulty ramping on, and the minimal action set for `-v1`. The gym ids set no
//! episode-step limit; Freeway ends itself after 2500 steps.
//!
//! GPL-3.0-only, as the package it follows (see LICENSE).

pub mod codec;
pub mod frame;
pub mod games;
pub mod rng;

use codec::{Reader, Writer};
pub use frame::Frame;
use games::State;
pub use games::{Action, Game};
use rng::RandomState;

/// The package's `Environment` defaults.
pub const STICKY_ACTION_PROB: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    pub sticky_action_prob: f64,
    pub difficulty_ramping: bool,
    /// `-v1`: the game's minimal action set; `-v0`: all six actions.
    pub minimal_actions: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sticky_action_prob: STICKY_ACTION_PROB,
            difficulty_ramping: true,
            minimal_actions: true,
        }
    }
}

/// `MinAtar/<Title>-v1` (or `-v0`) → the game and its options; `None` for any other name.
pub fn parse_gym_id(id: &str) -> Option<(Game, Options)> {
    let rest = id.strip_prefix("MinAtar/")?;
    let (title, version) = rest.split_once('-')?;
    let game = Game::ALL.into_iter().find(|g| g.title() == title)?;
    let minimal_actions = match version {
        "v1" => true,
        "v0" => false,
        _ => return None,
    };
    Some((
        game,
        Options {
            minimal_actions,
            ..Options::default()
        },
    ))
}

/// Every gym id the package registers.
pub fn gym_ids() -> Vec<String> {
    Game::ALL
        .iter()
        .flat_map(|g| ["v1", "v0"].map(|v| format!("MinAtar/{}-{v}", g.title())))
        .collect()
}

/// One game with its RNG and sticky-action memory: `Environment` + `BaseEnv` of the package.
#[derive(Clone, Debug, PartialEq)]
pub struct MinAtar {
    state: State,
    rng: RandomState,
    opts: Options,
    /// The full-set action taken last; it survives resets, as in the package.
    last_action: Action,
}

const SAVE_TAG: u32 = u32::from_le_bytes(*b"MnA1");

impl MinAtar {
    /// `gym.make(id)` then `reset(seed=seed)` minus the reset: call [`MinAtar::reset`] to start.
    /// (numpy takes seeds below 2^32 only, hence `u32`.)
    pub fn new(game: Game, seed: u32, opts: Options) -> Self {
        Self {
            state: State::new(game, opts.difficulty_ramping),
            rng: RandomState::new(seed),
            opts,
            last_action: Action::Noop,
        }
    }

    pub fn game(&self) -> Game {
        self.state.game()
    }

    pub fn channels(&self) -> usize {
        self.game().channels()
    }

    pub fn actions(&self) -> &'static [Action] {
        if self.opts.minimal_actions {
            self.game().minimal_actions()
        } else {
            &Action::ALL
        }
    }

    pub fn num_actions(&self) -> usize {
        self.actions().len()
    }

    pub fn reset(&mut self) {
        self.state.reset(&mut self.rng);
    }

    /// Take action `a` (an index into [`MinAtar::actions`]; one past the end acts as no-op):
    /// (reward, terminal).
    pub fn act(&mut self, a: usize) -> (i32, bool) {
        let mut action = self.actions().get(a).copied().unwrap_or(Action::Noop);
        if self.rng.rand() < self.opts.sticky_action_prob {
            action = self.last_action;
        }
        self.last_action = action;
        self.state.act(action, &mut self.rng)
    }

    pub fn frame(&self, f: &mut Frame) {
        self.state.render(f);
    }

    /// Everything that decides the future: game state, RNG position, last action, options.
    pub fn save(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(SAVE_TAG).u32(self.game() as u32);
        w.i32(self.opts.sticky_action_prob.to_bits() as i32)
            .i32((self.opts.sticky_action_prob.to_bits() >> 32) as i32);
        w.bool(self.opts.difficulty_ramping)
            .bool(self.opts.minimal_actions)
            .u32(self.last_action as u32);
        self.state.save(&mut w);
        self.rng.to_bytes(&mut w.0);
        w.0
    }

    /// Restore what [`MinAtar::save`] wrote; an error (and no change) for another game's or a
    /// damaged state.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let bad = || "saved MinAtar state is damaged or of another version".to_string();
        let mut r = Reader::new(bytes);
        if r.u32() != Some(SAVE_TAG) {
            return Err(bad());
        }
        if r.u32() != Some(self.game() as u32) {
            return Err(format!("saved state is not of {}", self.game().title()));
        }
        let lo = r.u32().ok_or_else(bad)? as u64;
        let hi = r.u32().ok_or_else(bad)? as u64;
        let opts = Options {
            sticky_action_prob: f64::from_bits(lo | hi << 32),
            difficulty_ramping: r.bool().ok_or_else(bad)?,
            minimal_actions: r.bool().ok_or_else(bad)?,
        };
        let last_action = *Action::ALL
            .get(r.u32().ok_or_else(bad)? as usize)
            .ok_or_else(bad)?;
        let state = State::restore(self.game(), &mut r).ok_or_else(bad)?;
        let rng =
            RandomState::from_bytes(r.take(RandomState::BYTES).ok_or_else(bad)?).ok_or_else(bad)?;
        if !r.is_empty() {
            return Err(bad());
        }
        *self = Self {
            state,
            rng,
            opts,
            last_action,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
