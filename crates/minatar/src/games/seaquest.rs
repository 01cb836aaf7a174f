//! Seaquest, as `minatar/environments/seaquest.py`: a two-cell submarine shoots fish and enemy
//! subs (+1 each), picks up divers and must surface with at least one before its oxygen runs out;
//! surfacing with six divers pays out the remaining oxygen. Each surfacing speeds enemies up
//! (difficulty ramping). The episode ends on contact with an enemy or its bullet, with no oxygen,
//! or on surfacing without divers.
//!
//! The package keeps its objects in Python lists that it edits while walking them backwards;
//! `PyList` reproduces those semantics so that even the rare collisions (two equal objects, a sub
//! that fires after being removed) come out as in Python.

use super::pylist::PyList;
use super::Action;
use crate::codec::{Reader, Writer};
use crate::frame::Frame;
use crate::rng::RandomState;

pub const CHANNELS: usize = 10;
const SUB_FRONT: usize = 0;
const SUB_BACK: usize = 1;
const FRIENDLY_BULLET: usize = 2;
const TRAIL: usize = 3;
const ENEMY_BULLET: usize = 4;
const ENEMY_FISH: usize = 5;
const ENEMY_SUB: usize = 6;
const OXYGEN_GAUGE: usize = 7;
const DIVER_GAUGE: usize = 8;
const DIVER: usize = 9;

const MAX_OXYGEN: i32 = 200;
const INIT_SPAWN_SPEED: i32 = 20;
const DIVER_SPAWN_SPEED: i32 = 30;
const INIT_MOVE_INTERVAL: i32 = 5;
const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_SHOT_INTERVAL: i32 = 10;
const DIVER_MOVE_INTERVAL: i32 = 5;

const X: usize = 0;
const Y: usize = 1;
/// Moving right (1) or left (0).
const DIR: usize = 2;
const MOVE_TIMER: usize = 3;
const SHOT_TIMER: usize = 4;

fn step_x(o: &[i32]) -> i32 {
    if o[DIR] != 0 {
        1
    } else {
        -1
    }
}

