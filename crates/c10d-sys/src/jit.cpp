// A small C ABI over torch::jit::Module for lot's TorchScript models (see src/jit.rs): what tch's
// CModule lacks is the module's buffers (BatchNorm running statistics), which training must save
// and restore. Every exception becomes an error string (strdup'ed; freed by lot_c10d_free_string).

#include <torch/script.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cstring>
#include <string>

namespace {

template <typename F>
int32_t guarded(char** err, F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    *err = strdup(e.what());
  } catch (...) {
    *err = strdup("unknown C++ exception");
  }
  return 1;
}

torch::jit::Module* module(void* m) { return static_cast<torch::jit::Module*>(m); }

c10::Device device_of(int32_t d) { return d < 0 ? c10::Device(c10::kCPU) : c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(d)); }

}  // namespace

extern "C" {

// Load a module saved by torch.jit.save onto device `d` (-1: CPU, i >= 0: cuda:i).
void* lot_jit_load(const char* path, int32_t d, char** err) {
  torch::jit::Module* out = nullptr;
  guarded(err, [&] { out = new torch::jit::Module(torch::jit::load(path, device_of(d))); });
  return out;
}

void lot_jit_free(void* m) { delete module(m); }

// forward(x) -> a tensor. The graph executor's optimizations are off for the call: the graph then
// runs op by op with eager autograd, the same numbers at every call (the profiling executor would
// switch to a differently fused graph after a few calls, so a resumed run would not be bit-exact).
int32_t lot_jit_forward(void* m, void* x, void** out, char** err) {
  return guarded(err, [&] {
    torch::jit::GraphOptimizerEnabledGuard off(false);
    std::vector<torch::jit::IValue> in{*static_cast<at::Tensor*>(x)};
    auto y = module(m)->forward(in);
    if (!y.isTensor()) {
      throw std::runtime_error("forward returned " + y.tagKind() + ", not one tensor of logits");
    }
    *out = new at::Tensor(y.toTensor());
  });
}

// Switch the module and every submodule to training (1) or evaluation (0) mode.
int32_t lot_jit_train(void* m, int32_t on, char** err) {
  return guarded(err, [&] { module(m)->train(on != 0); });
}

int32_t lot_jit_save(void* m, const char* path, char** err) {
  return guarded(err, [&] { module(m)->save(path); });
}

// Every parameter (buffers = 0) or buffer (buffers = 1), recursively, with its dotted name
// (PyTorch's state_dict name); `f(ctx, name, tensor)` receives a new at::Tensor* sharing storage.
int32_t lot_jit_named(void* m, int32_t buffers, void* ctx, void (*f)(void*, const char*, void*), char** err) {
  return guarded(err, [&] {
    if (buffers) {
      for (const auto& p : module(m)->named_buffers(true)) f(ctx, p.name.c_str(), new at::Tensor(p.value));
    } else {
      for (const auto& p : module(m)->named_parameters(true)) f(ctx, p.name.c_str(), new at::Tensor(p.value));
    }
  });
}

}  // extern "C"
