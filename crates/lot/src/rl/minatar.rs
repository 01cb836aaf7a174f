//! The MinAtar games (`MinAtar/Breakout-v1` …) as lot envs: observations are the game's C×10×10
//! boolean channels as f32 (CHW), rewards unclipped, no step limit (the gym ids set none; Freeway
//! ends itself after 2500 steps and, as in the package, that step is terminal). The games are the
//! GPL-3.0 `minatar` crate, built only with the `minatar` cargo feature; without it every MinAtar
//! name is an input error that says how to build it.

use anyhow::Result;

use super::env::Env;
use crate::bail_input;

/// The games, by their gym-id titles (`MinAtar/<Title>-v1`; `-v0` has all six actions).
pub const GAMES: [&str; 5] = [
    "Asterix",
    "Breakout",
    "Freeway",
    "Seaquest",
    "SpaceInvaders",
];

pub fn is_minatar_name(name: &str) -> bool {
    name.starts_with("MinAtar/")
}

/// Check a `MinAtar/...` name: one of the package's gym ids, and this build has the games.
pub fn check_name(name: &str) -> Result<()> {
    let known = name
        .strip_prefix("MinAtar/")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(title, v)| GAMES.contains(&title) && (v == "v1" || v == "v0"));
    if !known {
        bail_input!("key 'env.name': unknown MinAtar game '{name}' (known: MinAtar/<Game>-v1 or -v0 with Game one of {})", GAMES.join(", "));
    }
    if !cfg!(feature = "minatar") {
        bail_input!(
            "key 'env.name': '{name}' is a MinAtar game, and this build has no MinAtar support; rebuild with `cargo build --release --features minatar` (the games are GPL-3.0: see the README's license note)"
        );
    }
    Ok(())
}

/// Build MinAtar game `name` seeded with `seed` (numpy's RandomState seed, so below 2^32).
pub fn make(name: &str, seed: u64) -> Result<Box<dyn Env>> {
    check_name(name)?;
    let Ok(seed) = u32::try_from(seed) else {
        bail_input!("MinAtar env seed {seed} is too large: the games seed numpy's RandomState, which takes seeds below 2^32 (lower run.seed)");
    };
    imp::make(name, seed)
}

#[cfg(not(feature = "minatar"))]
mod imp {
    /// Not reached: `check_name` already failed without the feature.
    pub fn make(name: &str, _seed: u32) -> anyhow::Result<Box<dyn super::Env>> {
        super::check_name(name)?;
        anyhow::bail!("this build has no MinAtar support")
    }
}

#[cfg(feature = "minatar")]
mod imp {
    use super::super::env::{Env, EpisodeStats, Step};
    use super::super::state::{StateReader, StateWriter};
    use minatar::{Frame, MinAtar};

    pub fn make(name: &str, seed: u32) -> anyhow::Result<Box<dyn Env>> {
        let Some((game, opts)) = minatar::parse_gym_id(name) else {
            crate::bail_input!("key 'env.name': unknown MinAtar game '{name}'");
        };
        let game = MinAtar::new(game, seed, opts);
        Ok(Box::new(MinAtarEnv {
            frame: Frame::new(game.channels()),
            game,
            ret: 0.0,
            len: 0,
        }))
    }

    pub struct MinAtarEnv {
        game: MinAtar,
        /// Scratch for rendering (the hot loop allocates nothing).
        frame: Frame,
        ret: f64,
        len: u64,
    }

    impl MinAtarEnv {
        fn write_obs(&mut self, obs: &mut [f32]) {
            self.game.frame(&mut self.frame);
            self.frame.write_f32(obs);
        }
    }

    impl Env for MinAtarEnv {
        fn obs_shape(&self) -> Vec<usize> {
            vec![self.game.channels(), 10, 10]
        }
        fn num_actions(&self) -> usize {
            self.game.num_actions()
        }

        fn reset(&mut self, obs: &mut [f32]) {
            self.game.reset();
            (self.ret, self.len) = (0.0, 0);
            self.write_obs(obs);
        }

        fn step(&mut self, action: usize, obs: &mut [f32]) -> Step {
            let (r, terminated) = self.game.act(action);
            self.write_obs(obs);
            self.ret += r as f64;
            self.len += 1;
            let episode = terminated.then_some(EpisodeStats {
                ret: self.ret,
                len: self.len,
            });
            Step {
                reward: r as f32,
                terminated,
                truncated: false,
                episode,
            }
        }

