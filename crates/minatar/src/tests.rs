//! Unit tests of the env wrapper; the step-for-step comparison with the Python package is
//! `tests/traces.rs`.

use super::*;

/// A cheap deterministic action stream (not numpy's: these tests compare us with ourselves).
fn actions(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as usize % k
        })
        .collect()
}

/// Run `acts`, resetting on terminal; the frames, rewards and terminals seen.
fn run(env: &mut MinAtar, acts: &[usize]) -> Vec<(Vec<u8>, i32, bool)> {
    let mut f = Frame::new(env.channels());
    acts.iter()
        .map(|&a| {
            let (r, t) = env.act(a);
            env.frame(&mut f);
            let out = (f.packed(), r, t);
            if t {
                env.reset();
            }
            out
        })
        .collect()
}

#[test]
fn save_then_continue_equals_restore_then_continue() {
    for game in Game::ALL {
        let mut env = MinAtar::new(game, 11, Options::default());
        env.reset();
        let n = env.num_actions();
        run(&mut env, &actions(3000, n, 1));
        let saved = env.save();
        let tail = actions(5000, n, 2);
        let want = run(&mut env, &tail);

        // Restore into an env built with another seed and stepped elsewhere.
        let mut other = MinAtar::new(game, 99, Options::default());
        other.reset();
        run(&mut other, &actions(777, n, 3));
        other.restore(&saved).unwrap();
        assert_eq!(run(&mut other, &tail), want, "{game:?}");
    }
}

#[test]
fn restore_rejects_foreign_and_damaged_states() {
    let mut b = MinAtar::new(Game::Breakout, 1, Options::default());
    b.reset();
    let mut s = MinAtar::new(Game::Seaquest, 1, Options::default());
    s.reset();
    let before = b.clone();
    assert!(b
        .restore(&s.save())
        .unwrap_err()
        .contains("not of Breakout"));
    let good = b.save();
    assert!(b.restore(&good[..good.len() - 1]).is_err());
    let mut longer = good.clone();
    longer.push(0);
    assert!(b.restore(&longer).is_err());
    assert!(b.restore(&[]).is_err());
    assert_eq!(b, before);
    b.restore(&good).unwrap();
}

#[test]
fn gym_ids_parse() {
    let (g, o) = parse_gym_id("MinAtar/SpaceInvaders-v1").unwrap();
    assert_eq!(
        (
            g,
            o.minimal_actions,
            o.sticky_action_prob,
            o.difficulty_ramping
        ),
        (Game::SpaceInvaders, true, 0.1, true)
    );
    assert_eq!(MinAtar::new(g, 0, o).num_actions(), 4);
    let (g, o) = parse_gym_id("MinAtar/Breakout-v0").unwrap();
    assert_eq!(MinAtar::new(g, 0, o).num_actions(), 6);
    for bad in [
        "MinAtar/Breakout",
        "MinAtar/Breakout-v2",
        "Breakout-v1",
        "MinAtar/breakout-v1",
        "",
    ] {
        assert!(parse_gym_id(bad).is_none(), "{bad}");
    }
    assert_eq!(gym_ids().len(), 10);
    assert!(gym_ids().iter().all(|id| parse_gym_id(id).is_some()));
}

#[test]
fn breakout_starts_as_the_package_draws_it() {
    // Seed 0: numpy's first randint(2) is 0, so the ball starts at (3, 0) heading down-right.
    let mut env = MinAtar::new(Game::Breakout, 0, Options::default());
    env.reset();
    let mut f = Frame::new(4);
    env.frame(&mut f);
    assert!(f.get(1, 3, 0) && f.get(2, 3, 0) && f.get(0, 9, 4));
    assert_eq!(f.rows[3], [0, 0x3ff, 0x3ff, 0x3ff, 0, 0, 0, 0, 0, 0]);
    let mut obs = vec![0.0; 400];
    f.write_f32(&mut obs);
    assert_eq!(obs.iter().sum::<f32>(), 33.0);
    assert_eq!(obs[100 + 30], 1.0);
}

#[test]
fn out_of_range_action_is_a_noop() {
    let mut a = MinAtar::new(Game::Breakout, 5, Options::default());
    let mut b = a.clone();
    a.reset();
    b.reset();
    for _ in 0..50 {
        assert_eq!(a.act(0), b.act(99));
    }
    assert_eq!(a, b);
}
