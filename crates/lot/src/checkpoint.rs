//! Checkpoints for resume, shared by every trainer: one file `checkpoint.bin` in the run folder
//! holding a JSON meta object (trainer state: step, cursors, schedule state, running metrics) and
//! named tensors (weights, optimizer state, recurrent state), protected by a SHA-256 checksum.
//! Written to a temporary file, fsynced, then renamed over the old one, so the last good
//! checkpoint is never overwritten in place and a crash mid-write leaves it intact.
//!
//! Layout: b"LOTCKPT1" | sha256(body) | body, body = u64 meta_len | meta | u64 n | n × tensor,
//! tensor = u64 name_len | name | u8 kind | u64 ndim | ndim × i64 | u64 nbytes | bytes (LE).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::error::input_err;
use crate::fsio::{write_atomic_with, ByteReader};

pub const FILE: &str = "checkpoint.bin";
const MAGIC: &[u8; 8] = b"LOTCKPT1";

pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join(FILE)
}

fn kind_code(k: Kind) -> Result<u8> {
    Ok(match k {
        Kind::Float => 0,
        Kind::Double => 1,
        Kind::Int64 => 2,
        other => anyhow::bail!("checkpoint: unsupported tensor kind {other:?}"),
    })
}

fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let flat = t.detach().to_device(Device::Cpu).contiguous().view([-1]);
    Ok(match t.kind() {
        Kind::Float => Vec::<f32>::try_from(&flat)?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Kind::Double => Vec::<f64>::try_from(&flat)?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Kind::Int64 => Vec::<i64>::try_from(&flat)?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        other => anyhow::bail!("checkpoint: unsupported tensor kind {other:?}"),
    })
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Write a checkpoint atomically.
pub fn save(path: &Path, meta: &serde_json::Value, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut body = Vec::new();
    let meta = serde_json::to_vec(meta)?;
    put_u64(&mut body, meta.len() as u64);
    body.extend_from_slice(&meta);
    put_u64(&mut body, tensors.len() as u64);
    for (name, t) in tensors {
        put_u64(&mut body, name.len() as u64);
        body.extend_from_slice(name.as_bytes());
        body.push(kind_code(t.kind())?);
        let dims = t.size();
        put_u64(&mut body, dims.len() as u64);
        for d in dims {
            body.extend_from_slice(&d.to_le_bytes());
        }
        let bytes = tensor_bytes(t)?;
        put_u64(&mut body, bytes.len() as u64);
        body.extend_from_slice(&bytes);
    }
    let digest = Sha256::digest(&body);
    write_atomic_with(path, |f| {
        f.write_all(MAGIC)?;
        f.write_all(&digest)?;
        f.write_all(&body)
    })
}

/// Read and verify a checkpoint; tensors are placed on `device`.
pub fn load(path: &Path, device: Device) -> Result<(serde_json::Value, Vec<(String, Tensor)>)> {
    let bytes = std::fs::read(path).map_err(|e| input_err(format!("checkpoint {}: cannot read: {e}", path.display())))?;
    let bad = |why: &str| input_err(format!("checkpoint {} is corrupt or truncated ({why}); refusing to resume from it", path.display()));
    if bytes.len() < 40 || &bytes[..8] != MAGIC {
        return Err(bad("not a lot checkpoint"));
    }
    let body = &bytes[40..];
    if Sha256::digest(body).as_slice() != &bytes[8..40] {
        return Err(bad("checksum mismatch"));
    }
    let mut r = ByteReader::new(body);
    let meta_len = r.u64().ok_or_else(|| bad("truncated"))? as usize;
    let meta: serde_json::Value = serde_json::from_slice(r.take(meta_len).ok_or_else(|| bad("truncated"))?).map_err(|_| bad("meta"))?;
    let n = r.u64().ok_or_else(|| bad("truncated"))?;
    let mut tensors = Vec::new();
    for _ in 0..n {
        let nl = r.u64().ok_or_else(|| bad("truncated"))? as usize;
        let name = String::from_utf8(r.take(nl).ok_or_else(|| bad("truncated"))?.to_vec()).map_err(|_| bad("name"))?;
        let kind = r.u8().ok_or_else(|| bad("truncated"))?;
        let ndim = r.u64().ok_or_else(|| bad("truncated"))? as usize;
        let mut dims = Vec::with_capacity(ndim.min(16));
        for _ in 0..ndim {
            dims.push(r.i64().ok_or_else(|| bad("truncated"))?);
        }
        let nb = r.u64().ok_or_else(|| bad("truncated"))? as usize;
        let raw = r.take(nb).ok_or_else(|| bad("truncated"))?;
        let t = match kind {
            0 => Tensor::from_slice(&raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>()),
            1 => Tensor::from_slice(&raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>()),
            2 => Tensor::from_slice(&raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>()),
            _ => return Err(bad("tensor kind")),
        };
        let numel: i64 = dims.iter().product();
        if t.numel() as i64 != numel {
            return Err(bad("tensor size"));
        }
        tensors.push((name, t.view(dims.as_slice()).to_device(device)));
    }
    Ok((meta, tensors))
}

/// Named tensors of a checkpoint, consumed by prefix.
pub struct Tensors(pub Vec<(String, Tensor)>);

impl Tensors {
    /// All tensors whose name starts with `prefix`, with the prefix removed.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.0.iter().filter_map(|(n, t)| n.strip_prefix(prefix).map(|s| (s.to_string(), t.shallow_clone()))).collect()
    }
    pub fn get(&self, name: &str) -> Option<Tensor> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t.shallow_clone())
    }
}

