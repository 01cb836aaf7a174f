//! Classic control: CartPole-v1 and Acrobot-v1 with gymnasium's dynamics, constants and episode
//! rules (including the 500-step TimeLimit). State is kept in f64 as gymnasium keeps it; the
//! observation is rounded to f32 as gymnasium returns it. Resets draw from a seeded ChaCha RNG
//! (the distribution matches gymnasium; numpy's exact stream is not reproduced).

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::env::{Env, EpisodeStats, Step};
use super::state::{StateReader, StateWriter};

/// gymnasium registers both with `max_episode_steps=500`.
pub const MAX_EPISODE_STEPS: u64 = 500;

/// Running return and length of the current episode, reported when it ends.
#[derive(Clone, Copy, Debug, Default)]
struct Episode {
    ret: f64,
    len: u64,
}

impl Episode {
    /// Account one step; returns the step with truncation and episode stats filled in.
    fn record(&mut self, reward: f32, terminated: bool) -> Step {
        self.ret += reward as f64;
        self.len += 1;
        let truncated = self.len >= MAX_EPISODE_STEPS;
        let episode = (terminated || truncated).then_some(EpisodeStats { ret: self.ret, len: self.len });
        Step { reward, terminated, truncated, episode }
    }
}

/// A classic-control env's whole state as bytes: the physical state, the reset RNG's position and
/// the running episode (tagged, so a CartPole state is never restored into an Acrobot).
fn save_classic(tag: u64, state: &[f64; 4], rng: &ChaCha8Rng, episode: &Episode) -> Vec<u8> {
    let mut w = StateWriter::default();
    w.u64(tag);
    for &s in state {
        w.f64(s);
    }
    w.f64(episode.ret).u64(episode.len).rng(rng);
    w.into_bytes()
}

fn restore_classic(tag: u64, bytes: &[u8]) -> anyhow::Result<([f64; 4], ChaCha8Rng, Episode)> {
    let mut r = StateReader::new(bytes);
    if r.u64()? != tag {
        anyhow::bail!("saved state belongs to another environment");
    }
    let state = [r.f64()?, r.f64()?, r.f64()?, r.f64()?];
    let episode = Episode { ret: r.f64()?, len: r.u64()? };
    let rng = r.rng()?;
    r.finish()?;
    Ok((state, rng, episode))
}

const CARTPOLE_TAG: u64 = u64::from_le_bytes(*b"CartPol1");
const ACROBOT_TAG: u64 = u64::from_le_bytes(*b"Acrobot1");

// ---------------------------------------------------------------------------------------------
// CartPole-v1

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_CART + MASS_POLE;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// CartPole-v1: push the cart left (0) or right (1); +1 per step, including the terminating one.
pub struct CartPole {
    /// (x, x_dot, theta, theta_dot)
    state: [f64; 4],
    rng: ChaCha8Rng,
    episode: Episode,
}

impl CartPole {
    pub fn new(seed: u64) -> Self {
        Self { state: [0.0; 4], rng: ChaCha8Rng::seed_from_u64(seed), episode: Episode::default() }
    }

    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Put the system in a given state (tests compare trajectories from a known start).
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
    }

    fn write_obs(&self, obs: &mut [f32]) {
        for (o, s) in obs.iter_mut().zip(self.state) {
            *o = s as f32;
        }
    }
}

impl Env for CartPole {
    fn obs_shape(&self) -> Vec<usize> {
        vec![4]
    }
    fn num_actions(&self) -> usize {
        2
    }

    fn reset(&mut self, obs: &mut [f32]) {
        for s in self.state.iter_mut() {
            *s = self.rng.gen_range(-0.05..0.05);
        }
        self.episode = Episode::default();
        self.write_obs(obs);
    }

