// The vector-unit choice of simd.h: detected once, changed only by set_simd_path.
#include <atomic>

#include "gib/simd.h"

namespace gib {

namespace {

bool supported(Simd path) {
#if GIB_SIMD_DISPATCH
  // libgcc's CPU model checks the CPUID bits and that the OS saves the vector registers.
  __builtin_cpu_init();
  switch (path) {
    case Simd::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Simd::kAvx512:
      return supported(Simd::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw");
    default:
      return true;
  }
#else
  return path == Simd::kGeneric;
#endif
}

Simd widest() {
  for (Simd path : {Simd::kAvx512, Simd::kAvx2})
    if (supported(path)) return path;
  return Simd::kGeneric;
}

std::atomic<int>& choice() {
  static std::atomic<int> value{static_cast<int>(widest())};
  return value;
}

constexpr Simd kAll[] = {Simd::kGeneric, Simd::kAvx2, Simd::kAvx512};

}  // namespace

Simd simd_path() { return static_cast<Simd>(choice().load(std::memory_order_relaxed)); }

const char* simd_name(Simd path) {
  switch (path) {
    case Simd::kAvx2: return "avx2";
    case Simd::kAvx512: return "avx512";
    default: return "generic";
  }
}

std::vector<std::string> simd_paths_available() {
  std::vector<std::string> out;
  for (Simd path : kAll)
    if (supported(path)) out.emplace_back(simd_name(path));
  return out;
}

bool set_simd_path(const std::string& name) {
  for (Simd path : kAll)
    if (name == simd_name(path) && supported(path)) {
      choice().store(static_cast<int>(path));
      return true;
    }
  return false;
}

}  // namespace gib
