// Exact k-nearest-neighbour statistics on the CPU (contract: knn.h).
//
// d >= 2: exact brute force with pruning, never an n x n matrix. The points are grouped by
// label, sorted within each group along one coordinate (the sweep) and copied coordinate-major.
// Runs of anchors meet blocks of candidates, nearest first along the sweep, and the distances
// from one anchor to a block vectorise over the block. Every coordinate's term is a lower bound
// on a distance, so a block too far along the sweep is skipped (and with it all the blocks
// beyond), a block is abandoned as soon as its partial distances are all too large, and only
// candidates closer than the current k-th enter the top-k. d == 1 (the per-feature path): each
// group is sorted, the k nearest points of a point are a window around it (two-pointer
// expansion) and the points within a radius are a range (binary search). Both paths compare
// the same reduced distances with the same predicates, so they agree exactly. At low d and
// large n a k-d tree (knn_tree.h) answers instead, with the same results.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "gib/gram.h"
#include "gib/knn.h"
#include "gib/knn_tree.h"
#include "gib/label_groups.h"
#include "gib/loo_math.h"
#include "gib/simd.h"

namespace gib {

namespace {

// Brute-force tiling: a run of kAnchors anchors meets a block of kBlock candidates, kChunk
// coordinates at a time; the partial distances (kAnchors x kBlock doubles, 4 KB) and the chunk
// of the block (kChunk x kBlock, 1 KB, contiguous: SweptPoints) stay in L1, and after each chunk
// the anchors for which the block can no longer matter leave it. Small blocks are abandoned
// more often; runs must not straddle blocks. Measured on 2 cores (AMD EPYC, the baseline SSE2
// build): runs of 8 or 32 anchors were 20-30% slower than 16 at (5000, 512) and (10000, 256);
// the parallel loop takes at least kMinRunsPerTile runs per tile (common.h).
constexpr int64_t kAnchors = 16;
constexpr int64_t kBlock = 32;
constexpr int64_t kChunk = 4;
static_assert(kBlock % kAnchors == 0, "a run of anchors lies within one block");
static_assert(kChunk == 4, "update_four (knn_scan.inc) takes the 4 coordinates of a chunk");

// Sorts the positions of every group by key[i * stride] (i the original index), ties by index.
// NaN sorts last so that the order stays a strict weak order whatever the data.
void sort_groups_by(const double* key, int64_t stride, Groups& groups) {
  const auto less = [key, stride](int64_t a, int64_t b) {
    const double x = key[a * stride], y = key[b * stride];
    if (std::isnan(x) != std::isnan(y)) return std::isnan(y);
    if (x != y && !std::isnan(x)) return x < y;
    return a < b;
  };
  for (size_t g = 0; g + 1 < groups.start.size(); ++g)
    std::sort(groups.order.begin() + groups.start[g], groups.order.begin() + groups.start[g + 1],
              less);
}

// Runs of at most kAnchors consecutive positions, aligned to the start of their group, so that
// a run never straddles a group or a block of candidates. Returns the run starts, then n.
std::vector<int64_t> anchor_runs(const Groups& groups) {
  const int64_t n = static_cast<int64_t>(groups.order.size());
  std::vector<int64_t> starts;
  for (int64_t p = 0; p < n; p = std::min(p + kAnchors, groups.end(p))) starts.push_back(p);
  starts.push_back(n);
  return starts;
}

// Calls body(p0, p1) for every run of anchor positions of the shard: in parallel within tiles
// of about equal work, with a poll for interruption between tiles on the calling thread. A
// shard owns every count-th run: the cost of a run depends on the density of points around it,
// which drifts along the sweep, so interleaved runs balance the shards where ranges would not.
template <class Body>
void for_each_run(const Groups& groups, int64_t cost_per_anchor, Shard shard, const Body& body) {
  const std::vector<int64_t> runs = anchor_runs(groups);
  const int64_t n_runs = static_cast<int64_t>(runs.size()) - 1;
  std::vector<int64_t> owned;
  for (int64_t r = 0; r < n_runs; ++r)
    if (shard.owns(r)) owned.push_back(r);
  const int64_t n_owned = static_cast<int64_t>(owned.size());
  const int64_t n = static_cast<int64_t>(groups.order.size());
  const int64_t tile = runs_per_tile(n, cost_per_anchor, kAnchors);
  for (int64_t i0 = 0; i0 < n_owned; i0 += tile) {
    const int64_t i1 = std::min(n_owned, i0 + tile);
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads((i1 - i0) * kAnchors * cost_per_anchor))
    for (int64_t i = i0; i < i1; ++i) body(runs[owned[i]], runs[owned[i] + 1]);
    check_interrupt();
  }
}

// The coordinate of largest variance: sorted along it, nearby positions are nearby points.
int64_t widest_coordinate(const double* z, int64_t n, int64_t d) {
  std::vector<double> mean(d, 0.0), spread(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) mean[c] += z[i * d + c] / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) spread[c] += (z[i * d + c] - mean[c]) * (z[i * d + c] - mean[c]);
  return std::max_element(spread.begin(), spread.end()) - spread.begin();
}

