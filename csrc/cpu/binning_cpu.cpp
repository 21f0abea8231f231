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
#pragma omp parallel for schedule(static) if (worth_threads(n * width))
  for (int64_t i = 0; i < n; ++i)
    out[i] = out[i] + hasher.range(data + i * width, first_column, width);
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

// Classes of identical full rows, numbered in the order of their first rows. Every bucket lists
// its groups by id, so the range hashes read codes front to back.
struct Groups {
  std::vector<int64_t> row;  // first row of the class in codes
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

// For every entry of `level`, the hash over the left half [lo, mid) of its item's range, from
// the group's first row; the hash over [mid, hi) is then the carried range hash minus it.
std::vector<Hash128> left_half_hashes(const Frontier& level, const int64_t* codes, int64_t m,
                                      const Groups& groups, const CellHasher& hasher) {
  const std::vector<Entry>& entries = level.entries;
  std::vector<int64_t> item_of(entries.size());
  for (size_t i = 0; i < level.items.size(); ++i)
    std::fill(item_of.begin() + level.items[i].begin, item_of.begin() + level.items[i].end, i);
  std::vector<Hash128> left_half(entries.size());
  const int64_t n_entries = static_cast<int64_t>(entries.size());
#pragma omp parallel for schedule(dynamic, 256) if (worth_threads(n_entries * 16))
  for (int64_t e = 0; e < n_entries; ++e) {
    const Item& it = level.items[item_of[e]];
    const int64_t* row = codes + groups.row[entries[e].group] * m;
    left_half[e] = hasher.range(row + it.lo, it.lo, (it.lo + it.hi) / 2 - it.lo);
  }
  return left_half;
}

// Splits one item at mid = (lo + hi) / 2 into the buckets of both halves, given each entry's
// hash over [lo, mid); `keyed` is scratch space.
void split_item(const Item& it, const std::vector<Entry>& entries,
                const std::vector<Hash128>& left_half, const Groups& groups,
                std::vector<Keyed>& keyed, Frontier& out) {
  const int64_t mid = (it.lo + it.hi) / 2;
  keyed.resize(it.end - it.begin);
  for (int64_t e = it.begin; e < it.end; ++e)
    keyed[e - it.begin] = {left_half[e], entries[e].group, entries[e].range - left_half[e]};
  const Keyed* first = keyed.data();
  const Keyed* last = first + keyed.size();
  // Groups that agree on [lo, mid) as well can still merge under a column of [mid, hi) ...
  std::sort(keyed.begin(), keyed.end(), by_key_then_id);
  for_each_run(first, last, key_of,
               [&](const Keyed* b, const Keyed* e) { add_bucket(out, b, e, mid, it.hi, groups); });
  // ... and those that agree on [mid, hi) under a column of [lo, mid).
  for (Keyed& g : keyed) std::swap(g.key, g.carry);
  std::sort(keyed.begin(), keyed.end(), by_key_then_id);
  for_each_run(first, last, key_of,
               [&](const Keyed* b, const Keyed* e) { add_bucket(out, b, e, it.lo, mid, groups); });
}

// Splits every item of `level`. Contiguous chunks of items write to their own Frontier, so
// the next level lists its items in the same order whatever the number of threads.
Frontier split_level(const Frontier& level, const std::vector<Hash128>& left_half,
                     const Groups& groups) {
  const int64_t n_items = static_cast<int64_t>(level.items.size());
  const int64_t n_chunks = std::min<int64_t>(n_items, 256);
  std::vector<Frontier> parts(n_chunks);
#pragma omp parallel if (worth_threads(n_items * 16))
  {
    std::vector<Keyed> keyed;
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < n_chunks; ++c) {
      for (int64_t i = n_items * c / n_chunks; i < n_items * (c + 1) / n_chunks; ++i)
        split_item(level.items[i], level.entries, left_half, groups, keyed, parts[c]);
    }
  }
  Frontier next;
  for (const Frontier& part : parts) next.append(part);
  return next;
}

}  // namespace

std::vector<int64_t> pattern_counts_cpu(const int64_t* codes, int64_t n, int64_t m,
                                        const int64_t* fixed, int64_t f,
                                        std::vector<uint64_t>* hashes_out) {
  const CellHasher hasher(m + f);
  std::vector<Hash128> hashes(n);
  add_row_hashes(hasher, codes, n, m, 0, hashes.data());
  if (fixed != nullptr) add_row_hashes(hasher, fixed, n, f, m, hashes.data());
  check_interrupt();
  std::sort(hashes.begin(), hashes.end());
  std::vector<int64_t> counts;
  for_each_run(hashes.data(), hashes.data() + n, [](Hash128 h) { return h; },
               [&](const Hash128* b, const Hash128* e) {
                 counts.push_back(e - b);
                 if (hashes_out != nullptr) {
                   hashes_out->push_back(b->a);
                   hashes_out->push_back(b->b);
                 }
               });
  return counts;
}

