// The Gram-form Euclidean k-th neighbour distance and KDE sums (contract: gram.h).
//
// Per label group, the centred rows are multiplied block by block (dgemm); without a shard the
// products are symmetric, so only the blocks on and above the diagonal are formed and each one
// serves both its anchors and its candidates. Every anchor keeps the k smallest upper bounds
// G + e of its candidates seen so far, the k smallest directly recomputed distances, and a short
// list of candidates whose lower bound G - e has not exceeded either k-th. A candidate among the
// true k nearest is never dropped (its lower bound is at most the true k-th, which neither
// running k-th can go below), so recomputing the list and taking the k-th gives the exact answer.
// The list is compacted when full; if most of it survives (cancellation: the bound is wide
// against the spread of the distances) it is recomputed at once, which bounds its memory.
// The KDE sums add exp(-G / (2 sigma2)) per pair in candidate order, with a bound on each term's
// error; the caller sums directly the anchors whose total bound is too wide.
// BLAS runs its own threads, so these passes stay on the calling thread: OpenMP threads
// spinning beside BLAS's on the same cores cost more than the passes themselves.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gib/gram.h"

namespace gib {

namespace {

Dgemm g_dgemm = nullptr;

// Rows per block of products: a block (kGramBlock^2 doubles, 8 MiB) stays in L3.
constexpr int64_t kGramBlock = 1024;
// Columns of the block per task of the pass that serves the candidates' side.
constexpr int64_t kColumnChunk = 64;

struct Selection {
  const double* z;
  const int64_t* order;
  int64_t d, k, cap;
  std::vector<int64_t> kk;       // per position: k lowered to the group size - 1
  std::vector<double> upper;     // per position, k ascending: the smallest G + e
  std::vector<double> exact;     // per position, k ascending: the smallest recomputed D
  std::vector<int64_t> pending;  // per position, cap: candidates awaiting recomputation
  std::vector<double> pending_lower;
  std::vector<int64_t> n_pending;

  Selection(const double* z_, const int64_t* order_, int64_t n, int64_t d_, int64_t k_)
      : z(z_), order(order_), d(d_), k(k_), cap(4 * k_ + 32), kk(n, 0),
        upper(n * k_, kInf), exact(n * k_, kInf), pending(n * cap), pending_lower(n * cap),
        n_pending(n, 0) {}

  double threshold(int64_t p) const {
    const int64_t last = p * k + kk[p] - 1;
    return std::min(upper[last], exact[last]);
  }

  void recompute(int64_t p, int64_t candidate) {
    const double dist = squared_distance(z + order[p] * d, z + order[candidate] * d, d);
    topk_insert(exact.data() + p * k, kk[p], dist);
  }

  // Drops the candidates past the threshold; recomputes the rest when they still fill half.
  void compact(int64_t p) {
    const double t = threshold(p);
    int64_t* list = pending.data() + p * cap;
    double* lower = pending_lower.data() + p * cap;
    int64_t kept = 0;
    for (int64_t i = 0; i < n_pending[p]; ++i)
      if (lower[i] <= t) {
        list[kept] = list[i];
        lower[kept++] = lower[i];
      }
    n_pending[p] = kept;
    if (2 * kept >= cap) flush(p);
  }

  void flush(int64_t p) {
    const double t = threshold(p);
    const int64_t* list = pending.data() + p * cap;
    const double* lower = pending_lower.data() + p * cap;
    for (int64_t i = 0; i < n_pending[p]; ++i)
      if (lower[i] <= t) recompute(p, list[i]);
    n_pending[p] = 0;
  }

