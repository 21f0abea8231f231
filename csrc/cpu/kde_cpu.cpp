// Kolchinsky-Tracey KDE sums on the CPU (contract: kde.h).
//
// Brute force over every anchor and the points of its group, never an n x n matrix: the points
// are grouped by label and copied coordinate-major, runs of anchors meet blocks of candidates,
// and squared distances vectorise over a block. exp(-x) is exactly 0 in double precision once
// x > 745.2, so a pair whose exponent passes kNegligibleExponent adds nothing and is dropped,
// and so is a whole block as soon as its partial distances pass it (they only grow). The
// leave-one-feature-out form downdates each pair's squared distance per column (summing it
// directly where the dropped column is the larger part, loo_math.h) and evaluates every
// exponential directly: factoring out exp(+delta^2 / (2 sigma2)) would overflow.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gib/gram.h"
#include "gib/kde.h"
#include "gib/label_groups.h"
#include "gib/loo_math.h"

namespace gib {

namespace {

// kAnchors anchors meet a block of kBlock candidates, kChunk coordinates at a time, so that the
// partial distances and the chunk of the block stay in L1.
constexpr int64_t kAnchors = 16;
constexpr int64_t kBlock = 32;
constexpr int64_t kChunk = 8;
constexpr double kNegligibleExponent = kKdeNegligibleExponent;  // gram.h

// The points of t grouped by label (label_groups.h; positions in original order within a
// group), in runs of at most kAnchors positions of one group, and copied coordinate-major.
struct GroupedPoints : Groups {
  const double* t;
  int64_t n, d;
  std::vector<int64_t> runs;  // starts of runs of <= kAnchors positions in one group, then n
  std::vector<double> tt;     // tt[c * n + p]: coordinate c of the point at position p

  // Without `copy`, the coordinate-major copy waits for copy_columns() (the Gram form needs
  // none, and holds its own copy of the rows meanwhile).
  GroupedPoints(const double* t_, int64_t n_, int64_t d_, const int64_t* labels,
                bool copy = true)
      : Groups(group_by_label(labels, n_)), t(t_), n(n_), d(d_) {
    for (size_t g = 0; g + 1 < start.size(); ++g)
      for (int64_t p = start[g]; p < start[g + 1]; p += kAnchors) runs.push_back(p);
    runs.push_back(n);
    if (copy) copy_columns();
  }

  void copy_columns() {
    if (!tt.empty() || n * d == 0) return;
    tt.resize(static_cast<size_t>(n * d));
#pragma omp parallel for schedule(static) if (worth_threads(n * d))
    for (int64_t c = 0; c < d; ++c)
      for (int64_t p = 0; p < n; ++p) tt[c * n + p] = t[order[p] * d + c];
  }

