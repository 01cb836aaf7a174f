//! A bench child process, measured: wall time from spawn to exit, peak RSS and CPU time from
//! `wait4`, and its JSON result line.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::report::fmt;
use crate::WorkerResult;

/// The last line of a child's stdout that parses as a JSON object (untyped: the integration tests
/// read a worker's line key by key; [`run_child`] reads it as a [`WorkerResult`]).
pub fn parse_result_line(stdout: &str) -> Option<Value> {
    stdout.lines().rev().filter(|l| l.trim_start().starts_with('{')).find_map(|l| serde_json::from_str::<Value>(l).ok().filter(Value::is_object))
}

/// One child process's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChildRun {
    /// Spawn to exit, seconds.
    pub wall_s: f64,
    /// Peak RSS of the child (or its largest reaped descendant) from `wait4`, MiB.
    pub peak_rss_mb: Option<f64>,
    /// CPU seconds (user + system) of the child and its reaped descendants (DataLoader workers),
    /// from `wait4`: less sensitive than wall time to other load on a shared machine.
    pub cpu_s: Option<f64>,
    /// The child's own JSON result line.
    pub result: WorkerResult,
}

impl ChildRun {
    pub(crate) fn line(&self) -> String {
        format!(
            "{:>8.2} s wall, {:.3} s/step, {} CPU s, peak RSS {} MiB",
            self.wall_s,
            self.result.per_step_s,
            fmt(self.cpu_s.unwrap_or(f64::NAN), 1),
            fmt(self.peak_rss_mb.unwrap_or(f64::NAN), 0)
        )
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    //! `wait4(2)`: the child's exit status and resource usage (ru_maxrss) in one call.
    #[repr(C)]
    pub struct Timeval {
        pub sec: i64,
        pub usec: i64,
    }
    /// `struct rusage` on 64-bit Linux: two timevals and fourteen longs.
    #[repr(C)]
    pub struct Rusage {
        pub utime: Timeval,
        pub stime: Timeval,
        pub maxrss: i64,
        pub rest: [i64; 13],
    }
    extern "C" {
        pub fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }
}

/// Wait for `child`; (exited successfully?, exit description, peak RSS MiB, CPU seconds).
fn wait_child(child: std::process::Child) -> Result<(bool, String, Option<f64>, Option<f64>)> {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        let pid = child.id() as i32;
        let mut status = 0i32;
        let mut ru = sys::Rusage { utime: sys::Timeval { sec: 0, usec: 0 }, stime: sys::Timeval { sec: 0, usec: 0 }, maxrss: 0, rest: [0; 13] };
        loop {
            // SAFETY: pid is our own unwaited child; status and ru are valid for writes.
            let r = unsafe { sys::wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("wait4({pid}): {e}");
            }
        }
        // Reaped here: std's Child must not wait again (dropping it does not).
        drop(child);
        let (ok, what) = if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff;
            (code == 0, format!("exit code {code}"))
        } else {
            (false, format!("killed by signal {}", status & 0x7f))
        };
        let secs = |t: &sys::Timeval| t.sec as f64 + t.usec as f64 * 1e-6;
        Ok((ok, what, Some(ru.maxrss as f64 / 1024.0), Some(secs(&ru.utime) + secs(&ru.stime))))
    }
    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    {
        let mut child = child;
        let st = child.wait()?;
        Ok((st.success(), format!("{st}"), None, None))
    }
}

/// Run a command, capture its output, and measure it.
pub fn run_child(cmd: &mut Command) -> Result<ChildRun> {
    let desc = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {desc}"))?;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut out, &mut stdout)?;
    let stderr = err_reader.join().unwrap_or_default();
    let (ok, what, rss, cpu_s) = wait_child(child)?;
    let wall_s = t0.elapsed().as_secs_f64();
    if !ok {
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("{desc} failed ({what}):\n{}", tail.join("\n"));
    }
    let line = parse_result_line(&stdout).with_context(|| format!("{desc}: no JSON result line in its output"))?;
    let result = serde_json::from_value(line).with_context(|| format!("{desc}: its result line is not a bench result"))?;
    Ok(ChildRun { wall_s, peak_rss_mb: rss, cpu_s, result })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_is_the_last_json_object() {
        let out = "warming up\n{\"a\": 1}\nnoise {not json\n{\"steps\": 3, \"per_step_s\": 0.5}\n";
        assert_eq!(parse_result_line(out).unwrap()["steps"], 3);
        assert!(parse_result_line("no json here\n[1, 2]\n").is_none());
        // As a WorkerResult: the keys it has, NaN / None for the rest.
        let r: WorkerResult = serde_json::from_value(parse_result_line(out).unwrap()).unwrap();
        assert_eq!((r.steps, r.per_step_s), (Some(3), 0.5));
        assert!(r.train_s.is_nan() && r.peak_rss_mb.is_none() && r.extra.is_empty(), "{r:?}");
        // A reference program's line: its own keys read, the rest kept as they came.
        let py = r#"{"program": "vision_lot.py", "steps": 12, "warmup": 2, "total_s": 26.0, "train_s": 20.4, "per_step_s": 1.7, "images_per_s": 150.5, "peak_rss_mb": 3197.9, "children_peak_rss_mb": 2505.1, "torch": "2.11.0+cu130", "python": "3.11.7", "threads": 2, "device": "cpu", "train_acc_teacher": 1.06, "gpu_max_allocated_mb": 12.5}"#;
        let r: WorkerResult = serde_json::from_value(parse_result_line(py).unwrap()).unwrap();
        assert_eq!((r.per_step_s, r.train_s, r.peak_rss_mb, r.threads), (1.7, 20.4, Some(3197.9), Some(2)));
        assert_eq!((r.python.as_deref(), r.torch.as_deref(), r.children_peak_rss_mb), (Some("3.11.7"), Some("2.11.0+cu130"), Some(2505.1)));
        assert_eq!(r.extra.get("gpu_max_allocated_mb"), Some(&serde_json::json!(12.5)));
        // Written back, it is the line it was read from.
        assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::from_str::<Value>(py).unwrap());
    }

    #[test]
    fn child_measurement_reads_exit_status_and_output() {
        let r = run_child(Command::new("sh").arg("-c").arg("echo hello; echo '{\"steps\": 2}'")).unwrap();
        assert_eq!(r.result.steps, Some(2));
        assert!(r.peak_rss_mb.map_or(true, |m| m > 0.0));
        assert!(r.cpu_s.map_or(true, |c| c >= 0.0));
        let e = run_child(Command::new("sh").arg("-c").arg("echo oops >&2; exit 3")).unwrap_err();
        assert!(e.to_string().contains("exit code 3") && e.to_string().contains("oops"), "{e}");
    }
}
