// Runtime choice of the vector unit for the CPU kernels compiled once per instruction set
// (the k-NN brute-force scan: knn_scan.inc; the passes of the fused leave-one-out kernels:
// knn_loo_passes.inc). The wheel targets baseline x86-64 (SSE2); the
// AVX2 + FMA and AVX-512 copies are chosen at run time where the CPU (and the OS) has them, so
// nobody needs -march=native for the speed. Every path gives the same bits: one candidate per
// vector lane, the same operations per pair in the same order, no FMA contraction
// (-ffp-contract=off).
//
// The choice: the widest path the CPU has, or the one GIB_KERNELS_SIMD names (generic, avx2,
// avx512; read by the Python loader, which calls set_simd_path), or set_simd_path's for tests
// and benchmarks. Off x86-64 or GCC, only "generic" exists.
#pragma once

#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GIB_SIMD_DISPATCH 1
#else
#define GIB_SIMD_DISPATCH 0
#endif

namespace gib {

enum class Simd : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// The path the kernels take now.
Simd simd_path();
const char* simd_name(Simd path);
// The paths this CPU can run, narrowest first ("generic" always).
std::vector<std::string> simd_paths_available();
// Takes the path named (one of simd_paths_available()); false, and no change, otherwise.
bool set_simd_path(const std::string& name);

}  // namespace gib

// `return` the value of `call` (an expression over the functions of per_isa.h) in the namespace
// of the vector unit simd_path() names.
#if GIB_SIMD_DISPATCH
#define GIB_ON_SIMD_PATH(call)                            \
  switch (::gib::simd_path()) {                           \
    case ::gib::Simd::kAvx512: return avx512::call;       \
    case ::gib::Simd::kAvx2: return avx2::call;           \
    default: return generic::call;                        \
  }
#else
#define GIB_ON_SIMD_PATH(call) return generic::call;
#endif
