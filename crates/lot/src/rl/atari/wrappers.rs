//! The Atari wrapper stack of cleanRL's ppo_atari.py (gym 0.23 + SB3 atari_wrappers), as one
//! `Env` whose private methods mirror the wrappers' call structure (docs/atari.md, "Wrapper
//! semantics"), innermost first:
//!
//! - base: `<Game>NoFrameskip-v4`: one frame per step, action `i` = minimal set `[i]`,
//!   done = the emulator's game over, which includes its frame limit (ALE's
//!   max_num_frames_per_episode, 108 000 for v4; such a cut is reported as `truncated`);
//!   optionally a gym TimeLimit on top (`max_episode_frames`, off by default as in the v4
//!   registrations); RecordEpisodeStatistics (the raw, unclipped score of the whole game and its
//!   length in frames, counting the noop and fire frames of resets too) → `Step.episode`.
//! - NoopReset(30): on a real reset, `reset_game` then k ~ U{1..30} single-frame steps of action 0,
//!   resetting again if the game ends during them.
//! - MaxAndSkip(4): repeat the action 4 frames, sum the rewards, stop early on done; the obs is
//!   the elementwise max of the RGB screens after frames 3 and 4. Quirk kept: when done comes
//!   before frame 3, the two buffers still hold frames of an earlier step (stale).
//!   Its reset passes through (obs = the screen).
//! - EpisodicLife: a step that loses a life (0 < lives < previous lives) is done (`terminated`);
//!   the following reset takes one noop step through MaxAndSkip (4 frames, no noop randomisation)
//!   instead of resetting the game, unless the game really ended; if that noop step ends the game,
//!   the reset is a real one after all (SB3 2.x's `EpisodicLifeEnv.reset`).
//! - FireReset (when the minimal set has FIRE; it must be action 1 and there must be ≥ 3 actions):
//!   every reset, real or after a life loss, is followed by step(1) and step(2) (4 frames each),
//!   resetting if either ends the episode; the obs is that of step(2) even then (as SB3).
//! - ClipReward: the training reward is sign(reward) (the episode statistics stay raw).
//! - Resize 84x84 INTER_AREA, then gray (preprocess.rs), then FrameStack(4): channels
//!   oldest → newest; a reset fills all 4 with the first frame.
//!
//! Observations are written as f32 with integer values 0..=255, shape [4, 84, 84].
//!
//! An episode that ends inside a reset sequence (during the noops, the post-life-loss noop step
//! or the fire steps) is not reported, as in gym, where its info is dropped by the reset.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::emulator::Emulator;
use super::preprocess::{Preprocess, OBS_SIDE};
use crate::bail_input;
use crate::rl::env::{Env, EpisodeStats, Step};

/// ALE's FIRE action id.
const FIRE: i32 = 1;

/// Wrapper settings; the default is cleanRL's ppo_atari training stack.
#[derive(Clone, Debug, PartialEq)]
pub struct AtariConfig {
    /// NoopReset's noop_max (0 = no noops).
    pub noop_max: u32,
    /// MaxAndSkip's skip (≥ 1).
    pub frame_skip: usize,
    /// EpisodicLife on: a lost life ends the (training) episode.
    pub episodic_life: bool,
    /// FireReset when the game has a FIRE action.
    pub fire_reset: bool,
    /// Sign-clip the training reward.
    pub clip_rewards: bool,
    /// FrameStack depth (≥ 1).
    pub frame_stack: usize,
    /// A gym TimeLimit on base (single-frame) steps, 0 = none (the default: the v4 registrations
    /// of ale-py have none and rely on ALE's own 108 000-frame limit, set in the emulator).
    pub max_episode_frames: u64,
}

impl Default for AtariConfig {
    fn default() -> Self {
        AtariConfig {
            noop_max: 30,
            frame_skip: 4,
            episodic_life: true,
            fire_reset: true,
            clip_rewards: true,
            frame_stack: 4,
            max_episode_frames: 0,
        }
    }
}

/// What a base (single-frame) step returns.
#[derive(Clone, Copy, Debug, Default)]
struct BaseStep {
    reward: f64,
    /// gym's done: game over, emulator frame limit or TimeLimit
    done: bool,
    /// the game itself ended (not a cut)
    terminal: bool,
    episode: Option<EpisodeStats>,
}

/// What a MaxAndSkip / EpisodicLife step returns.
#[derive(Clone, Copy, Debug, Default)]
struct SkipStep {
    reward: f64,
    done: bool,
    terminal: bool,
    life_lost: bool,
    episode: Option<EpisodeStats>,
}

/// Where the observation a reset returns is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ObsAt {
    /// the emulator's current screen
    Screen,
    /// max of MaxAndSkip's two buffers
    MaxBuf,
    /// already in `rgb`
    Saved,
}

