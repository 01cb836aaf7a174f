//! libtorch's own distributed engine, c10d, for tch tensors: a TCPStore rendezvous (rank 0 hosts
//! it) and a Gloo process group with in-place all-reduce (sum), broadcast and barrier. The C++
//! side (`src/shim.cpp`) turns every exception into an error value; this side checks what c10d
//! does not (that all ranks pass tensors of the same size), so a mismatch is an error, not a hang.
//!
//! [`jit`] adds the few TorchScript-module calls tch lacks (buffers, above all), and
//! [`flush_denormal`] libtorch's flush-to-zero mode on every CPU thread.

pub mod jit;

extern "C" {
    fn lot_flush_denormal(on: i32) -> i32;
}

/// Turns libtorch's flush-to-zero mode (denormal floats read and written as 0) on or off, on the
/// calling thread and on every intra-op worker; call it after `tch::set_num_threads`. False where
/// the CPU has no such mode (then nothing changed).
pub fn flush_denormal(on: bool) -> bool {
    // SAFETY: no pointers; libtorch sets the MXCSR bits of its threads.
    unsafe { lot_flush_denormal(on as i32) != 0 }
}

use std::ffi::{c_char, c_void, CStr, CString};
use std::time::Duration;

use tch::{Kind, Tensor};

#[repr(C)]
struct RawGroup {
    _private: [u8; 0],
}

extern "C" {
    fn lot_c10d_gloo_new(host: *const c_char, port: u16, rank: i32, world: i32, timeout_ms: i64, err: *mut *mut c_char) -> *mut RawGroup;
    #[cfg(feature = "nccl")]
    fn lot_c10d_nccl_new(host: *const c_char, port: u16, rank: i32, world: i32, timeout_ms: i64, err: *mut *mut c_char) -> *mut RawGroup;
    fn lot_c10d_free(g: *mut RawGroup);
    fn lot_c10d_free_string(s: *mut c_char);
    fn lot_c10d_allreduce_sum(g: *mut RawGroup, tensor: *mut c_void, err: *mut *mut c_char) -> i32;
    fn lot_c10d_allreduce_sum_autograd(g: *mut RawGroup, tensor: *mut c_void, out: *mut *mut c_void, err: *mut *mut c_char) -> i32;
    fn lot_c10d_broadcast(g: *mut RawGroup, tensor: *mut c_void, root: i32, err: *mut *mut c_char) -> i32;
    fn lot_c10d_barrier(g: *mut RawGroup, err: *mut *mut c_char) -> i32;
}

/// A c10d failure: the rendezvous, a timeout, a peer that went away, mismatched tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct C10dError(pub String);

impl std::fmt::Display for C10dError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c10d: {}", self.0)
    }
}

impl std::error::Error for C10dError {}

fn take_err(e: *mut c_char) -> C10dError {
    if e.is_null() {
        return C10dError("unknown error".into());
    }
    // SAFETY: the shim returns a strdup'ed, NUL-terminated string; freed right after copying.
    let msg = unsafe { CStr::from_ptr(e) }.to_string_lossy().trim().to_string();
    unsafe { lot_c10d_free_string(e) };
    // c10d messages can span lines (stack traces): keep the first line, which names the problem.
    C10dError(msg.lines().next().unwrap_or("").to_string())
}

/// One rank's membership in a process group (Gloo, or NCCL with the `nccl` feature).
pub struct ProcessGroup {
    raw: *mut RawGroup,
    rank: usize,
    world: usize,
}

// SAFETY: a c10d process group may be used from any thread (one collective at a time, which
// `&mut self`/`&self` on one owner guarantees for our callers).
unsafe impl Send for ProcessGroup {}
// SAFETY: c10d backends take collectives from several threads (PyTorch's DDP reducer calls them
// from autograd threads); Gloo and NCCL queue each call's work under their own locks. Callers still
// must issue collectives in the same order on every rank.
unsafe impl Sync for ProcessGroup {}

/// c10d's flight recorder (a process-wide log of recent collectives, for debugging hangs) is on by
/// default in torch 2.11, and it is not safe with several process groups recording at once in one
/// process: ranks as threads (the tests) crashed in a quarter of runs inside
/// `FlightRecorder::recordWithResetEnabled` (a std::map insert, SIGSEGV). lot reads none of its
/// dumps, so it is off unless the user set `TORCH_FR_BUFFER_SIZE` themselves. Set before the first
/// group of the process is built, which is when the recorder reads it.
fn flight_recorder_off() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TORCH_FR_BUFFER_SIZE").is_none() {
            std::env::set_var("TORCH_FR_BUFFER_SIZE", "0");
        }
    });
}

impl ProcessGroup {
    /// Join the group of `world` ranks as `rank`: rank 0 hosts the TCPStore on `host:port`, the
    /// others connect to it; every rank waits until all have joined or `timeout` passes. Every
    /// later collective also fails after `timeout`.
    pub fn gloo(host: &str, port: u16, rank: usize, world: usize, timeout: Duration) -> Result<Self, C10dError> {
        Self::join(lot_c10d_gloo_new, host, port, rank, world, timeout)
    }

    /// As [`Self::gloo`], an NCCL group (CUDA tensors; one GPU per rank). Only in builds with the
    /// `nccl` feature; otherwise an error that says so.
    pub fn nccl(host: &str, port: u16, rank: usize, world: usize, timeout: Duration) -> Result<Self, C10dError> {
        #[cfg(feature = "nccl")]
        return Self::join(lot_c10d_nccl_new, host, port, rank, world, timeout);
        #[cfg(not(feature = "nccl"))]
        {
            let _ = (host, port, rank, world, timeout);
            Err(C10dError("this lot was built without NCCL (cargo feature `cuda`; see scripts/gpu-bundle.sh)".into()))
        }
    }

