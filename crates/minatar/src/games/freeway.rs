//! Freeway, as `minatar/environments/freeway.py`: a chicken crosses eight lanes of cars, moving
//! at most every third step. +1 per crossing (then car speeds are redrawn); a car sends it back to
//! the bottom. The episode ends after 2500 steps (the game's own time limit: the package reports
//! it as a terminal step, and so do we).

use super::Action;
use crate::codec::{Reader, Writer};
use crate::frame::Frame;
use crate::rng::RandomState;

pub const CHANNELS: usize = 7;
const CHICKEN: usize = 0;
const CAR: usize = 1;
/// Trail channels 2..=6 give a car's speed (moves every 1..=5 steps).
const SPEED1: usize = 2;

const PLAYER_SPEED: i32 = 3;
pub const TIME_LIMIT: i32 = 2500;

/// A car: `[x, y, move timer, signed speed]` as the package's list.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Car {
    x: i32,
    y: i32,
    timer: i32,
    speed: i32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Freeway {
    cars: [Car; 8],
    pos: i32,
    move_timer: i32,
    terminate_timer: i32,
    terminal: bool,
}

impl Freeway {
    pub fn reset(&mut self, rng: &mut RandomState) {
        self.randomize_cars(rng, true);
        self.pos = 9;
        self.move_timer = PLAYER_SPEED;
        self.terminate_timer = TIME_LIMIT;
        self.terminal = false;
    }

    /// Eight speeds `randint(1, 6, 8)`, then eight directions `sign(rand(8) - 0.5)` (a draw of
    /// exactly 0.5 gives speed 0, as numpy's sign does).
    fn randomize_cars(&mut self, rng: &mut RandomState, initialize: bool) {
        let speeds: [i32; 8] = std::array::from_fn(|_| rng.randint(1, 6) as i32);
        for (i, s) in speeds.into_iter().enumerate() {
            let d = rng.rand() - 0.5;
            let speed = s * if d > 0.0 {
                1
            } else if d < 0.0 {
                -1
            } else {
                0
            };
            let car = &mut self.cars[i];
            if initialize {
                *car = Car {
                    x: 0,
                    y: i as i32 + 1,
                    timer: speed.abs(),
                    speed,
                };
            } else {
                (car.timer, car.speed) = (speed.abs(), speed);
            }
        }
    }

    pub fn act(&mut self, a: Action, rng: &mut RandomState) -> (i32, bool) {
        let mut r = 0;
        if self.terminal {
            return (r, true);
        }
        if a == Action::Up && self.move_timer == 0 {
            self.move_timer = PLAYER_SPEED;
            self.pos = (self.pos - 1).max(0);
        } else if a == Action::Down && self.move_timer == 0 {
            self.move_timer = PLAYER_SPEED;
            self.pos = (self.pos + 1).min(9);
        }
        if self.pos == 0 {
            r += 1;
            self.randomize_cars(rng, false);
            self.pos = 9;
        }
        for car in self.cars.iter_mut() {
            if (car.x, car.y) == (4, self.pos) {
                self.pos = 9;
            }
            if car.timer == 0 {
                car.timer = car.speed.abs();
                car.x += if car.speed > 0 { 1 } else { -1 };
                if car.x < 0 {
                    car.x = 9;
                } else if car.x > 9 {
                    car.x = 0;
                }
                if (car.x, car.y) == (4, self.pos) {
                    self.pos = 9;
                }
            } else {
                car.timer -= 1;
            }
        }
        self.move_timer -= (self.move_timer > 0) as i32;
        self.terminate_timer -= 1;
        if self.terminate_timer < 0 {
            self.terminal = true;
        }
        (r, self.terminal)
    }

    pub fn render(&self, f: &mut Frame) {
        f.set(CHICKEN, self.pos, 4);
        for car in &self.cars {
            f.set(CAR, car.y, car.x);
            let mut back_x = if car.speed > 0 { car.x - 1 } else { car.x + 1 };
            if back_x < 0 {
                back_x = 9;
            } else if back_x > 9 {
                back_x = 0;
            }
            // Speed 0 (a 2^-53 event) has no trail channel; the package would fail here.
            if (1..=5).contains(&car.speed.abs()) {
                f.set(
                    SPEED1 + car.speed.unsigned_abs() as usize - 1,
                    car.y,
                    back_x,
                );
            }
        }
    }

    pub fn save(&self, w: &mut Writer) {
        for c in &self.cars {
            w.i32(c.x).i32(c.y).i32(c.timer).i32(c.speed);
        }
        w.i32(self.pos)
            .i32(self.move_timer)
            .i32(self.terminate_timer)
            .bool(self.terminal);
    }

    pub fn restore(r: &mut Reader) -> Option<Self> {
        let mut cars = [Car::default(); 8];
        for c in cars.iter_mut() {
            *c = Car {
                x: r.i32()?,
                y: r.i32()?,
                timer: r.i32()?,
                speed: r.i32()?,
            };
        }
        Some(Self {
            cars,
            pos: r.i32()?,
            move_timer: r.i32()?,
            terminate_timer: r.i32()?,
            terminal: r.bool()?,
        })
    }
}