    fn step(&mut self, action: usize, obs: &mut [f32]) -> Step {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sin, cos) = theta.sin_cos();
        let temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * sin) / TOTAL_MASS;
        let theta_acc =
            (GRAVITY * sin - cos * temp) / (LENGTH * (4.0 / 3.0 - MASS_POLE * cos * cos / TOTAL_MASS));
        let x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        // gymnasium's default "euler" integrator: positions move with the old velocities.
        self.state = [x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc];
        let [x, _, theta, _] = self.state;
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x) || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        self.write_obs(obs);
        self.episode.record(1.0, terminated)
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(save_classic(CARTPOLE_TAG, &self.state, &self.rng, &self.episode))
    }

    fn restore_state(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        (self.state, self.rng, self.episode) = restore_classic(CARTPOLE_TAG, bytes)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Acrobot-v1

const ACRO_DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

/// Acrobot-v1: torque −1/0/+1 on the joint between the links; −1 per step until the tip swings
/// above the bar (then 0 and the episode ends).
pub struct Acrobot {
    /// (theta1, theta2, dtheta1, dtheta2)
    state: [f64; 4],
    rng: ChaCha8Rng,
    episode: Episode,
}

impl Acrobot {
    pub fn new(seed: u64) -> Self {
        Self { state: [0.0; 4], rng: ChaCha8Rng::seed_from_u64(seed), episode: Episode::default() }
    }

    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [t1, t2, d1, d2] = self.state;
        let v = [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2];
        for (o, x) in obs.iter_mut().zip(v) {
            *o = x as f32;
        }
    }

    fn terminal(&self) -> bool {
        let [t1, t2, _, _] = self.state;
        -t1.cos() - (t2 + t1).cos() > 1.0
    }
}

/// The "book" equations of motion (Sutton & Barto), as gymnasium's `_dsdt`; the torque is constant.
fn acrobot_dsdt(s: [f64; 4], torque: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2, i1, i2, g) =
        (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI, 9.8);
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * dtheta2 * dtheta2 * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1 * dtheta1 * theta2.sin() - phi2)
        / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// One classic RK4 step of length `dt` (gymnasium's `rk4` over `[0, dt]`).
