//! Asterix, as `minatar/environments/asterix.py`: the player moves in four directions; enemies
//! and gold enter from the sides in eight lanes. +1 per gold picked up; touching an enemy ends the
//! episode. Spawning and movement speed up every 100 steps (difficulty ramping).

use super::Action;
use crate::codec::{Reader, Writer};
use crate::frame::Frame;
use crate::rng::RandomState;

pub const CHANNELS: usize = 4;
const PLAYER: usize = 0;
const ENEMY: usize = 1;
const TRAIL: usize = 2;
const GOLD: usize = 3;

const RAMP_INTERVAL: i32 = 100;
const INIT_SPAWN_SPEED: i32 = 10;
const INIT_MOVE_INTERVAL: i32 = 5;
const SLOTS: usize = 8;

/// An enemy or gold: `[x, y, moving right, is gold]` as the package's list.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Entity {
    x: i32,
    y: i32,
    right: bool,
    gold: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Asterix {
    ramping: bool,
    player_x: i32,
    player_y: i32,
    entities: [Option<Entity>; SLOTS],
    spawn_speed: i32,
    spawn_timer: i32,
    move_speed: i32,
    move_timer: i32,
    ramp_timer: i32,
    ramp_index: i32,
    terminal: bool,
}

impl Asterix {
    pub fn new(ramping: bool) -> Self {
        Self {
            ramping,
            ..Self::default()
        }
    }

    pub fn reset(&mut self) {
        self.player_x = 5;
        self.player_y = 5;
        self.entities = [None; SLOTS];
        self.spawn_speed = INIT_SPAWN_SPEED;
        self.spawn_timer = self.spawn_speed;
        self.move_speed = INIT_MOVE_INTERVAL;
        self.move_timer = self.move_speed;
        self.ramp_timer = RAMP_INTERVAL;
        self.ramp_index = 0;
        self.terminal = false;
    }

    /// Touching the player: gold is collected (+1), an enemy ends the episode.
    fn touch(&mut self, i: usize, r: &mut i32) {
        let Some(e) = self.entities[i] else { return };
        if (e.x, e.y) == (self.player_x, self.player_y) {
            if e.gold {
                self.entities[i] = None;
                *r += 1;
            } else {
                self.terminal = true;
            }
        }
    }

    pub fn act(&mut self, a: Action, rng: &mut RandomState) -> (i32, bool) {
        let mut r = 0;
        if self.terminal {
            return (r, true);
        }
        if self.spawn_timer == 0 {
            self.spawn_entity(rng);
            self.spawn_timer = self.spawn_speed;
        }
        match a {
            Action::Left => self.player_x = (self.player_x - 1).max(0),
            Action::Right => self.player_x = (self.player_x + 1).min(9),
            Action::Up => self.player_y = (self.player_y - 1).max(1),
            Action::Down => self.player_y = (self.player_y + 1).min(8),
            _ => {}
        }
        for i in 0..SLOTS {
            self.touch(i, &mut r);
        }
        if self.move_timer == 0 {
            self.move_timer = self.move_speed;
            for i in 0..SLOTS {
                if let Some(e) = &mut self.entities[i] {
                    e.x += if e.right { 1 } else { -1 };
                    if !(0..=9).contains(&e.x) {
                        self.entities[i] = None;
                    }
                    self.touch(i, &mut r);
                }
            }
        }
        self.spawn_timer -= 1;
        self.move_timer -= 1;

        if self.ramping && (self.spawn_speed > 1 || self.move_speed > 1) {
            if self.ramp_timer >= 0 {
                self.ramp_timer -= 1;
            } else {
                if self.move_speed > 1 && self.ramp_index % 2 != 0 {
                    self.move_speed -= 1;
                }
                if self.spawn_speed > 1 {
                    self.spawn_speed -= 1;
                }
                self.ramp_index += 1;
                self.ramp_timer = RAMP_INTERVAL;
            }
        }
        (r, self.terminal)
    }

    /// Direction and kind are drawn even when every lane is taken (then nothing spawns).
    fn spawn_entity(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 1.0 / 2.0;
        let gold = rng.rand() < 1.0 / 3.0;
        let x = if right { 0 } else { 9 };
        // The free lanes in order, without allocating (this runs every few steps).
        let mut free = [0usize; SLOTS];
        let mut n = 0;
        for i in (0..SLOTS).filter(|&i| self.entities[i].is_none()) {
            free[n] = i;
            n += 1;
        }
        if n == 0 {
            return;
        }
        let slot = free[rng.randint(0, n as i64) as usize];
        self.entities[slot] = Some(Entity {
            x,
            y: slot as i32 + 1,
            right,
            gold,
        });
    }

    pub fn render(&self, f: &mut Frame) {
        f.set(PLAYER, self.player_y, self.player_x);
        for e in self.entities.iter().flatten() {
            f.set(if e.gold { GOLD } else { ENEMY }, e.y, e.x);
            let back_x = if e.right { e.x - 1 } else { e.x + 1 };
            if (0..=9).contains(&back_x) {
                f.set(TRAIL, e.y, back_x);
            }
        }
    }

    pub fn save(&self, w: &mut Writer) {
        w.bool(self.ramping).i32(self.player_x).i32(self.player_y);
        for e in &self.entities {
            match e {
                None => w.bool(false),
                Some(e) => w.bool(true).i32(e.x).i32(e.y).bool(e.right).bool(e.gold),
            };
        }
        w.i32(self.spawn_speed)
            .i32(self.spawn_timer)
            .i32(self.move_speed)
            .i32(self.move_timer);
        w.i32(self.ramp_timer)
            .i32(self.ramp_index)
            .bool(self.terminal);
    }

    pub fn restore(r: &mut Reader) -> Option<Self> {
        let (ramping, player_x, player_y) = (r.bool()?, r.i32()?, r.i32()?);
        let mut entities = [None; SLOTS];
        for e in entities.iter_mut() {
            if r.bool()? {
                *e = Some(Entity {
                    x: r.i32()?,
                    y: r.i32()?,
                    right: r.bool()?,
                    gold: r.bool()?,
                });
            }
        }
        Some(Self {
            ramping,
            player_x,
            player_y,
            entities,
            spawn_speed: r.i32()?,
            spawn_timer: r.i32()?,
            move_speed: r.i32()?,
            move_timer: r.i32()?,
            ramp_timer: r.i32()?,
            ramp_index: r.i32()?,
            terminal: r.bool()?,
        })
    }
}
