//! Progress bars (rate and ETA) on stderr; hidden when stderr is not a terminal or LOT_NO_PROGRESS is set,
//! in which case a plain line is printed every few percent so logs still show progress.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: ProgressBar,
    plain: bool,
    /// Prints nothing at all (the ranks of a data-parallel run other than 0).
    silent: bool,
    total: u64,
    last_pct: u64,
    start: std::time::Instant,
    label: String,
}

impl Progress {
    pub fn new(total: u64, label: &str) -> Self {
        let plain = !std::io::stderr().is_terminal() || std::env::var_os("LOT_NO_PROGRESS").is_some();
        let bar = if plain {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
        } else {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        };
        Self { bar, plain, silent: false, total, last_pct: 0, start: std::time::Instant::now(), label: label.into() }
    }

    /// A progress that shows nothing.
    pub fn silent(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        Self { bar, plain: false, silent: true, total, last_pct: 0, start: std::time::Instant::now(), label: String::new() }
    }

    /// Start from `pos` (a resumed run).
    pub fn set_position(&mut self, pos: u64) {
        self.bar.set_position(pos);
        self.last_pct = if self.total > 0 { pos * 100 / self.total } else { 0 };
    }

    /// Steps done and the total.
    pub fn position(&self) -> (u64, u64) {
        (self.bar.position(), self.total)
    }

    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    pub fn inc(&mut self, msg: impl FnOnce() -> String) {
        self.bar.inc(1);
        if self.plain && self.total > 0 {
            let pos = self.bar.position();
            let pct = pos * 100 / self.total;
            if pct >= self.last_pct + 10 || pos == self.total {
                self.last_pct = pct;
                let el = self.start.elapsed().as_secs_f64();
                let rate = pos as f64 / el.max(1e-9);
                let eta = (self.total - pos) as f64 / rate.max(1e-9);
                eprintln!("{} {pos}/{} ({pct}%) {rate:.2} it/s ETA {eta:.0}s {}", self.label, self.total, msg());
            }
        }
    }

    pub fn println(&self, line: &str) {
        if self.silent {
            return;
        }
        if self.plain {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