  const double* column(int64_t c) const { return tt.data() + c * n; }
  const double* row(int64_t p) const { return t + order[p] * d; }
  // The group of the run starting at p0, as [lo, hi).
  void group_of(int64_t p0, int64_t& lo, int64_t& hi) const {
    lo = begin(p0);
    hi = end(p0);
  }
};

// Squared distances from the anchors at positions [p0, p1) to the candidates [b0, b0 + len)
// into d2[a], and in largest[a] the largest single-coordinate term of each pair. An anchor
// leaves the block (live shrinks) once every partial d2 - largest reaches `negligible`: both
// only move that quantity up, and it bounds every leave-one-feature-out distance from below.
// Returns the number of live anchors, listed first in live.
template <bool kLeaveOneOut>
int64_t block_distances(const GroupedPoints& pts, int64_t p0, int64_t p1, int64_t b0,
                        int64_t len, double negligible, double (*d2)[kBlock],
                        double (*largest)[kBlock], int64_t* live) {
  int64_t n_live = p1 - p0;
  for (int64_t a = 0; a < n_live; ++a) {
    live[a] = a;
    std::fill_n(d2[a], len, 0.0);
    if (kLeaveOneOut) std::fill_n(largest[a], len, 0.0);
  }
  for (int64_t c0 = 0; c0 < pts.d && n_live > 0; c0 += kChunk) {
    const int64_t c1 = std::min(pts.d, c0 + kChunk);
    for (int64_t s = 0; s < n_live; ++s) {
      double* da = d2[live[s]];
      double* la = kLeaveOneOut ? largest[live[s]] : nullptr;
      const double* ta = pts.row(p0 + live[s]);
      for (int64_t c = c0; c < c1; ++c) {
        const double* col = pts.column(c) + b0;
        const double tc = ta[c];
#pragma omp simd
        for (int64_t b = 0; b < len; ++b) {
          const double term = pair_term(col[b], tc, Metric::kEuclidean);
          da[b] = combine(da[b], term, Metric::kEuclidean);
          if (kLeaveOneOut) la[b] = combine(la[b], term, Metric::kMax);
        }
      }
    }
    int64_t kept = 0;
    for (int64_t s = 0; s < n_live; ++s) {
      const double* da = d2[live[s]];
      const double* la = kLeaveOneOut ? largest[live[s]] : nullptr;
      double nearest = kInf;
#pragma omp simd reduction(min : nearest)
      for (int64_t b = 0; b < len; ++b)
        nearest = std::min(nearest, kLeaveOneOut
                                        ? da[b] - la[b] - downdate_error_bound(da[b], pts.d)
                                        : da[b]);
      if (nearest < negligible) live[kept++] = live[s];
    }
    n_live = kept;
  }
  return n_live;
}

// The mean squared distance of the rows of t to their mean.
double mean_centred_square(const double* t, int64_t n, int64_t d) {
  std::vector<double> mean(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) mean[c] += t[i * d + c];
  for (int64_t c = 0; c < d; ++c) mean[c] /= static_cast<double>(n);
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) total += (t[i * d + c] - mean[c]) * (t[i * d + c] - mean[c]);
  return total / static_cast<double>(n);
}

enum class KdePath { kAuto, kDirect, kGram };

// kde_log_mean_kernel_cpu on the given path; false (kGram only) where the Gram form does not
// apply. On the Gram form, the anchors whose sums it cannot bound tightly enough are summed
// directly, whole runs at a time.
bool kde_log_mean_kernel(const double* t, int64_t n, int64_t d, const int64_t* labels,
                         double sigma2, double* out, Shard shard, KdePath path) {
  const bool gram = path == KdePath::kGram ||
                    (path == KdePath::kAuto && kde_log_mean_kernel_takes_gram(t, n, d, sigma2));
  GroupedPoints pts(t, n, d, labels, !gram);
  const double two_sigma2 = 2.0 * sigma2, negligible = kNegligibleExponent * two_sigma2;
  const int64_t n_runs = static_cast<int64_t>(pts.runs.size()) - 1;
  const int64_t tile_runs = runs_per_tile(n, n * d, kAnchors);
  if (!shard.whole()) std::fill(out, out + n, 0.0);
  const int64_t first_run = shard.begin(n_runs), last_run = shard.end(n_runs);
  std::vector<char> redo;  // per run, after the Gram form; empty: every run
  if (gram) {
    std::vector<int64_t> owned(pts.runs[last_run] - pts.runs[first_run]);
    std::iota(owned.begin(), owned.end(), pts.runs[first_run]);
    std::vector<char> inexact(n, 0);
    if (kde_gram_cpu(t, n, d, pts.order.data(), pts.start.data(),
                     static_cast<int64_t>(pts.start.size()) - 1, owned.data(),
                     static_cast<int64_t>(owned.size()), shard.whole(), sigma2, out,
                     inexact.data())) {
      redo.assign(n_runs, 0);
      for (int64_t r = first_run; r < last_run; ++r)
        for (int64_t p = pts.runs[r]; p < pts.runs[r + 1]; ++p) redo[r] |= inexact[p];
    } else if (path == KdePath::kGram) {
      return false;
    }
    if (redo.empty() || std::count(redo.begin(), redo.end(), 1) > 0) pts.copy_columns();
  }
  for (int64_t r0 = first_run; r0 < last_run; r0 += tile_runs) {
    const int64_t r1 = std::min(last_run, r0 + tile_runs);
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads((r1 - r0) * kAnchors * n * d))
    for (int64_t r = r0; r < r1; ++r) {
      if (!redo.empty() && !redo[r]) continue;
      const int64_t p0 = pts.runs[r], p1 = pts.runs[r + 1];
      int64_t lo, hi;
      pts.group_of(p0, lo, hi);
      double sum[kAnchors] = {};
      double d2[kAnchors][kBlock];
      int64_t live[kAnchors];
      for (int64_t b0 = lo; b0 < hi; b0 += kBlock) {
        const int64_t len = std::min(kBlock, hi - b0);
        const int64_t n_live =
            block_distances<false>(pts, p0, p1, b0, len, negligible, d2, nullptr, live);
        for (int64_t s = 0; s < n_live; ++s) {
          const double* da = d2[live[s]];
          for (int64_t b = 0; b < len; ++b)
            if (da[b] < negligible) sum[live[s]] += std::exp(-da[b] / two_sigma2);
        }
      }
      for (int64_t a = 0; a < p1 - p0; ++a)
        out[pts.order[p0 + a]] = std::log(sum[a] / static_cast<double>(hi - lo));
    }
    check_interrupt();
  }
  return true;
}

}  // namespace

