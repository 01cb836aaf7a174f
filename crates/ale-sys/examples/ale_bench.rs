//! Raw ALE speed on one core: `act` only (frame skip 1, sticky actions off), uniformly random
//! minimal actions from a fixed LCG, `reset_game` on game over.
//!
//!     cargo run --release -p ale-sys --features native --example ale_bench -- [ROM] [FRAMES]
//!
//! ROM defaults to `<data root>/atari-roms/breakout.bin` (`$LOT_DATA_DIR`, else
//! `~/.cache/lot/data`; `lot data fetch atari-roms` puts it there); FRAMES to 200000.
//! It also times the same with an RGB screen read on every frame. Besides wall-clock frames/s it
//! prints frames per second of this thread's CPU time (Linux `/proc/thread-self/schedstat`),
//! which is what one dedicated core would give on a busy machine.
use std::path::{Path, PathBuf};
use std::time::Instant;

fn default_rom() -> PathBuf {
    let root = std::env::var_os("LOT_DATA_DIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/lot/data"));
    root.join("atari-roms").join("breakout.bin")
}

/// This thread's CPU time in ns (0 where /proc is missing).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn run(rom: &Path, frames: u64, read_screen: bool) -> (f64, f64, i64, i64, u64) {
    let mut ale = ale_sys::Ale::new(rom, 0).unwrap_or_else(|e| panic!("{e}"));
    let acts = ale.minimal_action_set().to_vec();
    let mut screen = vec![0u8; ale.height() * ale.width() * 3];
    let mut lcg: u64 = 12345;
    let (mut reward, mut lives_sum, mut games) = (0i64, 0i64, 0u64);
    let (t, c) = (Instant::now(), cpu_ns());
    for _ in 0..frames {
        lcg = lcg.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let a = acts[((lcg >> 33) % acts.len() as u64) as usize];
        reward += ale.act(a) as i64;
        if read_screen {
            ale.screen_rgb(&mut screen);
        }
        lives_sum += ale.lives() as i64;
        if ale.game_over() {
            games += 1;
            ale.reset_game();
        }
    }
    let cpu_s = (cpu_ns() - c) as f64 / 1e9;
    (frames as f64 / t.elapsed().as_secs_f64(), frames as f64 / cpu_s, reward, lives_sum, games)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rom = args.next().map(PathBuf::from).unwrap_or_else(default_rom);
    let frames: u64 = args.next().map(|s| s.parse().expect("FRAMES")).unwrap_or(200_000);
    let name = rom.file_name().unwrap_or_default().to_string_lossy().into_owned();
    for read in [false, true] {
        let (fps, cpu_fps, reward, lives, games) = run(&rom, frames, read);
        println!(
            "{name}: {fps:.0} frames/s wall, {cpu_fps:.0} frames per CPU-second, over {frames} frames ({}); \
             total reward {reward}, lives sum {lives}, games ended {games}",
            if read { "act + RGB screen every frame" } else { "act only" }
        );
    }
}
