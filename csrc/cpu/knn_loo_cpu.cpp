// Fused leave-one-feature-out k-NN kernels: the m estimates over Z_-j for about the cost of
// one estimate over Z (contract and output layout: gib/knn_loo.h).
//
// Max-norm, per anchor a. One pass over the candidates b keeps s_b = (max1, arg, max2) of
// |z_a - z_b| and the target distance t_b; the joint distance is J_b = max(max1_b, t_b) and
// r = the k-th smallest J_b. Without column j only the candidates with arg_b == j move, down
// to max(max2_b, t_b), so every r_j <= r: the k smallest J^{-j} lie among the candidates with
// J_b <= r (kept sorted by J) and the bucket of candidates whose arg-max is j. The counts below
// every r_j come from the values below r, corrected on the bucket of j (max2 instead of max1).
// Each candidate sits in one bucket, so after the pass all m + 1 columns cost
// O(n + m |J <= r| + (c_z + c_w) log m).
//
// The pass itself is pruned: a candidate with max2_b > r is at J^{-j} > r_j for every j and is
// counted nowhere, so once its running max2 exceeds the anchor's largest radius over the
// targets (exact, from the k-th neighbour kernel) it needs no further column. Every pair takes
// the first kDenseColumns columns (vectorised over candidates); the few that remain go on alone.
//
// Euclidean, per anchor a: squared distances D2_b once, then for each column j the rank-one
// downdate D2_b - (z_aj - z_bj)^2 feeds a k-th smallest selection: O(n m) per anchor.
//
// Both kernels run OpenMP over the anchors of a tile and add the per-anchor terms of a tile in
// anchor order, so the sums do not depend on the number of threads.
#include "gib/knn.h"
#include "gib/knn_loo.h"
#include "gib/knn_tree.h"
#include "gib/label_groups.h"
#include "gib/loo_math.h"
#include "gib/simd.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

