//! The Arcade Learning Environment 0.12.1 (C++, built from the ale-py 0.12.1 sdist by build.rs)
//! behind a small C shim (`src/shim.cpp`), and a safe wrapper, [`Ale`].
//!
//! [`Ale::new`] sets up an emulator the way gym's `<Game>NoFrameskip-v4` does: frame skip 1,
//! sticky actions off (`repeat_action_probability` 0), the given `random_seed`, then loads the
//! ROM. Actions passed to [`Ale::act`] are ALE action ids (`PLAYER_A_*`, 0..18); gym's v4 action
//! `i` is `ale.minimal_action_set()[i]`.
//!
//! Everything here needs the cargo feature `native` (which builds ALE; `lot`'s `atari` feature
//! turns it on); without it the crate is empty, so a plain `cargo build --workspace` needs neither
//! the ALE sources nor cmake.
//!
//! License: ALE is GPL-2.0-only and is linked statically, so binaries using this crate are
//! GPL-2.0-only when distributed.
#![cfg(feature = "native")]

use std::ffi::{c_char, c_int, c_void, CString};
use std::fmt;
use std::path::Path;
use std::sync::Once;

/// The raw C interface of `src/shim.cpp`.
pub mod ffi {
    use super::*;
    extern "C" {
        pub fn lot_ale_log_errors_only();
        pub fn lot_ale_new(err: *mut c_char, cap: usize) -> *mut c_void;
        pub fn lot_ale_del(p: *mut c_void);
        pub fn lot_ale_set_int(p: *mut c_void, key: *const c_char, v: c_int, err: *mut c_char, cap: usize) -> c_int;
        pub fn lot_ale_set_float(p: *mut c_void, key: *const c_char, v: f32, err: *mut c_char, cap: usize) -> c_int;
        pub fn lot_ale_set_bool(p: *mut c_void, key: *const c_char, v: c_int, err: *mut c_char, cap: usize) -> c_int;
        pub fn lot_ale_load_rom(p: *mut c_void, path: *const c_char, err: *mut c_char, cap: usize) -> c_int;
        pub fn lot_ale_act(p: *mut c_void, action: c_int) -> c_int;
        pub fn lot_ale_game_over(p: *mut c_void) -> c_int;
        pub fn lot_ale_game_truncated(p: *mut c_void) -> c_int;
        pub fn lot_ale_reset_game(p: *mut c_void) -> c_int;
        pub fn lot_ale_lives(p: *mut c_void) -> c_int;
        pub fn lot_ale_frame_number(p: *mut c_void) -> c_int;
        pub fn lot_ale_episode_frame_number(p: *mut c_void) -> c_int;
        pub fn lot_ale_minimal_action_set(p: *mut c_void, out: *mut c_int, cap: c_int) -> c_int;
        pub fn lot_ale_screen_width(p: *mut c_void) -> c_int;
        pub fn lot_ale_screen_height(p: *mut c_void) -> c_int;
        pub fn lot_ale_screen_rgb(p: *mut c_void, out: *mut u8) -> c_int;
        pub fn lot_ale_screen_grayscale(p: *mut c_void, out: *mut u8) -> c_int;
    }
}

/// ALE action ids used by the wrappers (ale::Action).
pub const NOOP: i32 = 0;
pub const FIRE: i32 = 1;
/// The names of ALE's 18 player-A actions, indexed by action id (as gym's get_action_meanings).
pub const ACTION_MEANINGS: [&str; 18] = [
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
];

/// An error from ALE or the shim, as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AleError(pub String);

impl fmt::Display for AleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AleError {}

/// Emulator settings applied before the ROM is loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// ALE's `random_seed`.
    pub seed: i32,
    /// Sticky actions; 0 for v4 / NoFrameskip.
    pub repeat_action_probability: f32,
    /// Frames per `act`; 1 for NoFrameskip.
    pub frame_skip: i32,
    /// ALE's own truncation (0 = none); the v4 / NoFrameskip envs set 108,000 (no TimeLimit wrapper).
    pub max_num_frames_per_episode: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { seed: 0, repeat_action_probability: 0.0, frame_skip: 1, max_num_frames_per_episode: 0 }
    }
}

const ERR_CAP: usize = 512;

/// One ALE emulator with a ROM loaded.
pub struct Ale {
    ptr: *mut c_void,
    width: usize,
    height: usize,
    minimal: Vec<i32>,
}

// ALEInterface owns all its state; separate instances may live on separate threads.
unsafe impl Send for Ale {}

fn take_err(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]).into_owned();
    if s.is_empty() {
        "unknown error".to_string()
    } else {
        s
    }
}

fn cstr(s: &str) -> Result<CString, AleError> {
    CString::new(s).map_err(|_| AleError(format!("{s:?} contains a NUL byte")))
}

impl Ale {
    /// NoFrameskip-v4 settings (sticky actions off, frame skip 1) with ALE `random_seed = seed`.
    pub fn new(rom: &Path, seed: i32) -> Result<Ale, AleError> {
        Ale::with_settings(rom, &Settings { seed, ..Settings::default() })
    }