/// The wrapped Atari environment over any [`Emulator`].
pub struct AtariEnv<E: Emulator> {
    emu: E,
    cfg: AtariConfig,
    actions: Vec<i32>,
    fire: bool,
    rng: ChaCha8Rng,
    /// noop counts to use instead of drawing them (parity checks against a recorded run)
    noop_script: std::collections::VecDeque<u32>,
    screen_len: usize,
    // base: optional TimeLimit + RecordEpisodeStatistics
    elapsed: u64,
    ep_ret: f64,
    ep_len: u64,
    // MaxAndSkip
    skip_buf: [Vec<u8>; 2],
    // EpisodicLife
    lives: i32,
    was_real_done: bool,
    // preprocessing and FrameStack
    rgb: Vec<u8>,
    pre: Preprocess,
    stack: Vec<u8>,
    oldest: usize,
}

impl<E: Emulator> AtariEnv<E> {
    /// Wrap `emu`; `seed` seeds NoopReset's noop counts. Input error if FireReset applies but the
    /// action set is not shaped as gym's FireResetEnv asserts.
    pub fn new(emu: E, cfg: AtariConfig, seed: u64) -> Result<Self> {
        if cfg.frame_skip == 0 || cfg.frame_stack == 0 {
            bail_input!("atari: frame_skip and frame_stack must be at least 1");
        }
        let actions = emu.minimal_actions().to_vec();
        if actions.is_empty() || actions[0] != 0 {
            bail_input!("atari: action 0 of the minimal set must be NOOP (got {actions:?})");
        }
        let fire = cfg.fire_reset && actions.contains(&FIRE);
        if fire && (actions.get(1) != Some(&FIRE) || actions.len() < 3) {
            bail_input!("atari: FireReset needs FIRE as action 1 and at least 3 actions (got {actions:?})");
        }
        let (h, w) = emu.screen_size();
        let n = OBS_SIDE * OBS_SIDE;
        Ok(AtariEnv {
            emu,
            actions,
            fire,
            rng: ChaCha8Rng::seed_from_u64(seed),
            noop_script: Default::default(),
            screen_len: h * w * 3,
            elapsed: 0,
            ep_ret: 0.0,
            ep_len: 0,
            skip_buf: [vec![0; h * w * 3], vec![0; h * w * 3]],
            lives: 0,
            was_real_done: true,
            rgb: vec![0; h * w * 3],
            pre: Preprocess::new(h, w),
            stack: vec![0; cfg.frame_stack * n],
            oldest: 0,
            cfg,
        })
    }

    /// Use these noop counts, in order, for the next real resets instead of drawing them (as
    /// SB3's `override_num_noops`, one per reset); for replaying a recorded Python run.
    pub fn script_noops(&mut self, counts: impl IntoIterator<Item = u32>) {
        self.noop_script.extend(counts);
    }

    /// Scripted noop counts not used yet.
    pub fn scripted_noops_left(&self) -> usize {
        self.noop_script.len()
    }

    pub fn config(&self) -> &AtariConfig {
        &self.cfg
    }

    /// ALE action ids behind the agent's actions.
    pub fn action_ids(&self) -> &[i32] {
        &self.actions
    }

    /// Whether FireReset is on for this game.
    pub fn fire_reset(&self) -> bool {
        self.fire
    }

    pub fn emulator(&self) -> &E {
        &self.emu
    }

    pub fn emulator_mut(&mut self) -> &mut E {
        &mut self.emu
    }

    /// The RGB frame behind the newest observation (before resize and gray).
    pub fn last_rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// The newest preprocessed 84x84 frame.
    pub fn last_frame(&self) -> &[u8] {
        let n = OBS_SIDE * OBS_SIDE;
        let newest = (self.oldest + self.cfg.frame_stack - 1) % self.cfg.frame_stack;
        &self.stack[newest * n..(newest + 1) * n]
    }

    // --- base env (+ TimeLimit) + RecordEpisodeStatistics -------------------------------------

    fn base_reset(&mut self) {
        self.emu.reset();
        self.elapsed = 0;
        self.ep_ret = 0.0;
        self.ep_len = 0;
    }

    fn base_step(&mut self, a: usize) -> BaseStep {
        let reward = self.emu.act(self.actions[a]) as f64;
        let game_over = self.emu.game_over();
        let terminal = game_over && !self.emu.truncated();
        self.elapsed += 1;
        let limit = self.cfg.max_episode_frames > 0 && self.elapsed >= self.cfg.max_episode_frames;
        let done = game_over || limit;
        self.ep_ret += reward;
        self.ep_len += 1;
        let episode = done.then(|| {
            let e = EpisodeStats { ret: self.ep_ret, len: self.ep_len };
            self.ep_ret = 0.0;
            self.ep_len = 0;
            e
        });
        BaseStep { reward, done, terminal, episode }
    }

    // --- NoopReset -----------------------------------------------------------------------------

    /// Obs: the current screen.
    fn noop_reset(&mut self) {
        self.base_reset();
        let k = match self.noop_script.pop_front() {
            Some(k) => k,
            None if self.cfg.noop_max == 0 => return,
            None => self.rng.gen_range(1..=self.cfg.noop_max),
        };
        for _ in 0..k {
            if self.base_step(0).done {
                self.base_reset();
            }
        }
    }

