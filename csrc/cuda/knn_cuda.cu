// k-th neighbour distances and strict radius counts on the GPU (contract: gib/knn.h; buffers
// and launch conventions: gib/cuda_utils.cuh).
//
// One thread per anchor, kBlock anchors per block; candidates stream through shared memory in
// tiles of kTileB, kTileD coordinates at a time, and each thread accumulates the reduced
// distances of its anchor to the tile in registers. An anchor keeps its k smallest in its own k
// slots of a global list with the k-th in a register: after the first tiles almost every
// candidate is rejected by that one comparison, so the list is rarely touched and k is not
// limited. Results are per anchor and deterministic; max-norm ones equal the CPU kernels' bit
// for bit, Euclidean ones to rounding.
#include "gib/cuda_utils.cuh"
#include "gib/loo_math.h"

namespace gib {
namespace cuda {
namespace {

constexpr int kTileB = 32;  // candidates per tile

// The reduced distances from this thread's anchor to the candidates b0 .. b0 + kTileB - 1.
template <Metric M>
__device__ __forceinline__ void tile_distances(Staged<kTileB>& s, const double* z, int64_t n,
                                               int64_t d, int64_t a0, int64_t b0,
                                               double (&dist)[kTileB]) {
#pragma unroll
  for (int b = 0; b < kTileB; ++b) dist[b] = 0.0;
  for_each_column(s, z, n, d, a0, b0, [&](double za, const double* zb, int32_t) {
#pragma unroll
    for (int b = 0; b < kTileB; ++b) dist[b] = combine(dist[b], pair_term(za, zb[b], M), M);
  });
}

template <Metric M>
__global__ void __launch_bounds__(kBlock)
    kth_neighbor_kernel(const double* z, int64_t n, int64_t d, LabelGroups groups, int64_t k,
                        AnchorRange anchors, double* lists, double* out) {
  __shared__ Staged<kTileB> s;
  const int64_t a0 = anchors.begin + static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t a = a0 + threadIdx.x;
  const bool active = a < anchors.end;
  const int64_t local = a - anchors.begin;
  const Range block = block_candidates(groups, n, a0, anchors.end);
  const Range own = active ? own_candidates(groups, n, a) : Range{0, 0};
  double* top = lists + (active ? local : 0) * k;
  if (active)
    for (int64_t i = 0; i < k; ++i) top[i] = kInf;
  double kth = kInf;
  for (int64_t b0 = block.begin; b0 < block.end; b0 += kTileB) {
    double dist[kTileB];
    tile_distances<M>(s, z, n, d, a0, b0, dist);
    const uint32_t mask = candidate_mask<kTileB>(own, b0, a, false);
#pragma unroll
    for (int b = 0; b < kTileB; ++b)
      if ((mask >> b & 1u) && dist[b] < kth) kth = topk_insert(top, k, dist[b]);
  }
  if (!active) return;
  // With labels, k is lowered to the number of candidates; the list then holds all of them.
  const int64_t candidates = own.end - own.begin - 1;
  const int64_t k_eff = k < candidates ? k : candidates;
  out[local] = k_eff > 0 ? reduced_to_distance(top[k_eff - 1], M) : kInf;
}

template <Metric M>
__global__ void __launch_bounds__(kBlock)
    count_within_kernel(const double* z, int64_t n, int64_t d, const double* radius,
                        AnchorRange anchors, int64_t* out) {
  __shared__ Staged<kTileB> s;
  const int64_t a0 = anchors.begin + static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t a = a0 + threadIdx.x;
  const bool active = a < anchors.end;
  const double bound = active ? reduced_bound(radius[a], M) : 0.0;
  const Range own = active ? Range{0, n} : Range{0, 0};
  int64_t count = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kTileB) {
    double dist[kTileB];
    tile_distances<M>(s, z, n, d, a0, b0, dist);
    const uint32_t mask = candidate_mask<kTileB>(own, b0, a, false);
#pragma unroll
    for (int b = 0; b < kTileB; ++b) count += (mask >> b & 1u) && dist[b] < bound;
  }
  if (active) out[a - anchors.begin] = count;
}

}  // namespace
}  // namespace cuda

void kth_neighbor_distance_cuda(const double* z, int64_t n, int64_t d, LabelGroups groups,
                                int64_t k, Metric metric, AnchorRange anchors, double* lists,
                                double* out, int device, cudaStream_t stream) {
  using namespace cuda;
  if (anchors.end <= anchors.begin) return;
  DeviceGuard guard(device);
  const unsigned int blocks = blocks_for(anchors);
  if (metric == Metric::kMax)
    kth_neighbor_kernel<Metric::kMax><<<blocks, kBlock, 0, stream>>>(z, n, d, groups, k, anchors,
                                                                     lists, out);
  else
    kth_neighbor_kernel<Metric::kEuclidean><<<blocks, kBlock, 0, stream>>>(z, n, d, groups, k,
                                                                           anchors, lists, out);
  check_launch("kth_neighbor_kernel");
}

void count_within_cuda(const double* z, int64_t n, int64_t d, const double* radius,
                       Metric metric, AnchorRange anchors, int64_t* out, int device,
                       cudaStream_t stream) {
  using namespace cuda;
  if (anchors.end <= anchors.begin) return;
  DeviceGuard guard(device);
  const unsigned int blocks = blocks_for(anchors);
  if (metric == Metric::kMax)
    count_within_kernel<Metric::kMax><<<blocks, kBlock, 0, stream>>>(z, n, d, radius, anchors,
                                                                     out);
  else
    count_within_kernel<Metric::kEuclidean><<<blocks, kBlock, 0, stream>>>(z, n, d, radius,
                                                                           anchors, out);
  check_launch("count_within_kernel");
}

}  // namespace gib
