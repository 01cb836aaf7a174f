//! TorchScript modules (`torch.jit.save` files) through `src/jit.cpp`: load onto a device,
//! forward one tensor, switch training/evaluation mode, save, and list parameters and buffers
//! under their PyTorch names. tch's `CModule` has no buffers (BatchNorm running statistics),
//! which a trainer must checkpoint, so this crate, already compiled against libtorch's headers,
//! carries these few calls too.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;

use tch::{Device, Tensor};

extern "C" {
    fn lot_jit_load(path: *const c_char, device: i32, err: *mut *mut c_char) -> *mut c_void;
    fn lot_jit_free(m: *mut c_void);
    fn lot_jit_forward(m: *mut c_void, x: *mut c_void, out: *mut *mut c_void, err: *mut *mut c_char) -> i32;
    fn lot_jit_train(m: *mut c_void, on: i32, err: *mut *mut c_char) -> i32;
    fn lot_jit_save(m: *mut c_void, path: *const c_char, err: *mut *mut c_char) -> i32;
    fn lot_jit_named(m: *mut c_void, buffers: i32, ctx: *mut c_void, f: extern "C" fn(*mut c_void, *const c_char, *mut c_void), err: *mut *mut c_char) -> i32;
    fn lot_c10d_free_string(s: *mut c_char);
}

/// A libtorch error from a TorchScript call (its first line: the rest is a C++ stack).
#[derive(Debug, Clone, PartialEq)]
pub struct JitError(pub String);

impl std::fmt::Display for JitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JitError {}

fn take_err(e: *mut c_char) -> JitError {
    if e.is_null() {
        return JitError("unknown error".into());
    }
    // SAFETY: the shim returns a strdup'ed, NUL-terminated string; freed right after copying.
    let msg = unsafe { CStr::from_ptr(e) }.to_string_lossy().trim().to_string();
    unsafe { lot_c10d_free_string(e) };
    JitError(msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("").to_string())
}

fn call(f: impl FnOnce(*mut *mut c_char) -> i32) -> Result<(), JitError> {
    let mut err: *mut c_char = std::ptr::null_mut();
    if f(&mut err) != 0 {
        return Err(take_err(err));
    }
    Ok(())
}

fn c_path(p: &Path) -> Result<CString, JitError> {
    CString::new(p.to_string_lossy().as_bytes()).map_err(|_| JitError(format!("{}: path holds a NUL byte", p.display())))
}

/// A loaded TorchScript module. Its parameters and buffers are tensors shared with the module:
/// updating one in place (an optimizer step, a checkpoint restore) updates the module.
#[derive(Debug)]
pub struct JitModule {
    raw: *mut c_void,
}

// SAFETY: a torch::jit::Module is a handle to a reference-counted object; lot uses each from one
// thread at a time (`&mut self` for mode changes, callers serialize forwards).
unsafe impl Send for JitModule {}

impl Drop for JitModule {
    fn drop(&mut self) {
        // SAFETY: `raw` came from lot_jit_load and is freed once.
        unsafe { lot_jit_free(self.raw) }
    }
}

extern "C" fn push_named(ctx: *mut c_void, name: *const c_char, t: *mut c_void) {
    // SAFETY: ctx is the Vec below; name is a NUL-terminated string alive for the call; t is a new
    // heap at::Tensor that Tensor::from_ptr owns from here on.
    let v = unsafe { &mut *(ctx as *mut Vec<(String, Tensor)>) };
    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
    v.push((name, unsafe { Tensor::from_ptr(t as *mut _) }));
}

impl JitModule {
    /// Load a `torch.jit.save` file with every tensor on `device` (CPU or CUDA).
    pub fn load(path: &Path, device: Device) -> Result<Self, JitError> {
        let d = match device {
            Device::Cpu => -1,
            Device::Cuda(i) => i as i32,
            other => return Err(JitError(format!("TorchScript models run on the CPU or CUDA, not {other:?}"))),
        };
        let p = c_path(path)?;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: valid C string; err is set only on failure.
        let raw = unsafe { lot_jit_load(p.as_ptr(), d, &mut err) };
        if raw.is_null() {
            return Err(take_err(err));
        }
        Ok(Self { raw })
    }

    /// `module.forward(x)`, which must return one tensor. Recorded by autograd as any op; the
    /// graph executor's optimizations are off, so every call runs the same ops.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, JitError> {
        let mut out: *mut c_void = std::ptr::null_mut();
        // SAFETY: x is tch's at::Tensor*, alive for the call; on success `out` is a new heap at::Tensor.
        call(|e| unsafe { lot_jit_forward(self.raw, x.as_ptr() as *mut c_void, &mut out, e) })?;
        Ok(unsafe { Tensor::from_ptr(out as *mut _) })
    }

    /// `module.train(on)`: training (true) or evaluation (false) mode, every submodule included.
    pub fn set_train(&mut self, on: bool) -> Result<(), JitError> {
        call(|e| unsafe { lot_jit_train(self.raw, on as i32, e) })
    }

    /// `torch.jit.save(module, path)`: Python's `torch.jit.load` reads it.
    pub fn save(&self, path: &Path) -> Result<(), JitError> {
        let p = c_path(path)?;
        call(|e| unsafe { lot_jit_save(self.raw, p.as_ptr(), e) })
    }

    fn named(&self, buffers: bool) -> Result<Vec<(String, Tensor)>, JitError> {
        let mut v: Vec<(String, Tensor)> = Vec::new();
        let ctx = &mut v as *mut Vec<(String, Tensor)> as *mut c_void;
        call(|e| unsafe { lot_jit_named(self.raw, buffers as i32, ctx, push_named, e) })?;
        Ok(v)
    }

    /// `module.named_parameters()`: dotted names as in PyTorch's state_dict.
    pub fn named_parameters(&self) -> Result<Vec<(String, Tensor)>, JitError> {
        self.named(false)
    }

    /// `module.named_buffers()` (BatchNorm's running_mean, running_var, num_batches_tracked, …).
    pub fn named_buffers(&self) -> Result<Vec<(String, Tensor)>, JitError> {
        self.named(true)
    }
}
