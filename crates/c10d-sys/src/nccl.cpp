// The NCCL process group (cargo feature `nccl`): compiled against the wheel's c10d, NCCL and CUDA
// runtime headers plus the CUDA toolkit's crt/ and cccl/ headers, which the torch wheel lacks
// (scripts/cuda-headers.sh fetches them). Its collectives are shim.cpp's, through c10d::Backend.

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "shim.h"

extern "C" {

lot_c10d_group* lot_c10d_nccl_new(const char* host, uint16_t port, int32_t rank, int32_t world,
                                  int64_t timeout_ms, char** err) {
  return lot_c10d_new_group(host, port, rank, world, timeout_ms, err, [&](auto store, auto timeout) {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
  });
}

}  // extern "C"