  // Candidate at position `candidate` with Gram-form bounds [lower, lower + 2 e] for anchor p,
  // already known to have lower <= threshold(p). Returns the new threshold.
  double offer(int64_t p, int64_t candidate, double lower, double upper_bound) {
    double* up = upper.data() + p * k;
    if (upper_bound < up[kk[p] - 1]) topk_insert(up, kk[p], upper_bound);
    pending[p * cap + n_pending[p]] = candidate;
    pending_lower[p * cap + n_pending[p]] = lower;
    if (++n_pending[p] == cap) compact(p);
    return threshold(p);
  }
};

// Anchor p (centred squared norm sq_a) against candidates [c0, c0 + len) (norms sq) with products
// dots (stride 1); the anchor itself is skipped.
void scan_row(Selection& sel, int64_t p, double sq_a, int64_t c0, int64_t len, const double* sq,
              const double* dots) {
  double t = sel.threshold(p);
  for (int64_t j = 0; j < len; ++j) {
    const double sum = sq_a + sq[j];
    const double g = sum - 2.0 * dots[j], e = gram_error_bound(sum, sel.d);
    if (g - e <= t && c0 + j != p) t = sel.offer(p, c0 + j, g - e, g + e);
  }
}

// Finite coordinates small enough that no squared norm nears overflow.
bool gram_applies(const double* z, int64_t n, int64_t d) {
  if (g_dgemm == nullptr || d < 1 || d > (int64_t(1) << 30)) return false;
  double largest = 0.0;
  for (int64_t i = 0; i < n * d; ++i) {
    if (!std::isfinite(z[i])) return false;
    largest = std::max(largest, std::fabs(z[i]));
  }
  return largest <= 1e140 && 4.0 * largest * largest * static_cast<double>(d) <= 1e300;
}

// The rows of one group [lo, hi) of positions, centred on their mean, and their squared norms.
struct CentredGroup {
  int64_t lo = 0, hi = 0, d = 0;
  std::vector<double> rows, sq;

