// Plug-in entropy of discrete patterns through 128-bit row hashes, and the fused
// leave-one-feature-out sums by divide and conquer over column ranges (contract: binning.h).
//
// Leave-one-out in about the cost of one estimate: under column j two distinct full rows merge
// exactly when they agree on every column but j. Deduplicate the full rows into groups, then
// split column ranges in halves: groups that agree on [lo, mid) can merge only under a column
// of [mid, hi), and vice versa. Recursing on each half with the groups bucketed by the hash of
// the other half meets every merged class of every column exactly once, at a range of width 1.
// Rows of binned activations rarely agree on half their columns, so almost all the work is one
// pass over the groups at the top (O(n m)); all 2^m binary patterns cost O(n m log m).
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "gib/binning.h"

namespace gib {

namespace {

// splitmix64 (Steele, Lea & Flood 2014): its finaliser is a bijective 64-bit mixer, its stream
// gives the per-column keys. Fixed seeds make every result reproducible.
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kSeedA = 0x243f6a8885a308d3ULL;
constexpr uint64_t kSeedB = 0x13198a2e03707344ULL;

inline uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A pattern hash: two independent 64-bit lanes, each a sum of cell codes mod 2^64, so the hash
// of a set of columns is the difference of the hashes of a range and of its complement.
struct Hash128 {
  uint64_t a = 0;
  uint64_t b = 0;
};
inline Hash128 operator+(Hash128 x, Hash128 y) { return {x.a + y.a, x.b + y.b}; }
inline Hash128 operator-(Hash128 x, Hash128 y) { return {x.a - y.a, x.b - y.b}; }
inline bool operator==(Hash128 x, Hash128 y) { return x.a == y.a && x.b == y.b; }
inline bool operator<(Hash128 x, Hash128 y) { return x.a < y.a || (x.a == y.a && x.b < y.b); }

// Codes of cells (column c, value v): per lane mix64(key[c] ^ v), with key[c] the c-th output
// of the lane's splitmix64 stream. A bijection of v within a column, unrelated across columns
// and lanes, so any int64 values may serve as codes.
class CellHasher {
 public:
  explicit CellHasher(int64_t columns) : key_a_(columns), key_b_(columns) {
    for (int64_t c = 0; c < columns; ++c) {
      key_a_[c] = mix64(kSeedA + static_cast<uint64_t>(c + 1) * kGolden);
      key_b_[c] = mix64(kSeedB + static_cast<uint64_t>(c + 1) * kGolden);
    }
  }

  // Hash of values[0..count), which sit in columns first, first + 1, ...
  Hash128 range(const int64_t* values, int64_t first, int64_t count) const {
    const uint64_t* ka = key_a_.data() + first;
    const uint64_t* kb = key_b_.data() + first;
    Hash128 h;
    for (int64_t k = 0; k < count; ++k) {
      const uint64_t v = static_cast<uint64_t>(values[k]);
      h.a += mix64(ka[k] ^ v);
      h.b += mix64(kb[k] ^ v);
    }
    return h;
  }