namespace gib {
namespace {

// Candidates per block of the distance passes: the block's running state stays in L1 while
// the columns of z stream through it.
constexpr int64_t kCandidateBlock = 256;

// Anchors that share one pass over the candidates (max-norm kernel), and the candidates per
// block of that pass: the group's state for a block (kPassGroup * kPassBlock * 20 bytes) stays
// in L1 while the columns stream through.
constexpr int64_t kPassGroup = 8;
constexpr int64_t kPassBlock = 128;
constexpr int32_t kPassColumns = 4;

// Columns that the pass takes for every pair. After them a candidate goes on alone, and only
// while its max2 stays within the anchor's largest radius: in activations of a few hundred
// units, fewer than a quarter of the candidates are left after 16 columns and a few percent
// after 32, so the pass costs about kDenseColumns columns instead of m. Narrower z is taken
// whole.
constexpr int32_t kDenseColumns = 16;
constexpr size_t kPrefetchAhead = 8;  // live candidates whose rows are fetched ahead

// Candidates per block of the Euclidean downdates, which are skipped block by block when no
// value can enter the k nearest: small, since a few candidates in a block defeat the skip.
constexpr int64_t kDowndateBlock = 64;

// The passes for each vector unit (knn_loo_passes.inc), and the one simd.h chooses.
#define GIB_PER_ISA_SOURCE "../../cpu/knn_loo_passes.inc"
#include "gib/per_isa.h"
#undef GIB_PER_ISA_SOURCE

void max2_pass(const double* z, const double* zt, int64_t n, int64_t m, int32_t columns,
               int64_t a0, int64_t count, int64_t b0, int64_t len, double* max1, double* max2,
               double* arg) {
  GIB_ON_SIMD_PATH(max2_pass(z, zt, n, m, columns, a0, count, b0, len, max1, max2, arg))
}

template <Metric metric>
void distance_pass(const double* xa, const double* xt, int64_t n, int64_t d, int64_t b0,
                   int64_t len, double* dist) {
  GIB_ON_SIMD_PATH(distance_pass<metric>(xa, xt, n, d, b0, len, dist))
}

int64_t downdate_block(double zaj, const double* zj, const double* sq, int64_t len,
                       double bound, double* v) {
  GIB_ON_SIMD_PATH(downdate_block(zaj, zj, sq, len, bound, v))
}
// Continues the state s_b of candidate row zb for anchor row za from column `from` to m, and
// stops once max2 exceeds `bound`, an upper bound on every radius of the anchor: from then on
// the candidate can neither be among the k nearest, with or without any column, nor be
// counted, so anchor_terms never looks at the rest of its state.
inline void finish_candidate(const double* za, const double* zb, int32_t from, int32_t m,
                             double bound, double& max1, double& max2, double& arg) {
  constexpr int32_t kCheckEvery = 8;
  Max2State<double> s{max1, max2, arg};
  for (int32_t c = from; c < m && !(s.max2 > bound);) {
    for (const int32_t stop = std::min(m, c + kCheckEvery); c < stop; ++c)
      max2_update(s, pair_term(za[c], zb[c], Metric::kMax), double(c));
  }
  max1 = s.max1;
  max2 = s.max2;
  arg = s.arg;
}

// x (rows, cols) row-major -> (cols, rows): the passes read one column over a block of
// candidates, a contiguous inner loop that vectorises.
std::vector<double> transposed(const double* x, int64_t rows, int64_t cols) {
  std::vector<double> t(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + i] = x[i * cols + c];
  return t;
}

// psi(x) for the integers x in [1, n]: psi(1) = -euler_gamma, psi(x + 1) = psi(x) + 1/x.
// Accumulated in long double so that large n keeps double accuracy.
std::vector<double> digamma_table(int64_t n) {
  std::vector<double> psi(static_cast<size_t>(n + 1));
  long double acc = -0.577215664901532860606512090082402431L;
  for (int64_t x = 1; x <= n; ++x) {
    psi[x] = static_cast<double>(acc);
    acc += 1.0L / static_cast<long double>(x);
  }
  return psi;
}

// Selecting the k-th smallest of n values: a sorted top-k that rejects most candidates with
// one comparison while k is small; nth_element over all n once insertions (O(k) each) would
// cost more.
bool select_by_insertion(int64_t n, int64_t k) { return k * k <= n; }

// The k-th smallest (1 <= k <= n) of value(b), b in [0, n); `scratch` holds n values.
template <class Value>
double kth_smallest(int64_t n, int64_t k, double* scratch, Value value) {
  if (select_by_insertion(n, k)) {
    std::fill(scratch, scratch + k, kInf);
    double bound = kInf;
    for (int64_t b = 0; b < n; ++b) {
      const double v = value(b);
      if (v < bound) bound = topk_insert(scratch, k, v);
    }
    return bound;
  }
  for (int64_t b = 0; b < n; ++b) scratch[b] = value(b);
  std::nth_element(scratch, scratch + (k - 1), scratch + n);
  return scratch[k - 1];
}

// out[e] += sum over anchors i of terms[i * width + e], anchors in order: the result does not
// depend on how the anchors were split among threads.
void add_in_anchor_order(const std::vector<double>& terms, int64_t anchors, int64_t width,
                         double* out) {
#pragma omp parallel for schedule(static) if (worth_threads(anchors * width))
  for (int64_t e = 0; e < width; ++e) {
    double sum = out[e];
    for (int64_t i = 0; i < anchors; ++i) sum += terms[i * width + e];
    out[e] = sum;
  }
}

// Runs anchor_terms(a, count, workspace, terms_of_a) for every group of `count` <= `group`
// consecutive anchors starting at a, over the shard's anchors, `width` terms per anchor, in
// tiles of anchors_per_tile(n, n * m) anchors, and sums the terms into out (width entries).
// Interrupts are polled between tiles on the calling thread.
template <class Workspace, class AnchorTerms>
void sum_over_anchors(int64_t n, int64_t m, int64_t width, std::vector<Workspace>& workspaces,
                      AnchorTerms anchor_terms, double* out, Shard shard, int64_t group = 1) {
  const int64_t tile = runs_per_tile(n, n * m, group) * group;
  std::vector<double> terms(static_cast<size_t>(tile * width));
  std::fill(out, out + width, 0.0);
  const int64_t last = shard.end(n);
  for (int64_t a0 = shard.begin(n); a0 < last; a0 += tile) {
    check_interrupt();
    const int64_t anchors = std::min(tile, last - a0);
#pragma omp parallel if (worth_threads(anchors * n * m))
    {
      Workspace& ws = workspaces[thread_id()];
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < anchors; i += group)
        anchor_terms(a0 + i, std::min(group, anchors - i), ws, terms.data() + i * width);
    }
    add_in_anchor_order(terms, anchors, width, out);
  }
}

// Counts of values below each of a fixed set of radii (the r_j of the m + 1 columns) without
// sorting the values: each value is tallied at the first ascending radius above it, and prefix
// sums turn the tallies into counts. O(|values| log m) where sorting would cost
// O(|values| log |values|), and KSG's c_w is often a sizeable fraction of n.
struct CountsBelowRadii {
  explicit CountsBelowRadii(int64_t cols) : order(cols), tally(cols + 1), ascending(cols) {}

