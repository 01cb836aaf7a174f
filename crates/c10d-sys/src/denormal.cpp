// Flush-to-zero for denormal floats on every libtorch CPU thread (lot_flush_denormal).
//
// Arithmetic on denormals (|x| < 1.2e-38 in fp32) takes x86 CPUs up to ~100x longer. LoT's
// imitation losses produce them: once a teacher is nearly deterministic, the probabilities it
// gives its other actions underflow into that range, and so do the student's gradients. MXCSR is
// per thread, so the mode is set on the calling thread and on each intra-op worker (a
// parallel_for over one index per thread runs one index on each).
#include <ATen/Context.h>
#include <ATen/Parallel.h>

extern "C" int lot_flush_denormal(int on) {
  const bool flush = on != 0;
  bool supported = at::globalContext().setFlushDenormal(flush);
  const int64_t n = at::get_num_threads();
  if (supported && n > 1) {
    at::parallel_for(0, n, 1, [flush](int64_t, int64_t) { at::globalContext().setFlushDenormal(flush); });
  }
  return supported ? 1 : 0;
}
