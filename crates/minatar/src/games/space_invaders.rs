//! Space Invaders, as `minatar/environments/space_invaders.py`: a cannon under a block of aliens
//! that march sideways, step down at the edges and shoot at the cannon. +1 per alien shot; a new,
//! faster wave when one is cleared (difficulty ramping); the episode ends when the cannon is hit
//! or reached.

use super::Action;
use crate::codec::{Reader, Writer};
use crate::frame::{Frame, FULL_ROW};

pub const CHANNELS: usize = 6;
const CANNON: usize = 0;
const ALIEN: usize = 1;
const ALIEN_LEFT: usize = 2;
const ALIEN_RIGHT: usize = 3;
const FRIENDLY_BULLET: usize = 4;
const ENEMY_BULLET: usize = 5;

const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_MOVE_INTERVAL: i32 = 12;
const ENEMY_SHOT_INTERVAL: i32 = 10;

/// Maps are `u16` rows, bit x for column x.
type Map = [u16; 10];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpaceInvaders {
    ramping: bool,
    pos: i32,
    f_bullets: Map,
    e_bullets: Map,
    aliens: Map,
    alien_dir: i32,
    enemy_move_interval: i32,
    alien_move_timer: i32,
    alien_shot_timer: i32,
    ramp_index: i32,
    shot_timer: i32,
    terminal: bool,
}

fn wave() -> Map {
    let mut m = [0; 10];
    m[0..4].fill(0b00_1111_1100); // columns 2..=7
    m
}

fn has(m: &Map, y: usize, x: i32) -> bool {
    m[y] >> x & 1 == 1
}

fn count(m: &Map) -> i32 {
    m.iter().map(|r| r.count_ones() as i32).sum()
}

/// `np.roll(m, shift, axis=1)` for shift ±1: columns move, wrapping around.
fn roll_columns(m: &mut Map, shift: i32) {
    for r in m.iter_mut() {
        *r = if shift > 0 {
            ((*r << 1) | (*r >> 9)) & FULL_ROW
        } else {
            (*r >> 1) | ((*r & 1) << 9)
        };
    }
}

impl SpaceInvaders {
    pub fn new(ramping: bool) -> Self {
        Self {
            ramping,
            ..Self::default()
        }
    }

    pub fn reset(&mut self) {
        self.pos = 5;
        self.f_bullets = [0; 10];
        self.e_bullets = [0; 10];
        self.aliens = wave();
        self.alien_dir = -1;
        self.enemy_move_interval = ENEMY_MOVE_INTERVAL;
        self.alien_move_timer = self.enemy_move_interval;
        self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
        self.ramp_index = 0;
        self.shot_timer = 0;
        self.terminal = false;
    }

    pub fn act(&mut self, a: Action) -> (i32, bool) {
        if self.terminal {
            return (0, true);
        }
        if a == Action::Fire && self.shot_timer == 0 {
            self.f_bullets[9] |= 1 << self.pos;
            self.shot_timer = SHOT_COOL_DOWN;
        } else if a == Action::Left {
            self.pos = (self.pos - 1).max(0);
        } else if a == Action::Right {
            self.pos = (self.pos + 1).min(9);
        }

        // Friendly bullets go up a row (np.roll by −1, bottom row cleared), enemy ones down.
        self.f_bullets.rotate_left(1);
        self.f_bullets[9] = 0;
        self.e_bullets.rotate_right(1);
        self.e_bullets[0] = 0;
        if has(&self.e_bullets, 9, self.pos) {
            self.terminal = true;
        }

        if has(&self.aliens, 9, self.pos) {
            self.terminal = true;
        }
        if self.alien_move_timer == 0 {
            self.alien_move_timer = count(&self.aliens).min(self.enemy_move_interval);
            let left_edge = self.aliens.iter().any(|r| r & 1 != 0);
            let right_edge = self.aliens.iter().any(|r| r >> 9 & 1 != 0);
            if (left_edge && self.alien_dir < 0) || (right_edge && self.alien_dir > 0) {
                self.alien_dir = -self.alien_dir;
                if self.aliens[9] != 0 {
                    self.terminal = true;
                }
                self.aliens.rotate_right(1);
            } else {
                roll_columns(&mut self.aliens, self.alien_dir);
            }
            if has(&self.aliens, 9, self.pos) {
                self.terminal = true;
            }
        }
        if self.alien_shot_timer == 0 {
            self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
            if let Some((y, x)) = self.nearest_alien() {
                self.e_bullets[y] |= 1 << x;
            }
        }

        let mut r = 0;
        for (al, fb) in self.aliens.iter_mut().zip(self.f_bullets.iter_mut()) {
            let kill = *al & *fb;
            r += kill.count_ones() as i32;
            *al &= !kill;
            *fb &= !kill;
        }

        self.shot_timer -= (self.shot_timer > 0) as i32;
        self.alien_move_timer -= 1;
        self.alien_shot_timer -= 1;
        if count(&self.aliens) == 0 {
            if self.enemy_move_interval > 6 && self.ramping {
                self.enemy_move_interval -= 1;
                self.ramp_index += 1;
            }
            self.aliens = wave();
        }
        (r, self.terminal)
    }

    /// The lowest alien of the nearest column holding one (ties: the left column, as Python's
    /// stable sort by distance leaves them).
    fn nearest_alien(&self) -> Option<(usize, i32)> {
        let mut order: [i32; 10] = std::array::from_fn(|x| x as i32);
        order.sort_by_key(|x| (x - self.pos).abs());
        order.into_iter().find_map(|x| {
            (0..10)
                .rev()
                .find(|&y| has(&self.aliens, y, x))
                .map(|y| (y, x))
        })
    }

    pub fn render(&self, f: &mut Frame) {
        f.set(CANNON, 9, self.pos);
        f.rows[ALIEN] = self.aliens;
        f.rows[if self.alien_dir < 0 {
            ALIEN_LEFT
        } else {
            ALIEN_RIGHT
        }] = self.aliens;
        f.rows[FRIENDLY_BULLET] = self.f_bullets;
        f.rows[ENEMY_BULLET] = self.e_bullets;
    }

    pub fn save(&self, w: &mut Writer) {
        w.bool(self.ramping)
            .i32(self.pos)
            .rows(&self.f_bullets)
            .rows(&self.e_bullets)
            .rows(&self.aliens);
        w.i32(self.alien_dir)
            .i32(self.enemy_move_interval)
            .i32(self.alien_move_timer);
        w.i32(self.alien_shot_timer)
            .i32(self.ramp_index)
            .i32(self.shot_timer)
            .bool(self.terminal);
    }

    pub fn restore(r: &mut Reader) -> Option<Self> {
        Some(Self {
            ramping: r.bool()?,
            pos: r.i32()?,
            f_bullets: r.rows()?,
            e_bullets: r.rows()?,
            aliens: r.rows()?,
            alien_dir: r.i32()?,
            enemy_move_interval: r.i32()?,
            alien_move_timer: r.i32()?,
            alien_shot_timer: r.i32()?,
            ramp_index: r.i32()?,
            shot_timer: r.i32()?,
            terminal: r.bool()?,
        })
    }
}