  void set_radii(const std::vector<double>& radius) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int64_t x, int64_t y) { return radius[x] < radius[y]; });
    for (size_t i = 0; i < order.size(); ++i) ascending[i] = radius[order[i]];
  }

  // counts[c] = #{v in values : v < radius[c]}
  void count(const std::vector<double>& values, int64_t* counts) {
    std::fill(tally.begin(), tally.end(), 0);
    for (const double v : values)
      ++tally[std::upper_bound(ascending.begin(), ascending.end(), v) - ascending.begin()];
    int64_t below = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      below += tally[i];
      counts[order[i]] = below;
    }
  }

  std::vector<int64_t> order, tally;  // columns by ascending radius; values per radius slot
  std::vector<double> ascending;
};

// Per-thread buffers of the max-norm kernel, sized once (construct, do not copy: copies drop
// the reserved capacity) so that no allocation happens inside the parallel region.
struct MaxnormWorkspace {
  MaxnormWorkspace(int64_t n, int64_t m)
      : max1(kPassGroup * n),
        max2(kPassGroup * n),
        target(n),
        arg(kPassGroup * n),
        scratch(n),
        bucket_start(m + 1),
        bucket(n),
        radius(m + 1),
        count_z(m + 1),
        count_w(m + 1),
        below(m + 1) {
    within.reserve(n);
    near_z.reserve(n);
    near_w.reserve(n);
    short_list.reserve(n);
    dropped.reserve(n);
    live.reserve(n);
  }
  // Per candidate: the pass state s_b (for each anchor of a group, n apart) and the target
  // distance t_b.
  std::vector<double> max1, max2, target;
  std::vector<double> arg;  // the arg-max column, as a double (common.h)
  std::vector<double> scratch;                  // k-th smallest selection
  std::vector<std::pair<double, int32_t>> within;  // (J_b, arg_b) for J_b <= r, sorted
  std::vector<double> near_z, near_w;           // max1_b < r and t_b < r (w only)
  std::vector<int64_t> short_list;              // candidates with max2_b <= r, in order
  std::vector<int64_t> bucket_start, bucket;    // short_list grouped by arg_b
  std::vector<double> dropped;                  // max(max2_b, t_b) <= r in the bucket of j
  std::vector<int64_t> live;                    // candidates that go on past the dense columns
  // Per column (m + 1): r_j, the counts c_z and c_w.
  std::vector<double> radius;
  std::vector<int64_t> count_z, count_w;
  CountsBelowRadii below;
};

// The k-th smallest J^{-j}: the merge of `within` without the candidates whose arg-max is j
// (their J does not move) and `dropped` (sorted; J^{-j} of the bucket of j).
double kth_without_column(const std::vector<std::pair<double, int32_t>>& within,
                          const std::vector<double>& dropped, int32_t j, int64_t k) {
  size_t i = 0, d = 0;
  double kth = kInf;
  for (int64_t taken = 0; taken < k; ++taken) {
    while (i < within.size() && within[i].second == j) ++i;
    const double from_within = i < within.size() ? within[i].first : kInf;
    const double from_dropped = d < dropped.size() ? dropped[d] : kInf;
    if (from_within <= from_dropped) {
      kth = from_within;
      ++i;
    } else {
      kth = from_dropped;
      ++d;
    }
  }
  return kth;
}

// Per anchor, the largest over the targets of its k-th joint distance (the radius r of the
// estimate on all of z, which bounds every r_j): exact k-th neighbour distances in z with the
// labels, or in (z, w), the same max-norm values the pass compares.
std::vector<double> largest_radius(const double* z, int64_t n, int64_t m,
                                   const LooTarget* targets, int64_t n_targets, int64_t k) {
  std::vector<double> largest(static_cast<size_t>(n), 0.0), r(static_cast<size_t>(n));
  for (int64_t t = 0; t < n_targets; ++t) {
    const LooTarget& tg = targets[t];
    if (tg.w) {
      std::vector<double> zw(static_cast<size_t>(n * (m + tg.q)));
      for (int64_t i = 0; i < n; ++i) {
        std::copy(z + i * m, z + (i + 1) * m, zw.begin() + i * (m + tg.q));
        std::copy(tg.w + i * tg.q, tg.w + (i + 1) * tg.q, zw.begin() + i * (m + tg.q) + m);
      }
      kth_neighbor_distance_cpu(zw.data(), n, m + tg.q, nullptr, k, Metric::kMax, r.data());
    } else {
      kth_neighbor_distance_cpu(z, n, m, tg.labels, k, Metric::kMax, r.data());
    }
    for (int64_t i = 0; i < n; ++i) largest[i] = std::max(largest[i], r[i]);
  }
  return largest;
}

// The bucket of column j in ws.bucket: the short-listed candidates whose arg-max is j.
std::pair<const int64_t*, const int64_t*> bucket_of(const MaxnormWorkspace& ws, int32_t j) {
  return {ws.bucket.data() + ws.bucket_start[j], ws.bucket.data() + ws.bucket_start[j + 1]};
}

