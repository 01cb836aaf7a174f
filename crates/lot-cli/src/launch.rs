//! `lot launch`: what torchrun does for a PyTorch script, for `lot train`. It starts this node's
//! ranks of a data-parallel run as child processes with the standard variables (RANK, WORLD_SIZE,
//! LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), waits for them, and when one fails
//! gives the others a moment to fail on their own (c10d reports the lost peer) before ending them.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

/// How long the other ranks get to exit by themselves after one failed.
const GRACE: Duration = Duration::from_secs(15);

pub struct LaunchArgs {
    pub nproc_per_node: usize,
    pub nnodes: usize,
    pub node_rank: usize,
    pub master_addr: String,
    pub master_port: Option<u16>,
    /// The lot command line every rank runs, e.g. ["train", "cfg.toml", "--out", "runs/x"].
    pub command: Vec<String>,
}

/// The variables of local rank `local` (this node's ranks are node_rank·P … node_rank·P + P − 1).
pub fn rank_env(a: &LaunchArgs, port: u16, local: usize) -> Vec<(&'static str, String)> {
    vec![
        ("RANK", (a.node_rank * a.nproc_per_node + local).to_string()),
        ("WORLD_SIZE", (a.nnodes * a.nproc_per_node).to_string()),
        ("LOCAL_RANK", local.to_string()),
        ("LOCAL_WORLD_SIZE", a.nproc_per_node.to_string()),
        ("MASTER_ADDR", a.master_addr.clone()),
        ("MASTER_PORT", port.to_string()),
    ]
}

fn check(a: &LaunchArgs) -> Result<()> {
    if a.nproc_per_node == 0 {
        lot::bail_input!("--nproc-per-node: must be >= 1");
    }
    if a.nnodes == 0 {
        lot::bail_input!("--nnodes: must be >= 1");
    }
    if a.node_rank >= a.nnodes {
        lot::bail_input!("--node-rank {}: must be below --nnodes {}", a.node_rank, a.nnodes);
    }
    if a.command.first().map(String::as_str) != Some("train") {
        lot::bail_input!("lot launch runs `lot train` on every rank: give it as `lot launch --nproc-per-node P -- train CONFIG ...`");
    }
    Ok(())
}

/// Run the ranks; the exit code of the first rank that failed, else 0.
pub fn launch(exe: &Path, a: &LaunchArgs) -> Result<i32> {
    check(a)?;
    // One node picks a free port itself; several must agree on one (torchrun's default).
    let port = match a.master_port {
        Some(p) => p,
        None if a.nnodes == 1 => lot::dist::free_port().map_err(|e| anyhow!("cannot find a free port for the rendezvous: {e}"))?,
        None => 29500,
    };
    // Ctrl-C reaches every rank through the terminal's process group; the launcher only waits
    // for them to checkpoint and exit.
    lot::checkpoint::install_interrupt_handler();
    let mut children: Vec<(usize, Child)> = Vec::new();
    for local in 0..a.nproc_per_node {
        let mut cmd = Command::new(exe);
        cmd.args(&a.command).envs(rank_env(a, port, local));
        match cmd.spawn() {
            Ok(c) => children.push((local, c)),
            Err(e) => {
                end_all(&mut children);
                return Err(anyhow!("cannot start local rank {local} ({}): {e}", exe.display()));
            }
        }
    }
    let mut codes: Vec<Option<i32>> = vec![None; children.len()];
    let mut first_failure: Option<(usize, i32, Instant)> = None;
    loop {
        for (i, (_, c)) in children.iter_mut().enumerate() {
            if codes[i].is_none() {
                if let Some(st) = c.try_wait()? {
                    // Killed by a signal: 128 + signal, as a shell reports it.
                    let code = st.code().unwrap_or_else(|| 128 + signal_of(&st));
                    codes[i] = Some(code);
                    if code != 0 && first_failure.is_none() {
                        first_failure = Some((i, code, Instant::now()));
                    }
                }
            }
        }
        if codes.iter().all(Option::is_some) {
            break;
        }
        if let Some((_, _, at)) = first_failure {
            if at.elapsed() > GRACE {
                end_all(&mut children);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(match first_failure {
        Some((i, code, _)) => {
            let rank = a.node_rank * a.nproc_per_node + children[i].0;
            if code != 130 {
                eprintln!("error: rank {rank} exited with code {code}; the run stopped (see the rank's error above)");
            }
            code
        }
        None => 0,
    })
}

fn end_all(children: &mut [(usize, Child)]) {
    for (_, c) in children.iter_mut() {
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
        }
    }
}

#[cfg(unix)]
fn signal_of(st: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.signal().unwrap_or(0)
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> i32 {
    0
}


#[cfg(test)]
mod tests {
    use super::*;

    fn args(p: usize, n: usize, r: usize) -> LaunchArgs {
        LaunchArgs { nproc_per_node: p, nnodes: n, node_rank: r, master_addr: "node0".into(), master_port: None, command: vec!["train".into()] }
    }

    #[test]
    fn ranks_and_variables_follow_torchrun() {
        let a = args(2, 3, 1);
        let env: std::collections::HashMap<_, _> = rank_env(&a, 1234, 1).into_iter().collect();
        assert_eq!(env["RANK"], "3");
        assert_eq!(env["WORLD_SIZE"], "6");
        assert_eq!(env["LOCAL_RANK"], "1");
        assert_eq!(env["LOCAL_WORLD_SIZE"], "2");
        assert_eq!(env["MASTER_ADDR"], "node0");
        assert_eq!(env["MASTER_PORT"], "1234");
    }

    #[test]
    fn bad_launch_arguments_are_input_errors() {
        let mut no_train = args(2, 1, 0);
        no_train.command = vec!["eval".into()];
        for (a, want) in [(args(0, 1, 0), "--nproc-per-node"), (args(1, 0, 0), "--nnodes"), (args(1, 2, 2), "--node-rank 2"), (no_train, "lot train")] {
            let e = check(&a).unwrap_err();
            assert!(lot::error::is_input_error(&e) && e.to_string().contains(want), "{e}");
        }
        assert!(check(&args(2, 2, 1)).is_ok());
    }
}
