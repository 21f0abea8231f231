// Fused leave-one-feature-out k-NN statistics (max-norm): for every column j of z, the
// per-anchor quantities of the estimate over Z_-j (z without column j), from one pass over
// pairs. Per pair we keep (max1, argmax, max2) of the coordinate differences; the distance
// without j is max1 unless j is the arg-max (then max2). Radii shrink when a column is
// dropped, so every per-j radius is at most the full one and the per-j work touches only the
// pairs within the full radius plus the pairs whose arg-max is j. For m > kLooPrunedAbove the
// pass follows a pair past its first columns only while its max2 is within `bound`, per anchor
// an upper bound on its radius over every target: the largest k-th neighbour distance of the
// anchor over the targets (in z with the labels, in (z, w), or in z), which the kernel computes
// with one k-th neighbour pass per target unless the caller gives it (a sharded caller
// computes those passes sharded too). Any bound >= the radii gives the same results.
//
// Shapes: z (n, m) float64 row-major, m >= 1. Several targets share the pass over the pairs of
// z; each is one of
//   - none      (labels == nullptr and w == nullptr): KL entropy;
//   - labels    (n,) int64: Ross mixed MI (k-th neighbour among same-label points, k lowered
//               to min(k, count - 1)). Points whose label is unique take no part, neither as
//               anchors (their terms are 0) nor as neighbours or in counts, as in Ross 2014 and
//               scikit-learn; the caller divides by the number of points that take part;
//   - w         (n, q) float64: KSG MI, joint distance max(D_z, D_w).
// Output: out (n_targets, 3, m + 1) float64, row-major. Column j < m is the estimate without
// column j, column m the estimate on all of z. Rows, per target:
//   0: sum_i log r_i        (r_i the k-th joint distance; -inf if some r_i == 0)
//   1: sum_i psi(c_z(i) + 1)  with c_z(i) = #{b != i : D_z(i, b) < r_i}
//   2: sum_i psi(c_w(i) + 1)  with c_w(i) = #{b != i : D_w(i, b) < r_i} (0 unless w is given)
// psi is the digamma function. Sums run over anchors in a fixed order whatever the number of
// threads, so results are bit-identical across thread counts. A shard (common.h) sums over its
// part of the anchors 0..n-1 only (every candidate stays a neighbour).
#pragma once

#include "gib/common.h"
#include "gib/knn.h"

#if defined(GIB_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace gib {

struct LooTarget {
  const int64_t* labels;  // (n,) or nullptr
  const double* w;        // (n, q) or nullptr
  int64_t q;
};

constexpr int64_t kLooPrunedAbove = 32;

void knn_loo_maxnorm_cpu(const double* z, int64_t n, int64_t m, const LooTarget* targets,
                         int64_t n_targets, int64_t k, double* out, Shard shard = {},
                         const double* bound = nullptr, KnnPath path = KnnPath::kAuto);

// At low d and large n the CPU kernel runs the m + 1 estimates as separate searches instead of
// the fused pass: for each column j, the k-th neighbour and count searches over z without j
// (and beside w), each by the k-d tree (knn_tree.h) where it is eligible. Same radii, counts
// and terms, summed in the same anchor order, so the same results; bound is not needed.
// Memory: O(n (m + q)) per search. Chosen when the widest search (m, or m + q with a w) has at
// most kTreeMaxDims columns and n >= kLooSearchMinPoints (path kTree forces it, with the tree in
// every search it can take; kDirect forces the fused pass).
// Measured crossover at m = 4 on 2 cores: the searches lose at n = 2048 (0.6-0.8x the fused
// pass), win at 4096 (1.4-1.7x) and far more beyond (50x at 100000).
constexpr int64_t kLooSearchMinPoints = 4096;
bool knn_loo_by_searches(KnnPath path, int64_t n, int64_t m, const LooTarget* targets,
                         int64_t n_targets);

// Euclidean KL entropy for every Z_-j: out (m + 1,) = sum_i log r_i with r_i the k-th
// Euclidean distance in Z_-j (squared distances downdated by (z_aj - z_bj)^2); column m is z.
// Sharded over anchors like the max-norm kernel. At m <= kTreeMaxDims and n >=
// kLooSearchMinPoints (knn_loo_euclidean_by_searches; finite z) the m + 1 k-th distances are
// separate searches over z without column j, squared distances summed directly instead of
// downdated: equal to the downdate to its rounding (about 1e-15 relative per distance; the
// downdate's error is bounded in gib/loo_math.h), and k-th distances bit-equal to
// kth_neighbor_distance_cpu on z without column j.
void knn_loo_euclidean_cpu(const double* z, int64_t n, int64_t m, int64_t k, double* out,
                           Shard shard = {}, KnnPath path = KnnPath::kAuto);
bool knn_loo_euclidean_by_searches(KnnPath path, int64_t n, int64_t m);

#if defined(GIB_WITH_CUDA)
// CUDA launchers (csrc/cuda), conventions in gib/cuda_utils.cuh: device buffers, label groups of
// the label-sorted rows, anchors [begin, end) of a launch, the caller's device and stream.

// The fused max-norm leave-one-feature-out pass (gib/knn_loo.h) for one target: the label
// groups, or w (n, q), or neither. First half: radius (m + 1, anchors) = the k_eff-th smallest
// joint distance without column j (row m: with every column). lists (anchors, (m + 1) * k):
// scratch. A point whose label is unique takes no part (gib/knn_loo.h): it gets radius +inf and
// zero counts, is nobody's neighbour and counts for nobody; the caller leaves its terms out.
void knn_loo_maxnorm_radii_cuda(const double* z, int64_t n, int64_t m, LabelGroups groups,
                                const double* w, int64_t q, int64_t k, AnchorRange anchors,
                                double* lists, double* radius, int device, cudaStream_t stream);

// Second half: count_z (m + 1, anchors) = #{b != a : D_z without column j < radius}, and
// count_w the same for D_w (left at zero without w). Both must be zero on entry.
void knn_loo_maxnorm_counts_cuda(const double* z, int64_t n, int64_t m, LabelGroups groups,
                                 const double* w, int64_t q, AnchorRange anchors,
                                 const double* radius, int64_t* count_z, int64_t* count_w,
                                 int device, cudaStream_t stream);

// kth_squared (m + 1, anchors): the k-th smallest squared Euclidean distance without column j
// (row m: with every column). lists (anchors, (m + 1) * k): scratch.
void knn_loo_euclidean_cuda(const double* z, int64_t n, int64_t m, int64_t k, AnchorRange anchors,
                            double* lists, double* kth_squared, int device, cudaStream_t stream);
#endif  // GIB_WITH_CUDA

}  // namespace gib