        /// The running episode (return, length), then the game's bytes (state, RNG, last action).
        fn save_state(&self) -> Option<Vec<u8>> {
            let mut w = StateWriter::default();
            w.f64(self.ret).u64(self.len);
            let mut bytes = w.into_bytes();
            bytes.extend(self.game.save());
            Some(bytes)
        }

        fn restore_state(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
            let Some((head, game)) = bytes.split_at_checked(16) else {
                anyhow::bail!("saved state is too short")
            };
            let mut r = StateReader::new(head);
            let (ret, len) = (r.f64()?, r.u64()?);
            r.finish()?;
            self.game.restore(game).map_err(anyhow::Error::msg)?;
            (self.ret, self.len) = (ret, len);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_the_feature() {
        for bad in [
            "MinAtar/Pong-v1",
            "MinAtar/Breakout-v2",
            "MinAtar/Breakout",
            "MinAtar/",
        ] {
            let e = crate::testing::input_error_text(make(bad, 0).err().unwrap());
            assert!(e.contains("unknown MinAtar game"), "{e}");
        }
        assert!(is_minatar_name("MinAtar/Breakout-v1") && !is_minatar_name("Breakout-v1"));
    }

    #[cfg(not(feature = "minatar"))]
    #[test]
    fn without_the_feature_it_says_how_to_build() {
        let e = crate::testing::input_error_text(make("MinAtar/Breakout-v1", 0).err().unwrap());
        assert!(
            e.contains("--features minatar") && e.contains("GPL-3.0"),
            "{e}"
        );
    }

    #[cfg(feature = "minatar")]
    #[test]
    fn shapes_actions_and_seed_range() {
        for (title, c, a) in [
            ("Asterix", 4, 5),
            ("Breakout", 4, 3),
            ("Freeway", 7, 3),
            ("Seaquest", 10, 6),
            ("SpaceInvaders", 6, 4),
        ] {
            let e = make(&format!("MinAtar/{title}-v1"), 1).unwrap();
            assert_eq!(
                (e.obs_shape(), e.num_actions()),
                (vec![c, 10, 10], a),
                "{title}"
            );
            assert_eq!(
                make(&format!("MinAtar/{title}-v0"), 1)
                    .unwrap()
                    .num_actions(),
                6
            );
        }
        let e =
            crate::testing::input_error_text(make("MinAtar/Breakout-v1", 1 << 32).err().unwrap());
        assert!(e.contains("below 2^32"), "{e}");
    }

    #[cfg(feature = "minatar")]
    #[test]
    fn save_then_n_steps_equals_restore_then_n_steps() {
        use super::super::env::Step;
        // Steps with automatic reset, as the vector env does; returns everything observed.
        fn play(env: &mut dyn Env, n: usize, k: u64) -> Vec<(Vec<u32>, Step)> {
            let mut obs = vec![0.0; env.obs_shape().iter().product()];
            (0..n as u64)
                .map(|i| {
                    let a = ((i * 7919 + k * 31) % env.num_actions() as u64) as usize;
                    let s = env.step(a, &mut obs);
                    if s.done() {
                        env.reset(&mut obs);
                    }
                    (obs.iter().map(|v| v.to_bits()).collect(), s)
                })
                .collect()
        }
        for title in GAMES {
            let name = format!("MinAtar/{title}-v1");
            let mut env = make(&name, 3).unwrap();
            let mut obs = vec![0.0; env.obs_shape().iter().product()];
            env.reset(&mut obs);
            play(env.as_mut(), 1234, 1);
            let saved = env.save_state().unwrap();
            let want = play(env.as_mut(), 4000, 2);
            assert!(
                want.iter().any(|(_, s)| s.episode.is_some()) || title == "Freeway",
                "{title}: no episode ended"
            );

            let mut other = make(&name, 8).unwrap();
            other.reset(&mut obs);
            play(other.as_mut(), 99, 5);
            other.restore_state(&saved).unwrap();
            assert_eq!(play(other.as_mut(), 4000, 2), want, "{title}");
            assert!(other.restore_state(&saved[..10]).is_err());
            assert!(make("MinAtar/Seaquest-v1", 3)
                .unwrap()
                .restore_state(&make("MinAtar/Asterix-v1", 3).unwrap().save_state().unwrap())
                .is_err());
        }
    }
}