// The kernel's order: points grouped by label, sorted within each group along `sweep`.
Groups swept_groups(const double* z, int64_t n, int64_t d, const int64_t* labels, int64_t sweep) {
  Groups groups = group_by_label(labels, n);
  sort_groups_by(z + sweep, d, groups);
  return groups;
}

// The points of z (d >= 1) in the kernel's order, copied as the scan reads them: in blocks of
// kBlock positions from the start of each group (the candidate blocks of `scan`), each block
// coordinate-major and contiguous. Block [b0, b0 + len) holds coordinate c of position b at
// tiles[b0 * d + c * len + (b - b0)]: a scan of one block reads one stretch of len * d values
// front to back, which the hardware prefetcher follows at any d (coordinate-major columns of
// all n points put a block's coordinates n * 8 bytes apart: at d = 1024 each block touched
// 1024 pages, and the scan ran at 40% of its speed at d = 256).
struct SweptPoints {
  const double* z;
  int64_t n, d, sweep;
  Groups groups;
  std::vector<double> sweep_values;  // coordinate `sweep` of the point at position p
  std::vector<double> tiles;

  SweptPoints(const double* z_, int64_t n_, int64_t d_, const int64_t* labels)
      : z(z_), n(n_), d(d_), sweep(widest_coordinate(z_, n_, d_)),
        groups(swept_groups(z_, n_, d_, labels, sweep)), sweep_values(static_cast<size_t>(n_)),
        tiles(static_cast<size_t>(n_ * d_)) {
    for (int64_t p = 0; p < n; ++p) sweep_values[p] = z[groups.order[p] * d + sweep];
    std::vector<int64_t> starts;  // every block's first position
    for (size_t g = 0; g + 1 < groups.start.size(); ++g)
      for (int64_t b0 = groups.start[g]; b0 < groups.start[g + 1]; b0 += kBlock)
        starts.push_back(b0);
    const int64_t n_blocks = static_cast<int64_t>(starts.size());
#pragma omp parallel for schedule(static) if (worth_threads(n * d))
    for (int64_t i = 0; i < n_blocks; ++i) {
      const int64_t b0 = starts[i], len = block_length(b0);
      double* tile = tiles.data() + b0 * d;
      for (int64_t b = 0; b < len; ++b) {
        const double* row = z + groups.order[b0 + b] * d;
        for (int64_t c = 0; c < d; ++c) tile[c * len + b] = row[c];
      }
    }
  }

  int64_t block_length(int64_t b0) const { return std::min(kBlock, groups.end(b0) - b0); }
  // The block that starts at position b0 (a group start + a multiple of kBlock): coordinate c
  // of its block_length(b0) candidates at block(b0) + c * block_length(b0).
  const double* block(int64_t b0) const { return tiles.data() + b0 * d; }
};

// The scan for each vector unit (knn_scan.inc), and the choice among them (simd.h).
#define GIB_PER_ISA_SOURCE "../../cpu/knn_scan.inc"
#include "gib/per_isa.h"
#undef GIB_PER_ISA_SOURCE

template <Metric M>
void kth_brute_force(const SweptPoints& pts, int64_t k, Shard shard, double* out) {
  GIB_ON_SIMD_PATH(kth_brute_force<M>(pts, k, shard, out))
}

template <Metric M>
void count_brute_force(const SweptPoints& pts, const double* radius, Shard shard,
                       int64_t* out) {
  GIB_ON_SIMD_PATH(count_brute_force<M>(pts, radius, shard, out))
}

// d <= 1: v holds one value per point. Sorts every group by value and returns the values in
// position order.
std::vector<double> sorted_values(const double* v, Groups& groups) {
  sort_groups_by(v, 1, groups);
  std::vector<double> s(groups.order.size());
  for (size_t p = 0; p < s.size(); ++p) s[p] = v[groups.order[p]];
  return s;
}

void kth_sorted(const double* v, int64_t n, const int64_t* labels, int64_t k, Metric metric,
                Shard shard, double* out) {
  Groups groups = group_by_label(labels, n);
  const std::vector<double> s = sorted_values(v, groups);
  for_each_run(groups, k, shard, [&](int64_t p0, int64_t p1) {
    const int64_t lo = groups.begin(p0), hi = groups.end(p0);
    const int64_t kk = std::min(k, hi - lo - 1);
    for (int64_t p = p0; p < p1; ++p) {
      // Distances grow away from p on both sides: take the nearer side kk times.
      int64_t left = p - 1, right = p + 1;
      double kth = kk == 0 ? kInf : 0.0;
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
      out[groups.order[p]] = reduced_to_distance(kth, metric);
    }
  });
}

