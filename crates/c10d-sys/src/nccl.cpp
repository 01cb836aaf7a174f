// The NCCL process group (cargo feature `nccl`): compiled against the wheel's c10d, NCCL and CUDA
// runtime headers plus the CUDA toolkit's crt/ and cccl/ headers, which the torch wheel lacks
// (scripts/cuda-headers.sh fetches them). Its collectives are shim.cpp's, through c10d::Backend.

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "shim.h"

extern "C" {

lot_c10d_group* lot_c10d_nccl_new(const char* host, uint16_t port, int32_t rank, int32_t world,
                                  int64_t timeout_ms, char** err) {
  lot_c10d_group* out = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = lot_c10d_store(host, port, rank, world, timeout);
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
    out = new lot_c10d_group{store, pg, timeout};
  });
  return out;
}

}  // extern "C"