// knn_loo_maxnorm_cpu in its phases. For a group of anchors: the pass over the pairs of z,
// shared by every target (pass), then per anchor and target: the target distance of every
// candidate (target_distances), the radius on all of z, one scan that collects what the columns
// need (collect), the radius without each column (column_radii), and the counts and terms
// (column_terms).
class MaxnormLoo {
 public:
  MaxnormLoo(const double* z, int64_t n, int64_t m, const LooTarget* targets, int64_t n_targets,
             int64_t k, const double* given_bound)
      : z_(z), n_(n), m_(m), width_(m + 1), targets_(targets), n_targets_(n_targets), k_(k),
        zt_(transposed(z, n, m)), wt_(n_targets), same_label_(n_targets),
        psi_(digamma_table(n)), prune_(m > kLooPrunedAbove),
        dense_(prune_ ? kDenseColumns : static_cast<int32_t>(m)) {
    // Per target: w's columns, and the number of other points sharing each point's label.
    for (int64_t t = 0; t < n_targets; ++t) {
      if (targets[t].w) wt_[t] = transposed(targets[t].w, n, targets[t].q);
      if (targets[t].labels) same_label_[t] = same_label_counts(targets[t].labels, n);
    }
    // Per anchor, the largest of its radii over the targets: the pruning bound of the pass.
    static_assert(kLooPrunedAbove >= 2 * kDenseColumns, "pruning pays past twice the dense part");
    if (prune_)
      bound_ = given_bound ? std::vector<double>(given_bound, given_bound + n)
                           : largest_radius(z, n, m, targets, n_targets, k);
  }

  int64_t terms_per_anchor() const { return n_targets_ * 3 * width_; }

  // The terms of the anchors [a0, a0 + count) (count <= kPassGroup), terms_per_anchor() each.
  void group_terms(int64_t a0, int64_t count, MaxnormWorkspace& ws, double* terms) const {
    pass(a0, count, ws);
    for (int64_t g = 0; g < count; ++g)
      anchor_terms(a0 + g, ws.max1.data() + g * n_, ws.max2.data() + g * n_,
                   ws.arg.data() + g * n_, ws, terms + g * terms_per_anchor());
  }

 private:
  // s_b over the first columns for every pair, then over the rest for the candidates that can
  // still matter (max2 within the anchor's bound).
  void pass(int64_t a0, int64_t count, MaxnormWorkspace& ws) const {
    for (int64_t b0 = 0; b0 < n_; b0 += kPassBlock)
      max2_pass(z_, zt_.data(), n_, m_, dense_, a0, count, b0, std::min(kPassBlock, n_ - b0),
                ws.max1.data(), ws.max2.data(), ws.arg.data());
    for (int64_t g = 0; prune_ && g < count; ++g) {
      const double r = bound_[a0 + g];
      const double* za = z_ + (a0 + g) * m_;
      double *max1 = ws.max1.data() + g * n_, *max2 = ws.max2.data() + g * n_,
             *arg = ws.arg.data() + g * n_;
      std::vector<int64_t>& live = ws.live;
      live.clear();
      for (int64_t b = 0; b < n_; ++b)
        if (max2[b] <= r) live.push_back(b);
      // The live rows are scattered over z: fetching a few ahead overlaps their cache misses,
      // which otherwise cost more than the arithmetic.
      const size_t count_live = live.size();
      for (size_t i = 0; i < count_live; ++i) {
        if (i + kPrefetchAhead < count_live) {
          const double* ahead = z_ + live[i + kPrefetchAhead] * m_ + dense_;
          __builtin_prefetch(ahead);
          __builtin_prefetch(ahead + 8);
        }
        const int64_t b = live[i];
        finish_candidate(za, z_ + b * m_, dense_, static_cast<int32_t>(m_), r, max1[b], max2[b],
                         arg[b]);
      }
    }
  }

  // The terms of anchor a from its pass state (max1, max2, arg over the candidates).
  void anchor_terms(int64_t a, double* max1, double* max2, double* arg_of, MaxnormWorkspace& ws,
                    double* terms) const {
    // The anchor is not its own neighbour: out of every list and every count.
    max1[a] = max2[a] = kInf;
    arg_of[a] = -1.0;
    for (int64_t ti = 0; ti < n_targets_; ++ti) {
      const LooTarget& tg = targets_[ti];
      double* log_r = terms + ti * 3 * width_;
      // Points whose label is unique take no part at all (Ross; scikit-learn).
      if (tg.labels && same_label_[ti][a] == 0) {
        std::fill(log_r, log_r + 3 * width_, 0.0);
        continue;
      }
      target_distances(a, ti, ws);
      const double* target = ws.target.data();
      const int64_t k_eff = tg.labels ? std::min(k_, same_label_[ti][a]) : k_;
      const double r = kth_smallest(n_, k_eff, ws.scratch.data(),
                                    [&](int64_t b) { return std::max(max1[b], target[b]); });
      collect(ti, r, max1, max2, arg_of, ws);
      column_radii(k_eff, r, max2, ws);
      column_terms(max1, max2, ws, log_r);
    }
  }

