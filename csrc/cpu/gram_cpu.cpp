// The Gram-form Euclidean k-th neighbour distance (contract: gram.h).
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

}  // namespace

void set_dgemm(Dgemm gemm) { g_dgemm = gemm; }
Dgemm installed_dgemm() { return g_dgemm; }

bool kth_euclidean_gram_cpu(const double* z, int64_t n, int64_t d, const int64_t* order,
                            const int64_t* group_start, int64_t n_groups, const int64_t* owned,
                            int64_t n_owned, int64_t k, bool whole, double* out) {
  if (g_dgemm == nullptr || d < 1 || d > (int64_t(1) << 30)) return false;
  // Finite coordinates small enough that no squared norm nears overflow.
  double largest = 0.0;
  bool finite = true;
  for (int64_t i = 0; i < n * d; ++i) {
    finite = finite && std::isfinite(z[i]);
    largest = std::max(largest, std::fabs(z[i]));
  }
  if (!finite || largest > 1e140 || 4.0 * largest * largest * static_cast<double>(d) > 1e300)
    return false;

  Selection sel(z, order, n, d, k);
  std::vector<double> centred, sq, anchor_rows, products(kGramBlock * kGramBlock);
  const int di = static_cast<int>(d);
  const double one = 1.0, zero = 0.0;
  int64_t next_owned = 0;
  for (int64_t g = 0; g < n_groups; ++g) {
    const int64_t lo = group_start[g], hi = group_start[g + 1], size = hi - lo;
    const int64_t kk = std::min(k, size - 1);
    // This group's anchors: owned[a0, a1).
    const int64_t a0 = next_owned;
    while (next_owned < n_owned && owned[next_owned] < hi) ++next_owned;
    const int64_t a1 = next_owned;
    for (int64_t a = a0; a < a1; ++a) sel.kk[owned[a]] = kk;
    if (kk == 0 || a1 == a0) continue;

    // Centred rows in position order and their squared norms.
    centred.assign(size * d, 0.0);
    sq.assign(size, 0.0);
    std::vector<double> mean(d, 0.0);
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t c = 0; c < d; ++c) mean[c] += z[order[p] * d + c];
    for (int64_t c = 0; c < d; ++c) mean[c] /= static_cast<double>(size);
    for (int64_t q = 0; q < size; ++q) {
      const double* row = z + order[lo + q] * d;
      double* x = centred.data() + q * d;
      double s = 0.0;
      for (int64_t c = 0; c < d; ++c) {
        x[c] = row[c] - mean[c];
        s += x[c] * x[c];
      }
      sq[q] = s;
    }

    // Without a shard the anchors are every position of the group and the products symmetric.
    const bool symmetric = whole;
    for (int64_t t0 = a0; t0 < a1; t0 += kGramBlock) {
      const int64_t bi = std::min(kGramBlock, a1 - t0);
      const double* anchors;
      if (symmetric) {
        anchors = centred.data() + (owned[t0] - lo) * d;
      } else {
        anchor_rows.resize(bi * d);
        for (int64_t a = 0; a < bi; ++a)
          std::copy_n(centred.data() + (owned[t0 + a] - lo) * d, d, anchor_rows.data() + a * d);
        anchors = anchor_rows.data();
      }
      const int64_t first_block = symmetric ? owned[t0] : lo;
      for (int64_t c0 = first_block; c0 < hi; c0 += kGramBlock) {
        const int64_t bj = std::min(kGramBlock, hi - c0);
        // products, row-major (bi, bj): products[a * bj + j] = anchor a . candidate c0 + j.
        const int mi = static_cast<int>(bj), ni = static_cast<int>(bi);
        g_dgemm("T", "N", &mi, &ni, &di, &one, centred.data() + (c0 - lo) * d, &di, anchors, &di,
                &zero, products.data(), &mi);
        const double* sq_block = sq.data() + (c0 - lo);
        for (int64_t a = 0; a < bi; ++a) {
          const int64_t p = owned[t0 + a];
          scan_row(sel, p, sq[p - lo], c0, bj, sq_block, products.data() + a * bj);
        }
        if (symmetric && c0 != owned[t0]) {
          // The same block serves candidates c0 + j as anchors, against the anchors of the tile.
          const int64_t n_chunks = (bj + kColumnChunk - 1) / kColumnChunk;
          for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
            const int64_t j0 = chunk * kColumnChunk, j1 = std::min(bj, j0 + kColumnChunk);
            double t[kColumnChunk];
            for (int64_t j = j0; j < j1; ++j) t[j - j0] = sel.threshold(c0 + j);
            for (int64_t a = 0; a < bi; ++a) {
              const int64_t pa = owned[t0 + a];
              const double sq_a = sq[pa - lo];
              const double* dots = products.data() + a * bj;
              for (int64_t j = j0; j < j1; ++j) {
                const double sum = sq_a + sq_block[j];
                const double gj = sum - 2.0 * dots[j], e = gram_error_bound(sum, d);
                if (gj - e <= t[j - j0]) t[j - j0] = sel.offer(c0 + j, pa, gj - e, gj + e);
              }
            }
          }
        }
        check_interrupt();
      }
    }
  }

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

}  // namespace gib
