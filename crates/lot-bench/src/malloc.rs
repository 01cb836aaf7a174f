//! glibc's allocator tuned for processes that train.



/// Make glibc keep freed tensor memory in the process for reuse instead of handing it back to the
/// kernel after every step. By default glibc serves allocations above a (dynamic) threshold with
/// fresh `mmap`s and trims the heap top on free, so each training step's large temporaries (a
/// 16 MiB ResNet activation, a 28 MiB `[700, 10000]` LM logit tensor and its softmax/KL
/// temporaries) arrive as untouched pages: hundreds of thousands of page faults, each zero-filling
/// 4 KiB, which made the LSTM's loss and backward ~1.6× slower than the same kernels in a
/// Python process (whose earlier allocations had already raised glibc's dynamic threshold). With
/// the threshold fixed at its maximum (32 MiB) and the trim threshold at 1 GiB, those blocks are
/// reused from the heap. Blocks above 32 MiB (the Transformer-XL recipe's `[4200, 10000]` logits
/// are 168 MB) would still be fresh `mmap`s, so `M_MMAP_MAX = 0` serves them from the heap too
/// (glibc still falls back to `mmap` when the heap cannot grow): on the TXL recipe 17.5 → 10.1 s
/// per teacher step, system time 28 → 5 s, peak RSS +15 % (BENCHMARKS.md). Numerics are untouched.
/// Called at the start of the commands that train (`lot train`, the bench workers, `lot bench
/// accuracy`); `LOT_MALLOC_DEFAULT=1` keeps glibc's defaults (for A/B measurements).
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("LOT_MALLOC_DEFAULT").is_some() {
            return;
        }
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        const M_MMAP_MAX: i32 = -4;
        // SAFETY: mallopt only changes allocator parameters; called before any threads start.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mallopt(M_MMAP_MAX, 0);
        }
    }
}