    // --- MaxAndSkip ----------------------------------------------------------------------------

    /// Obs: max of the two buffers.
    fn skip_step(&mut self, a: usize) -> SkipStep {
        let skip = self.cfg.frame_skip;
        let mut out = SkipStep::default();
        for i in 0..skip {
            let s = self.base_step(a);
            if i + 2 == skip {
                self.emu.screen_rgb(&mut self.skip_buf[0]);
            } else if i + 1 == skip {
                self.emu.screen_rgb(&mut self.skip_buf[1]);
            }
            out.reward += s.reward;
            out.done = s.done;
            out.terminal = s.terminal;
            out.episode = s.episode;
            if s.done {
                break;
            }
        }
        out
    }

    // --- EpisodicLife --------------------------------------------------------------------------

    fn life_step(&mut self, a: usize) -> SkipStep {
        let mut s = self.skip_step(a);
        if self.cfg.episodic_life {
            self.was_real_done = s.done;
            let lives = self.emu.lives();
            if 0 < lives && lives < self.lives {
                s.life_lost = true;
                s.done = true;
            }
            self.lives = lives;
        }
        s
    }

    fn life_reset(&mut self) -> ObsAt {
        if !self.cfg.episodic_life {
            self.noop_reset();
            return ObsAt::Screen;
        }
        let at = if self.was_real_done {
            self.noop_reset();
            ObsAt::Screen
        } else if self.skip_step(0).done {
            // SB3 2.x: the noop step (through MaxAndSkip, not this layer, so was_real_done stays)
            // ended the game, so reset for real rather than hand back a finished game.
            self.noop_reset();
            ObsAt::Screen
        } else {
            ObsAt::MaxBuf
        };
        self.lives = self.emu.lives();
        at
    }

    // --- FireReset -----------------------------------------------------------------------------

    fn fire_reset_seq(&mut self) -> ObsAt {
        self.life_reset();
        if self.life_step(1).done {
            self.life_reset();
        }
        if self.life_step(2).done {
            // SB3 returns step(2)'s obs even though it resets after it
            self.materialize(ObsAt::MaxBuf);
            self.life_reset();
            return ObsAt::Saved;
        }
        ObsAt::MaxBuf
    }

    // --- observation ---------------------------------------------------------------------------

    fn materialize(&mut self, at: ObsAt) {
        match at {
            ObsAt::Screen => self.emu.screen_rgb(&mut self.rgb),
            ObsAt::MaxBuf => {
                let [a, b] = &self.skip_buf;
                for ((o, x), y) in self.rgb.iter_mut().zip(a).zip(b) {
                    *o = (*x).max(*y);
                }
            }
            ObsAt::Saved => {}
        }
    }

    /// Preprocess `rgb` into the newest stack slot (`fill`: into every slot).
    fn push_frame(&mut self, fill: bool, obs: &mut [f32]) {
        let n = OBS_SIDE * OBS_SIDE;
        let k = self.cfg.frame_stack;
        assert_eq!(obs.len(), k * n, "atari obs buffer must hold [{k}, 84, 84]");
        debug_assert_eq!(self.rgb.len(), self.screen_len);
        let slot = self.oldest;
        self.pre.run(&self.rgb, &mut self.stack[slot * n..(slot + 1) * n]);
        if fill {
            for j in (0..k).filter(|&j| j != slot) {
                self.stack.copy_within(slot * n..(slot + 1) * n, j * n);
            }
        }
        self.oldest = (self.oldest + 1) % k;
        // channels oldest -> newest
        for j in 0..k {
            let src = &self.stack[((self.oldest + j) % k) * n..][..n];
            for (o, &v) in obs[j * n..(j + 1) * n].iter_mut().zip(src) {
                *o = v as f32;
            }
        }
    }
}

impl<E: Emulator> Env for AtariEnv<E> {
    fn obs_shape(&self) -> Vec<usize> {
        vec![self.cfg.frame_stack, OBS_SIDE, OBS_SIDE]
    }

    fn num_actions(&self) -> usize {
        self.actions.len()
    }

    fn reset(&mut self, obs: &mut [f32]) {
        let at = if self.fire { self.fire_reset_seq() } else { self.life_reset() };
        self.materialize(at);
        self.push_frame(true, obs);
    }

    fn step(&mut self, action: usize, obs: &mut [f32]) -> Step {
        assert!(action < self.actions.len(), "atari: action {action} out of 0..{}", self.actions.len());
        let s = self.life_step(action);
        self.materialize(ObsAt::MaxBuf);
        self.push_frame(false, obs);
        let reward = if self.cfg.clip_rewards {
            // np.sign
            if s.reward > 0.0 {
                1.0
            } else if s.reward < 0.0 {
                -1.0
            } else {
                0.0
            }
        } else {
            s.reward as f32
        };
        let terminated = s.terminal || s.life_lost;
        Step { reward, terminated, truncated: s.done && !terminated, episode: s.episode }
    }
}
