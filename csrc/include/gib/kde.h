// Kolchinsky-Tracey pairwise-distance (KDE) upper bound on the entropy of T + N(0, sigma2 I).
//
// Per anchor a: L_a = log( (1/N_a) sum_{b in C(a)} exp(-||t_a - t_b||^2 / (2 sigma2)) ), where
// C(a) is every point (labels == nullptr) or the points sharing a's label (b = a included, as in
// Saxe et al. 2018), N_a = |C(a)|. All exponents are <= 0 and the self term is 1, so the sum
// needs no max-shift. Shapes: t (n, d) float64, labels (n,) int64 with values in [0, n_classes).
// Sharding (common.h): a shard owns a part of the runs of anchors of the kernel's own order
// (points grouped by label); entries of other anchors are 0 and their terms are not summed.
#pragma once

#include "gib/common.h"

#if defined(GIB_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace gib {

// out (n,) = L_a.
void kde_log_mean_kernel_cpu(const double* t, int64_t n, int64_t d, const int64_t* labels,
                             double sigma2, double* out, Shard shard = {});

// Where kde_log_mean_kernel_takes_gram holds (wide d, enough points, sigma2 large enough that
// the direct scan cannot drop most pairs early), the sums go through a matrix product (gram.h);
// anchors whose error bound is too wide for 1e-12 relative are summed directly. The same values
// to 1e-12 relative; the direct path's bits where every anchor is summed directly.
bool kde_log_mean_kernel_takes_gram(const double* t, int64_t n, int64_t d, double sigma2);
// The same on the direct path only, and on the Gram form whatever the size (false, having
// written nothing of use, where it does not apply: no BLAS, non-finite or huge coordinates).
void kde_log_mean_kernel_direct_cpu(const double* t, int64_t n, int64_t d,
                                    const int64_t* labels, double sigma2, double* out,
                                    Shard shard = {});
bool kde_log_mean_kernel_gram_cpu(const double* t, int64_t n, int64_t d, const int64_t* labels,
                                  double sigma2, double* out, Shard shard = {});

// Leave-one-feature-out: out (n_classes, m + 1), out[c][j] = sum_{a : label(a) == c} L_a over
// T_-j (squared distance downdated by (t_aj - t_bj)^2); column m is all of t. Without labels
// n_classes must be 1. Sums run in a fixed anchor order (bit-identical across thread counts).
void kde_loo_cpu(const double* t, int64_t n, int64_t m, const int64_t* labels, int64_t n_classes,
                 double sigma2, double* out, Shard shard = {});

#if defined(GIB_WITH_CUDA)
// CUDA launchers (csrc/cuda), conventions in gib/cuda_utils.cuh: device buffers, label groups of
// the label-sorted rows, anchors [begin, end) of a launch, the caller's device and stream.

// The per-anchor log mean kernel L_a of gib/kde.h over the anchor's label group.
// log_mean (columns + 1, anchors): row j < columns is L_a over t without column j (columns is 0
// or m), row `columns` is L_a over all of t. Rows j < columns must be zero on entry.
void kde_log_mean_kernel_cuda(const double* t, int64_t n, int64_t m, LabelGroups groups,
                              double sigma2, int64_t columns, AnchorRange anchors,
                              double* log_mean, int device, cudaStream_t stream);
#endif  // GIB_WITH_CUDA

}  // namespace gib
