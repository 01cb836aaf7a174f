//! Little-endian bytes for saved game states (resume checkpoints): a writer and a reader that
//! answers `None` instead of panicking on short or foreign input.

#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.i32(v as i32)
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.i32(v as i32)
    }
    pub fn rows(&mut self, rows: &[u16; 10]) -> &mut Self {
        for &r in rows {
            self.0.extend_from_slice(&r.to_le_bytes());
        }
        self
    }
}

pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b }
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    pub fn i32(&mut self) -> Option<i32> {
        let s = self.take(4)?;
        Some(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.i32().map(|v| v as u32)
    }
    pub fn bool(&mut self) -> Option<bool> {
        match self.i32()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    /// A count that must be at most `max` (list lengths: a bad byte must not allocate gigabytes).
    pub fn len(&mut self, max: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n <= max).then_some(n)
    }
    pub fn rows(&mut self) -> Option<[u16; 10]> {
        let mut rows = [0u16; 10];
        for r in rows.iter_mut() {
            let s = self.take(2)?;
            *r = u16::from_le_bytes([s[0], s[1]]);
            if *r >> 10 != 0 {
                return None;
            }
        }
        Some(rows)
    }
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
}
