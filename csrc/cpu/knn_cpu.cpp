// Exact k-nearest-neighbour statistics on the CPU (contract: knn.h).
//
// Any d but 1: brute force that never builds an n x n matrix. The points are reordered so that
// each label group is contiguous and copied coordinate-major; the reduced distances from one
// anchor to a block of candidates then vectorise over the block, a block is abandoned as soon
// as none of its partial distances can matter, and only candidates closer than the current
// k-th enter the top-k. d == 1 (the per-feature path): each group is sorted, the k nearest
// points of a point are a window around it (two-pointer expansion) and the points within a
// radius are a range (binary search). Both paths compare the same reduced distances with the
// same predicates, so they agree exactly.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gib/knn.h"

namespace gib {

namespace {

// Candidates per block: their partial distances stay in L1 while the coordinates stream by.
constexpr int64_t kBlock = 128;
// Coordinates between two checks of whether a block can still matter.
constexpr int64_t kChunk = 4;

// A reduced distance (max-norm, or squared Euclidean) as a true distance.
inline double reduced_to_distance(double reduced, Metric metric) {
  return metric == Metric::kMax ? reduced : std::sqrt(reduced);
}

// The bound b on reduced distances with "reduced < b" <=> "distance < radius": the radius for
// the max-norm; for the Euclidean metric the least x with sqrt(x) >= radius, stepped to from
// radius^2 (sqrt is monotone), so that no pair needs a sqrt.
double reduced_bound(double radius, Metric metric) {
  if (metric == Metric::kMax) return radius;
  if (!(radius > 0)) return 0.0;  // no distance is below a radius <= 0 (or NaN)
  double bound = radius * radius;
  while (std::sqrt(bound) < radius) bound = std::nextafter(bound, kInf);
  while (bound > 0 && std::sqrt(std::nextafter(bound, 0.0)) >= radius)
    bound = std::nextafter(bound, 0.0);
  return bound;
}

// The points reordered so that each label group (one group without labels) is a contiguous
// range of positions: group g holds positions [start[g], start[g + 1]).
struct Groups {
  std::vector<int64_t> order;  // original index of the point at each position
  std::vector<int64_t> group;  // group of each position
  std::vector<int64_t> start;

  int64_t begin(int64_t p) const { return start[group[p]]; }
  int64_t end(int64_t p) const { return start[group[p] + 1]; }
};

Groups group_by_label(const int64_t* labels, int64_t n) {
  Groups g;
  g.order.resize(n);
  std::iota(g.order.begin(), g.order.end(), int64_t(0));
  if (labels != nullptr)
    std::stable_sort(g.order.begin(), g.order.end(),
                     [labels](int64_t a, int64_t b) { return labels[a] < labels[b]; });
  g.group.resize(n);
  g.start.push_back(0);
  for (int64_t p = 0; p < n; ++p) {
    if (p > 0 && labels != nullptr && labels[g.order[p]] != labels[g.order[p - 1]])
      g.start.push_back(p);
    g.group[p] = static_cast<int64_t>(g.start.size()) - 1;
  }
  g.start.push_back(n);
  return g;
}

// Sorts the positions of every group by value, ties by index. NaN sorts last so that the
// order stays a strict weak order whatever the data.
void sort_groups_by_value(const double* v, Groups& groups) {
  const auto less = [v](int64_t a, int64_t b) {
    const bool nan_a = std::isnan(v[a]), nan_b = std::isnan(v[b]);
    if (nan_a != nan_b) return nan_b;
    if (!nan_a && v[a] != v[b]) return v[a] < v[b];
    return a < b;
  };
  for (size_t g = 0; g + 1 < groups.start.size(); ++g)
    std::sort(groups.order.begin() + groups.start[g], groups.order.begin() + groups.start[g + 1],
              less);
}

// zt[c * n + p] = coordinate c of the point at position p.
std::vector<double> coordinate_major(const double* z, int64_t n, int64_t d,
                                     const std::vector<int64_t>& order) {
  std::vector<double> zt(static_cast<size_t>(n * d));
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < d; ++c)
    for (int64_t p = 0; p < n; ++p) zt[c * n + p] = z[order[p] * d + c];
  return zt;
}

// Calls body(p) for every anchor position p: in parallel within tiles of about equal work, with
// a poll for interruption between tiles on the calling thread.
template <class Body>
void for_each_anchor(int64_t n, int64_t cost_per_anchor, const Body& body) {
  const int64_t tile = anchors_per_tile(n, cost_per_anchor);
  for (int64_t p0 = 0; p0 < n; p0 += tile) {
    const int64_t p1 = std::min(n, p0 + tile);
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t p = p0; p < p1; ++p) body(p);
    check_interrupt();
  }
}

// Reduced distances from the anchor za to the candidates at positions [b0, b0 + len) of zt.
// Partial distances only grow with each coordinate, so once none is below `relevant` the block
// cannot matter: then it returns false and leaves dist partial.
template <Metric M>
bool block_distances(const double* zt, int64_t n, int64_t d, const double* za, int64_t b0,
                     int64_t len, double relevant, double* dist) {
  std::fill_n(dist, len, 0.0);
  for (int64_t c0 = 0; c0 < d; c0 += kChunk) {
    const int64_t c1 = std::min(d, c0 + kChunk);
    for (int64_t c = c0; c < c1; ++c) {
      const double* col = zt + c * n + b0;
      const double a = za[c];
#pragma omp simd
      for (int64_t b = 0; b < len; ++b) dist[b] = combine(dist[b], pair_term(col[b], a, M), M);
    }
    if (c1 == d) break;
    int any_relevant = 0;
#pragma omp simd reduction(| : any_relevant)
    for (int64_t b = 0; b < len; ++b) any_relevant |= dist[b] < relevant;
    if (!any_relevant) return false;
  }
  return true;
}