void count_sorted(const double* v, int64_t n, const double* radius, Metric metric, Shard shard,
                  int64_t* out) {
  Groups all = group_by_label(nullptr, n);
  const std::vector<double> s = sorted_values(v, all);
  const auto first = s.begin();
  const int64_t search_steps = 2 * static_cast<int64_t>(std::log2(double(n) + 1.0)) + 2;
  for_each_run(all, search_steps, shard, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const double bound = reduced_bound(radius[all.order[p]], metric);
      const auto within = [&](double x) { return pair_term(x, s[p], metric) < bound; };
      // Distances grow away from p on both sides, so the points within the radius are a range.
      const auto lo = std::partition_point(first, first + p, [&](double x) { return !within(x); });
      const auto hi = std::partition_point(first + p + 1, s.end(), within);
      out[all.order[p]] = (first + p - lo) + (hi - (first + p + 1));
    }
  });
}

}  // namespace

void kth_neighbor_distance_cpu(const double* z, int64_t n, int64_t d, const int64_t* labels,
                               int64_t k, Metric metric, double* out, Shard shard,
                               KnnPath path) {
  if (!shard.whole()) std::fill(out, out + n, 0.0);
  if (d >= 2 && knn_use_tree(path, z, n, d)) {
    KdTree(z, n, d, labels).kth(k, metric, out, nullptr, shard, nullptr);
  } else if (d <= 1) {
    const std::vector<double> zeros(d == 0 ? n : 0, 0.0);  // no coordinate: all distances are 0
    kth_sorted(d == 0 ? zeros.data() : z, n, labels, k, metric, shard, out);
  } else if (metric == Metric::kMax) {
    kth_brute_force<Metric::kMax>(SweptPoints(z, n, d, labels), k, shard, out);
  } else if (!(path == KnnPath::kAuto &&
                 euclidean_gram_eligible(n, d, installed_dgemm() != nullptr) &&
                 kth_neighbor_distance_gram_cpu(z, n, d, labels, k, out, shard))) {
    kth_brute_force<Metric::kEuclidean>(SweptPoints(z, n, d, labels), k, shard, out);
  }
}

bool kth_neighbor_distance_gram_cpu(const double* z, int64_t n, int64_t d,
                                    const int64_t* labels, int64_t k, double* out, Shard shard) {
  if (d < 2) return false;
  const Groups groups = swept_groups(z, n, d, labels, widest_coordinate(z, n, d));
  const std::vector<int64_t> runs = anchor_runs(groups);
  std::vector<int64_t> owned;
  for (size_t r = 0; r + 1 < runs.size(); ++r)
    if (shard.owns(static_cast<int64_t>(r)))
      for (int64_t p = runs[r]; p < runs[r + 1]; ++p) owned.push_back(p);
  if (!shard.whole()) std::fill(out, out + n, 0.0);
  return kth_euclidean_gram_cpu(z, n, d, groups.order.data(), groups.start.data(),
                                static_cast<int64_t>(groups.start.size()) - 1, owned.data(),
                                static_cast<int64_t>(owned.size()), k, shard.whole(), out);
}

void kth_neighbor_distance_direct_cpu(const double* z, int64_t n, int64_t d,
                                      const int64_t* labels, int64_t k, double* out,
                                      Shard shard) {
  if (!shard.whole()) std::fill(out, out + n, 0.0);
  kth_brute_force<Metric::kEuclidean>(SweptPoints(z, n, d, labels), k, shard, out);
}

void count_within_cpu(const double* z, int64_t n, int64_t d, const double* radius, Metric metric,
                      int64_t* out, Shard shard, KnnPath path) {
  if (!shard.whole()) std::fill(out, out + n, int64_t(0));
  if (d >= 2 && knn_use_tree(path, z, n, d)) {
    KdTree(z, n, d, nullptr).count(radius, metric, out, shard, nullptr);
  } else if (d <= 1) {
    const std::vector<double> zeros(d == 0 ? n : 0, 0.0);  // no coordinate: all distances are 0
    count_sorted(d == 0 ? zeros.data() : z, n, radius, metric, shard, out);
  } else if (metric == Metric::kMax) {
    count_brute_force<Metric::kMax>(SweptPoints(z, n, d, nullptr), radius, shard, out);
  } else {
    count_brute_force<Metric::kEuclidean>(SweptPoints(z, n, d, nullptr), radius, shard, out);
  }
}

}  // namespace gib