    pub fn with_settings(rom: &Path, s: &Settings) -> Result<Ale, AleError> {
        static QUIET: Once = Once::new();
        QUIET.call_once(|| unsafe { ffi::lot_ale_log_errors_only() });
        let mut err = [0u8; ERR_CAP];
        let ptr = unsafe { ffi::lot_ale_new(err.as_mut_ptr().cast(), ERR_CAP) };
        if ptr.is_null() {
            return Err(AleError(format!("cannot create ALE: {}", take_err(&err))));
        }
        // From here `ale` frees the pointer on every exit.
        let mut ale = Ale { ptr, width: 0, height: 0, minimal: Vec::new() };
        ale.set_int("random_seed", s.seed)?;
        ale.set_float("repeat_action_probability", s.repeat_action_probability)?;
        ale.set_int("frame_skip", s.frame_skip)?;
        ale.set_int("max_num_frames_per_episode", s.max_num_frames_per_episode)?;
        let path = rom
            .to_str()
            .ok_or_else(|| AleError(format!("ROM path {} is not UTF-8", rom.display())))?;
        let c = cstr(path)?;
        let rc = unsafe { ffi::lot_ale_load_rom(ale.ptr, c.as_ptr(), err.as_mut_ptr().cast(), ERR_CAP) };
        if rc != 0 {
            return Err(AleError(format!("cannot load ROM {}: {}", rom.display(), take_err(&err))));
        }
        let (w, h) = unsafe { (ffi::lot_ale_screen_width(ale.ptr), ffi::lot_ale_screen_height(ale.ptr)) };
        if w <= 0 || h <= 0 {
            return Err(AleError(format!("ALE reports a {w}x{h} screen")));
        }
        ale.width = w as usize;
        ale.height = h as usize;
        let mut ids = [0 as c_int; 18];
        let n = unsafe { ffi::lot_ale_minimal_action_set(ale.ptr, ids.as_mut_ptr(), 18) };
        if !(1..=18).contains(&n) {
            return Err(AleError(format!("ALE reports {n} minimal actions")));
        }
        ale.minimal = ids[..n as usize].to_vec();
        Ok(ale)
    }

    fn setting<F>(&mut self, key: &str, f: F) -> Result<(), AleError>
    where
        F: FnOnce(*mut c_void, *const c_char, *mut c_char) -> c_int,
    {
        let k = cstr(key)?;
        let mut err = [0u8; ERR_CAP];
        if f(self.ptr, k.as_ptr(), err.as_mut_ptr().cast()) != 0 {
            return Err(AleError(format!("ALE setting {key}: {}", take_err(&err))));
        }
        Ok(())
    }

    /// Settings take effect at the next ROM load (ALE's rule); `new` sets them before loading.
    pub fn set_int(&mut self, key: &str, v: i32) -> Result<(), AleError> {
        self.setting(key, |p, k, e| unsafe { ffi::lot_ale_set_int(p, k, v, e, ERR_CAP) })
    }

    pub fn set_float(&mut self, key: &str, v: f32) -> Result<(), AleError> {
        self.setting(key, |p, k, e| unsafe { ffi::lot_ale_set_float(p, k, v, e, ERR_CAP) })
    }

    pub fn set_bool(&mut self, key: &str, v: bool) -> Result<(), AleError> {
        self.setting(key, |p, k, e| unsafe { ffi::lot_ale_set_bool(p, k, v as c_int, e, ERR_CAP) })
    }

    /// One emulator step (frame_skip frames) with ALE action id `action`; returns the reward.
    /// Panics on an id outside 0..18.
    pub fn act(&mut self, action: i32) -> i32 {
        assert!((0..18).contains(&action), "ALE action id {action} out of 0..18");
        let r = unsafe { ffi::lot_ale_act(self.ptr, action) };
        assert!(r != i32::MIN, "ALE act({action}) raised a C++ exception");
        r
    }

    pub fn game_over(&self) -> bool {
        unsafe { ffi::lot_ale_game_over(self.ptr) == 1 }
    }

    pub fn game_truncated(&self) -> bool {
        unsafe { ffi::lot_ale_game_truncated(self.ptr) == 1 }
    }

    pub fn reset_game(&mut self) {
        let rc = unsafe { ffi::lot_ale_reset_game(self.ptr) };
        assert!(rc == 0, "ALE reset_game raised a C++ exception");
    }

    pub fn lives(&self) -> i32 {
        unsafe { ffi::lot_ale_lives(self.ptr) }
    }

    pub fn frame_number(&self) -> i32 {
        unsafe { ffi::lot_ale_frame_number(self.ptr) }
    }

    pub fn episode_frame_number(&self) -> i32 {
        unsafe { ffi::lot_ale_episode_frame_number(self.ptr) }
    }

    /// ALE action ids of the game's minimal action set (gym v4's action space, in order).
    pub fn minimal_action_set(&self) -> &[i32] {
        &self.minimal
    }

    /// 160 for the Atari 2600.
    pub fn width(&self) -> usize {
        self.width
    }

    /// 210 for the Atari 2600.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The screen as row-major RGB, `height*width*3` bytes (as ale-py's getScreenRGB).
    pub fn screen_rgb(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.height * self.width * 3, "screen_rgb buffer size");
        let rc = unsafe { ffi::lot_ale_screen_rgb(self.ptr, out.as_mut_ptr()) };
        assert!(rc == 0, "ALE getScreenRGB raised a C++ exception");
    }

    /// ALE's grayscale palette, `height*width` bytes (not OpenCV's RGB2GRAY of the RGB screen).
    pub fn screen_grayscale(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.height * self.width, "screen_grayscale buffer size");
        let rc = unsafe { ffi::lot_ale_screen_grayscale(self.ptr, out.as_mut_ptr()) };
        assert!(rc == 0, "ALE getScreenGrayscale raised a C++ exception");
    }
}

impl Drop for Ale {
    fn drop(&mut self) {
        unsafe { ffi::lot_ale_del(self.ptr) }
    }
}

impl fmt::Debug for Ale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ale")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("minimal_action_set", &self.minimal)
            .finish()
    }
}
