//! Env steps per second of each game alone: random actions, one thread, the observation taken
//! every step. Two columns: the observation as the game's cells (`frame`, C×10×10 bits: what the
//! Python package's `state()` gives as a bool array) and written out as f32 for torch
//! (`frame` + `write_f32`, what lot's vector env does). `scripts/bench_minatar.sh` runs this next
//! to the Python package. Each figure is the best of REPEATS timings of STEPS steps (the least
//! disturbed by the rest of the machine), as the Python side takes its own.
//!
//!     cargo run --release -p minatar --example bench [STEPS] [REPEATS] [GAME]   (GAME: a module name)

use std::time::Instant;

use minatar::{Frame, Game, MinAtar, Options};

/// Steps per second, best of `repeats` timings of `steps` random-action steps, the observation
/// rendered every step and, with `f32`, written out as f32.
fn steps_per_s(game: Game, steps: u64, repeats: u32, f32: bool) -> f64 {
    let mut env = MinAtar::new(game, 0, Options::default());
    env.reset();
    let mut frame = Frame::new(env.channels());
    let mut obs = vec![0f32; env.channels() * 100];
    let n = env.num_actions() as u64;
    // A xorshift for actions: cheap next to a step.
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut best = 0f64;
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..steps {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let (_, terminal) = env.act((s % n) as usize);
            if terminal {
                env.reset();
            }
            env.frame(&mut frame);
            if f32 {
                frame.write_f32(&mut obs);
            }
            std::hint::black_box(&frame);
        }
        best = best.max(steps as f64 / t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&obs);
    best
}

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let repeats: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let only = std::env::args().nth(3);
    for game in Game::ALL {
        if only.as_deref().is_some_and(|g| g != game.module()) {
            continue;
        }
        let cells = steps_per_s(game, steps, repeats, false);
        let f32 = steps_per_s(game, steps, repeats, true);
        println!("{} {cells:.0} {f32:.0}", game.module());
    }
}
