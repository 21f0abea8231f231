// Exact k-nearest-neighbour search by k-d tree, for low-dimensional points (CPU): the path that
// kth_neighbor_distance_cpu, count_within_cpu (knn.h) and the fused leave-one-out (knn_loo.h)
// choose at d <= kTreeMaxDims and n >= kTreeMinPoints, where it beats the pruned brute force.
//
// The tree: the points grouped by label (one tree per group), copied row-major in tree order;
// each node holds the bounding box of its points; a node of more than kTreeLeaf points is split
// at the median of its widest coordinate (a node whose points all coincide stays a leaf).
// Memory: O(n d) for the copy, O(n / kTreeLeaf * d) for the boxes, and while building, scratch
// of (d + 3) values per point of the node being split (a thread keeps up to 2^16 points' worth,
// about 6 MB, for later builds); no n x n matrix. Many coincident points form one leaf that
// every one of them scans: O(c^2) for c copies of a point, as on the direct path.
//
// Exactness: the point-to-point reduced distances (common.h) are summed (or maxed) over the
// coordinates in order, as the direct path does, so k-th distances are bit-equal and counts are
// equal, ties included. A box is pruned only when its lower bound (box_min_reduced) is no
// better than the current k-th (or >= the radius bound), and a box is counted whole only when
// its upper bound (box_max_reduced) is below the radius bound. Both bounds use the same rounded
// operations as the point distances, and rounding is monotone, so they bound every point of the
// box exactly. Points with a non-finite coordinate are not eligible (the direct path orders
// them); the entry points check.
//
// Sharding: the runs of anchors are the leaves in tree order (groups by label, then tree
// order); a shard owns every count-th leaf (common.h), and leaves other anchors' entries at 0.
// Results per anchor do not depend on the tree's shape, the shard or the thread count.
#pragma once

#include <vector>

#include "gib/common.h"
#include "gib/knn.h"
#include "gib/label_groups.h"

namespace gib {

constexpr int64_t kTreeMaxDims = 8;
// Measured crossover of the k-th neighbour search on 2 cores: about even with the brute force at
// n = 4096 for d = 2..8, 1.2-2x faster at 8192, 1.5-4x at 32768 (benchmarks/bm_low_d.py).
constexpr int64_t kTreeMinPoints = 4096;
constexpr int64_t kTreeLeaf = 16;

// The eligibility predicate on the shape alone: the tree wins at low d and large n.
inline bool knn_tree_eligible(int64_t n, int64_t d) {
  return d >= 2 && d <= kTreeMaxDims && n >= kTreeMinPoints;
}

// Whether the tree runs for z (n, d): the shape predicate (or a forced path), and every
// coordinate finite.
bool knn_use_tree(KnnPath path, const double* z, int64_t n, int64_t d);

// A lower bound on the reduced distance (common.h) from q to every point of the box [lo, hi],
// d coordinates: the gap to the box along each coordinate, combined as the point distances are.
GIB_HD double box_min_reduced(const double* q, const double* lo, const double* hi, int64_t d,
                              Metric metric) {
  double acc = 0.0;
  for (int64_t c = 0; c < d; ++c) {
    const double gap = q[c] < lo[c] ? pair_term(lo[c], q[c], metric)
                       : q[c] > hi[c] ? pair_term(hi[c], q[c], metric) : 0.0;
    acc = combine(acc, gap, metric);
  }
  return acc;
}

// An upper bound on the reduced distance from q to every point of the box [lo, hi].
GIB_HD double box_max_reduced(const double* q, const double* lo, const double* hi, int64_t d,
                              Metric metric) {
  double acc = 0.0;
  for (int64_t c = 0; c < d; ++c) {
    const double to_lo = pair_term(lo[c], q[c], metric), to_hi = pair_term(hi[c], q[c], metric);
    acc = combine(acc, to_lo > to_hi ? to_lo : to_hi, metric);
  }
  return acc;
}

// A k-d tree over z (n, d), d in [1, kTreeMaxDims], grouped by labels (nullptr: one group).
// Built once, queried for any k, radii and metric. Anchors are every point (the queries are the
// points themselves; a point is never its own neighbour).
class KdTree {
 public:
  KdTree(const double* z, int64_t n, int64_t d, const int64_t* labels);

  // out[i]: the k-th nearest distance of point i among the other points of its group, k lowered
  // to the group size - 1 (+inf when that is 0). below (nullable): below[i] = the number of those
  // points strictly closer than out[i] (exact, since they are all among the k nearest).
  // wanted (nullable, per point): only those anchors are computed. Entries of anchors not
  // computed are left as they are.
  void kth(int64_t k, Metric metric, double* out, int64_t* below, Shard shard,
           const uint8_t* wanted) const;

  // out[i] = #{j != i in the group of i : dist(z_i, z_j) < radius[i]}.
  void count(const double* radius, Metric metric, int64_t* out, Shard shard,
             const uint8_t* wanted) const;

  struct Node {
    int64_t begin, end;   // positions of its points
    int32_t left, right;  // children, -1 for a leaf
  };

 private:
  // Nodes, boxes and leaves of a subtree, numbered from its root (0).
  struct Fragment {
    std::vector<Node> nodes;
    std::vector<double> boxes;
    std::vector<int32_t> leaves;
  };
  // The top kParallelDepth levels of a tree of more than 4 kParallelMinPoints points build their
  // halves in parallel tasks; the tree is the same whatever the number of threads.
  static constexpr int kParallelDepth = 4;
  static constexpr int64_t kParallelMinPoints = 2048;

  void build(int64_t begin, int64_t end, int depth, Fragment& out);
  int32_t append(const Fragment& part);  // returns the index of its root
  template <class Body>
  void for_each_leaf(Shard shard, int64_t cost_per_anchor, const Body& body) const;

  int64_t n_, d_;
  Groups groups_;              // positions grouped by label; order: tree order within a group
  std::vector<double> pts_;    // pts_[p * d + c]: coordinate c of the point at position p
  std::vector<Node> nodes_;
  std::vector<double> boxes_;  // node t: lo at boxes_[2 t d], hi at boxes_[(2 t + 1) d]
  std::vector<int32_t> roots_;   // per group
  std::vector<int32_t> leaves_;  // in tree order
};

}  // namespace gib
