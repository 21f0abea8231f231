// Euclidean distances through a matrix product (Gram form), for the k-NN kernels at wide d.
//
// ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, where the dot products of a block of anchors with a
// block of candidates come from one BLAS dgemm call (the Fortran routine the bindings install,
// scipy's BLAS). The Gram form is only a filter: it carries a rounding error that cancellation
// can make as large as the distance itself, so every candidate that the error bound cannot rule
// out is recomputed directly (the sum of squared differences in coordinate order, as the direct
// path sums it), and the result is the k-th of the recomputed distances: the same value as the
// direct path, whatever the BLAS, its threads or its order of summation.
#pragma once

#include "gib/common.h"

namespace gib {

// The Fortran BLAS dgemm (column-major, 32-bit integers), as scipy.linalg.cython_blas exports it.
using Dgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const double* alpha, const double* a, const int* lda,
                       const double* b, const int* ldb, const double* beta, double* c,
                       const int* ldc);

// Installed once by the bindings; nullptr (the default) keeps every kernel on its direct path.
void set_dgemm(Dgemm gemm);
Dgemm installed_dgemm();

// The Gram form pays off once a distance costs enough coordinates that a matrix product beats
// the pruned direct scan, and once there are enough points for blocks (measured:
// benchmarks/bm_wide_d.py). The choice never changes a result, only the time.
constexpr int64_t kGramMinColumns = 32;
constexpr int64_t kGramMinPoints = 1000;

GIB_HD bool euclidean_gram_eligible(int64_t n, int64_t d, bool have_gemm) {
  return have_gemm && d >= kGramMinColumns && n >= kGramMinPoints;
}

// The KDE sums (kde.h): exp(-x) is exactly 0 in double precision once x > 745.2, so a pair whose
// exponent passes this (a margin for rounding in the exponent) adds nothing, on every path.
constexpr double kKdeNegligibleExponent = 750.0;

// The direct KDE scan abandons a block of candidates once its partial distances pass the
// negligible exponent, after about negligible / D^2 of the coordinates for typical squared
// distances D^2 (2 mean_sq for squared norms mean_sq about the mean): the Gram form pays off
// while that is more than a sixteenth (measured: benchmarks/bm_wide_d.py).
GIB_HD bool kde_gram_eligible(int64_t n, int64_t d, double sigma2, double mean_sq,
                              bool have_gemm) {
  return euclidean_gram_eligible(n, d, have_gemm) &&
         2.0 * mean_sq <= 16.0 * kKdeNegligibleExponent * 2.0 * sigma2;
}

// An upper bound on |G - D| where G = fl(sq_a + sq_b - 2 fl(a.b)) is the Gram-form squared
// distance of two centred rows (sq_a, sq_b their computed squared norms, d coordinates) and D
// the directly summed squared distance of the uncentred rows. It adds up the dot product's error
// (gamma_d * |a||b| <= gamma_d (sq_a + sq_b) / 2, any order of summation, with or without FMA),
// the norms' (gamma_d each), the three roundings of G, the centring's (about 4 u (sq_a + sq_b))
// and D's own (gamma_d * D <= 2 gamma_d (sq_a + sq_b)): below (4 d + 16) u (sq_a + sq_b), u =
// 2^-53. The bound taken is twice that, so that the rounding of the bound itself never matters.
GIB_HD double gram_error_bound(double sq_sum, int64_t d) {
  return static_cast<double>(d + 4) * 0x1p-50 * sq_sum;
}

// The KDE products are formed kKdeDotChunk coordinates per dgemm call and added up call by call
// (and the squared norms the same way), so that the error of a dot product is that of a sum of
// chunk sums, gamma_(chunk + d / chunk + 2), not gamma_d. The kernel's error is measured against
// the true squared distance (the direct path's own sum carries gamma_d D): below
// (2 (chunk + d / chunk) + 16) u (sq_a + sq_b), doubled for margin.
constexpr int64_t kKdeDotChunk = 256;

GIB_HD double kde_gram_error_bound(double sq_sum, int64_t d) {
  const int64_t chunks = (d + kKdeDotChunk - 1) / kKdeDotChunk;
  return static_cast<double>(2 * (kKdeDotChunk + chunks) + 16) * 0x1p-52 * sq_sum;
}

// A bound on |exp(-D / (2 sigma2)) - term| for term = exp(-G / (2 sigma2)), |G - D| <= e and
// x = e / (2 sigma2) <= 1/2: term (e^x - 1) <= 1.65 x term, and an ulp for exp's own rounding.
GIB_HD double kde_term_error(double term, double x) { return term * (1.65 * x + 0x1p-52); }

// Whether a Gram-form kernel sum (with the bound `error` on its terms' errors) gives
// L = log(sum / size) to well within 1e-12 relative (2^-42 |L| from the terms; the summation
// order is the direct path's). Where L is near 0 (every kernel near 1), few sums pass: those
// anchors are summed directly.
GIB_HD bool kde_sum_accurate(double sum, double error, double size) {
  return error <= 0x1p-42 * sum * fabs(log(sum / size));
}

// The squared Euclidean distance of rows za and zb (d coordinates), summed in coordinate order
// as the direct k-NN scan sums it (candidate minus anchor), so that both give the same bits.
GIB_HD double squared_distance(const double* anchor, const double* candidate, int64_t d) {
  double sum = 0.0;
  for (int64_t c = 0; c < d; ++c)
    sum = combine(sum, pair_term(candidate[c], anchor[c], Metric::kEuclidean), Metric::kEuclidean);
  return sum;
}

// out[i] for the anchors of the shard (gib/knn.h's kth_neighbor_distance_cpu, Euclidean) through
// the Gram form: `order` and `start` are the kernel's grouping (positions sorted by label, then
// along the sweep), `owned` the anchor positions of the shard in position order. Memory: the
// centred rows of one group (n * d), per anchor 2 k distances and a list of at most
// 4 k + 32 candidates awaiting recomputation, and two blocks of products (kGramBlock^2 each).
// Returns false, having written nothing, where the Gram form does not apply (no BLAS, a
// non-finite coordinate or a squared norm past 1e300); the caller then runs the direct path.
bool kth_euclidean_gram_cpu(const double* z, int64_t n, int64_t d, const int64_t* order,
                            const int64_t* group_start, int64_t n_groups, const int64_t* owned,
                            int64_t n_owned, int64_t k, bool whole, double* out);

// out[order[p]] = L of kde.h for the anchor positions owned[0, n_owned) (kde_log_mean_kernel_cpu's
// grouping: order and group_start; anchors in position order; `whole`: every position is
// owned) through the Gram form. inexact[p] (per position) is set where the error bound does not
// give L to the accuracy of kde_sum_accurate: out[order[p]] is then not written and the caller
// sums that anchor directly. Memory: the centred rows of one group, 2 n doubles, a block of
// products. Returns false, having written nothing, where the Gram form does not apply.
bool kde_gram_cpu(const double* t, int64_t n, int64_t d, const int64_t* order,
                  const int64_t* group_start, int64_t n_groups, const int64_t* owned,
                  int64_t n_owned, bool whole, double sigma2, double* out, char* inexact);

}  // namespace gib
