// k-d tree search on the CPU (contract: knn_tree.h).
//
// Every point is an anchor and the anchors go leaf by leaf in tree order, so consecutive
// queries touch the same nodes and points. A query descends to the nearer child first and
// enters a child only while its box can still hold something that matters: a point closer than
// the current k-th, or within the radius. Counts take a child whole when its box lies within
// the radius. The search is compiled per dimension (1..kTreeMaxDims) so that the coordinate
// loops unroll.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "gib/knn_tree.h"
#include "gib/loo_math.h"

namespace gib {

bool knn_use_tree(KnnPath path, const double* z, int64_t n, int64_t d) {
  if (path == KnnPath::kDirect || d < 1 || d > kTreeMaxDims) return false;
  if (path == KnnPath::kAuto && !knn_tree_eligible(n, d)) return false;
  for (int64_t i = 0; i < n * d; ++i)
    if (!std::isfinite(z[i])) return false;
  return true;
}

namespace {

// Queries of one anchor (the point at position self, coordinates q) against one tree.
template <Metric M, int D>
struct Query {
  const double* pts;
  const KdTree::Node* nodes;
  const double* boxes;
  const double* q;
  int64_t self;

  const double* lo(int32_t t) const { return boxes + 2 * int64_t(t) * D; }
  const double* hi(int32_t t) const { return boxes + (2 * int64_t(t) + 1) * D; }

  // Reduced distance to the point at position p, coordinates in order as the direct path.
  double distance(int64_t p) const {
    const double* x = pts + p * D;
    double acc = 0.0;
    for (int c = 0; c < D; ++c) acc = combine(acc, pair_term(x[c], q[c], M), M);
    return acc;
  }

  // top (ascending, kk values): the kk smallest distances so far; returns the kk-th.
  double nearest(int32_t t, double* top, int64_t kk, double worst) const {
    const KdTree::Node& node = nodes[t];
    if (node.left < 0) {
      for (int64_t p = node.begin; p < node.end; ++p) {
        const double dist = distance(p);
        if (dist < worst && p != self) worst = topk_insert(top, kk, dist);
      }
      return worst;
    }
    const double to_left = box_min_reduced(q, lo(node.left), hi(node.left), D, M);
    const double to_right = box_min_reduced(q, lo(node.right), hi(node.right), D, M);
    // A box no nearer than the k-th holds nothing that enters the top (insertion is strict).
    if (to_left <= to_right) {
      if (to_left < worst) worst = nearest(node.left, top, kk, worst);
      if (to_right < worst) worst = nearest(node.right, top, kk, worst);
    } else {
      if (to_right < worst) worst = nearest(node.right, top, kk, worst);
      if (to_left < worst) worst = nearest(node.left, top, kk, worst);
    }
    return worst;
  }

