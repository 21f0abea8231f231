// Fused leave-one-feature-out k-NN passes on the GPU (contract: gib/knn_loo.h; buffers and
// launch conventions: gib/cuda_utils.cuh). One thread per anchor, candidates tiled through
// shared memory as in knn_cuda.cu; the per-pair state is common.h's Max2, so the CPU tests
// exercise the per-pair code that runs here.
//
// Max-norm, two passes over the candidates b of anchor a, each rebuilding s_b = (max1, arg,
// max2) of |z_a - z_b| and the target distance t_b:
//  1. radii. The joint distance without column j is J_b^-j = max(max2_without(s_b, j), t_b), at
//     least max(max2_b, t_b) and equal to J_b = max(max1_b, t_b) unless j = arg_b. Each anchor
//     keeps a list of its k smallest J^-j per column (and of J, list m) in global scratch; with
//     `loosest` the largest k-th of the lists j < m (a register, refreshed after each tile), a
//     candidate with max(max2_b, t_b) >= loosest moves no list j < m, one with J_b >= loosest
//     moves only the list of its arg-max, and only the few with J_b < loosest touch all m.
//     Then r_j = the k_eff-th of list j (r_j <= r, the full radius).
//  2. counts. c_z(j) = #{b : max2_without(s_b, j) < r_j}, c_w(j) = #{b : t_b < r_j}. A candidate
//     with max1_b >= r and t_b >= r counts at most in column arg_b (at max2_b); the rest, about
//     the neighbours within r, update all m counters.
// With labels, a point alone in its label is in no other point's group, so never a neighbour;
// the counts pass skips it as an anchor and as a candidate.
// Every per-anchor result is computed in double by the same predicates as the CPU kernel, so
// radii and counts agree with it exactly; the caller sums the per-anchor terms in a fixed order.
//
// Euclidean: squared distances D2_b per tile, then for every column j the downdate
// D2_b - (z_aj - z_bj)^2 (recomputed when cancellation ate its bits, as on the CPU) feeds the
// anchor's list of column j.
#include "gib/cuda_utils.cuh"
#include "gib/loo_math.h"

