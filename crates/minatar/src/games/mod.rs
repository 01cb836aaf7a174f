//! The five games, each a port of its `minatar/environments/<game>.py`, and the dispatch over them.

pub mod asterix;
pub mod breakout;
pub mod freeway;
mod pylist;
pub mod seaquest;
pub mod space_invaders;

use crate::codec::{Reader, Writer};
use crate::frame::Frame;
use crate::rng::RandomState;

/// The package's full action set, in its order (`['n','l','u','r','d','f']`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Noop,
    Left,
    Up,
    Right,
    Down,
    Fire,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Noop,
        Action::Left,
        Action::Up,
        Action::Right,
        Action::Down,
        Action::Fire,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Game {
    Asterix,
    Breakout,
    Freeway,
    Seaquest,
    SpaceInvaders,
}

impl Game {
    pub const ALL: [Game; 5] = [
        Game::Asterix,
        Game::Breakout,
        Game::Freeway,
        Game::Seaquest,
        Game::SpaceInvaders,
    ];

    /// The package's module name (`Environment(env_name=...)`).
    pub fn module(self) -> &'static str {
        match self {
            Game::Asterix => "asterix",
            Game::Breakout => "breakout",
            Game::Freeway => "freeway",
            Game::Seaquest => "seaquest",
            Game::SpaceInvaders => "space_invaders",
        }
    }

    /// The name in the gym ids (`MinAtar/<Name>-v1`).
    pub fn title(self) -> &'static str {
        match self {
            Game::Asterix => "Asterix",
            Game::Breakout => "Breakout",
            Game::Freeway => "Freeway",
            Game::Seaquest => "Seaquest",
            Game::SpaceInvaders => "SpaceInvaders",
        }
    }

    pub fn from_module(name: &str) -> Option<Game> {
        Game::ALL.into_iter().find(|g| g.module() == name)
    }

    pub fn channels(self) -> usize {
        match self {
            Game::Asterix => asterix::CHANNELS,
            Game::Breakout => breakout::CHANNELS,
            Game::Freeway => freeway::CHANNELS,
            Game::Seaquest => seaquest::CHANNELS,
            Game::SpaceInvaders => space_invaders::CHANNELS,
        }
    }

    /// `minimal_action_set()`: the actions that do something in this game.
    pub fn minimal_actions(self) -> &'static [Action] {
        use Action::*;
        match self {
            Game::Asterix => &[Noop, Left, Up, Right, Down],
            Game::Breakout => &[Noop, Left, Right],
            Game::Freeway => &[Noop, Up, Down],
            Game::Seaquest => &[Noop, Left, Up, Right, Down, Fire],
            Game::SpaceInvaders => &[Noop, Left, Right, Fire],
        }
    }
}

/// One game's state.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Asterix(asterix::Asterix),
    Breakout(breakout::Breakout),
    Freeway(freeway::Freeway),
    Seaquest(seaquest::Seaquest),
    SpaceInvaders(space_invaders::SpaceInvaders),
}

impl State {
    /// A game before its first reset. `ramping` is the difficulty ramp (Asterix, Seaquest,
    /// Space Invaders; the others have none).
    pub fn new(game: Game, ramping: bool) -> Self {
        match game {
            Game::Asterix => State::Asterix(asterix::Asterix::new(ramping)),
            Game::Breakout => State::Breakout(Default::default()),
            Game::Freeway => State::Freeway(Default::default()),
            Game::Seaquest => State::Seaquest(seaquest::Seaquest::new(ramping)),
            Game::SpaceInvaders => {
                State::SpaceInvaders(space_invaders::SpaceInvaders::new(ramping))
            }
        }
    }

    pub fn game(&self) -> Game {
        match self {
            State::Asterix(_) => Game::Asterix,
            State::Breakout(_) => Game::Breakout,
            State::Freeway(_) => Game::Freeway,
            State::Seaquest(_) => Game::Seaquest,
            State::SpaceInvaders(_) => Game::SpaceInvaders,
        }
    }

    pub fn reset(&mut self, rng: &mut RandomState) {
        match self {
            State::Asterix(g) => g.reset(),
            State::Breakout(g) => g.reset(rng),
            State::Freeway(g) => g.reset(rng),
            State::Seaquest(g) => g.reset(),
            State::SpaceInvaders(g) => g.reset(),
        }
    }

    /// One step: (reward, terminal). A terminal game stays terminal and pays 0.
    pub fn act(&mut self, a: Action, rng: &mut RandomState) -> (i32, bool) {
        match self {
            State::Asterix(g) => g.act(a, rng),
            State::Breakout(g) => g.act(a),
            State::Freeway(g) => g.act(a, rng),
            State::Seaquest(g) => g.act(a, rng),
            State::SpaceInvaders(g) => g.act(a),
        }
    }

    /// Draw the observation into `f` (cleared first).
    pub fn render(&self, f: &mut Frame) {
        f.clear();
        f.channels = self.game().channels();
        match self {
            State::Asterix(g) => g.render(f),
            State::Breakout(g) => g.render(f),
            State::Freeway(g) => g.render(f),
            State::Seaquest(g) => g.render(f),
            State::SpaceInvaders(g) => g.render(f),
        }
    }

    pub fn save(&self, w: &mut Writer) {
        match self {
            State::Asterix(g) => g.save(w),
            State::Breakout(g) => g.save(w),
            State::Freeway(g) => g.save(w),
            State::Seaquest(g) => g.save(w),
            State::SpaceInvaders(g) => g.save(w),
        }
    }

    pub fn restore(game: Game, r: &mut Reader) -> Option<Self> {
        Some(match game {
            Game::Asterix => State::Asterix(asterix::Asterix::restore(r)?),
            Game::Breakout => State::Breakout(breakout::Breakout::restore(r)?),
            Game::Freeway => State::Freeway(freeway::Freeway::restore(r)?),
            Game::Seaquest => State::Seaquest(seaquest::Seaquest::restore(r)?),
            Game::SpaceInvaders => State::SpaceInvaders(space_invaders::SpaceInvaders::restore(r)?),
        })
    }
}