bool kde_log_mean_kernel_takes_gram(const double* t, int64_t n, int64_t d, double sigma2) {
  return euclidean_gram_eligible(n, d, installed_dgemm() != nullptr) &&
         kde_gram_eligible(n, d, sigma2, mean_centred_square(t, n, d), true);
}

void kde_log_mean_kernel_cpu(const double* t, int64_t n, int64_t d, const int64_t* labels,
                             double sigma2, double* out, Shard shard) {
  kde_log_mean_kernel(t, n, d, labels, sigma2, out, shard, KdePath::kAuto);
}

void kde_log_mean_kernel_direct_cpu(const double* t, int64_t n, int64_t d,
                                    const int64_t* labels, double sigma2, double* out,
                                    Shard shard) {
  kde_log_mean_kernel(t, n, d, labels, sigma2, out, shard, KdePath::kDirect);
}

bool kde_log_mean_kernel_gram_cpu(const double* t, int64_t n, int64_t d, const int64_t* labels,
                                  double sigma2, double* out, Shard shard) {
  return kde_log_mean_kernel(t, n, d, labels, sigma2, out, shard, KdePath::kGram);
}

void kde_loo_cpu(const double* t, int64_t n, int64_t m, const int64_t* labels, int64_t n_classes,
                 double sigma2, double* out, Shard shard) {
  const GroupedPoints pts(t, n, m, labels);
  const double two_sigma2 = 2.0 * sigma2, negligible = kNegligibleExponent * two_sigma2;
  const int64_t width = m + 1;
  std::fill_n(out, n_classes * width, 0.0);
  const int64_t n_runs = static_cast<int64_t>(pts.runs.size()) - 1;
  const int64_t tile_runs = runs_per_tile(n, n * m, kAnchors);
  // Per anchor of the tile, over T_-j for every j and then over T: kernel sums, then L.
  std::vector<double> tile_logs;
  const int64_t last_run = shard.end(n_runs);
  for (int64_t r0 = shard.begin(n_runs); r0 < last_run; r0 += tile_runs) {
    const int64_t r1 = std::min(last_run, r0 + tile_runs);
    const int64_t first = pts.runs[r0], last = pts.runs[r1];
    tile_logs.assign((last - first) * width, 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads((last - first) * n * m))
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p0 = pts.runs[r], p1 = pts.runs[r + 1];
      int64_t lo, hi;
      pts.group_of(p0, lo, hi);
      double d2[kAnchors][kBlock], largest[kAnchors][kBlock];
      int64_t live[kAnchors];
      for (int64_t b0 = lo; b0 < hi; b0 += kBlock) {
        const int64_t len = std::min(kBlock, hi - b0);
        const int64_t n_live =
            block_distances<true>(pts, p0, p1, b0, len, negligible, d2, largest, live);
        for (int64_t s = 0; s < n_live; ++s) {
          const int64_t a = live[s];
          const double* ta = pts.row(p0 + a);
          double* sums = tile_logs.data() + (p0 + a - first) * width;
          for (int64_t b = 0; b < len; ++b) {
            const double full = d2[a][b];
            // every T_-j term is 0 too (the bound covers the downdate's rounding)
            if (full - largest[a][b] - downdate_error_bound(full, m) >= negligible) continue;
            if (full < negligible) sums[m] += std::exp(-full / two_sigma2);
            const double* tb = pts.row(b0 + b);
            for (int64_t j = 0; j < m; ++j) {
              const double term = pair_term(tb[j], ta[j], Metric::kEuclidean);
              double without_j = full - term;
              if (kde_downdate_inexact(term, without_j))
                without_j = squared_distance_without(ta, tb, m, j);
              if (without_j < negligible) sums[j] += std::exp(-without_j / two_sigma2);
            }
          }
        }
      }
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t j = 0; j < width; ++j) {
          double& v = tile_logs[(p - first) * width + j];
          v = std::log(v / static_cast<double>(hi - lo));
        }
    }
    // Fixed-order reduction: anchors in position order, whatever the thread count.
    for (int64_t p = first; p < last; ++p) {
      double* row = out + (labels != nullptr ? labels[pts.order[p]] : 0) * width;
      for (int64_t j = 0; j < width; ++j) row[j] += tile_logs[(p - first) * width + j];
    }
    check_interrupt();
  }
}

}  // namespace gib
