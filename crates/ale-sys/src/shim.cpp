// A C interface over ale::ALEInterface for the Rust wrapper in lib.rs (our code; ALE is
// GPL-2.0-only). Every entry point catches C++ exceptions: none may unwind into Rust.
// ALE calls std::exit(1) on a missing or unknown ROM inside loadROM, so lot_ale_load_rom checks
// both first and reports them as errors instead.
#include "ale/ale_interface.hpp"
#include "ale/common/Log.hpp"

#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

namespace {
void put_err(char* err, size_t cap, const std::string& msg) {
  if (err == nullptr || cap == 0) return;
  size_t n = msg.size() < cap - 1 ? msg.size() : cap - 1;
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}
ale::ALEInterface* A(void* p) { return static_cast<ale::ALEInterface*>(p); }
}  // namespace

extern "C" {

void lot_ale_log_errors_only() { ale::Logger::setMode(ale::Logger::Error); }

void* lot_ale_new(char* err, size_t cap) {
  try {
    return new ale::ALEInterface();
  } catch (const std::exception& e) {
    put_err(err, cap, e.what());
  } catch (...) {
    put_err(err, cap, "unknown C++ exception");
  }
  return nullptr;
}

void lot_ale_del(void* p) { delete A(p); }

int lot_ale_set_int(void* p, const char* key, int v, char* err, size_t cap) {
  try { A(p)->setInt(key, v); return 0; }
  catch (const std::exception& e) { put_err(err, cap, e.what()); }
  catch (...) { put_err(err, cap, "unknown C++ exception"); }
  return -1;
}

int lot_ale_set_float(void* p, const char* key, float v, char* err, size_t cap) {
  try { A(p)->setFloat(key, v); return 0; }
  catch (const std::exception& e) { put_err(err, cap, e.what()); }
  catch (...) { put_err(err, cap, "unknown C++ exception"); }
  return -1;
}

int lot_ale_set_bool(void* p, const char* key, int v, char* err, size_t cap) {
  try { A(p)->setBool(key, v != 0); return 0; }
  catch (const std::exception& e) { put_err(err, cap, e.what()); }
  catch (...) { put_err(err, cap, "unknown C++ exception"); }
  return -1;
}

// 0: loaded. -1: error, message in err.
int lot_ale_load_rom(void* p, const char* path, char* err, size_t cap) {
  try {
    std::filesystem::path rom(path);
    if (!std::filesystem::is_regular_file(rom)) {
      put_err(err, cap, "ROM file not found");
      return -1;
    }
    if (!ale::ALEInterface::isSupportedROM(rom).has_value()) {
      put_err(err, cap, "not a ROM ALE supports (unknown md5)");
      return -1;
    }
    A(p)->loadROM(rom);
    return 0;
  } catch (const std::exception& e) {
    put_err(err, cap, e.what());
  } catch (...) {
    put_err(err, cap, "unknown C++ exception");
  }
  return -1;
}

// The reward; INT32_MIN on an exception (never seen for legal actions).
int lot_ale_act(void* p, int action) {
  try { return A(p)->act(static_cast<ale::Action>(action)); }
  catch (...) { return INT32_MIN; }
}

int lot_ale_game_over(void* p) {
  try { return A(p)->game_over() ? 1 : 0; } catch (...) { return -1; }
}

int lot_ale_game_truncated(void* p) {
  try { return A(p)->game_truncated() ? 1 : 0; } catch (...) { return -1; }
}

int lot_ale_reset_game(void* p) {
  try { A(p)->reset_game(); return 0; } catch (...) { return -1; }
}

int lot_ale_lives(void* p) {
  try { return A(p)->lives(); } catch (...) { return -1; }
}

int lot_ale_frame_number(void* p) {
  try { return A(p)->getFrameNumber(); } catch (...) { return -1; }
}

int lot_ale_episode_frame_number(void* p) {
  try { return A(p)->getEpisodeFrameNumber(); } catch (...) { return -1; }
}

// Writes up to cap action ids (ALE's Action enum values) into out; returns how many there are,
// or -1 on an exception.
int lot_ale_minimal_action_set(void* p, int* out, int cap) {
  try {
    ale::ActionVect v = A(p)->getMinimalActionSet();
    for (int i = 0; i < static_cast<int>(v.size()) && i < cap; ++i) out[i] = static_cast<int>(v[i]);
    return static_cast<int>(v.size());
  } catch (...) {
    return -1;
  }
}

int lot_ale_screen_width(void* p) {
  try { return static_cast<int>(A(p)->getScreen().width()); } catch (...) { return -1; }
}

int lot_ale_screen_height(void* p) {
  try { return static_cast<int>(A(p)->getScreen().height()); } catch (...) { return -1; }
}

// out: height*width*3 bytes, row-major RGB (as ale-py's getScreenRGB), written in place.
int lot_ale_screen_rgb(void* p, uint8_t* out) {
  try {
    const ale::ALEScreen& s = A(p)->getScreen();
    A(p)->theOSystem->colourPalette().applyPaletteRGB(out, s.getArray(), s.width() * s.height());
    return 0;
  } catch (...) {
    return -1;
  }
}

// out: height*width bytes, ALE's own grayscale palette (not OpenCV's RGB2GRAY).
int lot_ale_screen_grayscale(void* p, uint8_t* out) {
  try {
    const ale::ALEScreen& s = A(p)->getScreen();
    A(p)->theOSystem->colourPalette().applyPaletteGrayscale(out, s.getArray(), s.width() * s.height());
    return 0;
  } catch (...) {
    return -1;
  }
}

}  // extern "C"