  void assign(const double* z, const int64_t* order, int64_t lo_, int64_t hi_, int64_t d_) {
    lo = lo_;
    hi = hi_;
    d = d_;
    const int64_t size = hi - lo;
    rows.assign(size * d, 0.0);
    sq.assign(size, 0.0);
    std::vector<double> mean(d, 0.0);
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t c = 0; c < d; ++c) mean[c] += z[order[p] * d + c];
    for (int64_t c = 0; c < d; ++c) mean[c] /= static_cast<double>(size);
    for (int64_t q = 0; q < size; ++q) {
      const double* row = z + order[lo + q] * d;
      double* x = rows.data() + q * d;
      // Summed in chunks of kKdeDotChunk coordinates, as the KDE products are (gram.h).
      double s = 0.0;
      for (int64_t c0 = 0; c0 < d; c0 += kKdeDotChunk) {
        double chunk = 0.0;
        for (int64_t c = c0; c < std::min(d, c0 + kKdeDotChunk); ++c) {
          x[c] = row[c] - mean[c];
          chunk += x[c] * x[c];
        }
        s += chunk;
      }
      sq[q] = s;
    }
  }
  const double* row(int64_t p) const { return rows.data() + (p - lo) * d; }
  double norm(int64_t p) const { return sq[p - lo]; }
};

// Every product of the anchors owned[0, count) (positions of `group`, ascending) with the
// candidates of the group, block by block and candidates in ascending order for each anchor.
// row(p, c0, len, dots): anchor p against candidates [c0, c0 + len). With `symmetric` (the
// anchors are the whole group) only blocks on and above the diagonal are formed, and
// column(c0, len, a0, rows, dots, ld) serves candidates [c0, c0 + len) as anchors against the
// anchor positions [a0, a0 + rows) of the block (dots[a * ld + j]), before their own rows.
template <class Row, class Column>
void product_blocks(const CentredGroup& group, const int64_t* owned, int64_t count,
                    bool symmetric, int64_t dot_chunk, std::vector<double>& products,
                    std::vector<double>& anchor_rows, const Row& row, const Column& column) {
  const int di = static_cast<int>(group.d);
  const double one = 1.0, zero = 0.0;
  products.resize(std::min(kGramBlock, count) * std::min(kGramBlock, group.hi - group.lo));
  for (int64_t t0 = 0; t0 < count; t0 += kGramBlock) {
    const int64_t bi = std::min(kGramBlock, count - t0);
    const double* anchors;
    if (symmetric) {
      anchors = group.row(owned[t0]);
    } else {
      anchor_rows.resize(bi * group.d);
      for (int64_t a = 0; a < bi; ++a)
        std::copy_n(group.row(owned[t0 + a]), group.d, anchor_rows.data() + a * group.d);
      anchors = anchor_rows.data();
    }
    for (int64_t c0 = symmetric ? owned[t0] : group.lo; c0 < group.hi; c0 += kGramBlock) {
      const int64_t bj = std::min(kGramBlock, group.hi - c0);
      // products, row-major (bi, bj): products[a * bj + j] = anchor a . candidate c0 + j.
      const int mi = static_cast<int>(bj), ni = static_cast<int>(bi);
      // A call per chunk of coordinates (beta = 1 adds it to the block): each product is then
      // a sum of chunk sums, whatever the BLAS does within a call (gram.h).
      for (int64_t k0 = 0; k0 < group.d; k0 += dot_chunk) {
        const int ki = static_cast<int>(std::min(dot_chunk, group.d - k0));
        g_dgemm("T", "N", &mi, &ni, &ki, &one, group.row(c0) + k0, &di, anchors + k0, &di,
                k0 == 0 ? &zero : &one, products.data(), &mi);
      }
      for (int64_t a = 0; a < bi; ++a) row(owned[t0 + a], c0, bj, products.data() + a * bj);
      if (symmetric && c0 != owned[t0]) column(c0, bj, owned[t0], bi, products.data(), bj);
      check_interrupt();
    }
  }
}

// The anchors of every group: owned[a0, a1) are the positions of group g.
template <class Body>
void for_each_group(const int64_t* group_start, int64_t n_groups, const int64_t* owned,
                    int64_t n_owned, const Body& body) {
  int64_t next = 0;
  for (int64_t g = 0; g < n_groups; ++g) {
    const int64_t a0 = next;
    while (next < n_owned && owned[next] < group_start[g + 1]) ++next;
    body(group_start[g], group_start[g + 1], a0, next);
  }
}

}  // namespace

void set_dgemm(Dgemm gemm) { g_dgemm = gemm; }
Dgemm installed_dgemm() { return g_dgemm; }

bool kth_euclidean_gram_cpu(const double* z, int64_t n, int64_t d, const int64_t* order,
                            const int64_t* group_start, int64_t n_groups, const int64_t* owned,
                            int64_t n_owned, int64_t k, bool whole, double* out) {
  if (!gram_applies(z, n, d)) return false;
  Selection sel(z, order, n, d, k);
  CentredGroup group;
  std::vector<double> products, anchor_rows;
  for_each_group(group_start, n_groups, owned, n_owned, [&](int64_t lo, int64_t hi, int64_t a0,
                                                            int64_t a1) {
    const int64_t kk = std::min(k, hi - lo - 1);
    for (int64_t a = a0; a < a1; ++a) sel.kk[owned[a]] = kk;
    if (kk == 0 || a1 == a0) return;
    group.assign(z, order, lo, hi, d);
    const double* sq = group.sq.data();
    product_blocks(
        group, owned + a0, a1 - a0, whole, d, products, anchor_rows,
        [&](int64_t p, int64_t c0, int64_t len, const double* dots) {
          scan_row(sel, p, group.norm(p), c0, len, sq + (c0 - lo), dots);
        },
        [&](int64_t c0, int64_t len, int64_t r0, int64_t rows, const double* dots, int64_t ld) {
          // Column by column would stride through the block: chunks of columns keep their
          // thresholds in registers while the rows stream.
          for (int64_t j0 = 0; j0 < len; j0 += kColumnChunk) {
            const int64_t j1 = std::min(len, j0 + kColumnChunk);
            double t[kColumnChunk];
            for (int64_t j = j0; j < j1; ++j) t[j - j0] = sel.threshold(c0 + j);
            for (int64_t a = 0; a < rows; ++a) {
              const double sq_a = sq[r0 + a - lo];
              const double* row = dots + a * ld;
              for (int64_t j = j0; j < j1; ++j) {
                const double sum = sq_a + sq[c0 + j - lo];
                const double g = sum - 2.0 * row[j], e = gram_error_bound(sum, d);
                if (g - e <= t[j - j0]) t[j - j0] = sel.offer(c0 + j, r0 + a, g - e, g + e);
              }
            }
          }
        });
  });
  for (int64_t a = 0; a < n_owned; ++a) {
    const int64_t p = owned[a];
    if (sel.kk[p] == 0) {
      out[order[p]] = kInf;
      continue;
    }
    sel.flush(p);
    out[order[p]] = std::sqrt(sel.exact[p * k + sel.kk[p] - 1]);
  }
  return true;
}