  // #{p != self in node t : distance(p) < bound}.
  int64_t within(int32_t t, double bound) const {
    if (!(box_min_reduced(q, lo(t), hi(t), D, M) < bound)) return 0;
    const KdTree::Node& node = nodes[t];
    if (box_max_reduced(q, lo(t), hi(t), D, M) < bound)
      return node.end - node.begin - int64_t(self >= node.begin && self < node.end);
    if (node.left >= 0) return within(node.left, bound) + within(node.right, bound);
    int64_t count = 0;
    for (int64_t p = node.begin; p < node.end; ++p)
      count += int64_t(distance(p) < bound) & int64_t(p != self);
    return count;
  }
};

// Calls f(std::integral_constant<int, d>()) for d in 1..kTreeMaxDims.
template <class F>
void with_dims(int64_t d, const F& f) {
  switch (d) {
    case 1: return f(std::integral_constant<int, 1>());
    case 2: return f(std::integral_constant<int, 2>());
    case 3: return f(std::integral_constant<int, 3>());
    case 4: return f(std::integral_constant<int, 4>());
    case 5: return f(std::integral_constant<int, 5>());
    case 6: return f(std::integral_constant<int, 6>());
    case 7: return f(std::integral_constant<int, 7>());
    case 8: return f(std::integral_constant<int, 8>());
  }
}
static_assert(kTreeMaxDims == 8, "with_dims covers every dimension of the tree");

// Calls f(dims, metric_tag) with both as compile-time constants (integral_constant).
template <class F>
void with_dims_and_metric(int64_t d, Metric metric, const F& f) {
  with_dims(d, [&](auto dims) {
    if (metric == Metric::kMax)
      f(dims, std::integral_constant<Metric, Metric::kMax>());
    else
      f(dims, std::integral_constant<Metric, Metric::kEuclidean>());
  });
}

// Points of a node up to which the build's split scratch is kept by each thread (about 6 MB).
constexpr int64_t kKeptScratch = int64_t(1) << 16;

// A point of a node being split: its coordinate along the split, original index and position.
struct SplitEntry {
  double key;
  int64_t index, position;
};

}  // namespace

KdTree::KdTree(const double* z, int64_t n, int64_t d, const int64_t* labels)
    : n_(n), d_(d), groups_(group_by_label(labels, n)), pts_(static_cast<size_t>(n * d)) {
#pragma omp parallel for schedule(static) if (worth_threads(n * d))
  for (int64_t p = 0; p < n; ++p)
    std::copy(z + groups_.order[p] * d, z + (groups_.order[p] + 1) * d, pts_.begin() + p * d);
  for (size_t g = 0; g + 1 < groups_.start.size(); ++g) {
    Fragment tree;
#pragma omp parallel if (worth_threads(groups_.start[g + 1] - groups_.start[g]))
#pragma omp single
    build(groups_.start[g], groups_.start[g + 1], 0, tree);
    roots_.push_back(append(tree));
  }
}

int32_t KdTree::append(const Fragment& part) {
  const int32_t offset = static_cast<int32_t>(nodes_.size());
  for (Node node : part.nodes) {
    if (node.left >= 0) {
      node.left += offset;
      node.right += offset;
    }
    nodes_.push_back(node);
  }
  boxes_.insert(boxes_.end(), part.boxes.begin(), part.boxes.end());
  for (const int32_t leaf : part.leaves) leaves_.push_back(leaf + offset);
  return offset;
}

// Builds the subtree of positions [begin, end) into out (its root first). The rows of pts_ and
// the entries of the order move within [begin, end) only, so that the two halves of a node are
// built by parallel tasks near the root; deeper down a node goes on in its own task.
void KdTree::build(int64_t begin, int64_t end, int depth, Fragment& out) {
  const int64_t d = d_;
  const int32_t t = static_cast<int32_t>(out.nodes.size());
  out.nodes.push_back({begin, end, -1, -1});
  out.boxes.resize(out.boxes.size() + 2 * d);
  double* lo = out.boxes.data() + 2 * int64_t(t) * d;
  double* hi = lo + d;
  double* rows = pts_.data();
  std::copy(rows + begin * d, rows + (begin + 1) * d, lo);
  std::copy(lo, lo + d, hi);
  for (int64_t p = begin + 1; p < end; ++p)
    for (int64_t c = 0; c < d; ++c) {
      lo[c] = std::min(lo[c], rows[p * d + c]);
      hi[c] = std::max(hi[c], rows[p * d + c]);
    }
  int64_t widest = 0;
  for (int64_t c = 1; c < d; ++c)
    if (hi[c] - lo[c] > hi[widest] - lo[widest]) widest = c;
  // Coincident points stay together in one leaf, however many.
  if (end - begin <= kTreeLeaf || !(hi[widest] > lo[widest])) {
    out.leaves.push_back(t);
    return;
  }
  // The median along the widest coordinate (ties by original index, so the tree is a function
  // of the data), found on contiguous (key, index, position) entries, then the rows follow.
  const int64_t size = end - begin, mid = begin + size / 2;
  int64_t* order = groups_.order.data();
  // Scratch: for nodes of up to kKeptScratch points the calling thread's, kept between nodes
  // and builds (fresh buffers at every node would cost more in page faults than the build);
  // the few larger nodes near the root allocate their own.
  thread_local std::vector<SplitEntry> kept_entries;
  thread_local std::vector<double> kept_moved;
  std::vector<SplitEntry> own_entries;
  std::vector<double> own_moved;
  const bool kept = size <= kKeptScratch;
  std::vector<SplitEntry>& entries = kept ? kept_entries : own_entries;
  std::vector<double>& moved = kept ? kept_moved : own_moved;
  entries.resize(static_cast<size_t>(size));
  moved.resize(static_cast<size_t>(size * d));
  for (int64_t p = begin; p < end; ++p)
    entries[p - begin] = {rows[p * d + widest], order[p], p};
  std::nth_element(entries.begin(), entries.begin() + (mid - begin), entries.begin() + size,
                   [](const SplitEntry& a, const SplitEntry& b) {
                     return a.key < b.key || (a.key == b.key && a.index < b.index);
                   });
  for (int64_t i = 0; i < size; ++i) {
    std::copy(rows + entries[i].position * d, rows + (entries[i].position + 1) * d,
              moved.begin() + i * d);
    order[begin + i] = entries[i].index;
  }
  std::copy(moved.begin(), moved.begin() + size * d, rows + begin * d);

  if (depth < kParallelDepth && size >= 4 * kParallelMinPoints) {
    Fragment left, right;
#pragma omp task shared(left)
    build(begin, mid, depth + 1, left);
#pragma omp task shared(right)
    build(mid, end, depth + 1, right);
#pragma omp taskwait
    const auto graft = [&out](const Fragment& part) {
      const int32_t offset = static_cast<int32_t>(out.nodes.size());
      for (Node node : part.nodes) {
        if (node.left >= 0) {
          node.left += offset;
          node.right += offset;
        }
        out.nodes.push_back(node);
      }
      out.boxes.insert(out.boxes.end(), part.boxes.begin(), part.boxes.end());
      for (const int32_t leaf : part.leaves) out.leaves.push_back(leaf + offset);
      return offset;
    };
    const int32_t l = graft(left), r = graft(right);
    out.nodes[t].left = l;
    out.nodes[t].right = r;
    return;
  }
  const int32_t l = static_cast<int32_t>(out.nodes.size());
  build(begin, mid, depth + 1, out);
  const int32_t r = static_cast<int32_t>(out.nodes.size());
  build(mid, end, depth + 1, out);
  out.nodes[t].left = l;
  out.nodes[t].right = r;
}

// Calls body(leaf) for the shard's leaves, in parallel within tiles of about equal work, with a
// poll for interruption between tiles on the calling thread.
template <class Body>
void KdTree::for_each_leaf(Shard shard, int64_t cost_per_anchor, const Body& body) const {
  std::vector<int32_t> owned;
  for (size_t r = 0; r < leaves_.size(); ++r)
    if (shard.owns(static_cast<int64_t>(r))) owned.push_back(leaves_[r]);
  const int64_t n_owned = static_cast<int64_t>(owned.size());
  const int64_t tile = runs_per_tile(n_, cost_per_anchor, kTreeLeaf, 1 << 24);
  for (int64_t i0 = 0; i0 < n_owned; i0 += tile) {
    const int64_t i1 = std::min(n_owned, i0 + tile);
#pragma omp parallel for schedule(dynamic, 4) if (worth_threads((i1 - i0) * kTreeLeaf * cost_per_anchor))
    for (int64_t i = i0; i < i1; ++i) body(nodes_[owned[i]]);
    check_interrupt();
  }
}

void KdTree::kth(int64_t k, Metric metric, double* out, int64_t* below, Shard shard,
                 const uint8_t* wanted) const {
  // About the points of a few leaves per query, a few coordinates each.
  const int64_t cost = 8 * kTreeLeaf * d_;
  const auto run = [&](auto dims, auto metric_tag) {
    constexpr int D = decltype(dims)::value;
    constexpr Metric M = decltype(metric_tag)::value;
    for_each_leaf(shard, cost, [&](const Node& leaf) {
      std::vector<double> top;
      for (int64_t p = leaf.begin; p < leaf.end; ++p) {
        const int64_t i = groups_.order[p];
        if (wanted && !wanted[i]) continue;
        const int64_t kk = std::min(k, groups_.end(p) - groups_.begin(p) - 1);
        if (kk <= 0) {
          out[i] = kInf;
          if (below) below[i] = 0;
          continue;
        }
        top.assign(kk, kInf);
        const Query<M, D> query{pts_.data(), nodes_.data(), boxes_.data(), pts_.data() + p * D, p};
        const double kth = query.nearest(roots_[groups_.group[p]], top.data(), kk, kInf);
        out[i] = reduced_to_distance(kth, M);
        if (below) below[i] = std::lower_bound(top.begin(), top.end(), kth) - top.begin();
      }
    });
  };
  with_dims_and_metric(d_, metric, run);
}

void KdTree::count(const double* radius, Metric metric, int64_t* out, Shard shard,
                   const uint8_t* wanted) const {
  const int64_t cost = 8 * kTreeLeaf * d_;
  const auto run = [&](auto dims, auto metric_tag) {
    constexpr int D = decltype(dims)::value;
    constexpr Metric M = decltype(metric_tag)::value;
    for_each_leaf(shard, cost, [&](const Node& leaf) {
      for (int64_t p = leaf.begin; p < leaf.end; ++p) {
        const int64_t i = groups_.order[p];
        if (wanted && !wanted[i]) continue;
        const Query<M, D> query{pts_.data(), nodes_.data(), boxes_.data(), pts_.data() + p * D, p};
        out[i] = query.within(roots_[groups_.group[p]], reduced_bound(radius[i], M));
      }
    });
  };
  with_dims_and_metric(d_, metric, run);
}

}  // namespace gib