/// Prefix every name.
pub fn prefixed(prefix: &str, items: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    items.into_iter().map(|(n, t)| (format!("{prefix}{n}"), t)).collect()
}

/// All variables of a var store (trainable and buffers such as batch-norm statistics), by name.
pub fn store_tensors(vs: &tch::nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copy saved values into a var store; every variable must be present with the same shape.
pub fn restore_store(vs: &tch::nn::VarStore, saved: &[(String, Tensor)], what: &str) -> Result<()> {
    let _g = tch::no_grad_guard();
    let vars = vs.variables();
    for (name, var) in vars.iter() {
        let Some((_, src)) = saved.iter().find(|(n, _)| n == name) else {
            crate::bail_input!("checkpoint does not match the config: {what} has no '{name}'");
        };
        if src.size() != var.size() {
            crate::bail_input!("checkpoint does not match the config: {what} '{name}' has shape {:?}, expected {:?}", src.size(), var.size());
        }
        var.shallow_clone().copy_(src);
    }
    Ok(())
}

/// Reseed torch's global generator from (seed, step). tch exposes no generator state to save, so
/// the trainers reseed at every step (RL: every update): the step's random draws (dropout masks,
/// sampled actions) are then a function of the step alone, and a resumed run draws exactly what an
/// uninterrupted one does.
pub fn reseed_torch(seed: u64, step: u64) {
    tch::manual_seed((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.wrapping_mul(0x2545_F491_4F6C_DD1D)) as i64 & i64::MAX);
}

// ---- Ctrl-C: ask the trainer to checkpoint and stop at the next step boundary ----

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Install a SIGINT/SIGTERM handler that only sets a flag (first signal); a second signal exits at once.
pub fn install_interrupt_handler() {
    #[cfg(unix)]
    unsafe {
        extern "C" fn on_signal(_: i32) {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: the user insists.
                unsafe { libc_exit(130) };
            }
        }
        extern "C" {
            fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
            #[link_name = "_exit"]
            fn libc_exit(code: i32) -> !;
        }
        signal(2, on_signal); // SIGINT
        signal(15, on_signal); // SIGTERM
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The error a trainer returns after writing its checkpoint on Ctrl-C (the CLI exits with 130).
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Interrupted {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum_rejects_a_flipped_byte() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE);
        let a = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 1.0, 2.0]).view([2, 3]);
        let b = Tensor::from_slice(&[7i64, -9]);
        let c = Tensor::from_slice(&[0.1f64]);
        let meta = serde_json::json!({"step": 42, "cursor": 7});
        save(&p, &meta, &[("a".into(), a.shallow_clone()), ("b".into(), b.shallow_clone()), ("c".into(), c.shallow_clone())]).unwrap();
        let (m, t) = load(&p, Device::Cpu).unwrap();
        assert_eq!(m, meta);
        assert_eq!(t.len(), 3);
        assert!(t[0].1.equal(&a) && t[0].1.size() == vec![2, 3]);
        assert!(t[1].1.equal(&b));
        assert!(t[2].1.equal(&c));
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [FILE], "temporary file left behind");
        // Flip one byte anywhere in the body: refused with a clear input error.
        let good = std::fs::read(&p).unwrap();
        for pos in [50, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[pos] ^= 0x01;
            std::fs::write(&p, &bad).unwrap();
            let e = load(&p, Device::Cpu).unwrap_err();
            assert!(crate::error::is_input_error(&e) && e.to_string().contains("checksum"), "{e}");
        }
        std::fs::write(&p, &good[..good.len() - 10]).unwrap();
        assert!(load(&p, Device::Cpu).unwrap_err().to_string().contains("corrupt"));
        std::fs::write(&p, b"garbage").unwrap();
        assert!(load(&p, Device::Cpu).unwrap_err().to_string().contains("not a lot checkpoint"));
    }

    /// Resume continues running sums (f64) stored in the JSON meta; one ULP lost there shows up as
    /// a metrics line that differs from the uninterrupted run's. serde_json's default float parser
    /// is only best-effort, hence its `float_roundtrip` feature.
    #[test]
    fn meta_floats_round_trip_bit_exactly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let vals: Vec<f64> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Magnitudes like running loss sums: 1e-3 .. 1e4.
                (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 8) as i32 - 3)
            })
            .chain([0.07869838066399097, 0.07869838066399096, 1.0 / 3.0, 2.0f64.sqrt()])
            .collect();
        save(&p, &serde_json::json!({ "v": vals }), &[]).unwrap();
        let (m, _) = load(&p, Device::Cpu).unwrap();
        let back: Vec<f64> = serde_json::from_value(m["v"].clone()).unwrap();
        let bad = vals.iter().zip(&back).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(bad, 0, "{bad} of {} floats changed through the checkpoint meta", vals.len());
    }

    #[test]
    fn restore_checks_names_and_shapes() {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let _w = vs.root().var("w", &[2, 2], tch::nn::Init::Const(0.0));
        let saved = vec![("w".to_string(), Tensor::ones([2, 2], (Kind::Float, Device::Cpu)))];
        restore_store(&vs, &saved, "teacher").unwrap();
        assert_eq!(vs.variables()["w"].sum(Kind::Float).double_value(&[]), 4.0);
        let wrong = vec![("w".to_string(), Tensor::ones([3], (Kind::Float, Device::Cpu)))];
        assert!(restore_store(&vs, &wrong, "teacher").unwrap_err().to_string().contains("shape"));
        assert!(restore_store(&vs, &[], "teacher").unwrap_err().to_string().contains("no 'w'"));
    }
}