    fn join(
        new: unsafe extern "C" fn(*const c_char, u16, i32, i32, i64, *mut *mut c_char) -> *mut RawGroup,
        host: &str,
        port: u16,
        rank: usize,
        world: usize,
        timeout: Duration,
    ) -> Result<Self, C10dError> {
        if world == 0 || rank >= world {
            return Err(C10dError(format!("rank {rank} is not in a world of {world}")));
        }
        flight_recorder_off();
        let host_c = CString::new(host).map_err(|_| C10dError(format!("bad host {host:?}")))?;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: valid C string; err is an out-pointer the shim sets only on failure.
        let raw = unsafe { new(host_c.as_ptr(), port, rank as i32, world as i32, timeout.as_millis() as i64, &mut err) };
        if raw.is_null() {
            return Err(take_err(err));
        }
        Ok(Self { raw, rank, world })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world
    }

    fn call(&self, f: impl FnOnce(*mut *mut c_char) -> i32) -> Result<(), C10dError> {
        let mut err: *mut c_char = std::ptr::null_mut();
        if f(&mut err) != 0 {
            return Err(take_err(err));
        }
        Ok(())
    }

    /// Every rank must pass a tensor with as many elements: checked with one small all-reduce of
    /// (n, n²), since Σn² · world = (Σn)² only when all n are equal.
    fn check_sizes(&self, t: &Tensor, what: &str) -> Result<(), C10dError> {
        let n = t.numel() as f64;
        let mut probe = Tensor::from_slice(&[n, n * n]).to_device(t.device());
        self.raw_all_reduce(&mut probe)?;
        let v = Vec::<f64>::try_from(probe.to_device(tch::Device::Cpu)).map_err(|e| C10dError(e.to_string()))?;
        if (v[1] * self.world as f64 - v[0] * v[0]).abs() > 0.5 {
            return Err(C10dError(format!("{what}: ranks passed tensors of different sizes (this rank {n} elements)")));
        }
        Ok(())
    }

    fn raw_all_reduce(&self, t: &mut Tensor) -> Result<(), C10dError> {
        // SAFETY: the pointer is tch's at::Tensor*, alive for the call; the op works in place.
        self.call(|e| unsafe { lot_c10d_allreduce_sum(self.raw, t.as_mut_ptr() as *mut c_void, e) })
    }

    /// In-place sum over all ranks. The tensor must be contiguous (as gradients and flat buckets are).
    pub fn all_reduce_sum(&self, t: &mut Tensor) -> Result<(), C10dError> {
        if !t.is_contiguous() {
            return Err(C10dError("all_reduce: tensor is not contiguous".into()));
        }
        self.check_sizes(t, "all_reduce")?;
        self.raw_all_reduce(t)
    }

    /// The sum over all ranks as a new tensor that autograd differentiates: its backward sums the
    /// incoming gradients over ranks, so every rank must run the same backward (synchronized
    /// BatchNorm's statistics). An error in the backward's collective surfaces as tch's backward error.
    pub fn all_reduce_sum_differentiable(&self, t: &Tensor) -> Result<Tensor, C10dError> {
        self.check_sizes(t, "all_reduce")?;
        let mut out: *mut c_void = std::ptr::null_mut();
        // SAFETY: `t` is tch's at::Tensor*, alive for the call; on success the shim hands us a
        // heap at::Tensor that Tensor::from_ptr owns from here on.
        self.call(|e| unsafe { lot_c10d_allreduce_sum_autograd(self.raw, t.as_ptr() as *mut c_void, &mut out, e) })?;
        Ok(unsafe { Tensor::from_ptr(out as *mut _) })
    }

    /// In-place mean over all ranks (sum, then divide by the world size).
    pub fn all_reduce_mean(&self, t: &mut Tensor) -> Result<(), C10dError> {
        self.all_reduce_sum(t)?;
        let _ = t.g_div_scalar_(self.world as f64);
        Ok(())
    }

    /// Overwrite the tensor on every rank with rank `root`'s.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<(), C10dError> {
        if root >= self.world {
            return Err(C10dError(format!("broadcast: root {root} is not in a world of {}", self.world)));
        }
        if !t.is_contiguous() {
            return Err(C10dError("broadcast: tensor is not contiguous".into()));
        }
        self.check_sizes(t, "broadcast")?;
        // SAFETY: as in raw_all_reduce.
        self.call(|e| unsafe { lot_c10d_broadcast(self.raw, t.as_mut_ptr() as *mut c_void, root as i32, e) })
    }

    /// Wait until every rank reaches the barrier.
    pub fn barrier(&self) -> Result<(), C10dError> {
        // SAFETY: the group is alive for the call.
        self.call(|e| unsafe { lot_c10d_barrier(self.raw, e) })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: created by lot_c10d_gloo_new and freed once.
        unsafe { lot_c10d_free(self.raw) };
    }
}

/// A free TCP port on the loopback interface (for tests and single-machine launches).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether this build has the NCCL backend (the `nccl` feature).
pub const NCCL_BUILT: bool = cfg!(feature = "nccl");

/// Kind check used by callers that bucket gradients: c10d's Gloo sum supports these.
pub fn reducible(kind: Kind) -> bool {
    matches!(kind, Kind::Float | Kind::Double | Kind::Int64 | Kind::Int | Kind::BFloat16 | Kind::Half)
}