  // ws.target[b] = t_b, the target distance of candidate b from anchor a; a point that takes no
  // part is infinitely far in every space.
  void target_distances(int64_t a, int64_t ti, MaxnormWorkspace& ws) const {
    const LooTarget& tg = targets_[ti];
    double* target = ws.target.data();
    for (int64_t b0 = 0; b0 < n_; b0 += kCandidateBlock) {
      const int64_t len = std::min(kCandidateBlock, n_ - b0);
      double* t = target + b0;
      if (tg.w) {
        distance_pass<Metric::kMax>(tg.w + a * tg.q, wt_[ti].data(), n_, tg.q, b0, len, t);
      } else if (tg.labels) {
        // Points of another label never count as the k-th neighbour: infinitely far in t.
        for (int64_t i = 0; i < len; ++i) t[i] = tg.labels[b0 + i] == tg.labels[a] ? 0.0 : kInf;
      } else {
        std::fill(t, t + len, 0.0);
      }
    }
    target[a] = kInf;
  }

  // One scan collects what the columns need: the joint distances within r with their arg-max
  // (sorted), the distances below r in z and in w, and the short list of candidates whose max2
  // is within r, grouped by arg-max (the buckets).
  void collect(int64_t ti, double r, const double* max1, const double* max2,
               const double* arg_of, MaxnormWorkspace& ws) const {
    const LooTarget& tg = targets_[ti];
    const double* target = ws.target.data();
    const auto arg = [arg_of](int64_t b) { return static_cast<int32_t>(arg_of[b]); };
    ws.within.clear();
    ws.near_z.clear();
    ws.near_w.clear();
    ws.short_list.clear();
    std::fill(ws.bucket_start.begin(), ws.bucket_start.end(), 0);
    for (int64_t b = 0; b < n_; ++b) {
      if (tg.labels && same_label_[ti][b] == 0) continue;  // takes no part
      const double joint = std::max(max1[b], target[b]);
      if (joint <= r) ws.within.emplace_back(joint, arg(b));
      if (max1[b] < r) ws.near_z.push_back(max1[b]);
      if (tg.w && target[b] < r) ws.near_w.push_back(target[b]);
      // max2_b > r: b neither enters the k nearest nor changes a count for any column.
      if (arg(b) >= 0 && max2[b] <= r) {
        ws.short_list.push_back(b);
        ++ws.bucket_start[arg(b) + 1];
      }
    }
    std::sort(ws.within.begin(), ws.within.end());
    // Counting sort of the short list by arg-max: bucket j is [bucket_start[j], [j + 1]).
    // Placing advances each start to its bucket's end, which the rotation turns back into
    // the start of the next bucket.
    std::partial_sum(ws.bucket_start.begin(), ws.bucket_start.end(), ws.bucket_start.begin());
    for (const int64_t b : ws.short_list) ws.bucket[ws.bucket_start[arg(b)]++] = b;
    std::rotate(ws.bucket_start.rbegin(), ws.bucket_start.rbegin() + 1, ws.bucket_start.rend());
    ws.bucket_start[0] = 0;
  }

  // ws.radius[j]: the k_eff-th smallest joint distance without column j; [m] is r itself.
  void column_radii(int64_t k_eff, double r, const double* max2, MaxnormWorkspace& ws) const {
    const double* target = ws.target.data();
    std::vector<double>& radius = ws.radius;
    radius[m_] = r;
    for (int32_t j = 0; j < m_; ++j) {
      const auto [first, last] = bucket_of(ws, j);
      ws.dropped.clear();
      for (const int64_t* b = first; b != last; ++b) {
        const double joint = std::max(max2[*b], target[*b]);
        if (joint <= r) ws.dropped.push_back(joint);
      }
      std::sort(ws.dropped.begin(), ws.dropped.end());
      radius[j] = kth_without_column(ws.within, ws.dropped, j, k_eff);
    }
  }

