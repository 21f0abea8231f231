// Compiles the source named by GIB_PER_ISA_SOURCE once per vector unit of simd.h: inside
// `namespace generic` for the build's baseline, and where GIB_SIMD_DISPATCH inside `namespace
// avx2` and `namespace avx512` under `#pragma GCC target`, so the compiler vectorises the same
// loops for each. The including file defines GIB_PER_ISA_SOURCE (a path from this folder, e.g.
// "../../cpu/knn_scan.inc") and picks among the three with GIB_ON_SIMD_PATH (simd.h).
// Deliberately without an include guard: included once per such source.
#ifndef GIB_PER_ISA_SOURCE
#error "define GIB_PER_ISA_SOURCE before including gib/per_isa.h"
#endif

namespace generic {
#include GIB_PER_ISA_SOURCE
}  // namespace generic

#if GIB_SIMD_DISPATCH
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include GIB_PER_ISA_SOURCE
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
namespace avx512 {
#include GIB_PER_ISA_SOURCE
}  // namespace avx512
#pragma GCC pop_options
#endif
