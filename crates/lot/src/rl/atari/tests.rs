//! The wrappers against a scripted fake emulator.
//!
//! The fake's screen is one flat colour that identifies the frame: after its n-th frame (every
//! `act` and every `reset` is a frame) every pixel is (n % 256, 255 - n % 256, 7). So the max of
//! two frames (elementwise) is (newer n, 255 - older n, 7), which tells which two frames were
//! maxed, and a flat colour survives the resize, so the gray obs is `gray(colour)` everywhere.

use std::collections::HashMap;

use super::emulator::Emulator;
use super::preprocess::OBS_SIDE;
use super::wrappers::{AtariConfig, AtariEnv};
use crate::error::is_input_error;
use crate::rl::env::{Env, EpisodeStats, Step};

const RESET: i32 = -1;
const BREAKOUT: [i32; 4] = [0, 1, 3, 4]; // NOOP FIRE RIGHT LEFT

#[derive(Clone, Copy, Debug, Default)]
struct Ev {
    reward: i32,
    lose_life: bool,
    over: bool,
    /// the emulator's frame limit cuts the episode
    cut: bool,
}

struct Fake {
    minimal: Vec<i32>,
    lives0: i32,
    lives: i32,
    over: bool,
    cut: bool,
    frame: u32,
    acts: u64,
    log: Vec<i32>,
    /// keyed by the running count of `act` calls (1-based, never reset)
    events: HashMap<u64, Ev>,
}

impl Fake {
    fn new(minimal: &[i32], lives: i32) -> Self {
        Fake {
            minimal: minimal.to_vec(),
            lives0: lives,
            lives,
            over: false,
            cut: false,
            frame: 0,
            acts: 0,
            log: Vec::new(),
            events: HashMap::new(),
        }
    }

    fn at(mut self, act: u64, ev: Ev) -> Self {
        self.events.insert(act, ev);
        self
    }
}

fn colour(frame: u32) -> [u8; 3] {
    [(frame % 256) as u8, 255 - (frame % 256) as u8, 7]
}

/// The flat RGB of the elementwise max of frames a and b.
fn max_colour(a: u32, b: u32) -> [u8; 3] {
    let (x, y) = (colour(a), colour(b));
    [x[0].max(y[0]), x[1].max(y[1]), x[2].max(y[2])]
}

fn gray([r, g, b]: [u8; 3]) -> f32 {
    super::preprocess::gray_of(r, g, b) as f32
}

impl Emulator for Fake {
    fn act(&mut self, action: i32) -> i32 {
        assert!(self.minimal.contains(&action), "acted {action}, not in the minimal set");
        self.acts += 1;
        self.frame += 1;
        self.log.push(action);
        let ev = self.events.get(&self.acts).copied().unwrap_or_default();
        if ev.lose_life && self.lives > 0 {
            self.lives -= 1;
            if self.lives == 0 {
                self.over = true;
            }
        }
        if ev.over {
            self.over = true;
        }
        if ev.cut {
            self.cut = true;
        }
        ev.reward
    }

    fn lives(&self) -> i32 {
        self.lives
    }

    fn game_over(&self) -> bool {
        self.over || self.cut
    }

    fn truncated(&self) -> bool {
        self.cut && !self.over
    }

    fn reset(&mut self) {
        self.lives = self.lives0;
        self.over = false;
        self.cut = false;
        self.frame += 1;
        self.log.push(RESET);
    }

    fn screen_rgb(&self, out: &mut [u8]) {
        for p in out.chunks_exact_mut(3) {
            p.copy_from_slice(&colour(self.frame));
        }
    }

    fn screen_size(&self) -> (usize, usize) {
        (210, 160)
    }

    fn minimal_actions(&self) -> &[i32] {
        &self.minimal
    }
}

