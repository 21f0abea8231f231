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

}  // namespace gib