 private:
  std::vector<uint64_t> key_a_;
  std::vector<uint64_t> key_b_;
};

// out[i] += hash of row i of data (n, width), whose columns are numbered from first_column.
void add_row_hashes(const CellHasher& hasher, const int64_t* data, int64_t n, int64_t width,
                    int64_t first_column, Hash128* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = out[i] + hasher.range(data + i * width, first_column, width);
}

// Calls visit(begin, end) on each maximal run of [first, last) whose elements share key(.).
template <class T, class Key, class Visit>
void for_each_run(const T* first, const T* last, Key key, Visit visit) {
  while (first != last) {
    const T* end = first + 1;
    while (end != last && key(*end) == key(*first)) ++end;
    visit(first, end);
    first = end;
  }
}

inline double xlogx(int64_t c) { return static_cast<double>(c) * std::log(static_cast<double>(c)); }

// Classes of identical full rows, numbered in the order of their sorted hashes.
struct Groups {
  std::vector<int64_t> row;  // representative row in codes
  std::vector<int64_t> count;
  std::vector<double> count_log_count;
};

// A group (or a row) with the hash it is bucketed by and a hash it carries to the next range.
struct Keyed {
  Hash128 key;
  int64_t id;
  Hash128 carry;
};
inline bool by_key_then_id(const Keyed& x, const Keyed& y) {
  return x.key < y.key || (x.key == y.key && x.id < y.id);
}
inline Hash128 key_of(const Keyed& x) { return x.key; }

// A merged class of `column`: its smallest group and the growth of sum c log c when it merges.
struct Leaf {
  int64_t column;
  int64_t first_group;
  double delta;
};

// Work left after one level: items[i] holds the groups entries[begin, end), which agree on
// every column outside [lo, hi) (hi - lo >= 2); `range` is each group's hash over [lo, hi).
struct Entry {
  int64_t group;
  Hash128 range;
};
struct Item {
  int64_t lo, hi, begin, end;
};
struct Frontier {
  std::vector<Item> items;
  std::vector<Entry> entries;
  std::vector<Leaf> leaves;

  void append(const Frontier& other) {
    const int64_t shift = static_cast<int64_t>(entries.size());
    for (Item it : other.items) items.push_back({it.lo, it.hi, it.begin + shift, it.end + shift});
    entries.insert(entries.end(), other.entries.begin(), other.entries.end());
    leaves.insert(leaves.end(), other.leaves.begin(), other.leaves.end());
  }
};

// A bucket of groups (sorted by id, carrying their hash over [lo, hi)) that agree on every
// column outside [lo, hi): a merged class of column lo when hi - lo == 1, else an item.
void add_bucket(Frontier& out, const Keyed* first, const Keyed* last, int64_t lo, int64_t hi,
                const Groups& groups) {
  if (last - first < 2) return;
  if (hi - lo == 1) {
    int64_t merged = 0;
    double separate = 0.0;
    for (const Keyed* g = first; g != last; ++g) {
      merged += groups.count[g->id];
      separate += groups.count_log_count[g->id];
    }
    out.leaves.push_back({lo, first->id, xlogx(merged) - separate});
    return;
  }
  const int64_t begin = static_cast<int64_t>(out.entries.size());
  for (const Keyed* g = first; g != last; ++g) out.entries.push_back({g->id, g->carry});
  out.items.push_back({lo, hi, begin, begin + (last - first)});
}

// Splits every item of `level` at mid = (lo + hi) / 2 into the buckets of both halves.
Frontier split_level(const Frontier& level, const int64_t* codes, int64_t m,
                     const Groups& groups, const CellHasher& hasher) {
  const std::vector<Item>& items = level.items;
  const std::vector<Entry>& entries = level.entries;
  const int64_t n_items = static_cast<int64_t>(items.size());
  const int64_t n_entries = static_cast<int64_t>(entries.size());

  std::vector<int64_t> item_of(n_entries);
  for (int64_t i = 0; i < n_items; ++i)
    std::fill(item_of.begin() + items[i].begin, item_of.begin() + items[i].end, i);

  // The hash over [lo, mid) from the representative's row is the bulk of the work; the hash
  // over [mid, hi) is the carried range hash minus it.
  std::vector<Hash128> left(n_entries);
#pragma omp parallel for schedule(dynamic, 256)
  for (int64_t e = 0; e < n_entries; ++e) {
    const Item& it = items[item_of[e]];
    const int64_t* row = codes + groups.row[entries[e].group] * m;
    left[e] = hasher.range(row + it.lo, it.lo, (it.lo + it.hi) / 2 - it.lo);
  }

  std::vector<Frontier> parts(n_items);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n_items; ++i) {
    const Item& it = items[i];
    const int64_t mid = (it.lo + it.hi) / 2;
    std::vector<Keyed> keyed(it.end - it.begin);
    for (int64_t e = it.begin; e < it.end; ++e)
      keyed[e - it.begin] = {left[e], entries[e].group, entries[e].range - left[e]};
    const Keyed* first = keyed.data();
    const Keyed* last = first + keyed.size();
    std::sort(keyed.begin(), keyed.end(), by_key_then_id);
    for_each_run(first, last, key_of,
                 [&](const Keyed* b, const Keyed* e) { add_bucket(parts[i], b, e, mid, it.hi, groups); });
    for (Keyed& g : keyed) std::swap(g.key, g.carry);
    std::sort(keyed.begin(), keyed.end(), by_key_then_id);
    for_each_run(first, last, key_of,
                 [&](const Keyed* b, const Keyed* e) { add_bucket(parts[i], b, e, it.lo, mid, groups); });
  }

