//! Atari with the real emulator (feature `atari`). Needs the ROMs (`lot data fetch atari-roms`,
//! into `$LOT_DATA_DIR/atari-roms` or `~/.cache/lot/data/atari-roms`); without them each test
//! prints SKIPPED and passes.
//!
//!     cargo test --release -p lot --features atari --test atari
//!     cargo test --release -p lot --features atari --test atari -- --ignored --nocapture   # speed
#![cfg(feature = "atari")]

use std::path::PathBuf;
use std::time::Instant;

use lot::rl::atari::ale::{AleEmulator, AleSettings};
use lot::rl::atari::{self, roms, AtariConfig, AtariEnv, Emulator};
use lot::rl::env::Env;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn breakout_rom() -> Option<PathBuf> {
    match roms::resolve_rom("BreakoutNoFrameskip-v4", &roms::default_rom_dir()) {
        Ok(p) => Some(p),
        Err(e) => {
            lot::testing::skip("atari tests", &format!("{e:#}"));
            None
        }
    }
}

fn breakout(seed: u64) -> AtariEnv<AleEmulator> {
    let rom = breakout_rom().unwrap();
    AtariEnv::new(AleEmulator::new(&rom, seed).unwrap(), AtariConfig::default(), seed).unwrap()
}

#[test]
fn breakout_reset_and_1000_random_steps() {
    if breakout_rom().is_none() {
        return;
    }
    let mut env = breakout(1);
    assert_eq!(env.obs_shape(), vec![4, 84, 84]);
    assert_eq!(env.num_actions(), 4);
    assert_eq!(env.action_ids(), &[0, 1, 3, 4]); // NOOP FIRE RIGHT LEFT
    assert!(env.fire_reset());
    let mut obs = vec![0f32; 4 * 84 * 84];
    env.reset(&mut obs);
    assert!(obs.iter().all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
    assert!(obs.iter().any(|&v| v != obs[0]), "a blank first frame");
    assert_eq!(env.emulator().lives(), 5);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut lives_lost, mut games, mut clipped_sum, mut last_lives) = (0, 0, 0.0f32, 5);
    let mut returns = Vec::new();
    for t in 0..1000 {
        let before = obs.clone();
        let s = env.step(rng.gen_range(0..4), &mut obs);
        assert!([0.0, 1.0].contains(&s.reward), "step {t}: Breakout rewards are ≥ 0, clipped: {}", s.reward);
        clipped_sum += s.reward;
        let lives = env.emulator().lives();
        assert!((0..=5).contains(&lives), "lives {lives}");
        // the stack shifts by one: new channel 2 = old channel 3
        assert_eq!(&obs[2 * 84 * 84..3 * 84 * 84], &before[3 * 84 * 84..], "step {t}");
        if lives < last_lives {
            lives_lost += 1;
            assert!(s.terminated, "step {t}: a life lost must end the training episode");
        }
        if let Some(ep) = s.episode {
            games += 1;
            assert!(s.terminated && lives == 0 && env.emulator().game_over());
            assert!(ep.ret >= 0.0 && ep.ret < 500.0 && ep.len > 100, "{ep:?}");
            returns.push(ep.ret);
        }
        if s.done() {
            env.reset(&mut obs);
            if games > 0 && s.episode.is_some() {
                assert_eq!(env.emulator().lives(), 5, "a new game after game over");
            }
        }
        last_lives = env.emulator().lives();
        assert!(!env.emulator().game_over(), "step {t}: the env resets on every done");
    }
    println!("1000 random steps: {lives_lost} lives lost, {games} games {returns:?}, clipped reward sum {clipped_sum}");
    assert!(lives_lost >= 3, "random play loses lives in 1000 steps ({lives_lost})");
}

/// The seed decides the trajectory: the same seed repeats it, another seed (other no-op starts
/// and emulator draws) gives another one, so a seed that went unused would fail here.
#[test]
fn same_seed_same_trajectory_other_seed_another() {
    if breakout_rom().is_none() {
        return;
    }
    let run = |seed: u64| {
        let mut env = breakout(seed);
        let mut obs = vec![0f32; 4 * 84 * 84];
        env.reset(&mut obs);
        let mut h = 0u64;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..300 {
            let s = env.step(rng.gen_range(0..4), &mut obs);
            if s.done() {
                env.reset(&mut obs);
            }
            for &v in env.last_frame() {
                h = (h ^ v as u64).wrapping_mul(0x100_0000_01b3); // FNV-1a
            }
        }
        h
    };
    let five = run(5);
    assert_eq!(five, run(5));
    assert_ne!(five, run(6), "seeds 5 and 6 gave the same 300 frames: the seed is not used");
}

#[test]
fn make_maps_names_and_reports_bad_ones() {
    if breakout_rom().is_none() {
        return;
    }
    let env = atari::make("breakout", 0).unwrap();
    assert_eq!((env.obs_shape(), env.num_actions()), (vec![4, 84, 84], 4));
    let e = atari::make("NoSuchGameNoFrameskip-v4", 0).err().unwrap();
    assert!(lot::error::is_input_error(&e) && e.to_string().contains("unknown Atari game"), "{e}");
    let d = tempfile::tempdir().unwrap();
    let e = atari::make_with("BreakoutNoFrameskip-v4", 0, d.path(), AtariConfig::default()).err().unwrap();
    assert!(lot::error::is_input_error(&e) && e.to_string().contains("lot data fetch atari-roms"), "{e}");
}

