// Per-pair and per-anchor math of the k-NN kernels beyond common.h, shared (GIB_HD) by the CPU
// and CUDA backends so that both compare the same reduced distances with the same predicates.
#pragma once

#include <math.h>

#include "gib/common.h"

namespace gib {

// A reduced distance (max-norm, or squared Euclidean) as a true distance.
GIB_HD double reduced_to_distance(double reduced, Metric metric) {
  return metric == Metric::kMax ? reduced : sqrt(reduced);
}

// The bound b on reduced distances with "reduced < b" <=> "distance < radius": the radius for
// the max-norm; for the Euclidean metric the least x with sqrt(x) >= radius, stepped to from
// radius^2 (sqrt is monotone and correctly rounded on both backends), so that no pair needs a
// sqrt.
GIB_HD double reduced_bound(double radius, Metric metric) {
  if (metric == Metric::kMax) return radius;
  if (!(radius > 0)) return 0.0;  // no distance is below a radius <= 0 (or NaN)
  double bound = radius * radius;
  while (sqrt(bound) < radius) bound = nextafter(bound, kInf);
  while (bound > 0 && sqrt(nextafter(bound, 0.0)) >= radius) bound = nextafter(bound, 0.0);
  return bound;
}

// A squared Euclidean distance downdated by one coordinate, D2 - (z_aj - z_bj)^2, that falls
// below this fraction of D2 has lost most of its bits to cancellation: recompute it from the
// coordinates instead.
constexpr double kDowndateCancellation = 0x1p-20;

GIB_HD bool downdate_lost_bits(double full, double downdated) {
  return downdated < full * kDowndateCancellation;
}

// The squared Euclidean distance between rows za and zb (m coordinates each, consecutive
// pointers into a row-major array) without coordinate j, summed directly in column order.
GIB_HD double squared_distance_without(const double* za, const double* zb, int64_t m, int64_t j) {
  double sum = 0.0;
  for (int64_t c = 0; c < m; ++c)
    if (c != j) sum = combine(sum, pair_term(za[c], zb[c], Metric::kEuclidean), Metric::kEuclidean);
  return sum;
}

// The KDE kernel exp(-D2_-j / (2 sigma2)) needs D2_-j to an absolute error well below sigma2,
// not just a few correct bits: the downdate D2 - (t_aj - t_bj)^2 carries the rounding error of D2
// (a few ulps of D2), which is small against D2_-j only when the dropped term is not the larger
// part of D2. Where it is (at most one coordinate of a pair), D2_-j is summed directly; elsewhere
// the downdate's error is below 2 (m + 2) ulps of D2_-j.
GIB_HD bool kde_downdate_inexact(double term, double downdated) { return term > downdated; }

// An upper bound on the rounding error of `full`, a sum of m non-negative terms, and of its
// downdate by one term: (m + 2) ulps of full. Pruning on a downdated distance stays exact when it
// compares the distance less this bound.
GIB_HD double downdate_error_bound(double full, int64_t m) {
  return static_cast<double>(m + 2) * 0x1p-52 * full;
}

}  // namespace gib