/// Run-length form of an action log: "R 0*17 1*4 3*4".
fn rle(log: &[i32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < log.len() {
        let j = (i..log.len()).find(|&j| log[j] != log[i]).unwrap_or(log.len());
        let tok = if log[i] == RESET { "R".to_string() } else { log[i].to_string() };
        for _ in 0..if log[i] == RESET { j - i } else { 1 } {
            out.push(if log[i] == RESET { tok.clone() } else { format!("{tok}*{}", j - i) });
        }
        i = j;
    }
    out.join(" ")
}

fn take_log(env: &mut AtariEnv<Fake>) -> String {
    let s = rle(&env.emulator().log);
    env.emulator_mut().log.clear();
    s
}

fn cfg(noop_max: u32, fire_reset: bool) -> AtariConfig {
    AtariConfig { noop_max, fire_reset, ..AtariConfig::default() }
}

fn obs_buf() -> Vec<f32> {
    vec![0.0; 4 * OBS_SIDE * OBS_SIDE]
}

fn channel(obs: &[f32], c: usize) -> &[f32] {
    let n = OBS_SIDE * OBS_SIDE;
    &obs[c * n..(c + 1) * n]
}

fn assert_flat_rgb(env: &AtariEnv<Fake>, want: [u8; 3]) {
    let rgb = env.last_rgb();
    assert!(rgb.chunks_exact(3).all(|p| p == want), "obs RGB {:?}, want {want:?}", &rgb[..3]);
}

#[test]
fn noop_reset_takes_1_to_30_single_frame_noops() {
    let mut seen = [0usize; 31];
    for seed in 0..300 {
        let mut env = AtariEnv::new(Fake::new(&BREAKOUT, 5), cfg(30, true), seed).unwrap();
        env.reset(&mut obs_buf());
        let log = env.emulator().log.clone();
        assert_eq!(log[0], RESET);
        let k = log[1..].iter().take_while(|&&a| a == 0).count();
        assert!((1..=30).contains(&k), "seed {seed}: {k} noops");
        assert_eq!(rle(&log[1 + k..]), "1*4 3*4", "seed {seed}: FIRE then RIGHT, 4 frames each");
        seen[k] += 1;
        // same seed, same count
        let mut again = AtariEnv::new(Fake::new(&BREAKOUT, 5), cfg(30, true), seed).unwrap();
        again.reset(&mut obs_buf());
        assert_eq!(again.emulator().log, log);
    }
    assert_eq!(seen[0], 0);
    assert!(seen[1..].iter().all(|&c| c > 0), "every count 1..=30 drawn in 300 resets: {seen:?}");
    // noop_max 0: no noops at all
    let mut env = AtariEnv::new(Fake::new(&BREAKOUT, 5), cfg(0, true), 0).unwrap();
    env.reset(&mut obs_buf());
    assert_eq!(take_log(&mut env), "R 1*4 3*4");
}

#[test]
fn noop_reset_resets_again_when_the_game_ends_during_noops() {
    // find a seed that draws at least 5 noops, then end the game on the 3rd noop frame
    let k_of = |seed| {
        let mut env = AtariEnv::new(Fake::new(&BREAKOUT, 5), cfg(30, false), seed).unwrap();
        env.reset(&mut obs_buf());
        env.emulator().log.len() - 1
    };
    let seed = (0..).find(|&s| k_of(s) >= 5).unwrap();
    let k = k_of(seed);
    let fake = Fake::new(&BREAKOUT, 5).at(3, Ev { reward: 4, over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(30, false), seed).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), format!("R 0*3 R 0*{}", k - 3));
    // the reward of the noop phase is not kept in the next episode's score; the counters restarted
    let s = env.step(0, &mut obs);
    assert!(s.episode.is_none());
    // the obs of a NoopReset reset is the raw screen after the last noop (frame 1 + k + 1 resets)
    let mut env2 = AtariEnv::new(Fake::new(&BREAKOUT, 5), cfg(30, false), seed).unwrap();
    env2.reset(&mut obs);
    assert_flat_rgb(&env2, colour(1 + k as u32));
    assert!(obs.iter().all(|&v| v == gray(colour(1 + k as u32))));
}

#[test]
fn max_and_skip_sums_rewards_and_maxes_the_last_two_rgb_frames() {
    let fake = Fake::new(&BREAKOUT, 5)
        .at(1, Ev { reward: 2, ..Ev::default() })
        .at(4, Ev { reward: 3, ..Ev::default() });
    let unclipped = AtariConfig { noop_max: 0, fire_reset: false, clip_rewards: false, ..AtariConfig::default() };
    let mut env = AtariEnv::new(fake, unclipped, 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs); // frame 1
    assert_eq!(take_log(&mut env), "R");
    assert_flat_rgb(&env, colour(1));
    let s = env.step(2, &mut obs); // frames 2..=5 with RIGHT (ALE id 3)
    assert_eq!(take_log(&mut env), "3*4");
    assert_eq!(s, Step { reward: 5.0, terminated: false, truncated: false, episode: None });
    // elementwise max of frames 4 and 5: R from 5, G from 4
    assert_eq!(max_colour(4, 5), [5, 251, 7]);
    assert_flat_rgb(&env, [5, 251, 7]);
    assert!(channel(&obs, 3).iter().all(|&v| v == gray([5, 251, 7])));
    assert_ne!(gray([5, 251, 7]), gray(colour(4)).max(gray(colour(5))), "max is on RGB, not on gray");
}

