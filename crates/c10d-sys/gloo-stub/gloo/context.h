// Declarations only (written for lot): torch's ProcessGroupGloo.hpp names these gloo types, but
// torch's wheel ships no gloo headers. lot never creates or touches these objects: they are made
// and used inside libtorch_cpu, so only the names (and the one member an inline function in that
// header calls) must be declared.
#pragma once
#include <chrono>
namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
