//! Env steps per second of each game alone: random actions, one thread, the observation rendered
//! every step (as an env must). `scripts/bench_minatar.sh` runs this next to the Python package.
//!
//!     cargo run --release -p minatar --example bench [STEPS]

use std::time::Instant;

use minatar::{Frame, Game, MinAtar, Options};

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    for game in Game::ALL {
        let mut env = MinAtar::new(game, 0, Options::default());
        env.reset();
        let mut frame = Frame::new(env.channels());
        let mut obs = vec![0f32; env.channels() * 100];
        let n = env.num_actions() as u64;
        // A xorshift for actions: cheap next to a step.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
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
            frame.write_f32(&mut obs);
        }
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(&obs);
        println!("{} {:.0}", game.module(), steps as f64 / secs);
    }
}
