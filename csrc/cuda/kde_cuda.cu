// The Kolchinsky-Tracey log mean kernel on the GPU, with its leave-one-feature-out sums
// (contract: gib/kde.h; buffers and launch conventions: gib/cuda_utils.cuh).
//
// One thread per anchor, candidates of its label group tiled through shared memory as in
// knn_cuda.cu. Per tile: squared distances D2_b, the full kernel sum, then for every column j the
// rank-one downdate exp(-(D2_b - (t_aj - t_bj)^2) / (2 sigma2)) added to the anchor's running sum
// of column j in global memory (only its own thread touches it); where the dropped term is the
// larger part of D2_b, D2_b without it is summed directly (loo_math.h). All exponents are <= 0 up to
// rounding and the self term (b = a) is exp(0) = 1, so the sums need no max-shift. Each anchor
// sums its candidates in a fixed order: results are deterministic.
#include "gib/cuda_utils.cuh"

namespace gib {
namespace cuda {
namespace {

constexpr int kTileB = 32;  // candidates per tile

__global__ void __launch_bounds__(kBlock)
    kde_kernel(const double* t, int64_t n, int64_t m, LabelGroups groups,
               double neg_half_inv_sigma2, int64_t columns, AnchorRange anchors,
               double* log_mean) {
  __shared__ Staged<kTileB> s;
  const int64_t a0 = anchors.begin + static_cast<int64_t>(blockIdx.x) * kBlock;
  const int64_t a = a0 + threadIdx.x;
  const bool active = a < anchors.end;
  const int64_t anchors_len = anchors.end - anchors.begin;
  const int64_t local = a - anchors.begin;
  const Range block = block_candidates(groups, n, a0, anchors.end);
  const Range own = active ? own_candidates(groups, n, a) : Range{0, 0};
  double full = 0.0;

  for (int64_t b0 = block.begin; b0 < block.end; b0 += kTileB) {
    double sq[kTileB];
#pragma unroll
    for (int b = 0; b < kTileB; ++b) sq[b] = 0.0;
    for_each_column(s, t, n, m, a0, b0, [&](double ta, const double* tb, int32_t) {
#pragma unroll
      for (int b = 0; b < kTileB; ++b)
        sq[b] = combine(sq[b], pair_term(ta, tb[b], Metric::kEuclidean), Metric::kEuclidean);
    });
    const uint32_t mask = candidate_mask<kTileB>(own, b0, a, true);
#pragma unroll
    for (int b = 0; b < kTileB; ++b)
      if (mask >> b & 1u) full += exp(sq[b] * neg_half_inv_sigma2);
    if (columns == 0) continue;
    for_each_column(s, t, n, m, a0, b0, [&](double ta, const double* tb, int32_t j) {
      if (mask == 0) return;
      double sum = 0.0;
#pragma unroll
      for (int b = 0; b < kTileB; ++b) {
        if (!(mask >> b & 1u)) continue;
        const double term = pair_term(ta, tb[b], Metric::kEuclidean);
        double without_j = sq[b] - term;
        if (kde_downdate_inexact(term, without_j))
          without_j = distance_without_out_of_line(t, m, a, b0 + b, j);
        sum += exp(without_j * neg_half_inv_sigma2);
      }
      log_mean[j * anchors_len + local] += sum;
    });
  }
  if (!active) return;
  const double log_size = log(static_cast<double>(own.end - own.begin));
  for (int64_t j = 0; j < columns; ++j) {
    double& entry = log_mean[j * anchors_len + local];
    entry = log(entry) - log_size;
  }
  log_mean[columns * anchors_len + local] = log(full) - log_size;
}

}  // namespace
}  // namespace cuda

void kde_log_mean_kernel_cuda(const double* t, int64_t n, int64_t m, LabelGroups groups,
                              double sigma2, int64_t columns, AnchorRange anchors,
                              double* log_mean, int device, cudaStream_t stream) {
  using namespace cuda;
  if (anchors.end <= anchors.begin) return;
  DeviceGuard guard(device);
  kde_kernel<<<blocks_for(anchors), kBlock, 0, stream>>>(t, n, m, groups, -0.5 / sigma2, columns,
                                                        anchors, log_mean);
  check_launch("kde_kernel");
}

}  // namespace gib
