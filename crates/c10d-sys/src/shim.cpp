// A C ABI over c10d for lot: a TCPStore rendezvous and a Gloo process group (NCCL: nccl.cpp), and in-place
// all-reduce (sum), broadcast and barrier on the at::Tensor objects tch holds. Every C++
// exception becomes an error string (never an abort across the FFI boundary).

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/autograd.h>

#include "shim.h"

namespace {

void allreduce_in_place(lot_c10d_group* g, at::Tensor& t) {
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = g->timeout;
  auto work = g->pg->allreduce(ts, o);
  work->wait(g->timeout);
}

// y = Σ_ranks x, differentiable: the backward of a sum over ranks is the sum over ranks of the
// incoming gradients (each rank's loss depends on every rank's x through y). This is what
// synchronized BatchNorm needs for its statistics (PyTorch's SyncBatchNorm all-reduces the same
// two gradient sums in its backward). Every rank must run the same forward and backward graph, so
// the collectives meet in the same order.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t group) {
    ctx->saved_data["group"] = group;
    auto y = x.contiguous().clone();
    allreduce_in_place(reinterpret_cast<lot_c10d_group*>(group), y);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto g = reinterpret_cast<lot_c10d_group*>(ctx->saved_data["group"].toInt());
    auto dx = grads[0].contiguous().clone();
    allreduce_in_place(g, dx);
    return {dx, at::Tensor()};
  }
};

}  // namespace

extern "C" {

lot_c10d_group* lot_c10d_gloo_new(const char* host, uint16_t port, int32_t rank, int32_t world,
                                  int64_t timeout_ms, char** err) {
  return lot_c10d_new_group(host, port, rank, world, timeout_ms, err, [&](auto store, auto timeout) {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(std::string(host)));
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
  });
}

void lot_c10d_free(lot_c10d_group* g) {
  try {
    // What torch.distributed.destroy_process_group does: NCCL's watchdog otherwise outlives the
    // communicators at exit and reports the last collective as failed (seen on an H200).
    g->pg->shutdown();
    delete g;
  } catch (...) {
  }
}

void lot_c10d_free_string(char* s) { free(s); }

int32_t lot_c10d_allreduce_sum(lot_c10d_group* g, void* tensor, char** err) {
  return guarded(err, [&] { allreduce_in_place(g, *static_cast<at::Tensor*>(tensor)); });
}

// A new tensor (tch takes ownership of *out): the differentiable sum over ranks of *tensor.
int32_t lot_c10d_allreduce_sum_autograd(lot_c10d_group* g, void* tensor, void** out, char** err) {
  return guarded(err, [&] {
    auto y = AllReduceSum::apply(*static_cast<at::Tensor*>(tensor), reinterpret_cast<int64_t>(g));
    *out = new at::Tensor(std::move(y));
  });
}

int32_t lot_c10d_broadcast(lot_c10d_group* g, void* tensor, int32_t root, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> ts{*static_cast<at::Tensor*>(tensor)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = g->timeout;
    auto work = g->pg->broadcast(ts, o);
    work->wait(g->timeout);
  });
}

int32_t lot_c10d_barrier(lot_c10d_group* g, char** err) {
  return guarded(err, [&] {
    c10d::BarrierOptions o;
    o.timeout = g->timeout;
    auto work = g->pg->barrier(o);
    work->wait(g->timeout);
  });
}

}  // extern "C"
