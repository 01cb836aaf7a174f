//! Breakout, as `minatar/environments/breakout.py`: a paddle, a ball on the diagonals and three
//! rows of bricks (refilled when the ball reaches the bottom row with none left). +1 per brick;
//! the episode ends when the ball passes the paddle.

use super::Action;
use crate::codec::{Reader, Writer};
use crate::frame::{Frame, FULL_ROW};
use crate::rng::RandomState;

pub const CHANNELS: usize = 4;
const PADDLE: usize = 0;
const BALL: usize = 1;
const TRAIL: usize = 2;
const BRICK: usize = 3;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakout {
    ball_x: i32,
    ball_y: i32,
    /// 0: up-left, 1: up-right, 2: down-right, 3: down-left.
    ball_dir: usize,
    pos: i32,
    bricks: [u16; 10],
    strike: bool,
    last_x: i32,
    last_y: i32,
    terminal: bool,
}

fn full_bricks() -> [u16; 10] {
    let mut b = [0; 10];
    b[1..4].fill(FULL_ROW);
    b
}

impl Breakout {
    pub fn reset(&mut self, rng: &mut RandomState) {
        self.ball_y = 3;
        (self.ball_x, self.ball_dir) = [(0, 2), (9, 3)][rng.randint(0, 2) as usize];
        self.pos = 4;
        self.bricks = full_bricks();
        self.strike = false;
        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        self.terminal = false;
    }

    fn brick(&self, y: i32, x: i32) -> bool {
        (0..10).contains(&y) && (0..10).contains(&x) && self.bricks[y as usize] >> x & 1 == 1
    }

    pub fn act(&mut self, a: Action) -> (i32, bool) {
        let mut r = 0;
        if self.terminal {
            return (r, true);
        }
        match a {
            Action::Left => self.pos = (self.pos - 1).max(0),
            Action::Right => self.pos = (self.pos + 1).min(9),
            _ => {}
        }
        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        let (dx, dy) = [(-1, -1), (1, -1), (1, 1), (-1, 1)][self.ball_dir];
        let (mut new_x, mut new_y) = (self.ball_x + dx, self.ball_y + dy);

        let mut strike_toggle = false;
        if !(0..=9).contains(&new_x) {
            new_x = new_x.clamp(0, 9);
            self.ball_dir = [1, 0, 3, 2][self.ball_dir];
        }
        if new_y < 0 {
            new_y = 0;
            self.ball_dir = [3, 2, 1, 0][self.ball_dir];
        } else if self.brick(new_y, new_x) {
            strike_toggle = true;
            // A second brick right after a strike is passed through, as in the package.
            if !self.strike {
                r += 1;
                self.strike = true;
                self.bricks[new_y as usize] &= !(1 << new_x);
                new_y = self.last_y;
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
            }
        } else if new_y == 9 {
            if self.bricks.iter().all(|&row| row == 0) {
                self.bricks = full_bricks();
            }
            if self.ball_x == self.pos {
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
                new_y = self.last_y;
            } else if new_x == self.pos {
                self.ball_dir = [2, 3, 0, 1][self.ball_dir];
                new_y = self.last_y;
            } else {
                self.terminal = true;
            }
        }
        if !strike_toggle {
            self.strike = false;
        }
        self.ball_x = new_x;
        self.ball_y = new_y;
        (r, self.terminal)
    }

    pub fn render(&self, f: &mut Frame) {
        f.set(BALL, self.ball_y, self.ball_x);
        f.set(PADDLE, 9, self.pos);
        f.set(TRAIL, self.last_y, self.last_x);
        f.rows[BRICK] = self.bricks;
    }

    pub fn save(&self, w: &mut Writer) {
        w.i32(self.ball_x)
            .i32(self.ball_y)
            .u32(self.ball_dir as u32)
            .i32(self.pos)
            .rows(&self.bricks);
        w.bool(self.strike)
            .i32(self.last_x)
            .i32(self.last_y)
            .bool(self.terminal);
    }

    pub fn restore(r: &mut Reader) -> Option<Self> {
        let s = Self {
            ball_x: r.i32()?,
            ball_y: r.i32()?,
            ball_dir: r.u32()? as usize,
            pos: r.i32()?,
            bricks: r.rows()?,
            strike: r.bool()?,
            last_x: r.i32()?,
            last_y: r.i32()?,
            terminal: r.bool()?,
        };
        (s.ball_dir < 4).then_some(s)
    }
}
