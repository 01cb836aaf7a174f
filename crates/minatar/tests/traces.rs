//! Step-for-step equality with the `minatar` Python package: scripts/minatar_traces.py plays each
//! game with random actions under the package and records every frame, reward and terminal; we
//! replay the same seeds and actions and compare, reporting the first difference of each trace.
//!
//! Needs the venv of `bash scripts/minatar_venv.sh` (or `LOT_MINATAR_PYTHON`); without it the test
//! prints a SKIP line, and fails instead when `LOT_NO_SKIP` is set.
//! `LOT_MINATAR_TRACE_STEPS` / `LOT_MINATAR_TRACE_SEEDS` change the defaults (10000 / 0,1,2,3,4).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use minatar::{Frame, Game, MinAtar, Options};

fn skip(why: &str) {
    if std::env::var_os("LOT_NO_SKIP").is_some() {
        panic!("minatar traces: cannot run ({why}) and LOT_NO_SKIP is set");
    }
    let _ = writeln!(std::io::stderr(), "SKIP minatar traces: {why}");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python with the package: `LOT_MINATAR_PYTHON`, else the venv scripts/minatar_venv.sh makes.
fn reference_python() -> Result<PathBuf, String> {
    let py = match std::env::var_os("LOT_MINATAR_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = match std::env::var_os("LOT_CACHE") {
                Some(c) => PathBuf::from(c),
                None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?)
                    .join(".cache/lot"),
            };
            cache.join("minatar-venv/bin/python")
        }
    };
    let ok = Command::new(&py)
        .args(["-c", "import minatar, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(py)
    } else {
        Err(format!(
            "{} cannot import minatar (run `bash scripts/minatar_venv.sh`)",
            py.display()
        ))
    }
}

/// Reads a trace file as the script writes it.
struct Trace<'a> {
    b: &'a [u8],
}

impl<'a> Trace<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.b.len() >= n, "trace file is truncated");
        let (h, t) = self.b.split_at(n);
        self.b = t;
        h
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
}

/// What differs between two packed frames: the first few (channel, y, x) cells.
fn frame_diff(ours: &[u8], theirs: &[u8]) -> String {
    let cells: Vec<String> = (0..ours.len() * 8)
        .filter(|&i| (ours[i / 8] ^ theirs[i / 8]) & (0x80 >> (i % 8)) != 0)
        .take(6)
        .map(|i| {
            format!(
                "c{} y{} x{} (ours {})",
                i / 100,
                i / 10 % 10,
                i % 10,
                ours[i / 8] & (0x80 >> (i % 8)) != 0
            )
        })
        .collect();
    format!("frame differs at {}", cells.join(", "))
}

struct Replay {
    steps: usize,
    episodes: usize,
    reward: u64,
}

/// Replay one trace; `Err` names the first step that differs.
fn replay(game: Game, bytes: &[u8]) -> Result<Replay, String> {
    let mut t = Trace { b: bytes };
    assert_eq!(t.take(8), b"MATRACE1");
    let (channels, steps, seed, n_actions) = (
        t.u32() as usize,
        t.u32() as usize,
        t.u32(),
        t.u32() as usize,
    );
    let mut env = MinAtar::new(game, seed, Options::default());
    if (channels, n_actions) != (env.channels(), env.num_actions()) {
        return Err(format!(
            "package has {channels} channels and {n_actions} actions, we have {} and {}",
            env.channels(),
            env.num_actions()
        ));
    }
    let frame_len = (channels * 100).div_ceil(8);
    let mut f = Frame::new(channels);
    env.reset();
    env.frame(&mut f);
    let check = |f: &Frame, theirs: &[u8], step: &str| {
        let ours = f.packed();
        if ours == theirs {
            Ok(())
        } else {
            Err(format!("{step}: {}", frame_diff(&ours, theirs)))
        }
    };
    check(&f, t.take(frame_len), "first frame")?;
    let (mut episodes, mut reward) = (0, 0u64);
    for step in 0..steps {
        let (a, r, term) = (t.u8() as usize, t.u8() as i32, t.u8() != 0);
        let (our_r, our_term) = env.act(a);
        if (our_r, our_term) != (r, term) {
            return Err(format!("step {step} (action {a}): reward {our_r} terminal {our_term}, package reward {r} terminal {term}"));
        }
        env.frame(&mut f);
        check(&f, t.take(frame_len), &format!("step {step} (action {a})"))?;
        reward += r as u64;
        if term {
            episodes += 1;
            env.reset();
            env.frame(&mut f);
            check(&f, t.take(frame_len), &format!("reset after step {step}"))?;
        }
    }
    assert!(t.b.is_empty(), "trace has trailing bytes");
    Ok(Replay {
        steps,
        episodes,
        reward,
    })
}

#[test]
fn games_step_exactly_as_the_python_package() {
    let py = match reference_python() {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let steps = std::env::var("LOT_MINATAR_TRACE_STEPS").unwrap_or_else(|_| "10000".into());
    let seeds = std::env::var("LOT_MINATAR_TRACE_SEEDS").unwrap_or_else(|_| "0,1,2,3,4".into());
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    // Random play, and a crude heuristic that lives longer and reaches ramps and refills.
    for policy in ["random", "guided"] {
        let out = Command::new(&py)
            .arg(repo_root().join("scripts/minatar_traces.py"))
            .arg(dir.path())
            .args(["--steps", &steps, "--seeds", &seeds, "--policy", policy])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "trace script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The package's coverage lines (episode lengths, highest difficulty ramp).
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        for game in Game::ALL {
            let (mut total_steps, mut total_eps, mut total_r) = (0, 0, 0);
            for seed in seeds.split(',') {
                let path = dir
                    .path()
                    .join(format!("{}_{seed}_{policy}.trace", game.module()));
                let bytes = std::fs::read(&path).unwrap();
                match replay(game, &bytes) {
                    Ok(r) => {
                        (total_steps, total_eps, total_r) = (
                            total_steps + r.steps,
                            total_eps + r.episodes,
                            total_r + r.reward,
                        )
                    }
                    Err(e) => failures.push(format!(
                        "{} seed {seed} ({policy} actions): {e}",
                        game.title()
                    )),
                }
            }
            eprintln!(
                "minatar traces: {:<13} {policy} seeds {seeds}: {total_steps} steps, {total_eps} episodes, reward {total_r} replayed"
            , game.title());
        }
    }
    assert!(
        failures.is_empty(),
        "MinAtar differs from the package:\n{}",
        failures.join("\n")
    );
}