void binning_loo_cpu(const int64_t* codes, int64_t n, int64_t m, const int64_t* fixed, int64_t f,
                     double* out, Shard shard) {
  // The shard's columns [lo, hi) are the top range of the divide and conquer; the columns
  // outside it join the fixed ones in the key that groups must share to merge.
  const int64_t lo = shard.begin(m), hi = shard.end(m), half = (lo + hi) / 2;
  // Fixed columns are numbered after Z's, so their codes never coincide with Z's. The one pass
  // over codes also gives each row's hash over [lo, half): the first split needs no other read.
  const CellHasher hasher(m + f);
  std::vector<Hash128> codes_hash(n), first_half_hash(n), outside_hash(n), fixed_hash(n);
#pragma omp parallel for schedule(static) if (worth_threads(n * (m + f)))
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* row = codes + i * m;
    first_half_hash[i] = hasher.range(row + lo, lo, half - lo);
    outside_hash[i] = hasher.range(row, 0, lo) + hasher.range(row + hi, hi, m - hi);
    codes_hash[i] =
        first_half_hash[i] + hasher.range(row + half, half, hi - half) + outside_hash[i];
  }
  if (fixed != nullptr) add_row_hashes(hasher, fixed, n, f, m, fixed_hash.data());
  check_interrupt();

  // Groups of identical full rows: runs of equal hashes. Each run starts at its smallest row,
  // so a scan over the rows lists the groups in the order of their first rows.
  std::vector<Keyed> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = {codes_hash[i] + fixed_hash[i], i, {}};
  std::sort(rows.begin(), rows.end(), by_key_then_id);
  std::vector<int64_t> count_if_first(n, 0);
  for_each_run(rows.data(), rows.data() + n, key_of,
               [&](const Keyed* b, const Keyed* e) { count_if_first[b->id] = e - b; });
  Groups groups;
  for (int64_t i = 0; i < n; ++i) {
    if (count_if_first[i] == 0) continue;
    groups.row.push_back(i);
    groups.count.push_back(count_if_first[i]);
    groups.count_log_count.push_back(xlogx(count_if_first[i]));
  }
  const int64_t n_groups = static_cast<int64_t>(groups.row.size());
  double full = 0.0;
  for (double c : groups.count_log_count) full += c;
  check_interrupt();

  // Groups can merge only within a class of the fixed columns and of the columns outside the
  // shard's range; they carry their hash over the range.
  std::vector<Keyed> by_fixed(n_groups);
  for (int64_t g = 0; g < n_groups; ++g) {
    const int64_t row = groups.row[g];
    by_fixed[g] = {fixed_hash[row] + outside_hash[row], g, codes_hash[row] - outside_hash[row]};
  }
  std::sort(by_fixed.begin(), by_fixed.end(), by_key_then_id);
  Frontier level;
  if (lo < hi)
    for_each_run(by_fixed.data(), by_fixed.data() + n_groups, key_of,
                 [&](const Keyed* b, const Keyed* e) { add_bucket(level, b, e, lo, hi, groups); });

  // The top items span [lo, hi), so their left halves are the rows' first halves.
  std::vector<Hash128> left_half(level.entries.size());
  for (size_t e = 0; e < left_half.size(); ++e)
    left_half[e] = first_half_hash[groups.row[level.entries[e].group]];
  std::vector<Leaf> leaves;
  for (;;) {
    leaves.insert(leaves.end(), level.leaves.begin(), level.leaves.end());
    if (level.items.empty()) break;
    check_interrupt();
    level = split_level(level, left_half, groups);
    left_half = left_half_hashes(level, codes, m, groups, hasher);
  }

  // A fixed summation order makes out bit-identical across runs and thread counts.
  std::sort(leaves.begin(), leaves.end(), [](const Leaf& x, const Leaf& y) {
    return x.column < y.column || (x.column == y.column && x.first_group < y.first_group);
  });
  std::fill(out, out + m + 1, 0.0);
  std::fill(out + lo, out + hi, full);
  if (shard.index == 0) out[m] = full;
  for (const Leaf& leaf : leaves) out[leaf.column] += leaf.delta;
}

}  // namespace gib
