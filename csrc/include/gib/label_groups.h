// Points grouped by label for the CPU kernels: positions in label order (stable), so that each
// label's points are one contiguous range. The GPU backends build the same grouping in torch
// (gib_kernels/backends/torch_labels.py) and pass it to the CUDA kernels as LabelGroups.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace gib {

// The points reordered so that each label group (one group without labels) is a contiguous
// range of positions: group g holds positions [start[g], start[g + 1]).
struct Groups {
  std::vector<int64_t> order;  // original index of the point at each position
  std::vector<int64_t> group;  // group of each position
  std::vector<int64_t> start;

  int64_t begin(int64_t p) const { return start[group[p]]; }
  int64_t end(int64_t p) const { return start[group[p] + 1]; }
};

inline Groups group_by_label(const int64_t* labels, int64_t n) {
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

// Number of other points with the same label, per point (in the points' own order).
inline std::vector<int64_t> same_label_counts(const int64_t* labels, int64_t n) {
  const Groups g = group_by_label(labels, n);
  std::vector<int64_t> others(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) others[g.order[p]] = g.end(p) - g.begin(p) - 1;
  return others;
}

}  // namespace gib