fn rk4(y: [f64; 4], dt: f64, f: impl Fn([f64; 4]) -> [f64; 4]) -> [f64; 4] {
    let add = |a: [f64; 4], k: [f64; 4], h: f64| std::array::from_fn(|i| a[i] + h * k[i]);
    let k1 = f(y);
    let k2 = f(add(y, k1, dt / 2.0));
    let k3 = f(add(y, k2, dt / 2.0));
    let k4 = f(add(y, k3, dt));
    std::array::from_fn(|i| y[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// gymnasium's `wrap`: shift by whole periods into [lo, hi].
fn wrap(mut x: f64, lo: f64, hi: f64) -> f64 {
    let diff = hi - lo;
    while x > hi {
        x -= diff;
    }
    while x < lo {
        x += diff;
    }
    x
}

impl Env for Acrobot {
    fn obs_shape(&self) -> Vec<usize> {
        vec![6]
    }
    fn num_actions(&self) -> usize {
        3
    }

    fn reset(&mut self, obs: &mut [f32]) {
        // gymnasium draws the start state as float32 (`.astype(np.float32)`).
        for s in self.state.iter_mut() {
            *s = self.rng.gen_range(-0.1f64..0.1) as f32 as f64;
        }
        self.episode = Episode::default();
        self.write_obs(obs);
    }

    fn step(&mut self, action: usize, obs: &mut [f32]) -> Step {
        let torque = AVAIL_TORQUE[action.min(2)];
        let ns = rk4(self.state, ACRO_DT, |s| acrobot_dsdt(s, torque));
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            ns[2].clamp(-MAX_VEL_1, MAX_VEL_1),
            ns[3].clamp(-MAX_VEL_2, MAX_VEL_2),
        ];
        let terminated = self.terminal();
        self.write_obs(obs);
        self.episode.record(if terminated { 0.0 } else { -1.0 }, terminated)
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(save_classic(ACROBOT_TAG, &self.state, &self.rng, &self.episode))
    }

    fn restore_state(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        (self.state, self.rng, self.episode) = restore_classic(ACROBOT_TAG, bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Trajectories against an independent f64 transcription of the published equations
    //! (Barto, Sutton & Anderson 1983 / Florian 2007 for CartPole; Sutton & Barto's acrobot),
    //! plus a few values that gymnasium 1.4.0 itself produced from the same start states.
    use super::*;

    /// CartPole by the textbook formulas, written out term by term.
    fn cartpole_reference(s: [f64; 4], action: usize) -> [f64; 4] {
        let (g, mc, mp, l, f, dt) = (9.8f64, 1.0f64, 0.1f64, 0.5f64, 10.0f64, 0.02f64);
        let (x, v, th, w) = (s[0], s[1], s[2], s[3]);
        let force = if action == 1 { f } else { -f };
        let m = mc + mp;
        let b = (force + mp * l * w.powi(2) * th.sin()) / m;
        let alpha = (g * th.sin() - th.cos() * b) / (l * (4.0 / 3.0 - mp * th.cos().powi(2) / m));
        let a = b - mp * l * alpha * th.cos() / m;
        [x + dt * v, v + dt * a, th + dt * w, w + dt * alpha]
    }

    #[test]
    fn cartpole_follows_the_equations_and_terminates() {
        let mut env = CartPole::new(1);
        let mut obs = [0f32; 4];
        let start = [0.01, -0.02, 0.03, 0.04];
        env.set_state(start);
        let mut s = start;
        let actions = [1, 1, 0, 1, 0, 0, 0, 1, 1, 1];
        for (t, &a) in actions.iter().cycle().take(200).enumerate() {
            let step = env.step(a, &mut obs);
            s = cartpole_reference(s, a);
            for i in 0..4 {
                assert!((env.state()[i] - s[i]).abs() < 1e-12, "t {t}: {:?} vs {s:?}", env.state());
                assert_eq!(obs[i], s[i] as f32);
            }
            assert_eq!(step.reward, 1.0);
            let fell = s[0].abs() > 2.4 || s[2].abs() > 12f64.to_radians();
            assert_eq!(step.terminated, fell, "t {t}");
            if fell {
                assert_eq!(step.episode, Some(EpisodeStats { ret: (t + 1) as f64, len: t as u64 + 1 }));
                return;
            }
        }
        panic!("the pole should fall under this open-loop action sequence");
    }

    #[test]
    fn cartpole_matches_gymnasium_values() {
        // gymnasium 1.4.0: env.unwrapped.state = [0.01, -0.02, 0.03, 0.04]; step(1); step(1); step(0)
        let expect: [[f64; 4]; 3] = [
            [0.009600000455975533, 0.17467918992042542, 0.030799999833106995, -0.24306872487068176],
            [0.013093584217131138, 0.3693479895591736, 0.025938626378774643, -0.5258796215057373],
            [0.02048054337501526, 0.17387081682682037, 0.015421032905578613, -0.22513741254806519],
        ];
        let mut env = CartPole::new(0);
        env.set_state([0.01, -0.02, 0.03, 0.04]);
        let mut obs = [0f32; 4];
        for (a, e) in [1, 1, 0].into_iter().zip(expect) {
            env.step(a, &mut obs);
            for i in 0..4 {
                assert!((obs[i] as f64 - e[i]).abs() <= 1e-7 * (1.0 + e[i].abs()), "{obs:?} vs {e:?}");
            }
        }
    }

    #[test]
    fn cartpole_truncates_at_500_and_resets_in_range() {
        let mut env = CartPole::new(7);
        let mut obs = [0f32; 4];
        env.reset(&mut obs);
        assert!(obs.iter().all(|o| o.abs() <= 0.05));
        let mut last = Step::default();
        for t in 0..MAX_EPISODE_STEPS {
            // keep the pole upright so only the time limit can end the episode
            env.set_state([0.0; 4]);
            last = env.step((t % 2) as usize, &mut obs);
            assert!(!last.terminated);
            if t + 1 < MAX_EPISODE_STEPS {
                assert!(!last.truncated && last.episode.is_none());
            }
        }
        assert!(last.truncated);
        assert_eq!(last.episode, Some(EpisodeStats { ret: 500.0, len: 500 }));
        // same seed, same resets; another seed, other resets
        let (mut a, mut b, mut c) = (CartPole::new(3), CartPole::new(3), CartPole::new(4));
        let (mut oa, mut ob, mut oc) = ([0f32; 4], [0f32; 4], [0f32; 4]);
        a.reset(&mut oa);
        b.reset(&mut ob);
        c.reset(&mut oc);
        assert_eq!(oa, ob);
        assert_ne!(oa, oc);
    }

    /// Acrobot, the "book" variant of Sutton & Barto's equations, in f64, integrated with RK4.
    fn acrobot_reference(s: [f64; 4], torque: f64) -> [f64; 4] {
        let deriv = |y: &[f64; 4]| -> [f64; 4] {
            let (m1, m2, l1, lc1, lc2, i1, i2, g): (f64, f64, f64, f64, f64, f64, f64, f64) = (1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 9.8);
            let (q1, q2, w1, w2) = (y[0], y[1], y[2], y[3]);
            let d1 = m1 * lc1.powi(2) + m2 * (l1.powi(2) + lc2.powi(2) + 2.0 * l1 * lc2 * q2.cos()) + i1 + i2;
            let d2 = m2 * (lc2.powi(2) + l1 * lc2 * q2.cos()) + i2;
            let phi2 = m2 * lc2 * g * (q1 + q2 - std::f64::consts::FRAC_PI_2).cos();
            let phi1 = -m2 * l1 * lc2 * w2.powi(2) * q2.sin() - 2.0 * m2 * l1 * lc2 * w2 * w1 * q2.sin()
                + (m1 * lc1 + m2 * l1) * g * (q1 - std::f64::consts::FRAC_PI_2).cos()
                + phi2;
            let acc2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * w1.powi(2) * q2.sin() - phi2)
                / (m2 * lc2.powi(2) + i2 - d2.powi(2) / d1);
            let acc1 = -(d2 * acc2 + phi1) / d1;
            [w1, w2, acc1, acc2]
        };
        let h = 0.2;
        let shift = |y: &[f64; 4], k: &[f64; 4], c: f64| [y[0] + c * k[0], y[1] + c * k[1], y[2] + c * k[2], y[3] + c * k[3]];
        let k1 = deriv(&s);
        let k2 = deriv(&shift(&s, &k1, h / 2.0));
        let k3 = deriv(&shift(&s, &k2, h / 2.0));
        let k4 = deriv(&shift(&s, &k3, h));
        let mut n = [0.0; 4];
        for i in 0..4 {
            n[i] = s[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
        let pi = std::f64::consts::PI;
        for q in n.iter_mut().take(2) {
            // angles back into [-π, π]
            while *q > pi {
                *q -= 2.0 * pi;
            }
            while *q < -pi {
                *q += 2.0 * pi;
            }
        }
        n[2] = n[2].max(-4.0 * pi).min(4.0 * pi);
        n[3] = n[3].max(-9.0 * pi).min(9.0 * pi);
        n
    }

    #[test]
    fn acrobot_follows_the_equations_wraps_and_bounds() {
        let mut env = Acrobot::new(0);
        let mut obs = [0f32; 6];
        let start = [0.05, -0.03, 0.02, 0.01];
        env.set_state(start);
        let mut s = start;
        let mut terminated_at = None;
        // pump energy: torque in the direction of the second joint's velocity (gymnasium: done at t = 72)
        for t in 0..400 {
            let a = if s[3] >= 0.0 { 2 } else { 0 };
            let step = env.step(a, &mut obs);
            s = acrobot_reference(s, [-1.0, 0.0, 1.0][a]);
            for i in 0..4 {
                assert!((env.state()[i] - s[i]).abs() < 1e-9, "t {t}: {:?} vs {s:?}", env.state());
            }
            let want = [s[0].cos(), s[0].sin(), s[1].cos(), s[1].sin(), s[2], s[3]];
            for i in 0..6 {
                assert!((obs[i] as f64 - want[i]).abs() < 1e-6, "t {t} obs {obs:?} vs {want:?}");
            }
            assert!(s[0].abs() <= std::f64::consts::PI && s[1].abs() <= std::f64::consts::PI);
            let up = -s[0].cos() - (s[1] + s[0]).cos() > 1.0;
            assert_eq!(step.terminated, up, "t {t}");
            assert_eq!(step.reward, if up { 0.0 } else { -1.0 });
            if up {
                terminated_at = Some(t);
                assert_eq!(step.episode, Some(EpisodeStats { ret: -(t as f64), len: t as u64 + 1 }));
                break;
            }
        }
        assert!(terminated_at.is_some(), "energy pumping should swing the tip up within 400 steps");
    }

    #[test]
    fn acrobot_matches_gymnasium_values() {
        // gymnasium 1.4.0: env.unwrapped.state = np.array([0.05, -0.03, 0.02, 0.01]); step(2); step(2); step(0)
        let expect: [[f64; 6]; 3] = [
            [0.9994232654571533, 0.03395773842930794, 0.9999015927314758, 0.014027896337211132, -0.17546464502811432, 0.41971561312675476],
            [0.9998682737350464, -0.016231274232268333, 0.9915881156921387, 0.1294335275888443, -0.31232425570487976, 0.7094697952270508],
            [0.9983376264572144, -0.0576363280415535, 0.9768105745315552, 0.2141052782535553, -0.09182317554950714, 0.13093718886375427],
        ];
        let mut env = Acrobot::new(0);
        env.set_state([0.05, -0.03, 0.02, 0.01]);
        let mut obs = [0f32; 6];
        for (a, e) in [2, 2, 0].into_iter().zip(expect) {
            env.step(a, &mut obs);
            for i in 0..6 {
                assert!((obs[i] as f64 - e[i]).abs() <= 2e-7 * (1.0 + e[i].abs()), "{obs:?} vs {e:?}");
            }
        }
    }

    #[test]
    fn acrobot_resets_in_range_and_truncates_at_500() {
        let mut env = Acrobot::new(5);
        let mut obs = [0f32; 6];
        env.reset(&mut obs);
        let s = env.state();
        assert!(s.iter().all(|v| v.abs() <= 0.1 && (*v as f32) as f64 == *v));
        let mut last = Step::default();
        for _ in 0..MAX_EPISODE_STEPS {
            env.set_state([0.0; 4]); // hanging still: never terminal
            last = env.step(1, &mut obs);
        }
        assert!(last.truncated && !last.terminated);
        assert_eq!(last.episode, Some(EpisodeStats { ret: -500.0, len: 500 }));
    }

    /// A saved env, restored into a fresh one (other seed), continues exactly as the original:
    /// same observations, rewards, episode ends and statistics, and the same resets after them.
    fn saved_state_continues_exactly<E: Env>(make: impl Fn(u64) -> E, obs_len: usize, actions: usize) {
        let mut a = make(11);
        let mut oa = vec![0f32; obs_len];
        a.reset(&mut oa);
        for t in 0..37 {
            if a.step(t % actions, &mut oa).done() {
                a.reset(&mut oa);
            }
        }
        let mut b = make(999);
        let mut ob = vec![0f32; obs_len];
        b.reset(&mut ob);
        b.restore_state(&a.save_state().unwrap()).unwrap();
        let mut resets = 0;
        for t in 0..3000 {
            let act = (t * 7 + t / 3) % actions;
            let (sa, sb) = (a.step(act, &mut oa), b.step(act, &mut ob));
            assert_eq!(sa, sb, "t {t}");
            assert_eq!(oa, ob, "t {t}");
            if sa.done() {
                resets += 1;
                a.reset(&mut oa);
                b.reset(&mut ob);
                assert_eq!(oa, ob);
            }
        }
        assert!(resets > 2);
        assert_eq!(a.save_state(), b.save_state());
    }

    #[test]
    fn save_and_restore_state() {
        saved_state_continues_exactly(CartPole::new, 4, 2);
        saved_state_continues_exactly(Acrobot::new, 6, 3);
        let cp = CartPole::new(1).save_state().unwrap();
        let e = Acrobot::new(1).restore_state(&cp).unwrap_err().to_string();
        assert!(e.contains("another environment"), "{e}");
        assert!(CartPole::new(1).restore_state(&cp[..cp.len() - 1]).is_err());
    }
}
