// What shim.cpp (Gloo, collectives) and nccl.cpp (the NCCL group, feature `nccl`) share: the
// group handle, the TCPStore rendezvous, and the exception guard.
#pragma once

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

// A process group of either backend: the collectives are Backend's virtual methods.
struct lot_c10d_group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
  std::chrono::milliseconds timeout;
};

inline void set_err(char** err, const char* what) {
  if (err) {
    *err = strdup(what);
  }
}

template <typename F>
inline int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    set_err(err, e.what());
  } catch (...) {
    set_err(err, "unknown C++ exception");
  }
  return 1;
}

// Rank 0 hosts the store on host:port; every rank waits until all `world` have joined.
inline c10::intrusive_ptr<c10d::Store> lot_c10d_store(const char* host, uint16_t port, int32_t rank, int32_t world,
                                                     std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = port;
  o.isServer = rank == 0;
  o.numWorkers = static_cast<std::size_t>(world);
  o.waitWorkers = true;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
}

// A group of `world` ranks: the TCPStore rendezvous, then the backend `make_pg(store, timeout)`
// builds (Gloo in shim.cpp, NCCL in nccl.cpp). nullptr and *err on failure.
template <typename MakePg>
lot_c10d_group* lot_c10d_new_group(const char* host, uint16_t port, int32_t rank, int32_t world, int64_t timeout_ms,
                                   char** err, MakePg&& make_pg) {
  lot_c10d_group* out = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = lot_c10d_store(host, port, rank, world, timeout);
    c10::intrusive_ptr<c10d::Backend> pg = make_pg(store, timeout);
    out = new lot_c10d_group{store, pg, timeout};
  });
  return out;
}