  // The counts c_z and c_w below each radius, and the terms log r, psi(c_z + 1), psi(c_w + 1).
  void column_terms(const double* max1, const double* max2, MaxnormWorkspace& ws,
                    double* log_r) const {
    const std::vector<double>& radius = ws.radius;
    ws.below.set_radii(radius);
    ws.below.count(ws.near_z, ws.count_z.data());
    ws.below.count(ws.near_w, ws.count_w.data());
    for (int32_t j = 0; j < m_; ++j) {
      // In the bucket of j the distance without j is max2, not max1.
      const auto [first, last] = bucket_of(ws, j);
      for (const int64_t* b = first; b != last; ++b)
        ws.count_z[j] += int64_t(max2[*b] < radius[j]) - int64_t(max1[*b] < radius[j]);
    }
    double* psi_z = log_r + width_;
    double* psi_w = log_r + 2 * width_;
    for (int64_t c = 0; c < width_; ++c) {
      log_r[c] = std::log(radius[c]);
      psi_z[c] = psi_[ws.count_z[c] + 1];
      psi_w[c] = psi_[ws.count_w[c] + 1];
    }
  }

  const double* z_;
  int64_t n_, m_, width_;
  const LooTarget* targets_;
  int64_t n_targets_, k_;
  std::vector<double> zt_;
  std::vector<std::vector<double>> wt_;
  std::vector<std::vector<int64_t>> same_label_;
  std::vector<double> psi_;
  bool prune_;
  int32_t dense_;
  std::vector<double> bound_;
};

// The columns of z (n, m) but `dropped` (m: none) into x (n, m - 1 or m).
void columns_but(const double* z, int64_t n, int64_t m, int64_t dropped, std::vector<double>& x) {
  const int64_t d = dropped < m ? m - 1 : m;
  x.resize(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0, o = 0; c < m; ++c)
      if (c != dropped) x[i * d + o++] = z[i * m + c];
}

// The k-th neighbour distances and strict counts of one set of points, by the tree where it
// runs (knn_tree.h), else by the direct kernels. wanted (nullable): the anchors needed.
class Searches {
 public:
  Searches(const double* x, int64_t n, int64_t d, const int64_t* labels, KnnPath path,
           Metric metric = Metric::kMax)
      : x_(x), n_(n), d_(d), labels_(labels), metric_(metric) {
    if (knn_use_tree(path, x, n, d))
      tree_.emplace_back(x, n, d, labels);
  }

  void kth(int64_t k, double* r, int64_t* below, const uint8_t* wanted) const {
    if (!tree_.empty()) return tree_[0].kth(k, metric_, r, below, {}, wanted);
    kth_neighbor_distance_cpu(x_, n_, d_, labels_, k, metric_, r, {}, KnnPath::kDirect);
    if (below) count(r, below, wanted);
  }

  void count(const double* r, int64_t* out, const uint8_t* wanted) const {
    if (!tree_.empty()) return tree_[0].count(r, metric_, out, {}, wanted);
    count_within_cpu(x_, n_, d_, r, metric_, out, {}, KnnPath::kDirect);
  }

 private:
  const double* x_;
  int64_t n_, d_;
  const int64_t* labels_;
  Metric metric_;
  std::vector<KdTree> tree_;  // one, or none where the direct kernels run
};

