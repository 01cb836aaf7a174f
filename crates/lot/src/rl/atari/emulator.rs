//! The little the wrappers need from an Atari emulator: ALE through `ale-sys` (feature `atari`),
//! or a scripted fake in tests.

/// An emulator in NoFrameskip-v4 mode: one `act` is one frame, sticky actions off.
pub trait Emulator: Send {
    /// One frame with ALE action id `action` (PLAYER_A_*, not an index); returns its reward.
    fn act(&mut self, action: i32) -> i32;
    fn lives(&self) -> i32;
    /// The episode is over: the game ended, or the emulator's own frame limit cut it (ALE's
    /// `game_over()`, truncation included, which is gym v4's `done`).
    fn game_over(&self) -> bool;
    /// The episode was cut by the emulator's frame limit (ALE's `game_truncated()`), not ended
    /// by the game.
    fn truncated(&self) -> bool {
        false
    }
    /// ALE's `reset_game` (which itself runs a few noop frames).
    fn reset(&mut self);
    /// The screen as row-major RGB, `height*width*3` bytes.
    fn screen_rgb(&self, out: &mut [u8]);
    /// (height, width) of the screen: (210, 160) for the Atari 2600.
    fn screen_size(&self) -> (usize, usize);
    /// ALE action ids of the minimal action set; the agent's action `i` is `minimal_actions()[i]`.
    fn minimal_actions(&self) -> &[i32];
}
