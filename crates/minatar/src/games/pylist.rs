//! Python list semantics that Seaquest's step depends on: `list.remove(v)` drops the *first*
//! element equal in value to `v` (not necessarily the object being iterated), and
//! `for o in reversed(list)` walks indices downward, stopping once the index is past the end,
//! while items are removed under it. Objects keep an identity (`id`) so that mutating the
//! iterated object touches that object, wherever it now is, or nothing once it left the list.

use crate::codec::{Reader, Writer};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Obj<const K: usize> {
    pub id: u32,
    pub v: [i32; K],
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PyList<const K: usize> {
    pub items: Vec<Obj<K>>,
}

/// A saved list may hold at most this many objects (the games never come close).
const MAX_SAVED: usize = 10_000;

impl<const K: usize> PyList<K> {
    pub fn clear(&mut self) {
        self.items.clear();
    }

    pub fn push(&mut self, id: u32, v: [i32; K]) {
        self.items.push(Obj { id, v });
    }

    /// `list.remove(v)`; Python raises when nothing matches, which the games never reach.
    pub fn remove(&mut self, v: &[i32; K]) {
        if let Some(i) = self.items.iter().position(|o| o.v == *v) {
            self.items.remove(i);
        }
    }

    /// Write the object's new value if it is still in the list (a removed object is detached:
    /// Python mutates it, but no list sees it any more).
    pub fn write(&mut self, id: u32, v: [i32; K]) {
        if let Some(o) = self.items.iter_mut().find(|o| o.id == id) {
            o.v = v;
        }
    }

    /// The first element whose (x, y) is `xy` (a `for x in list: if ...: break` search).
    pub fn find_at(&self, xy: [i32; 2]) -> Option<usize> {
        self.items
            .iter()
            .position(|o| o.v[0] == xy[0] && o.v[1] == xy[1])
    }

    /// The next object of a `reversed(list)` walk at `*idx`, moving the index down; `None` ends
    /// the walk (CPython's `listreviter_next`).
    pub fn rev_next(&self, idx: &mut isize) -> Option<Obj<K>> {
        if *idx >= 0 && (*idx as usize) < self.items.len() {
            let o = self.items[*idx as usize];
            *idx -= 1;
            Some(o)
        } else {
            *idx = -1;
            None
        }
    }

    pub fn rev_start(&self) -> isize {
        self.items.len() as isize - 1
    }

    pub fn save(&self, w: &mut Writer) {
        w.u32(self.items.len() as u32);
        for o in &self.items {
            w.u32(o.id);
            for &x in &o.v {
                w.i32(x);
            }
        }
    }

    pub fn restore(r: &mut Reader) -> Option<Self> {
        let n = r.len(MAX_SAVED)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u32()?;
            let mut v = [0; K];
            for x in v.iter_mut() {
                *x = r.i32()?;
            }
            items.push(Obj { id, v });
        }
        Some(Self { items })
    }
}