#[test]
fn max_and_skip_stale_frame_quirk_on_early_done() {
    // game over on the first frame of the second step: the buffers keep frames 4 and 5
    let fake = Fake::new(&BREAKOUT, 5).at(5, Ev { reward: 1, over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, false), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    env.step(1, &mut obs); // frames 2..=5 (acts 1..=4)
    let s = env.step(1, &mut obs); // act 5 ends the game at i == 0
    assert_eq!(take_log(&mut env), "R 1*5");
    assert_eq!(s, Step { reward: 1.0, terminated: true, truncated: false, episode: Some(EpisodeStats { ret: 1.0, len: 5 }) });
    assert_flat_rgb(&env, max_colour(4, 5));
    // the same when the game ends at i == 1: frame 7 is never buffered
    let fake = Fake::new(&BREAKOUT, 5).at(6, Ev { over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, false), 0).unwrap();
    env.reset(&mut obs);
    env.step(1, &mut obs);
    let s = env.step(1, &mut obs);
    assert!(s.terminated && s.episode == Some(EpisodeStats { ret: 0.0, len: 6 }));
    assert_flat_rgb(&env, max_colour(4, 5));
    // ... and at i == 2 only buffer 0 is fresh (frame 8 = act 7), buffer 1 still frame 5
    let fake = Fake::new(&BREAKOUT, 5).at(7, Ev { over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, false), 0).unwrap();
    env.reset(&mut obs);
    env.step(1, &mut obs);
    env.step(1, &mut obs);
    assert_flat_rgb(&env, max_colour(8, 5));
}

#[test]
fn episodic_life_ends_the_episode_on_a_life_loss_and_resets_with_one_noop_step() {
    // lives 3; reset is R (frame 1) + fire (acts 1..=8). Rewards everywhere are raw-summed.
    let fake = Fake::new(&BREAKOUT, 3)
        .at(2, Ev { reward: 10, ..Ev::default() }) // during the FIRE step of the reset
        .at(10, Ev { reward: 1, lose_life: true, ..Ev::default() }) // 2nd frame of the 1st step
        .at(30, Ev { reward: 4, ..Ev::default() })
        .at(33, Ev { lose_life: true, ..Ev::default() })
        .at(50, Ev { lose_life: true, ..Ev::default() }); // the last life: game over
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*4 3*4");
    let s = env.step(3, &mut obs); // acts 9..=12: the life loss does not stop the frame skip
    assert_eq!(take_log(&mut env), "4*4");
    assert_eq!(s, Step { reward: 1.0, terminated: true, truncated: false, episode: None });
    assert_eq!(env.emulator().lives, 2);
    // reset after a life loss: one noop step through MaxAndSkip, then FIRE and action 2; no R
    env.reset(&mut obs); // acts 13..=24
    assert_eq!(take_log(&mut env), "0*4 1*4 3*4");
    assert_flat_rgb(&env, max_colour(24, 25)); // step(2)'s frames: acts 23 and 24 = frames 24, 25
    let mut total = 0;
    for _ in 0..2 {
        let s = env.step(0, &mut obs); // acts 25..=28, 29..=32
        assert!(!s.done());
        total += s.reward as i32;
    }
    assert_eq!(total, 1); // act 30: +4 clipped to +1
    let s = env.step(0, &mut obs); // acts 33..=36: second life lost
    assert!(s.terminated && s.episode.is_none());
    env.reset(&mut obs); // acts 37..=48
    assert_eq!(take_log(&mut env), "0*16 1*4 3*4", "the 3 steps of action 0, then the reset");
    // act 50 loses the last life: game over, the frame skip stops at once
    let s = env.step(2, &mut obs);
    assert_eq!(take_log(&mut env), "3*2");
    // the score of the whole game, raw, including the FIRE step's +10; length in frames
    assert_eq!(
        s,
        Step { reward: 0.0, terminated: true, truncated: false, episode: Some(EpisodeStats { ret: 15.0, len: 50 }) }
    );
}

/// SB3 2.x: when the noop step that a reset after a life loss takes ends the game, the reset
/// resets the game for real (SB3 1.x returned the finished game's screen).
#[test]
fn a_game_that_ends_in_the_noop_step_after_a_life_loss_is_reset_for_real() {
    let fake = Fake::new(&BREAKOUT, 3)
        .at(2, Ev { lose_life: true, ..Ev::default() })
        .at(6, Ev { over: true, ..Ev::default() }); // during the reset's noop step
    let mut env = AtariEnv::new(fake, cfg(0, false), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R");
    let s = env.step(3, &mut obs); // acts 1..=4: a life lost, the frame skip goes on
    assert_eq!(take_log(&mut env), "4*4");
    assert!(s.terminated && s.episode.is_none());
    assert_eq!(env.emulator().lives, 2);
    env.reset(&mut obs); // noop step: acts 5, 6 (game over stops the skip), then a real reset
    assert_eq!(take_log(&mut env), "0*2 R");
    assert_eq!(env.emulator().lives, 3);
    assert!(!env.emulator().over);
    assert_flat_rgb(&env, colour(env.emulator().frame)); // the fresh game's screen
    // The next step plays the new game: 4 frames, nothing ends.
    let s = env.step(0, &mut obs);
    assert_eq!(take_log(&mut env), "0*4");
    assert!(!s.done());
}

#[test]
fn game_over_reports_the_raw_full_game_score_and_the_next_reset_is_real() {
    let fake = Fake::new(&BREAKOUT, 2)
        .at(2, Ev { reward: 10, ..Ev::default() }) // reset's FIRE step
        .at(9, Ev { reward: 7, lose_life: true, ..Ev::default() })
        .at(21, Ev { reward: -3, ..Ev::default() })
        .at(26, Ev { reward: 5, lose_life: true, ..Ev::default() }); // lives 0: game over
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs); // R, acts 1..=8
    let s = env.step(0, &mut obs); // 9..=12
    assert!(s.terminated && s.episode.is_none() && s.reward == 1.0);
    env.reset(&mut obs); // 13..=24
    let s = env.step(0, &mut obs); // 25, 26: game over at i == 1
    assert_eq!(take_log(&mut env), "R 1*4 3*4 0*8 1*4 3*4 0*2");
    assert_eq!(
        s,
        Step { reward: 1.0, terminated: true, truncated: false, episode: Some(EpisodeStats { ret: 19.0, len: 26 }) }
    );
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*4 3*4", "a real reset after game over");
    assert_eq!(env.emulator().lives, 2);
}

#[test]
fn fire_reset_fires_after_every_reset_and_resets_again_on_done() {
    // a life lost during the FIRE step of a reset: EpisodicLife reset (noop step), then step(2)
    let fake = Fake::new(&BREAKOUT, 3).at(2, Ev { lose_life: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*4 0*4 3*4");
    // a life lost during step(2): reset again (noop step) but return step(2)'s observation
    let fake = Fake::new(&BREAKOUT, 3).at(6, Ev { lose_life: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*4 3*4 0*4");
    assert_flat_rgb(&env, max_colour(8, 9));
    assert!(obs.iter().all(|&v| v == gray(max_colour(8, 9))));
    // game over during the fire: a real reset follows
    let fake = Fake::new(&BREAKOUT, 3).at(3, Ev { over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*3 R 3*4");
    // action 2 is whatever the game's third minimal action is (UP in BeamRider)
    let mut env = AtariEnv::new(Fake::new(&[0, 1, 2, 3, 4, 6, 7, 11, 12], 3), cfg(0, true), 0).unwrap();
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*4 2*4");
    assert!(env.fire_reset());
}

#[test]
fn fire_reset_needs_fire_at_1_and_3_actions_and_is_skipped_without_fire() {
    let mut obs = obs_buf();
    let mut env = AtariEnv::new(Fake::new(&[0, 2, 5], 3), cfg(0, true), 0).unwrap();
    assert!(!env.fire_reset());
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R");
    for bad in [&[0, 3, 1][..], &[0, 1]] {
        let e = AtariEnv::new(Fake::new(bad, 3), cfg(0, true), 0).err().unwrap();
        assert!(is_input_error(&e) && format!("{e}").contains("FireReset"), "{e}");
    }
    // with fire_reset off the same games are accepted
    assert!(AtariEnv::new(Fake::new(&[0, 3, 1], 3), cfg(0, false), 0).is_ok());
    let e = AtariEnv::new(Fake::new(&[3, 0], 3), cfg(0, false), 0).err().unwrap();
    assert!(format!("{e}").contains("NOOP"), "{e}");
}

#[test]
fn rewards_are_sign_clipped_for_training_only() {
    let fake = Fake::new(&BREAKOUT, 5)
        .at(1, Ev { reward: 7, ..Ev::default() })
        .at(5, Ev { reward: -3, ..Ev::default() })
        .at(9, Ev { reward: 2, ..Ev::default() })
        .at(10, Ev { reward: -2, ..Ev::default() })
        .at(16, Ev { reward: 100, over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, false), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    let r: Vec<f32> = (0..4).map(|_| env.step(1, &mut obs).reward).collect();
    assert_eq!(r, [1.0, -1.0, 0.0, 1.0]);
    // the episode score stays raw
    let fake = Fake::new(&BREAKOUT, 5)
        .at(1, Ev { reward: 7, ..Ev::default() })
        .at(8, Ev { reward: -3, over: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, false), 0).unwrap();
    env.reset(&mut obs);
    env.step(1, &mut obs);
    let s = env.step(1, &mut obs);
    assert_eq!((s.reward, s.episode), (-1.0, Some(EpisodeStats { ret: 4.0, len: 8 })));
    // clip_rewards off: raw sums
    let fake = Fake::new(&BREAKOUT, 5).at(1, Ev { reward: 7, ..Ev::default() }).at(2, Ev { reward: 3, ..Ev::default() });
    let raw = AtariConfig { clip_rewards: false, ..cfg(0, false) };
    let mut env = AtariEnv::new(fake, raw, 0).unwrap();
    env.reset(&mut obs);
    assert_eq!(env.step(1, &mut obs).reward, 10.0);
}

#[test]
fn frame_stack_repeats_the_first_frame_and_orders_oldest_to_newest() {
    let mut env = AtariEnv::new(Fake::new(&BREAKOUT, 5), cfg(0, false), 0).unwrap();
    assert_eq!(env.obs_shape(), vec![4, 84, 84]);
    assert_eq!(env.num_actions(), 4);
    let mut obs = obs_buf();
    env.reset(&mut obs); // frame 1
    let g0 = gray(colour(1));
    for c in 0..4 {
        assert!(channel(&obs, c).iter().all(|&v| v == g0), "channel {c}");
    }
    // step t (1-based) maxes frames 4t and 4t+1
    let frame_gray = |t: u32| if t == 0 { g0 } else { gray(max_colour(4 * t, 4 * t + 1)) };
    for t in 1..=6u32 {
        env.step(0, &mut obs);
        for c in 0..4u32 {
            let want = frame_gray((t + c).saturating_sub(3));
            assert!(channel(&obs, c as usize).iter().all(|&v| v == want), "step {t} channel {c}: want {want}");
        }
        assert!(env.last_frame().iter().all(|&v| v as f32 == frame_gray(t)));
    }
    // a reset refills all four with its frame; without a done before it, EpisodicLife's reset is
    // a noop step (acts 25..=28, frames 26..=29), as in gym
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 0*28");
    let g = gray(max_colour(28, 29));
    assert!((0..4).all(|c| channel(&obs, c).iter().all(|&v| v == g)));
}

#[test]
fn time_limit_truncates_and_reports_the_episode() {
    let limited = AtariConfig { max_episode_frames: 10, ..cfg(0, false) };
    let fake = Fake::new(&BREAKOUT, 5).at(3, Ev { reward: 2, ..Ev::default() });
    let mut env = AtariEnv::new(fake, limited, 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    assert!(!env.step(0, &mut obs).done());
    assert!(!env.step(0, &mut obs).done());
    let s = env.step(0, &mut obs); // frame 10 is the 2nd of this step
    assert_eq!(s, Step { reward: 0.0, terminated: false, truncated: true, episode: Some(EpisodeStats { ret: 2.0, len: 10 }) });
    assert_eq!(take_log(&mut env), "R 0*10");
    env.reset(&mut obs); // a truncation is a real done: real reset, counters restart
    assert_eq!(take_log(&mut env), "R");
    for _ in 0..2 {
        assert!(!env.step(0, &mut obs).done());
    }
}

#[test]
fn emulator_frame_limit_is_a_truncation_and_a_real_done() {
    // ALE's max_num_frames_per_episode: game_over() with game_truncated()
    let fake = Fake::new(&BREAKOUT, 5).at(6, Ev { reward: 3, cut: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    let mut obs = obs_buf();
    env.reset(&mut obs);
    // the cut came during the reset's step(2) (acts 5, 6): FireReset resets once more, no new fire
    assert_eq!(take_log(&mut env), "R 1*4 3*2 R");
    let fake = Fake::new(&BREAKOUT, 5).at(10, Ev { reward: 3, cut: true, ..Ev::default() });
    let mut env = AtariEnv::new(fake, cfg(0, true), 0).unwrap();
    env.reset(&mut obs);
    let s = env.step(0, &mut obs); // acts 9, 10: cut
    assert_eq!(s, Step { reward: 1.0, terminated: false, truncated: true, episode: Some(EpisodeStats { ret: 3.0, len: 10 }) });
    env.reset(&mut obs);
    assert_eq!(take_log(&mut env), "R 1*4 3*4 0*2 R 1*4 3*4");
}
