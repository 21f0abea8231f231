// Exact k-nearest-neighbour statistics: the primitives of the KL, KSG and Ross estimators.
//
// Shapes and units: z is (n, d) float64, row-major. labels is (n,) int64 or nullptr.
// Distances are max-norm or Euclidean (Metric). Neighbours never include the point itself.
// Euclidean distances at wide d go through a matrix product (gram.h), with the same results.
// Memory: O(n * (d + k)) per call; candidates are streamed in tiles, never an n x n matrix.
// Determinism: results are per point and independent of the thread count.
// Sharding (common.h): a shard owns every count-th run of anchors of the kernel's own order
// (points grouped by label and sorted along a sweep, or, on the tree path, the tree's leaves:
// knn_tree.h), and the entries of out of other anchors are 0.
#pragma once

#include "gib/common.h"

#if defined(GIB_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace gib {

// Which search a CPU k-NN entry point runs: the one its eligibility predicate picks (kAuto; the
// k-d tree of knn_tree.h at low d and large n, the Gram form of gram.h for the Euclidean k-th
// neighbour at wide d, else the pruned brute force), or a forced one (tests, benchmarks):
// kDirect is the pruned brute force, kTree the tree (on inputs it cannot take, the direct path).
// Every path gives the same results.
enum class KnnPath : int { kAuto = 0, kDirect = 1, kTree = 2 };

// out[i] = distance from point i to its k-th nearest other point. With labels, only points
// with labels[j] == labels[i] are candidates and k is lowered to the number of candidates
// (min(k, count - 1)); a point with no candidate gets +inf.
void kth_neighbor_distance_cpu(const double* z, int64_t n, int64_t d, const int64_t* labels,
                               int64_t k, Metric metric, double* out, Shard shard = {},
                               KnnPath path = KnnPath::kAuto);

// The same for the Euclidean metric at d >= 2, always on the direct (pruned brute-force) path,
// never the Gram form of gram.h: the reference that the tests and benchmarks compare against.
void kth_neighbor_distance_direct_cpu(const double* z, int64_t n, int64_t d,
                                      const int64_t* labels, int64_t k, double* out,
                                      Shard shard = {});

// The same for the Euclidean metric at d >= 2 through the Gram form of gram.h whatever n and d
// (kth_neighbor_distance_cpu takes it where euclidean_gram_eligible holds). Returns false
// where it does not apply (d < 2, no BLAS installed, non-finite or huge coordinates); out then
// holds nothing of use.
bool kth_neighbor_distance_gram_cpu(const double* z, int64_t n, int64_t d, const int64_t* labels,
                                    int64_t k, double* out, Shard shard = {});

// out[i] = #{j != i : dist(z_i, z_j) < radius[i]}  (strict, as in KSG and Ross).
void count_within_cpu(const double* z, int64_t n, int64_t d, const double* radius, Metric metric,
                      int64_t* out, Shard shard = {}, KnnPath path = KnnPath::kAuto);

#if defined(GIB_WITH_CUDA)
// CUDA launchers (csrc/cuda), conventions in gib/cuda_utils.cuh: device buffers, label groups of
// the label-sorted rows, anchors [begin, end) of a launch, the caller's device and stream.

// out (anchors): distance from each anchor row of z (n, d) to its k-th nearest other row of its
// group, with k lowered to the group size - 1 (+inf when that is 0). lists (anchors, k): scratch.
void kth_neighbor_distance_cuda(const double* z, int64_t n, int64_t d, LabelGroups groups,
                                int64_t k, Metric metric, AnchorRange anchors, double* lists,
                                double* out, int device, cudaStream_t stream);

// out (anchors) = #{j != i : dist(z_i, z_j) < radius[i]} for the anchor rows i; radius (n,).
void count_within_cuda(const double* z, int64_t n, int64_t d, const double* radius,
                       Metric metric, AnchorRange anchors, int64_t* out, int device,
                       cudaStream_t stream);
#endif  // GIB_WITH_CUDA

}  // namespace gib
