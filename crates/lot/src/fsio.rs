//! File plumbing every module shares, with no dependencies inside the crate: the one atomic
//! writer (readers never see a partial file, a crash never loses the previous one) and the one
//! little-endian byte reader behind the checkpoint and token-cache formats.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{anyhow, Context, Result};

/// Write `path` through `write`: a hidden temporary file beside it (unique per process and call,
/// so concurrent writers never share one), fsync, rename over `path`, fsync the folder so the
/// rename is durable too. On failure the temporary file is removed and `path` is untouched.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<()> {
    let tmp = tmp_path(path)?;
    let res = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        write(&mut f).with_context(|| format!("cannot write {} (disk full?)", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot write {} (disk full?)", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return res;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// [`write_atomic_with`] for bytes already in memory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

fn tmp_path(path: &Path) -> Result<PathBuf> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(".{}.tmp.{}.{seq}", name.to_string_lossy(), std::process::id())))
}

/// Reads a byte slice front to back; every read is `None` once the slice is too short.
pub struct ByteReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert_eq!(files_in(d.path()), ["a.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ckpt.bin");
        write_atomic(&p, b"good").unwrap();
        let e = write_atomic_with(&p, |f| {
            f.write_all(b"partial")?;
            Err(std::io::Error::other("device full"))
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("device full"), "{e:#}");
        assert_eq!(std::fs::read(&p).unwrap(), b"good");
        assert_eq!(files_in(d.path()), ["ckpt.bin"]);
        // A folder that does not exist: an error naming the file, nothing created.
        let missing = d.path().join("no").join("x");
        assert!(format!("{:#}", write_atomic(&missing, b"x").unwrap_err()).contains("cannot create"));
    }

    #[test]
    fn byte_reader_reads_little_endian_and_stops_at_the_end() {
        let mut b = 7u64.to_le_bytes().to_vec();
        b.extend_from_slice(&(-2i64).to_le_bytes());
        b.extend_from_slice(&[9, 1, 2]);
        let mut r = ByteReader::new(&b);
        assert_eq!(r.u64(), Some(7));
        assert_eq!(r.i64(), Some(-2));
        assert_eq!(r.u8(), Some(9));
        assert_eq!(r.position(), 17);
        assert_eq!(r.remaining(), 2);
        assert_eq!(r.u64(), None, "2 bytes left: no u64");
        assert_eq!(r.take(usize::MAX), None, "overflowing length");
        assert_eq!(r.array::<2>(), Some([1, 2]));
        assert_eq!(r.remaining(), 0);
    }
}
