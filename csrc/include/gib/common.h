// Shared definitions for every gib_kernels backend.
//
// GIB_HD marks the per-pair and per-anchor math that the C++ CPU kernels and the CUDA kernels
// both call, so that the CPU tests exercise the code the GPU runs.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define GIB_HD __host__ __device__ __forceinline__
#else
#define GIB_HD inline
#endif

namespace gib {

// Distance used by the k-NN kernels. Max-norm (Chebyshev) is the KSG/Ross convention;
// Euclidean is offered for Kozachenko-Leonenko entropy.
enum class Metric : int { kMax = 0, kEuclidean = 1 };

// The k-NN kernels compare *reduced* distances: the max-norm itself, or the squared Euclidean
// distance. Both are monotone in the true distance, so k-th neighbours and strict radius
// counts are unchanged; `reduced_to_distance` converts a reduced k-th distance back.
GIB_HD double pair_term(double a, double b, Metric metric) {
  const double d = a - b;
  return metric == Metric::kMax ? fabs(d) : d * d;
}

GIB_HD double combine(double acc, double term, Metric metric) {
  return metric == Metric::kMax ? (term > acc ? term : acc) : acc + term;
}

// Running (max1, argmax, max2) of |z_a - z_b| over coordinates: the state of the fused
// leave-one-feature-out pass. The max-norm distance without coordinate j is max1 when j is not
// the arg-max, else max2. Ties keep the first arg-max and set max2 = max1, which is exact.
// The arg-max is an int32 on the GPU; the CPU pass holds it as a double (exact below 2^53), so
// that every lane of its vectorised selects is 64 bits wide.
template <class Arg>
struct Max2State {
  using arg_type = Arg;
  double max1;
  double max2;
  Arg arg;
};
using Max2 = Max2State<int32_t>;

template <class Arg>
GIB_HD void max2_init(Max2State<Arg>& s) {
  s.max1 = 0.0;
  s.max2 = 0.0;
  s.arg = Arg(-1);
}

// Written as selects, not branches: which way a pair goes is data, and unpredictable.
template <class Arg>
GIB_HD void max2_update(Max2State<Arg>& s, double v, typename Max2State<Arg>::arg_type coord) {
  const bool above = v > s.max1;
  s.max2 = above ? s.max1 : (v > s.max2 ? v : s.max2);
  s.arg = above ? coord : s.arg;
  s.max1 = above ? v : s.max1;
}

template <class Arg>
GIB_HD double max2_without(const Max2State<Arg>& s, typename Max2State<Arg>::arg_type coord) {
  return s.arg == coord ? s.max2 : s.max1;
}

// Insert `v` into an ascending array `top` of length k that holds the k smallest values seen
// so far (initialised to +inf). Returns the new k-th smallest.
GIB_HD double topk_insert(double* top, int64_t k, double v) {
  if (!(v < top[k - 1])) return top[k - 1];
  int64_t i = k - 1;
  while (i > 0 && top[i - 1] > v) {
    top[i] = top[i - 1];
    --i;
  }
  top[i] = v;
  return top[k - 1];
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// One of `count` parts of a kernel's independent units of work (runs of anchors, anchors or
// columns, as each kernel documents), for estimation sharded over processes: a near-equal
// contiguous range [begin, end), or, where the cost of a unit varies along the kernel's order
// (runs along a sweep), the interleaved units u with owns(u). A kernel given a shard fills only
// the outputs of its part and leaves the others at 0, so the sum of every part's output is the
// whole one (exactly where each output has one owner, since x + 0 == x).
struct Shard {
  int64_t index = 0;
  int64_t count = 1;

  GIB_HD int64_t begin(int64_t units) const { return units * index / count; }
  GIB_HD int64_t end(int64_t units) const { return units * (index + 1) / count; }
  GIB_HD bool owns(int64_t unit) const { return unit % count == index; }
  GIB_HD bool whole() const { return count == 1; }
};

// Label groups of rows sorted by label, as the GPU kernels take them: for every row i the range
// [begin[i], end[i]) of the rows that share its label (nullptr: one group, every row).
struct LabelGroups {
  const int64_t* begin;
  const int64_t* end;
};

// The anchors of one launch; callers bound scratch memory by launching chunks of anchors.
struct AnchorRange {
  int64_t begin;
  int64_t end;
};

}  // namespace gib

#if !defined(__CUDACC__)
#include <exception>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gib {

// Cooperative interruption. The bindings install a poll function (it asks Python whether a
// signal such as Ctrl-C arrived); kernels call check_interrupt() between tiles on the calling
// thread, which throws Interrupted so that control returns within a tile's time.
using InterruptPoll = bool (*)();
void set_interrupt_poll(InterruptPoll poll);  // per calling thread; nullptr disables
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};
void check_interrupt();

// The OpenMP threads a parallel region may use, and the calling thread's number in one (1 and 0
// without OpenMP).
inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Whether a parallel region is worth its start-up and barrier: below about a quarter of a
// million element operations one thread finishes first, and idle threads that spin while
// waiting cost the most on a loaded machine. Used in `if` clauses; results do not change.
inline bool worth_threads(int64_t work) { return work >= (int64_t(1) << 18); }

// Anchors per tile so that one tile is about `budget` pair-coordinate operations: tiles are
// the unit of interruption and of the fixed-order (thread-count independent) reductions.
inline int64_t anchors_per_tile(int64_t n, int64_t cost_per_anchor, int64_t budget = 1 << 28) {
  int64_t per = cost_per_anchor > 0 ? budget / cost_per_anchor : n;
  if (per < 16) per = 16;
  return per < n ? per : (n > 0 ? n : 1);
}

// Runs of `run` anchors per tile: anchors_per_tile's budget in runs, but at least
// kMinRunsPerTile of them. Where one anchor costs a large part of the budget (n * d at
// 10000 x 1024 is 1e7: 26 anchors, one run of 16), a tile of one run left every thread but
// one idle. A constant, not the thread count, so that the tiles, and any reduction in their
// order, do not depend on the number of threads.
constexpr int64_t kMinRunsPerTile = 8;
inline int64_t runs_per_tile(int64_t n, int64_t cost_per_anchor, int64_t run,
                             int64_t budget = 1 << 28) {
  const int64_t runs = anchors_per_tile(n, cost_per_anchor, budget) / (run > 0 ? run : 1);
  return runs > kMinRunsPerTile ? runs : kMinRunsPerTile;
}

}  // namespace gib
#endif
