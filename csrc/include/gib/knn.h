// Exact k-nearest-neighbour statistics: the primitives of the KL, KSG and Ross estimators.
//
// Shapes and units: z is (n, d) float64, row-major. labels is (n,) int64 or nullptr.
// Distances are max-norm or Euclidean (Metric). Neighbours never include the point itself.
// Memory: O(n * (d + k)) per call; candidates are streamed in tiles, never an n x n matrix.
// Determinism: results are per point and independent of the thread count.
// Sharding (common.h): a shard owns every count-th run of anchors of the kernel's own order
// (points grouped by label and sorted), and the entries of out of other anchors are 0.
#pragma once

#include "gib/common.h"

namespace gib {

// out[i] = distance from point i to its k-th nearest other point. With labels, only points
// with labels[j] == labels[i] are candidates and k is lowered to the number of candidates
// (min(k, count - 1)); a point with no candidate gets +inf.
void kth_neighbor_distance_cpu(const double* z, int64_t n, int64_t d, const int64_t* labels,
                               int64_t k, Metric metric, double* out, Shard shard = {});

// out[i] = #{j != i : dist(z_i, z_j) < radius[i]}  (strict, as in KSG and Ross).
void count_within_cpu(const double* z, int64_t n, int64_t d, const double* radius, Metric metric,
                      int64_t* out, Shard shard = {});

}  // namespace gib
