//! The environment interface every RL environment implements (classic control, Atari).

/// Statistics of a finished episode, in raw (unclipped) reward. For Atari this is the full game
/// (all lives), as RecordEpisodeStatistics reports it below the EpisodicLife wrapper.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpisodeStats {
    pub ret: f64,
    pub len: u64,
}

/// The result of one `step`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Step {
    /// Reward used for training (Atari: sign-clipped).
    pub reward: f32,
    /// The episode ended by the environment's rules (Atari: a life lost counts, as EpisodicLife does).
    pub terminated: bool,
    /// The episode was cut by a time limit.
    pub truncated: bool,
    /// Set when a whole episode (game) ended at this step.
    pub episode: Option<EpisodeStats>,
}

impl Step {
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

pub trait Env: Send {
    /// Observation shape, e.g. [4] for CartPole or [4, 84, 84] for Atari.
    fn obs_shape(&self) -> Vec<usize>;
    fn num_actions(&self) -> usize;
    /// Start a new episode and write its first observation into `obs` (len = product of the shape).
    fn reset(&mut self, obs: &mut [f32]);
    /// Take `action` and write the next observation. After a `done` step the caller resets
    /// (the vector environment does it automatically).
    fn step(&mut self, action: usize, obs: &mut [f32]) -> Step;
    /// Everything that decides this env's future (its physical state, its RNG's position, the
    /// running episode's return and length) as bytes, for resume checkpoints. `None` when the env
    /// cannot be saved, which makes its runs non-resumable (Atari: the emulator state is not saved).
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }
    /// Put the env back in the state `save_state` returned, so it continues exactly as it would have.
    fn restore_state(&mut self, _state: &[u8]) -> anyhow::Result<()> {
        anyhow::bail!("this environment's state cannot be restored")
    }
}