namespace gib {
namespace cuda {
namespace {

// Candidates per tile: a Max2 and a target distance per candidate stay in registers.
constexpr int kLooTileB = 16;
// Candidates per tile of the Euclidean pass: one squared distance each.
constexpr int kEuclideanTileB = 32;

// s[b] = (max1, arg, max2) of |z_a - z_b| and t[b] = max-norm distance in w (0 without w) from
// this thread's anchor to candidate b0 + b.
__device__ __forceinline__ void tile_states(Staged<kLooTileB>& s, const double* z, int64_t n,
                                            int64_t m, const double* w, int64_t q, int64_t a0,
                                            int64_t b0, Max2 (&state)[kLooTileB],
                                            double (&target)[kLooTileB]) {
#pragma unroll
  for (int b = 0; b < kLooTileB; ++b) {
    max2_init(state[b]);
    target[b] = 0.0;
  }
  for_each_column(s, z, n, m, a0, b0, [&](double za, const double* zb, int32_t c) {
#pragma unroll
    for (int b = 0; b < kLooTileB; ++b)
      max2_update(state[b], pair_term(za, zb[b], Metric::kMax), c);
  });
  if (w == nullptr) return;
  for_each_column(s, w, n, q, a0, b0, [&](double wa, const double* wb, int32_t) {
#pragma unroll
    for (int b = 0; b < kLooTileB; ++b)
      target[b] = combine(target[b], pair_term(wa, wb[b], Metric::kMax), Metric::kMax);
  });
}

__device__ __forceinline__ double joint(double z_distance, double target) {
  return combine(z_distance, target, Metric::kMax);
}

__global__ void __launch_bounds__(kBlock)
    maxnorm_radii_kernel(const double* z, int64_t n, int64_t m, LabelGroups groups,
                         const double* w, int64_t q, int64_t k, AnchorRange anchors,
                         double* lists, double* radius) {
  __shared__ Staged<kLooTileB> s;
  const int64_t a0 = anchors.begin + static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t a = a0 + threadIdx.x;
  const bool active = a < anchors.end;
  const int64_t local = a - anchors.begin;
  const Range block = block_candidates(groups, n, a0, anchors.end);
  const Range own = active ? own_candidates(groups, n, a) : Range{0, 0};
  // List j (column j left out; j = m: none) of this anchor: list[j * k .. j * k + k).
  double* list = lists + (active ? local : 0) * (m + 1) * k;
  if (active)
    for (int64_t i = 0; i < (m + 1) * k; ++i) list[i] = kInf;
  double* full = list + m * k;
  double full_kth = kInf;
  double loosest = kInf;

  for (int64_t b0 = block.begin; b0 < block.end; b0 += kLooTileB) {
    Max2 state[kLooTileB];
    double target[kLooTileB];
    tile_states(s, z, n, m, w, q, a0, b0, state, target);
    // Label groups: candidates of another label are no neighbours (infinitely far in t).
    const uint32_t mask = candidate_mask<kLooTileB>(own, b0, a, false);
    bool moved = false;
#pragma unroll
    for (int b = 0; b < kLooTileB; ++b) {
      if (!(mask >> b & 1u)) continue;
      const double j_full = joint(state[b].max1, target[b]);
      if (j_full < full_kth) full_kth = topk_insert(full, k, j_full);
      if (!(joint(state[b].max2, target[b]) < loosest)) continue;
      moved = true;
      if (j_full < loosest) {
        for (int32_t j = 0; j < m; ++j)
          topk_insert(list + j * k, k, joint(max2_without(state[b], j), target[b]));
      } else {  // max2 < max1 here, so arg >= 0
        topk_insert(list + state[b].arg * k, k, joint(state[b].max2, target[b]));
      }
    }
    if (moved) {
      loosest = 0.0;
      for (int64_t j = 0; j < m; ++j) loosest = fmax(loosest, list[j * k + k - 1]);
    }
  }
  if (!active) return;
  const int64_t anchors_len = anchors.end - anchors.begin;
  int64_t k_eff = k;
  if (groups.begin) {  // Ross: k lowered to the number of other points with the same label
    const int64_t candidates = own.end - own.begin - 1;
    k_eff = k < candidates ? k : candidates;
  }
  for (int64_t j = 0; j <= m; ++j)
    radius[j * anchors_len + local] = k_eff > 0 ? list[j * k + k_eff - 1] : kInf;
}

// Bit b set: candidate b0 + b exists and takes part.
__device__ __forceinline__ uint32_t participants(LabelGroups groups, int64_t n, int64_t b0) {
  uint32_t mask = 0;
  for (int b = 0; b < kLooTileB; ++b)
    if (b0 + b < n && takes_part(groups, b0 + b)) mask |= 1u << b;
  return mask;
}

__global__ void __launch_bounds__(kBlock)
    maxnorm_counts_kernel(const double* z, int64_t n, int64_t m, LabelGroups groups,
                          const double* w, int64_t q, AnchorRange anchors, const double* radius,
                          int64_t* count_z, int64_t* count_w) {
  __shared__ Staged<kLooTileB> s;
  const int64_t a0 = anchors.begin + static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t a = a0 + threadIdx.x;
  const bool active = a < anchors.end;
  const int64_t anchors_len = anchors.end - anchors.begin;
  const int64_t local = a - anchors.begin;
  const Range own = active && takes_part(groups, a) ? Range{0, n} : Range{0, 0};
  // Entry (j, local) of the (m + 1, anchors) outputs; only read or written when active.
  const auto at = [&](int64_t j) { return j * anchors_len + local; };
  const double r = active ? radius[at(m)] : 0.0;
  int64_t full_z = 0, full_w = 0;

  for (int64_t b0 = 0; b0 < n; b0 += kLooTileB) {
    Max2 state[kLooTileB];
    double target[kLooTileB];
    tile_states(s, z, n, m, w, q, a0, b0, state, target);
    const uint32_t mask =
        candidate_mask<kLooTileB>(own, b0, a, false) & participants(groups, n, b0);
#pragma unroll
    for (int b = 0; b < kLooTileB; ++b) {
      if (!(mask >> b & 1u)) continue;
      // Without w there is no second space to count in: t = +inf never counts.
      const double t = w ? target[b] : kInf;
      if (state[b].max1 < r || t < r) {
        full_z += state[b].max1 < r;
        full_w += t < r;
        for (int32_t j = 0; j < m; ++j) {
          const double r_j = radius[at(j)];
          count_z[at(j)] += max2_without(state[b], j) < r_j;
          count_w[at(j)] += t < r_j;
        }
      } else if (state[b].max2 < r) {  // only without its arg-max is b within some r_j <= r
        const int32_t j = state[b].arg;
        count_z[at(j)] += state[b].max2 < radius[at(j)];
      }
    }
  }
  if (!active) return;
  count_z[at(m)] = full_z;
  count_w[at(m)] = full_w;
}

__global__ void __launch_bounds__(kBlock)
    euclidean_loo_kernel(const double* z, int64_t n, int64_t m, int64_t k, AnchorRange anchors,
                         double* lists, double* kth_squared) {
  __shared__ Staged<kEuclideanTileB> s;
  const int64_t a0 = anchors.begin + static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t a = a0 + threadIdx.x;
  const bool active = a < anchors.end;
  const int64_t local = a - anchors.begin;
  const Range own = active ? Range{0, n} : Range{0, 0};
  double* list = lists + (active ? local : 0) * (m + 1) * k;
  if (active)
    for (int64_t i = 0; i < (m + 1) * k; ++i) list[i] = kInf;
  double* full = list + m * k;
  double full_kth = kInf;

  for (int64_t b0 = 0; b0 < n; b0 += kEuclideanTileB) {
    double sq[kEuclideanTileB];
#pragma unroll
    for (int b = 0; b < kEuclideanTileB; ++b) sq[b] = 0.0;
    for_each_column(s, z, n, m, a0, b0, [&](double za, const double* zb, int32_t) {
#pragma unroll
      for (int b = 0; b < kEuclideanTileB; ++b)
        sq[b] = combine(sq[b], pair_term(za, zb[b], Metric::kEuclidean), Metric::kEuclidean);
    });
    const uint32_t mask = candidate_mask<kEuclideanTileB>(own, b0, a, false);
#pragma unroll
    for (int b = 0; b < kEuclideanTileB; ++b)
      if ((mask >> b & 1u) && sq[b] < full_kth) full_kth = topk_insert(full, k, sq[b]);
    for_each_column(s, z, n, m, a0, b0, [&](double za, const double* zb, int32_t j) {
      if (mask == 0) return;
      double* top = list + j * k;
      double kth = top[k - 1];
#pragma unroll
      for (int b = 0; b < kEuclideanTileB; ++b) {
        if (!(mask >> b & 1u)) continue;
        double v = sq[b] - pair_term(za, zb[b], Metric::kEuclidean);
        if (downdate_lost_bits(sq[b], v)) v = distance_without_out_of_line(z, m, a, b0 + b, j);
        if (v < kth) kth = topk_insert(top, k, v);
      }
    });
  }
  if (!active) return;
  const int64_t anchors_len = anchors.end - anchors.begin;
  for (int64_t j = 0; j <= m; ++j) kth_squared[j * anchors_len + local] = list[j * k + k - 1];
}

}  // namespace
}  // namespace cuda

void knn_loo_maxnorm_radii_cuda(const double* z, int64_t n, int64_t m, LabelGroups groups,
                                const double* w, int64_t q, int64_t k, AnchorRange anchors,
                                double* lists, double* radius, int device, cudaStream_t stream) {
  using namespace cuda;
  if (anchors.end <= anchors.begin) return;
  DeviceGuard guard(device);
  maxnorm_radii_kernel<<<blocks_for(anchors), kBlock, 0, stream>>>(z, n, m, groups, w, q, k,
                                                                    anchors, lists, radius);
  check_launch("maxnorm_radii_kernel");
}

void knn_loo_maxnorm_counts_cuda(const double* z, int64_t n, int64_t m, LabelGroups groups,
                                 const double* w, int64_t q, AnchorRange anchors,
                                 const double* radius, int64_t* count_z, int64_t* count_w,
                                 int device, cudaStream_t stream) {
  using namespace cuda;
  if (anchors.end <= anchors.begin) return;
  DeviceGuard guard(device);
  maxnorm_counts_kernel<<<blocks_for(anchors), kBlock, 0, stream>>>(z, n, m, groups, w, q,
                                                                     anchors, radius, count_z,
                                                                     count_w);
  check_launch("maxnorm_counts_kernel");
}

void knn_loo_euclidean_cuda(const double* z, int64_t n, int64_t m, int64_t k, AnchorRange anchors,
                            double* lists, double* kth_squared, int device, cudaStream_t stream) {
  using namespace cuda;
  if (anchors.end <= anchors.begin) return;
  DeviceGuard guard(device);
  euclidean_loo_kernel<<<blocks_for(anchors), kBlock, 0, stream>>>(z, n, m, k, anchors, lists,
                                                                    kth_squared);
  check_launch("euclidean_loo_kernel");
}

}  // namespace gib