// knn_loo_maxnorm_cpu by searches: for each column j (and all of z) the k-th neighbour and
// count searches of the target over z without column j, each its own low-dimensional search.
// The same per-anchor radii and counts as the fused pass (knn_loo.h), hence the same terms,
// summed in the same anchor order.
void loo_by_searches(const double* z, int64_t n, int64_t m, const LooTarget* targets,
                     int64_t n_targets, int64_t k, double* out, Shard shard, KnnPath path) {
  const int64_t width = m + 1;
  std::fill(out, out + n_targets * 3 * width, 0.0);
  const std::vector<double> psi = digamma_table(n);
  const int64_t first = shard.begin(n), last = shard.end(n);
  std::vector<uint8_t> owned(static_cast<size_t>(n), 0);
  std::fill(owned.begin() + first, owned.begin() + last, uint8_t(1));
  const uint8_t* wanted = shard.whole() ? nullptr : owned.data();

  std::vector<double> x, joint, r(n);
  std::vector<int64_t> count_z(n), count_w(n);
  for (int64_t ti = 0; ti < n_targets; ++ti) {
    const LooTarget& tg = targets[ti];
    // Points whose label is unique take no part (knn_loo.h): the searches run over the others.
    std::vector<int64_t> part;  // the points that take part, with labels only
    std::vector<int64_t> part_labels;
    std::vector<uint8_t> part_wanted;
    if (tg.labels) {
      const std::vector<int64_t> others = same_label_counts(tg.labels, n);
      for (int64_t i = 0; i < n; ++i)
        if (others[i] > 0) part.push_back(i);
      for (const int64_t i : part) {
        part_labels.push_back(tg.labels[i]);
        part_wanted.push_back(owned[i]);
      }
    }
    const int64_t n_part = tg.labels ? static_cast<int64_t>(part.size()) : n;
    const std::unique_ptr<Searches> in_w(
        tg.w ? new Searches(tg.w, n, tg.q, nullptr, path) : nullptr);
    for (int64_t j = 0; j <= m; ++j) {
      check_interrupt();
      columns_but(z, n, m, j, x);
      const int64_t d = j < m ? m - 1 : m;
      std::fill(count_w.begin(), count_w.end(), 0);
      if (tg.w) {
        // KSG: the k-th joint distance max(D_z, D_w), then the counts in z and in w below it.
        joint.resize(static_cast<size_t>(n * (d + tg.q)));
        for (int64_t i = 0; i < n; ++i) {
          std::copy(x.begin() + i * d, x.begin() + (i + 1) * d, joint.begin() + i * (d + tg.q));
          std::copy(tg.w + i * tg.q, tg.w + (i + 1) * tg.q, joint.begin() + i * (d + tg.q) + d);
        }
        Searches(joint.data(), n, d + tg.q, nullptr, path).kth(k, r.data(), nullptr, wanted);
        Searches(x.data(), n, d, nullptr, path).count(r.data(), count_z.data(), wanted);
        in_w->count(r.data(), count_w.data(), wanted);
      } else if (tg.labels) {
        // Ross: the k-th among the same label, the counts among every point that takes part.
        std::vector<double> xp(static_cast<size_t>(n_part * d));
        for (int64_t s = 0; s < n_part; ++s)
          std::copy(x.begin() + part[s] * d, x.begin() + (part[s] + 1) * d, xp.begin() + s * d);
        const uint8_t* pw = shard.whole() ? nullptr : part_wanted.data();
        Searches(xp.data(), n_part, d, part_labels.data(), path).kth(k, r.data(), nullptr, pw);
        Searches(xp.data(), n_part, d, nullptr, path).count(r.data(), count_z.data(), pw);
      } else {
        // KL: the points closer than the k-th are among the k nearest.
        Searches(x.data(), n, d, nullptr, path).kth(k, r.data(), count_z.data(), wanted);
      }
      double* log_r = out + ti * 3 * width;
      double* psi_z = log_r + width;
      double* psi_w = log_r + 2 * width;
      double sum_log = 0.0, sum_z = 0.0, sum_w = 0.0;
      // Anchors in order, as the fused pass adds them; a point that takes no part adds 0.
      for (int64_t a = first, s = 0; a < last; ++a) {
        if (tg.labels) {
          while (s < n_part && part[s] < a) ++s;
          if (s == n_part || part[s] != a) {
            sum_log += 0.0;
            sum_z += 0.0;
            sum_w += 0.0;
            continue;
          }
        }
        const int64_t e = tg.labels ? s : a;
        sum_log += std::log(r[e]);
        sum_z += psi[count_z[e] + 1];
        sum_w += psi[count_w[e] + 1];
      }
      log_r[j] = sum_log;
      psi_z[j] = sum_z;
      psi_w[j] = sum_w;
    }
  }
}

}  // namespace

bool knn_loo_by_searches(KnnPath path, int64_t n, int64_t m, const LooTarget* targets,
                         int64_t n_targets) {
  if (path == KnnPath::kDirect) return false;
  int64_t widest = m;  // the widest search: z, or z beside a w
  for (int64_t t = 0; t < n_targets; ++t)
    widest = std::max(widest, m + targets[t].q);
  if (widest > kTreeMaxDims) return false;
  return path == KnnPath::kTree || n >= kLooSearchMinPoints;
}

bool knn_loo_euclidean_by_searches(KnnPath path, int64_t n, int64_t m) {
  if (path == KnnPath::kDirect || m > kTreeMaxDims) return false;
  return path == KnnPath::kTree || n >= kLooSearchMinPoints;
}

void knn_loo_maxnorm_cpu(const double* z, int64_t n, int64_t m, const LooTarget* targets,
                         int64_t n_targets, int64_t k, double* out, Shard shard,
                         const double* given_bound, KnnPath path) {
  if (knn_loo_by_searches(path, n, m, targets, n_targets)) {
    for (int64_t i = 0; i < n * m; ++i)
      if (!std::isfinite(z[i])) goto fused;  // the fused pass orders non-finite values
    for (int64_t t = 0; t < n_targets; ++t)
      for (int64_t i = 0; targets[t].w && i < n * targets[t].q; ++i)
        if (!std::isfinite(targets[t].w[i])) goto fused;
    return loo_by_searches(z, n, m, targets, n_targets, k, out, shard, path);
  }
fused:
  const MaxnormLoo loo(z, n, m, targets, n_targets, k, given_bound);
  std::vector<MaxnormWorkspace> workspaces;
  workspaces.reserve(max_threads());
  for (int t = 0; t < max_threads(); ++t) workspaces.emplace_back(n, m);
  sum_over_anchors(
      n, m, loo.terms_per_anchor(), workspaces,
      [&loo](int64_t a0, int64_t count, MaxnormWorkspace& ws, double* terms) {
        loo.group_terms(a0, count, ws, terms);
      },
      out, shard, kPassGroup);
}