bool kde_gram_cpu(const double* t, int64_t n, int64_t d, const int64_t* order,
                  const int64_t* group_start, int64_t n_groups, const int64_t* owned,
                  int64_t n_owned, bool whole, double sigma2, double* out, char* inexact) {
  if (!gram_applies(t, n, d)) return false;
  const double two_sigma2 = 2.0 * sigma2, negligible = kKdeNegligibleExponent * two_sigma2;
  // Per position: the kernel sum, terms in candidate order as the direct path adds them, and
  // the bound on its error.
  std::vector<double> sum(n, 0.0), error(n, 0.0);
  CentredGroup group;
  std::vector<double> products, anchor_rows;
  // Adds the term of a pair (Gram-form squared distance g, bound e) to position p's sum.
  const auto add = [&](int64_t p, double g, double e) {
    if (g - e >= negligible) return;  // the direct path drops it too: its distance is larger
    const double x = e / two_sigma2, term = std::exp(-g / two_sigma2);
    sum[p] += term;
    error[p] += x <= 0.5 ? kde_term_error(term, x) : kInf;
  };
  for_each_group(group_start, n_groups, owned, n_owned, [&](int64_t lo, int64_t hi, int64_t a0,
                                                            int64_t a1) {
    if (a1 == a0) return;
    group.assign(t, order, lo, hi, d);
    const double* sq = group.sq.data();
    product_blocks(
        group, owned + a0, a1 - a0, whole, kKdeDotChunk, products, anchor_rows,
        [&](int64_t p, int64_t c0, int64_t len, const double* dots) {
          const double sq_a = group.norm(p);
          for (int64_t j = 0; j < len; ++j) {
            if (c0 + j == p) {
              sum[p] += 1.0;  // the self term, exactly
              continue;
            }
            const double s = sq_a + sq[c0 + j - lo];
            add(p, s - 2.0 * dots[j], kde_gram_error_bound(s, d));
          }
        },
        [&](int64_t c0, int64_t len, int64_t r0, int64_t rows, const double* dots, int64_t ld) {
          for (int64_t a = 0; a < rows; ++a) {
            const double sq_a = sq[r0 + a - lo];
            for (int64_t j = 0; j < len; ++j) {
              const double s = sq_a + sq[c0 + j - lo];
              add(c0 + j, s - 2.0 * dots[a * ld + j], kde_gram_error_bound(s, d));
            }
          }
        });
    const double size = static_cast<double>(hi - lo);
    for (int64_t a = a0; a < a1; ++a) {
      const int64_t p = owned[a];
      inexact[p] = !kde_sum_accurate(sum[p], error[p], size);
      if (!inexact[p]) out[order[p]] = std::log(sum[p] / size);
    }
  });
  return true;
}

}  // namespace gib