  Frontier next;
  for (const Frontier& part : parts) next.append(part);
  return next;
}

}  // namespace

std::vector<int64_t> pattern_counts_cpu(const int64_t* codes, int64_t n, int64_t m,
                                        const int64_t* fixed, int64_t f) {
  const CellHasher hasher(m + f);
  std::vector<Hash128> hashes(n);
  add_row_hashes(hasher, codes, n, m, 0, hashes.data());
  if (fixed != nullptr) add_row_hashes(hasher, fixed, n, f, m, hashes.data());
  check_interrupt();
  std::sort(hashes.begin(), hashes.end());
  std::vector<int64_t> counts;
  for_each_run(hashes.data(), hashes.data() + n, [](Hash128 h) { return h; },
               [&](const Hash128* b, const Hash128* e) { counts.push_back(e - b); });
  return counts;
}

void binning_loo_cpu(const int64_t* codes, int64_t n, int64_t m, const int64_t* fixed, int64_t f,
                     double* out) {
  // Fixed columns are numbered after Z's, so their codes never coincide with Z's.
  const CellHasher hasher(m + f);
  std::vector<Hash128> codes_hash(n), fixed_hash(n);
  add_row_hashes(hasher, codes, n, m, 0, codes_hash.data());
  if (fixed != nullptr) add_row_hashes(hasher, fixed, n, f, m, fixed_hash.data());
  check_interrupt();

  std::vector<Keyed> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = {codes_hash[i] + fixed_hash[i], i, {}};
  std::sort(rows.begin(), rows.end(), by_key_then_id);
  Groups groups;
  for_each_run(rows.data(), rows.data() + n, key_of, [&](const Keyed* b, const Keyed* e) {
    groups.row.push_back(b->id);
    groups.count.push_back(e - b);
    groups.count_log_count.push_back(xlogx(e - b));
  });
  const int64_t n_groups = static_cast<int64_t>(groups.row.size());
  double full = 0.0;
  for (double c : groups.count_log_count) full += c;
  check_interrupt();

  // Groups can merge only within a class of the fixed columns.
  std::vector<Keyed> by_fixed(n_groups);
  for (int64_t g = 0; g < n_groups; ++g)
    by_fixed[g] = {fixed_hash[groups.row[g]], g, codes_hash[groups.row[g]]};
  std::sort(by_fixed.begin(), by_fixed.end(), by_key_then_id);
  Frontier level;
  for_each_run(by_fixed.data(), by_fixed.data() + n_groups, key_of,
               [&](const Keyed* b, const Keyed* e) { add_bucket(level, b, e, 0, m, groups); });

  std::vector<Leaf> leaves;
  for (;;) {
    leaves.insert(leaves.end(), level.leaves.begin(), level.leaves.end());
    if (level.items.empty()) break;
    check_interrupt();
    level = split_level(level, codes, m, groups, hasher);
  }

  // A fixed summation order makes out bit-identical across runs and thread counts.
  std::sort(leaves.begin(), leaves.end(), [](const Leaf& x, const Leaf& y) {
    return x.column < y.column || (x.column == y.column && x.first_group < y.first_group);
  });
  std::fill(out, out + m + 1, full);
  for (const Leaf& leaf : leaves) out[leaf.column] += leaf.delta;
}

}  // namespace gib