namespace {

struct EuclideanWorkspace {
  EuclideanWorkspace(int64_t n, int64_t k) : sq(n), values(n), top(k) {}
  std::vector<double> sq;      // squared distance from the anchor, per candidate
  std::vector<double> values;  // downdated squared distances (one block, or all n to select)
  std::vector<double> top;     // the k smallest so far, when inserting
};

}  // namespace

void knn_loo_euclidean_cpu(const double* z, int64_t n, int64_t m, int64_t k, double* out,
                           Shard shard, KnnPath path) {
  if (knn_loo_euclidean_by_searches(path, n, m) && knn_use_tree(KnnPath::kTree, z, n, m)) {
    // For each column j, the k-th Euclidean distances over z without j, summed directly.
    std::fill(out, out + m + 1, 0.0);
    const int64_t first = shard.begin(n), last = shard.end(n);
    std::vector<uint8_t> owned(static_cast<size_t>(n), 0);
    std::fill(owned.begin() + first, owned.begin() + last, uint8_t(1));
    std::vector<double> x, r(n);
    for (int64_t j = 0; j <= m; ++j) {
      check_interrupt();
      columns_but(z, n, m, j, x);
      Searches(x.data(), n, j < m ? m - 1 : m, nullptr, path, Metric::kEuclidean)
          .kth(k, r.data(), nullptr, shard.whole() ? nullptr : owned.data());
      double sum = 0.0;
      for (int64_t a = first; a < last; ++a) sum += std::log(r[a]);
      out[j] = sum;
    }
    return;
  }
  const std::vector<double> zt = transposed(z, n, m);
  std::vector<EuclideanWorkspace> workspaces(max_threads(), EuclideanWorkspace(n, k));
  const bool by_insertion = select_by_insertion(n, k);

  auto anchor_terms = [&](int64_t a, EuclideanWorkspace& ws, double* log_r) {
    const double* za = z + a * m;
    double* sq = ws.sq.data();
    for (int64_t b0 = 0; b0 < n; b0 += kCandidateBlock) {
      const int64_t len = std::min(kCandidateBlock, n - b0);
      distance_pass<Metric::kEuclidean>(za, zt.data(), n, m, b0, len, sq + b0);
    }
    sq[a] = kInf;  // not its own neighbour; inf - x = inf keeps it out of every column

    // 0.5 log of the k-th squared distance is log r.
    const double kth_sq = kth_smallest(n, k, ws.values.data(), [&](int64_t b) { return sq[b]; });
    log_r[m] = 0.5 * std::log(kth_sq);
    double* top = ws.top.data();
    for (int64_t j = 0; j < m; ++j) {
      // Downdates only shrink distances, so kth_sq bounds the answer from the start: blocks
      // without a smaller value cost one vectorised loop. Starting the top k at kth_sq (not
      // +inf) is exact, as at least k values are <= kth_sq.
      std::fill(top, top + k, kth_sq);
      double bound = kth_sq;  // the k-th smallest so far, when inserting
      for (int64_t b0 = 0; b0 < n; b0 += kDowndateBlock) {
        const int64_t len = std::min(kDowndateBlock, n - b0);
        double* v = ws.values.data() + (by_insertion ? 0 : b0);
        if (downdate_block(za[j], zt.data() + j * n + b0, sq + b0, len, bound, v) == 0) continue;
        for (int64_t i = 0; i < len; ++i) {
          // Also catches v < 0 from rounding, since sq >= 0.
          if (downdate_lost_bits(sq[b0 + i], v[i])) v[i] = squared_distance_without(za, z + (b0 + i) * m, m, j);
          if (by_insertion && v[i] < bound) bound = topk_insert(top, k, v[i]);
        }
      }
      if (!by_insertion) {
        std::nth_element(ws.values.begin(), ws.values.begin() + (k - 1), ws.values.end());
        bound = ws.values[k - 1];
      }
      log_r[j] = 0.5 * std::log(bound);
    }
  };
  sum_over_anchors(
      n, m, m + 1, workspaces,
      [&](int64_t a, int64_t, EuclideanWorkspace& ws, double* log_r) { anchor_terms(a, ws, log_r); },
      out, shard);
}

}  // namespace gib
