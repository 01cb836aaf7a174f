// See ../context.h: device and buffer types are only held through pointers by c10d.
#pragma once
namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