fn off_screen(o: &[i32]) -> bool {
    !(0..=9).contains(&o[X])
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seaquest {
    ramping: bool,
    oxygen: i32,
    /// Can reach −1 (surfacing with six divers empties the bar, then one more is taken off), as
    /// in the package.
    diver_count: i32,
    sub_x: i32,
    sub_y: i32,
    /// Facing right.
    sub_or: bool,
    /// `[x, y, dir]`
    f_bullets: PyList<3>,
    e_bullets: PyList<3>,
    /// `[x, y, dir, move timer]`
    e_fish: PyList<4>,
    /// `[x, y, dir, move timer, shot timer]`
    e_subs: PyList<5>,
    /// `[x, y, dir, move timer]`
    divers: PyList<4>,
    e_spawn_speed: i32,
    e_spawn_timer: i32,
    d_spawn_timer: i32,
    move_speed: i32,
    ramp_index: i32,
    shot_timer: i32,
    surface: bool,
    terminal: bool,
    /// Identity for the next list object (see `PyList`).
    next_id: u32,
}

impl Seaquest {
    pub fn new(ramping: bool) -> Self {
        Self {
            ramping,
            ..Self::default()
        }
    }

    pub fn reset(&mut self) {
        self.oxygen = MAX_OXYGEN;
        self.diver_count = 0;
        self.sub_x = 5;
        self.sub_y = 0;
        self.sub_or = false;
        self.f_bullets.clear();
        self.e_bullets.clear();
        self.e_fish.clear();
        self.e_subs.clear();
        self.divers.clear();
        self.e_spawn_speed = INIT_SPAWN_SPEED;
        self.e_spawn_timer = self.e_spawn_speed;
        self.d_spawn_timer = DIVER_SPAWN_SPEED;
        self.move_speed = INIT_MOVE_INTERVAL;
        self.ramp_index = 0;
        self.shot_timer = 0;
        self.surface = true;
        self.terminal = false;
    }

    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn at_sub(&self, o: &[i32]) -> bool {
        o[X] == self.sub_x && o[Y] == self.sub_y
    }

    pub fn act(&mut self, a: Action, rng: &mut RandomState) -> (i32, bool) {
        let mut r = 0;
        if self.terminal {
            return (r, true);
        }
        if self.e_spawn_timer == 0 {
            self.spawn_enemy(rng);
            self.e_spawn_timer = self.e_spawn_speed;
        }
        if self.d_spawn_timer == 0 {
            self.spawn_diver(rng);
            self.d_spawn_timer = DIVER_SPAWN_SPEED;
        }

        if a == Action::Fire && self.shot_timer == 0 {
            let id = self.id();
            self.f_bullets
                .push(id, [self.sub_x, self.sub_y, self.sub_or as i32]);
            self.shot_timer = SHOT_COOL_DOWN;
        } else if a == Action::Left {
            self.sub_x = (self.sub_x - 1).max(0);
            self.sub_or = false;
        } else if a == Action::Right {
            self.sub_x = (self.sub_x + 1).min(9);
            self.sub_or = true;
        } else if a == Action::Up {
            self.sub_y = (self.sub_y - 1).max(0);
        } else if a == Action::Down {
            self.sub_y = (self.sub_y + 1).min(8);
        }

        r += self.update_friendly_bullets();
        self.update_divers();
        r += self.update_subs();
        self.update_enemy_bullets();
        r += self.update_fish();

        self.e_spawn_timer -= (self.e_spawn_timer > 0) as i32;
        self.d_spawn_timer -= (self.d_spawn_timer > 0) as i32;
        self.shot_timer -= (self.shot_timer > 0) as i32;
        if self.oxygen <= 0 {
            self.terminal = true;
        }
        if self.sub_y > 0 {
            self.oxygen -= 1;
            self.surface = false;
        } else if !self.surface {
            if self.diver_count == 0 {
                self.terminal = true;
            } else {
                r += self.surface();
            }
        }
        (r, self.terminal)
    }

    fn update_friendly_bullets(&mut self) -> i32 {
        let mut r = 0;
        let mut idx = self.f_bullets.rev_start();
        while let Some(o) = self.f_bullets.rev_next(&mut idx) {
            let mut b = o.v;
            b[X] += step_x(&b);
            self.f_bullets.write(o.id, b);
            if off_screen(&b) {
                self.f_bullets.remove(&b);
            } else if let Some(j) = self.e_fish.find_at([b[X], b[Y]]) {
                self.e_fish.items.remove(j);
                self.f_bullets.remove(&b);
                r += 1;
            } else if let Some(j) = self.e_subs.find_at([b[X], b[Y]]) {
                self.e_subs.items.remove(j);
                self.f_bullets.remove(&b);
                r += 1;
            }
        }
        r
    }

    fn update_divers(&mut self) {
        let mut idx = self.divers.rev_start();
        while let Some(o) = self.divers.rev_next(&mut idx) {
            let mut d = o.v;
            if self.at_sub(&d) && self.diver_count < 6 {
                self.divers.remove(&d);
                self.diver_count += 1;
            } else if d[MOVE_TIMER] == 0 {
                d[MOVE_TIMER] = DIVER_MOVE_INTERVAL;
                d[X] += step_x(&d);
                self.divers.write(o.id, d);
                if off_screen(&d) {
                    self.divers.remove(&d);
                } else if self.at_sub(&d) && self.diver_count < 6 {
                    self.divers.remove(&d);
                    self.diver_count += 1;
                }
            } else {
                d[MOVE_TIMER] -= 1;
                self.divers.write(o.id, d);
            }
        }
    }

    fn update_subs(&mut self) -> i32 {
        let mut r = 0;
        let mut idx = self.e_subs.rev_start();
        while let Some(o) = self.e_subs.rev_next(&mut idx) {
            let mut s = o.v;
            if self.at_sub(&s) {
                self.terminal = true;
            }
            if s[MOVE_TIMER] == 0 {
                s[MOVE_TIMER] = self.move_speed;
                s[X] += step_x(&s);
                self.e_subs.write(o.id, s);
                if off_screen(&s) {
                    self.e_subs.remove(&s);
                } else if self.at_sub(&s) {
                    self.terminal = true;
                } else if let Some(j) = self.f_bullets.find_at([s[X], s[Y]]) {
                    self.e_subs.remove(&s);
                    self.f_bullets.items.remove(j);
                    r += 1;
                }
            } else {
                s[MOVE_TIMER] -= 1;
                self.e_subs.write(o.id, s);
            }
            // A sub fires on its timer even in the step it was removed, as in the package.
            if s[SHOT_TIMER] == 0 {
                s[SHOT_TIMER] = ENEMY_SHOT_INTERVAL;
                self.e_subs.write(o.id, s);
                let id = self.id();
                self.e_bullets.push(id, [s[X], s[Y], s[DIR]]);
            } else {
                s[SHOT_TIMER] -= 1;
                self.e_subs.write(o.id, s);
            }
        }
        r
    }

    fn update_enemy_bullets(&mut self) {
        let mut idx = self.e_bullets.rev_start();
        while let Some(o) = self.e_bullets.rev_next(&mut idx) {
            let mut b = o.v;
            if self.at_sub(&b) {
                self.terminal = true;
            }
            b[X] += step_x(&b);
            self.e_bullets.write(o.id, b);
            if off_screen(&b) {
                self.e_bullets.remove(&b);
            } else if self.at_sub(&b) {
                self.terminal = true;
            }
        }
    }

    fn update_fish(&mut self) -> i32 {
        let mut r = 0;
        let mut idx = self.e_fish.rev_start();
        while let Some(o) = self.e_fish.rev_next(&mut idx) {
            let mut f = o.v;
            if self.at_sub(&f) {
                self.terminal = true;
            }
            if f[MOVE_TIMER] == 0 {
                f[MOVE_TIMER] = self.move_speed;
                f[X] += step_x(&f);
                self.e_fish.write(o.id, f);
                if off_screen(&f) {
                    self.e_fish.remove(&f);
                } else if self.at_sub(&f) {
                    self.terminal = true;
                } else if let Some(j) = self.f_bullets.find_at([f[X], f[Y]]) {
                    self.e_fish.remove(&f);
                    self.f_bullets.items.remove(j);
                    r += 1;
                }
            } else {
                f[MOVE_TIMER] -= 1;
                self.e_fish.write(o.id, f);
            }
        }
        r
    }

    /// Surfacing with divers: refill oxygen, take one diver (all six pay out the oxygen left and
    /// leave −1), and ramp the difficulty.
    fn surface(&mut self) -> i32 {
        self.surface = true;
        let r = if self.diver_count == 6 {
            self.diver_count = 0;
            self.oxygen * 10 / MAX_OXYGEN
        } else {
            0
        };
        self.oxygen = MAX_OXYGEN;
        self.diver_count -= 1;
        if self.ramping && (self.e_spawn_speed > 1 || self.move_speed > 2) {
            if self.move_speed > 2 && self.ramp_index % 2 != 0 {
                self.move_speed -= 1;
            }
            if self.e_spawn_speed > 1 {
                self.e_spawn_speed -= 1;
            }
            self.ramp_index += 1;
        }
        r
    }

    /// A fish or sub in a random lane and direction, unless that lane has one going the other way.
    fn spawn_enemy(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 1.0 / 2.0;
        let is_sub = rng.rand() < 1.0 / 3.0;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        let dir = right as i32;
        let clash = |v: &[i32]| v[Y] == y && v[DIR] != dir;
        if self.e_subs.items.iter().any(|o| clash(&o.v))
            || self.e_fish.items.iter().any(|o| clash(&o.v))
        {
            return;
        }
        let id = self.id();
        if is_sub {
            self.e_subs
                .push(id, [x, y, dir, self.move_speed, ENEMY_SHOT_INTERVAL]);
        } else {
            self.e_fish.push(id, [x, y, dir, self.move_speed]);
        }
    }

    fn spawn_diver(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 1.0 / 2.0;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        let id = self.id();
        self.divers
            .push(id, [x, y, right as i32, DIVER_MOVE_INTERVAL]);
    }

    pub fn render(&self, f: &mut Frame) {
        f.set(SUB_FRONT, self.sub_y, self.sub_x);
        let back_x = if self.sub_or {
            self.sub_x - 1
        } else {
            self.sub_x + 1
        };
        f.set(SUB_BACK, self.sub_y, back_x);
        // state[9, 0:max(0, oxygen)*10//200] and state[9, 9-divers:9] (empty when divers < 0).
        for x in 0..self.oxygen.max(0) * 10 / MAX_OXYGEN {
            f.set(OXYGEN_GAUGE, 9, x);
        }
        for x in (9 - self.diver_count).max(0)..9 {
            f.set(DIVER_GAUGE, 9, x);
        }
        for o in &self.f_bullets.items {
            f.set(FRIENDLY_BULLET, o.v[Y], o.v[X]);
        }
        for o in &self.e_bullets.items {
            f.set(ENEMY_BULLET, o.v[Y], o.v[X]);
        }
        let trail = |f: &mut Frame, v: &[i32]| {
            let back_x = v[X] - step_x(v);
            if (0..=9).contains(&back_x) {
                f.set(TRAIL, v[Y], back_x);
            }
        };
        for o in &self.e_fish.items {
            f.set(ENEMY_FISH, o.v[Y], o.v[X]);
            trail(f, &o.v);
        }
        for o in &self.e_subs.items {
            f.set(ENEMY_SUB, o.v[Y], o.v[X]);
            trail(f, &o.v);
        }
        for o in &self.divers.items {
            f.set(DIVER, o.v[Y], o.v[X]);
            trail(f, &o.v);
        }
    }

    pub fn save(&self, w: &mut Writer) {
        w.bool(self.ramping)
            .i32(self.oxygen)
            .i32(self.diver_count)
            .i32(self.sub_x)
            .i32(self.sub_y)
            .bool(self.sub_or);
        self.f_bullets.save(w);
        self.e_bullets.save(w);
        self.e_fish.save(w);
        self.e_subs.save(w);
        self.divers.save(w);
        w.i32(self.e_spawn_speed)
            .i32(self.e_spawn_timer)
            .i32(self.d_spawn_timer)
            .i32(self.move_speed);
        w.i32(self.ramp_index)
            .i32(self.shot_timer)
            .bool(self.surface)
            .bool(self.terminal)
            .u32(self.next_id);
    }

    pub fn restore(r: &mut Reader) -> Option<Self> {
        Some(Self {
            ramping: r.bool()?,
            oxygen: r.i32()?,
            diver_count: r.i32()?,
            sub_x: r.i32()?,
            sub_y: r.i32()?,
            sub_or: r.bool()?,
            f_bullets: PyList::restore(r)?,
            e_bullets: PyList::restore(r)?,
            e_fish: PyList::restore(r)?,
            e_subs: PyList::restore(r)?,
            divers: PyList::restore(r)?,
            e_spawn_speed: r.i32()?,
            e_spawn_timer: r.i32()?,
            d_spawn_timer: r.i32()?,
            move_speed: r.i32()?,
            ramp_index: r.i32()?,
            shot_timer: r.i32()?,
            surface: r.bool()?,
            terminal: r.bool()?,
            next_id: r.u32()?,
        })
    }
}