bool block_distances(Metric metric, const double* zt, int64_t n, int64_t d, const double* za,
                     int64_t b0, int64_t len, double relevant, double* dist) {
  return metric == Metric::kMax
             ? block_distances<Metric::kMax>(zt, n, d, za, b0, len, relevant, dist)
             : block_distances<Metric::kEuclidean>(zt, n, d, za, b0, len, relevant, dist);
}

void kth_brute_force(const double* z, int64_t n, int64_t d, const Groups& groups, int64_t k,
                     Metric metric, double* out) {
  const std::vector<double> zt = coordinate_major(z, n, d, groups.order);
  for_each_anchor(n, n * d, [&](int64_t p) {
    const int64_t i = groups.order[p], lo = groups.begin(p), hi = groups.end(p);
    const int64_t kk = std::min(k, hi - lo - 1);
    if (kk == 0) {
      out[i] = kInf;
      return;
    }
    std::vector<double> top(kk, kInf);
    double kth = kInf;
    double dist[kBlock];
    for (int64_t b0 = lo; b0 < hi; b0 += kBlock) {
      const int64_t len = std::min(kBlock, hi - b0);
      if (!block_distances(metric, zt.data(), n, d, z + i * d, b0, len, kth, dist)) continue;
      for (int64_t b = 0; b < len; ++b)
        if (dist[b] < kth && b0 + b != p) kth = topk_insert(top.data(), kk, dist[b]);
    }
    out[i] = reduced_to_distance(kth, metric);
  });
}

void count_brute_force(const double* z, int64_t n, int64_t d, const double* radius, Metric metric,
                       int64_t* out) {
  const std::vector<double> zt = coordinate_major(z, n, d, group_by_label(nullptr, n).order);
  for_each_anchor(n, n * d, [&](int64_t i) {
    const double bound = reduced_bound(radius[i], metric);
    int64_t count = 0;
    double dist[kBlock];
    for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
      const int64_t len = std::min(kBlock, n - b0);
      if (!block_distances(metric, zt.data(), n, d, z + i * d, b0, len, bound, dist)) continue;
      for (int64_t b = 0; b < len; ++b) count += dist[b] < bound && b0 + b != i;
    }
    out[i] = count;
  });
}

std::vector<double> gather(const double* v, const std::vector<int64_t>& order) {
  std::vector<double> sorted(order.size());
  for (size_t p = 0; p < order.size(); ++p) sorted[p] = v[order[p]];
  return sorted;
}

void kth_sorted(const double* v, int64_t n, Groups& groups, int64_t k, Metric metric,
                double* out) {
  sort_groups_by_value(v, groups);
  const std::vector<double> s = gather(v, groups.order);
  for_each_anchor(n, k, [&](int64_t p) {
    const int64_t i = groups.order[p], lo = groups.begin(p), hi = groups.end(p);
    const int64_t kk = std::min(k, hi - lo - 1);
    if (kk == 0) {
      out[i] = kInf;
      return;
    }
    // Distances grow away from p on both sides: take the nearer side kk times.
    int64_t left = p - 1, right = p + 1;
    double kth = 0.0;
    for (int64_t taken = 0; taken < kk; ++taken) {
      const double to_left = left >= lo ? pair_term(s[left], s[p], metric) : kInf;
      const double to_right = right < hi ? pair_term(s[right], s[p], metric) : kInf;
      if (to_left <= to_right) {
        kth = to_left;
        --left;
      } else {
        kth = to_right;
        ++right;
      }
    }
    out[i] = reduced_to_distance(kth, metric);
  });
}

void count_sorted(const double* v, int64_t n, const double* radius, Metric metric, int64_t* out) {
  Groups all = group_by_label(nullptr, n);
  sort_groups_by_value(v, all);
  const std::vector<double> s = gather(v, all.order);
  const auto first = s.begin();
  const int64_t search_steps = 2 * static_cast<int64_t>(std::log2(double(n) + 1.0)) + 2;
  for_each_anchor(n, search_steps, [&](int64_t p) {
    const int64_t i = all.order[p];
    const double bound = reduced_bound(radius[i], metric);
    const auto within = [&](double x) { return pair_term(x, s[p], metric) < bound; };
    // Distances grow away from p on both sides, so the points within the radius are a range.
    const auto lo = std::partition_point(first, first + p, [&](double x) { return !within(x); });
    const auto hi = std::partition_point(first + p + 1, s.end(), within);
    out[i] = (first + p - lo) + (hi - (first + p + 1));
  });
}

}  // namespace

void kth_neighbor_distance_cpu(const double* z, int64_t n, int64_t d, const int64_t* labels,
                               int64_t k, Metric metric, double* out) {
  Groups groups = group_by_label(labels, n);
  if (d == 1)
    kth_sorted(z, n, groups, k, metric, out);
  else
    kth_brute_force(z, n, d, groups, k, metric, out);
}

void count_within_cpu(const double* z, int64_t n, int64_t d, const double* radius, Metric metric,
                      int64_t* out) {
  if (d == 1)
    count_sorted(z, n, radius, metric, out);
  else
    count_brute_force(z, n, d, radius, metric, out);
}

}  // namespace gib