/// This thread's CPU time in ns (Linux; 0 elsewhere).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Speed on one core: raw ALE act() frames/s, and wrapped env steps/s (4 frames each, with
/// screen reads, max-pooling, resize, gray and stacking), per wall-clock second and per second of
/// this thread's CPU time (= one dedicated core on a busy machine). Run with
/// `-- --ignored bench --nocapture`.
#[test]
#[ignore]
fn bench_breakout_speed() {
    let Some(rom) = breakout_rom() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut emu = AleEmulator::new(&rom, 0).unwrap();
    let ids = emu.minimal_actions().to_vec();
    let frames = 100_000;
    let (t, c) = (Instant::now(), cpu_ns());
    for _ in 0..frames {
        emu.act(ids[rng.gen_range(0..ids.len())]);
        if emu.game_over() {
            emu.reset();
        }
    }
    let (raw, raw_cpu) = (frames as f64 / t.elapsed().as_secs_f64(), frames as f64 * 1e9 / (cpu_ns() - c) as f64);
    let mut env = breakout(0);
    let mut obs = vec![0f32; 4 * 84 * 84];
    env.reset(&mut obs);
    let steps = 25_000;
    let (t, c) = (Instant::now(), cpu_ns());
    for _ in 0..steps {
        if env.step(rng.gen_range(0..4), &mut obs).done() {
            env.reset(&mut obs);
        }
    }
    let (wrapped, wrapped_cpu) = (steps as f64 / t.elapsed().as_secs_f64(), steps as f64 * 1e9 / (cpu_ns() - c) as f64);
    println!(
        "Breakout, one thread: raw ALE {raw:.0} frames/s wall ({raw_cpu:.0} per CPU-second); \
         wrapped env {wrapped:.0} steps/s wall ({wrapped_cpu:.0} per CPU-second, {:.0} frames per CPU-second)",
        wrapped_cpu * 4.0
    );
}

/// Step-by-step parity with the Python reference stack (ale-py 0.12.1 + SB3 atari_wrappers +
/// cv2; see tests/atari_parity.py, which records the traces): rewards, dones, lives, episode
/// statistics and sha256 digests of the max-pooled RGB frame and of the 4x84x84 stack, after
/// every step and every reset, for the four games of the paper.
#[test]
#[ignore]
fn parity_with_python_reference() {
    use lot::data::registry::sha256_hex;
    let Some(dir) = std::env::var_os("LOT_ATARI_PARITY_DIR") else {
        lot::testing::skip("parity_with_python_reference", "set LOT_ATARI_PARITY_DIR to the traces of tests/atari_parity.py");
        return;
    };
    if breakout_rom().is_none() {
        return;
    }
    let digest = |b: &[u8]| sha256_hex(b)[..16].to_string();
    let stack_digest = |obs: &[f32]| digest(&obs.iter().map(|&v| v as u8).collect::<Vec<u8>>());
    for game in ["Breakout", "BeamRider", "UpNDown", "Gravitar"] {
        let path = PathBuf::from(&dir).join(format!("{game}.json"));
        let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let rom = roms::resolve_rom(game, &roms::default_rom_dir()).unwrap();
        let settings = ale_sys_settings(t["ale_seed"].as_i64().unwrap() as i32, t["max_frames"].as_i64().unwrap() as i32);
        let emu = AleEmulator::with_settings(&rom, &settings).unwrap();
        let mut env = AtariEnv::new(emu, AtariConfig::default(), 0).unwrap();
        let minimal: Vec<i32> = t["minimal"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32).collect();
        assert_eq!(env.action_ids(), &minimal[..], "{game}");
        env.script_noops(t["noops"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32));
        let mut obs = vec![0f32; 4 * 84 * 84];
        env.reset(&mut obs);
        assert_eq!(stack_digest(&obs), t["reset_hash"].as_str().unwrap(), "{game}: first reset");
        let steps = t["steps"].as_array().unwrap();
        let mut episodes = 0;
        for (i, s) in steps.iter().enumerate() {
            let a = s["a"].as_u64().unwrap() as usize;
            let st = env.step(a, &mut obs);
            let ctx = format!("{game} step {i}");
            assert_eq!(st.reward as f64, s["r"].as_f64().unwrap(), "{ctx}: reward");
            let (term, trunc) = (s["term"].as_bool().unwrap(), s["trunc"].as_bool().unwrap());
            assert_eq!((st.terminated, st.done()), (term, term || trunc), "{ctx}: terminated / done");
            assert_eq!(env.emulator().lives() as i64, s["lives"].as_i64().unwrap(), "{ctx}: lives");
            assert_eq!(digest(env.last_rgb()), s["rgb"].as_str().unwrap(), "{ctx}: max-pooled RGB");
            assert_eq!(stack_digest(&obs), s["stack"].as_str().unwrap(), "{ctx}: stack");
            let want_ep = s["ep"].as_array().map(|e| (e[0].as_f64().unwrap(), e[1].as_u64().unwrap()));
            assert_eq!(st.episode.map(|e| (e.ret, e.len)), want_ep, "{ctx}: episode");
            episodes += want_ep.is_some() as usize;
            if st.done() {
                env.reset(&mut obs);
                assert_eq!(digest(env.last_rgb()), s["reset_rgb"].as_str().unwrap(), "{ctx}: reset RGB");
                assert_eq!(stack_digest(&obs), s["reset_stack"].as_str().unwrap(), "{ctx}: reset stack");
            }
        }
        assert_eq!(env.scripted_noops_left(), 0, "{game}: real resets differ");
        println!("{game}: {} steps identical to the Python reference ({episodes} episodes)", steps.len());
    }
}

fn ale_sys_settings(seed: i32, max_frames: i32) -> AleSettings {
    AleSettings { seed, max_num_frames_per_episode: max_frames, ..AleSettings::default() }
}
