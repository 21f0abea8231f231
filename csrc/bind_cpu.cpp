// pybind11 module gib_kernels._cpu: validates buffers, releases the GIL, calls the kernels.
// Every check that could otherwise crash the process (shape, dtype, range) happens here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gib/binning.h"
#include "gib/gram.h"
#include "gib/kde.h"
#include "gib/knn.h"
#include "gib/knn_loo.h"
#include "gib/knn_tree.h"
#include "gib/simd.h"

namespace py = pybind11;

namespace {

template <class T>
using Arr = py::array_t<T, py::array::c_style | py::array::forcecast>;

void require(bool ok, const std::string& msg) {
  if (!ok) throw py::value_error(msg);
}

bool poll_python_signals() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// Runs a kernel without the GIL; Ctrl-C raises KeyboardInterrupt between tiles.
template <class F>
void run_kernel(F&& kernel) {
  bool interrupted = false;
  {
    py::gil_scoped_release release;
    gib::set_interrupt_poll(&poll_python_signals);
    try {
      kernel();
    } catch (const gib::Interrupted&) {
      interrupted = true;
    } catch (...) {
      gib::set_interrupt_poll(nullptr);
      throw;
    }
    gib::set_interrupt_poll(nullptr);
  }
  if (interrupted) throw py::error_already_set();
}

int64_t rows(const py::array& a, int ndim, const char* name) {
  require(a.ndim() == ndim, std::string(name) + " must be " + std::to_string(ndim) + "-D, got " +
                                std::to_string(a.ndim()) + "-D");
  return a.shape(0);
}

const int64_t* optional_labels(const std::optional<Arr<int64_t>>& labels, int64_t n) {
  if (!labels) return nullptr;
  require(rows(*labels, 1, "labels") == n, "labels must have one entry per row of z");
  return labels->data();
}

// k of a k-NN primitive: a neighbour exists for k < n (n == 0 has no point to ask about).
void check_k(int64_t k, int64_t n) {
  require(k >= 1 && (n == 0 || k < n), "k must be >= 1 and smaller than the number of samples");
}

// shard: None (all the work) or (index, count), a part of the kernel's units (common.h).
using ShardArg = std::optional<std::pair<int64_t, int64_t>>;

gib::Shard shard_of(const ShardArg& shard) {
  if (!shard) return {};
  const auto [index, count] = *shard;
  require(count >= 1 && index >= 0 && index < count,
          "shard must be (index, count) with 0 <= index < count");
  return {index, count};
}

gib::Metric metric_of(int metric) {
  require(metric == 0 || metric == 1, "metric must be 0 (max-norm) or 1 (Euclidean)");
  return static_cast<gib::Metric>(metric);
}

// path: "auto" (the eligibility predicate chooses), "direct" or "tree" (tests, benchmarks).
gib::KnnPath path_of(const std::string& path) {
  if (path == "auto") return gib::KnnPath::kAuto;
  if (path == "direct") return gib::KnnPath::kDirect;
  require(path == "tree", "path must be 'auto', 'direct' or 'tree', got '" + path + "'");
  return gib::KnnPath::kTree;
}

// The Gram-form paths (gram.h) multiply blocks with scipy's BLAS dgemm, found once, on first
// use; without scipy the kernels keep their direct paths. Called with the GIL held.
bool install_blas() {
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      py::dict api = py::module_::import("scipy.linalg.cython_blas").attr("__pyx_capi__");
      PyObject* capsule = py::object(api["dgemm"]).ptr();
      void* fn = PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule));
      if (fn == nullptr) throw py::error_already_set();
      gib::set_dgemm(reinterpret_cast<gib::Dgemm>(fn));
    } catch (const py::error_already_set&) {
      PyErr_Clear();
    }
  }
  return gib::installed_dgemm() != nullptr;
}

// Whether kth_neighbor_distance takes the Gram form for n points of d coordinates (Euclidean).
bool euclidean_gram_eligible(int64_t n, int64_t d) {
  return gib::euclidean_gram_eligible(n, d, install_blas());
}

py::array_t<double> kth_neighbor_distance_direct(Arr<double> z,
                                                 std::optional<Arr<int64_t>> labels, int64_t k,
                                                 ShardArg shard) {
  const int64_t n = rows(z, 2, "z"), d = z.shape(1);
  check_k(k, n);
  require(d >= 2, "the direct Euclidean path takes d >= 2");
  const int64_t* lab = optional_labels(labels, n);
  const gib::Shard part = shard_of(shard);
  py::array_t<double> out(n);
  double* o = out.mutable_data();
  const double* zp = z.data();
  if (n > 0) run_kernel([&] { gib::kth_neighbor_distance_direct_cpu(zp, n, d, lab, k, o, part); });
  return out;
}

// The Gram-form path whatever the size; None where it does not apply.
py::object kth_neighbor_distance_gram(Arr<double> z, std::optional<Arr<int64_t>> labels,
                                      int64_t k, ShardArg shard) {
  const int64_t n = rows(z, 2, "z"), d = z.shape(1);
  check_k(k, n);
  const int64_t* lab = optional_labels(labels, n);
  const gib::Shard part = shard_of(shard);
  if (!install_blas()) return py::none();
  py::array_t<double> out(n);
  double* o = out.mutable_data();
  const double* zp = z.data();
  bool applied = n == 0;
  if (n > 0)
    run_kernel([&] { applied = gib::kth_neighbor_distance_gram_cpu(zp, n, d, lab, k, o, part); });
  return applied ? py::object(out) : py::object(py::none());
}

py::array_t<double> kth_neighbor_distance(Arr<double> z, std::optional<Arr<int64_t>> labels,
                                          int64_t k, int metric, ShardArg shard,
                                          const std::string& path) {
  const int64_t n = rows(z, 2, "z"), d = z.shape(1);
  check_k(k, n);
  const int64_t* lab = optional_labels(labels, n);
  const gib::Metric met = metric_of(metric);
  const gib::Shard part = shard_of(shard);
  if (met == gib::Metric::kEuclidean) install_blas();
  py::array_t<double> out(n);
  double* o = out.mutable_data();
  const double* zp = z.data();
  const gib::KnnPath how = path_of(path);
  if (n > 0)
    run_kernel([&] { gib::kth_neighbor_distance_cpu(zp, n, d, lab, k, met, o, part, how); });
  return out;
}

py::array_t<int64_t> count_within(Arr<double> z, Arr<double> radius, int metric,
                                  ShardArg shard, const std::string& path) {
  const int64_t n = rows(z, 2, "z"), d = z.shape(1);
  require(rows(radius, 1, "radius") == n, "radius must have one entry per row of z");
  const gib::Metric met = metric_of(metric);
  const gib::Shard part = shard_of(shard);
  py::array_t<int64_t> out(n);
  int64_t* o = out.mutable_data();
  const double *zp = z.data(), *rp = radius.data();
  const gib::KnnPath how = path_of(path);
  if (n > 0) run_kernel([&] { gib::count_within_cpu(zp, n, d, rp, met, o, part, how); });
  return out;
}

// targets: a list of (labels or None, w or None); returns (len(targets), 3, m + 1).
py::array_t<double> knn_loo_maxnorm_targets(Arr<double> z, py::list targets, int64_t k,
                                            ShardArg shard, std::optional<Arr<double>> bound,
                                            const std::string& path) {
  const int64_t n = rows(z, 2, "z"), m = z.shape(1);
  require(m >= 1, "z must have at least one column");
  require(n >= 1, "z must have at least one row");
  check_k(k, n);
  require(py::len(targets) >= 1, "give at least one target");
  // Keep the converted arrays alive while the kernel runs.
  std::vector<Arr<int64_t>> label_arrays;
  std::vector<Arr<double>> w_arrays;
  std::vector<gib::LooTarget> specs;
  for (py::handle item : targets) {
    auto pair = item.cast<py::tuple>();
    require(pair.size() == 2, "each target must be a (labels, w) pair");
    gib::LooTarget spec{nullptr, nullptr, 0};
    require(pair[0].is_none() || pair[1].is_none(), "give labels or w, not both");
    if (!pair[0].is_none()) {
      label_arrays.push_back(pair[0].cast<Arr<int64_t>>());
      spec.labels = optional_labels(label_arrays.back(), n);
    }
    if (!pair[1].is_none()) {
      w_arrays.push_back(pair[1].cast<Arr<double>>());
      require(rows(w_arrays.back(), 2, "w") == n, "w must have one row per row of z");
      spec.w = w_arrays.back().data();
      spec.q = w_arrays.back().shape(1);
    }
    specs.push_back(spec);
  }
  const int64_t n_targets = static_cast<int64_t>(specs.size());
  const gib::Shard part = shard_of(shard);
  const double* bp = nullptr;
  if (bound) {
    require(rows(*bound, 1, "bound") == n, "bound must have one entry per row of z");
    bp = bound->data();
  }
  const gib::KnnPath how = path_of(path);
  py::array_t<double> out({n_targets, int64_t(3), m + 1});
  double* o = out.mutable_data();
  const double* zp = z.data();
  run_kernel(
      [&] { gib::knn_loo_maxnorm_cpu(zp, n, m, specs.data(), n_targets, k, o, part, bp, how); });
  return out;
}

py::array_t<double> knn_loo_maxnorm(Arr<double> z, std::optional<Arr<int64_t>> labels,
                                    std::optional<Arr<double>> w, int64_t k, ShardArg shard,
                                    std::optional<Arr<double>> bound, const std::string& path) {
  py::list targets;
  targets.append(py::make_tuple(labels ? py::object(*labels) : py::none(),
                                w ? py::object(*w) : py::none()));
  auto out = knn_loo_maxnorm_targets(z, targets, k, shard, bound, path);
  return out.reshape({out.shape(1), out.shape(2)});
}

py::array_t<double> knn_loo_euclidean(Arr<double> z, int64_t k, ShardArg shard,
                                      const std::string& path) {
  const int64_t n = rows(z, 2, "z"), m = z.shape(1);
  require(m >= 1, "z must have at least one column");
  require(n >= 1, "z must have at least one row");
  check_k(k, n);
  const gib::Shard part = shard_of(shard);
  py::array_t<double> out(m + 1);
  double* o = out.mutable_data();
  const double* zp = z.data();
  const gib::KnnPath how = path_of(path);
  run_kernel([&] { gib::knn_loo_euclidean_cpu(zp, n, m, k, o, part, how); });
  return out;
}

void check_classes(const int64_t* lab, int64_t n, int64_t n_classes) {
  for (int64_t i = 0; i < n; ++i)
    require(lab[i] >= 0 && lab[i] < n_classes, "labels must lie in [0, n_classes)");
}

py::array_t<double> kde_log_mean_kernel(Arr<double> t, std::optional<Arr<int64_t>> labels,
                                        double sigma2, ShardArg shard) {
  const int64_t n = rows(t, 2, "t"), d = t.shape(1);
  require(sigma2 > 0, "sigma2 must be > 0");
  const int64_t* lab = optional_labels(labels, n);
  const gib::Shard part = shard_of(shard);
  install_blas();
  py::array_t<double> out(n);
  double* o = out.mutable_data();
  const double* tp = t.data();
  if (n > 0) run_kernel([&] { gib::kde_log_mean_kernel_cpu(tp, n, d, lab, sigma2, o, part); });
  return out;
}

// kde_log_mean_kernel on one path: "direct", or "gram" (None where it does not apply).
py::object kde_log_mean_kernel_path(Arr<double> t, std::optional<Arr<int64_t>> labels,
                                    double sigma2, const std::string& path, ShardArg shard) {
  const int64_t n = rows(t, 2, "t"), d = t.shape(1);
  require(sigma2 > 0, "sigma2 must be > 0");
  require(path == "direct" || path == "gram", "path must be 'direct' or 'gram'");
  const int64_t* lab = optional_labels(labels, n);
  const gib::Shard part = shard_of(shard);
  if (path == "gram" && !install_blas()) return py::none();
  py::array_t<double> out(n);
  double* o = out.mutable_data();
  const double* tp = t.data();
  bool applied = true;
  if (n > 0)
    run_kernel([&] {
      if (path == "direct")
        gib::kde_log_mean_kernel_direct_cpu(tp, n, d, lab, sigma2, o, part);
      else
        applied = gib::kde_log_mean_kernel_gram_cpu(tp, n, d, lab, sigma2, o, part);
    });
  return applied ? py::object(out) : py::object(py::none());
}

bool kde_gram_eligible(Arr<double> t, double sigma2) {
  const int64_t n = rows(t, 2, "t"), d = t.shape(1);
  install_blas();
  return gib::kde_log_mean_kernel_takes_gram(t.data(), n, d, sigma2);
}

py::array_t<double> kde_loo(Arr<double> t, std::optional<Arr<int64_t>> labels, int64_t n_classes,
                            double sigma2, ShardArg shard) {
  const int64_t n = rows(t, 2, "t"), m = t.shape(1);
  require(m >= 1, "t must have at least one column");
  require(sigma2 > 0, "sigma2 must be > 0");
  const int64_t* lab = optional_labels(labels, n);
  if (lab) {
    require(n_classes >= 1, "n_classes must be >= 1");
    check_classes(lab, n, n_classes);
  } else {
    require(n_classes == 1, "n_classes must be 1 without labels");
  }
  const gib::Shard part = shard_of(shard);
  py::array_t<double> out({n_classes, m + 1});
  double* o = out.mutable_data();
  const double* tp = t.data();
  run_kernel([&] { gib::kde_loo_cpu(tp, n, m, lab, n_classes, sigma2, o, part); });
  return out;
}

const int64_t* optional_fixed(const std::optional<Arr<int64_t>>& fixed, int64_t n, int64_t& f) {
  f = 0;
  if (!fixed) return nullptr;
  require(rows(*fixed, 2, "fixed") == n, "fixed must have one row per row of codes");
  f = fixed->shape(1);
  return fixed->data();
}

py::array_t<int64_t> pattern_counts(Arr<int64_t> codes, std::optional<Arr<int64_t>> fixed) {
  const int64_t n = rows(codes, 2, "codes"), m = codes.shape(1);
  int64_t f;
  const int64_t* fp = optional_fixed(fixed, n, f);
  const int64_t* cp = codes.data();
  std::vector<int64_t> counts;
  run_kernel([&] { counts = gib::pattern_counts_cpu(cp, n, m, fp, f); });
  return py::array_t<int64_t>(static_cast<py::ssize_t>(counts.size()), counts.data());
}

// (hashes (classes, 2) uint64, counts (classes,)): the classes of pattern_counts with their
// 128-bit hashes, in ascending hash order.
py::tuple pattern_classes(Arr<int64_t> codes, std::optional<Arr<int64_t>> fixed) {
  const int64_t n = rows(codes, 2, "codes"), m = codes.shape(1);
  int64_t f;
  const int64_t* fp = optional_fixed(fixed, n, f);
  const int64_t* cp = codes.data();
  std::vector<int64_t> counts;
  std::vector<uint64_t> hashes;
  run_kernel([&] { counts = gib::pattern_counts_cpu(cp, n, m, fp, f, &hashes); });
  const auto classes = static_cast<py::ssize_t>(counts.size());
  return py::make_tuple(py::array_t<uint64_t>({classes, py::ssize_t(2)}, hashes.data()),
                        py::array_t<int64_t>(classes, counts.data()));
}

py::array_t<double> binning_loo(Arr<int64_t> codes, std::optional<Arr<int64_t>> fixed,
                                ShardArg shard) {
  const int64_t n = rows(codes, 2, "codes"), m = codes.shape(1);
  require(m >= 1, "codes must have at least one column");
  int64_t f;
  const int64_t* fp = optional_fixed(fixed, n, f);
  const gib::Shard part = shard_of(shard);
  py::array_t<double> out(m + 1);
  double* o = out.mutable_data();
  const int64_t* cp = codes.data();
  run_kernel([&] { gib::binning_loo_cpu(cp, n, m, fp, f, o, part); });
  return out;
}

void set_num_threads(int n) {
  require(n >= 1, "the number of threads must be >= 1");
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "gib_kernels C++ CPU kernels (OpenMP). Inputs are float64/int64 C-contiguous.";
  const auto shard = py::arg("shard") = py::none();
  const auto path = py::arg("path") = "auto";
  m.def("kth_neighbor_distance", &kth_neighbor_distance, py::arg("z"), py::arg("labels"),
        py::arg("k"), py::arg("metric"), shard, path);
  m.def("count_within", &count_within, py::arg("z"), py::arg("radius"), py::arg("metric"), shard,
        path);
  // The k-d tree path of the k-NN kernels and its eligibility predicate (knn_tree.h).
  m.def("knn_tree_eligible", &gib::knn_tree_eligible, py::arg("n"), py::arg("d"));
  m.def("knn_uses_tree", [](Arr<double> z, const std::string& path) {
    const int64_t n = rows(z, 2, "z"), d = z.shape(1);
    return d >= 2 && gib::knn_use_tree(path_of(path), z.data(), n, d);
  }, py::arg("z"), py::arg("path") = "auto");
  // Whether knn_loo_maxnorm(_targets) runs as separate searches (knn_loo.h), per target the
  // number of columns of its w (0: labels or nothing).
  m.def("knn_loo_by_searches", [](int64_t n, int64_t m, const std::vector<int64_t>& w_columns,
                                  const std::string& path) {
    std::vector<gib::LooTarget> specs;
    for (const int64_t q : w_columns) specs.push_back({nullptr, nullptr, q});
    return gib::knn_loo_by_searches(path_of(path), n, m, specs.data(),
                                    static_cast<int64_t>(specs.size()));
  }, py::arg("n"), py::arg("m"), py::arg("w_columns"), py::arg("path") = "auto");
  m.def("kth_neighbor_distance_direct", &kth_neighbor_distance_direct, py::arg("z"),
        py::arg("labels"), py::arg("k"), shard);
  m.def("kth_neighbor_distance_gram", &kth_neighbor_distance_gram, py::arg("z"),
        py::arg("labels"), py::arg("k"), shard);
  m.def("euclidean_gram_eligible", &euclidean_gram_eligible, py::arg("n"), py::arg("d"));
  const auto bound = py::arg("bound") = py::none();
  m.def("knn_loo_maxnorm", &knn_loo_maxnorm, py::arg("z"), py::arg("labels"), py::arg("w"),
        py::arg("k"), shard, bound, path);
  m.def("knn_loo_maxnorm_targets", &knn_loo_maxnorm_targets, py::arg("z"), py::arg("targets"),
        py::arg("k"), shard, bound, path);
  // Wider z prunes the fused max-norm pass with per-anchor radius bounds (knn_loo.h).
  m.attr("loo_pruned_above") = gib::kLooPrunedAbove;
  m.def("knn_loo_euclidean", &knn_loo_euclidean, py::arg("z"), py::arg("k"), shard, path);
  m.def("knn_loo_euclidean_by_searches", [](int64_t n, int64_t m, const std::string& path) {
    return gib::knn_loo_euclidean_by_searches(path_of(path), n, m);
  }, py::arg("n"), py::arg("m"), py::arg("path") = "auto");
  m.def("kde_log_mean_kernel", &kde_log_mean_kernel, py::arg("t"), py::arg("labels"),
        py::arg("sigma2"), shard);
  m.def("kde_log_mean_kernel_path", &kde_log_mean_kernel_path, py::arg("t"), py::arg("labels"),
        py::arg("sigma2"), py::arg("path"), shard);
  m.def("kde_gram_eligible", &kde_gram_eligible, py::arg("t"), py::arg("sigma2"));
  m.def("kde_loo", &kde_loo, py::arg("t"), py::arg("labels"), py::arg("n_classes"),
        py::arg("sigma2"), shard);
  m.def("pattern_counts", &pattern_counts, py::arg("codes"), py::arg("fixed"));
  m.def("pattern_classes", &pattern_classes, py::arg("codes"), py::arg("fixed"));
  m.def("binning_loo", &binning_loo, py::arg("codes"), py::arg("fixed"), shard);
  m.def("simd_path", [] { return std::string(gib::simd_name(gib::simd_path())); },
        "the vector unit of the k-NN scan and leave-one-out passes: generic, avx2 or avx512");
  m.def("simd_paths_available", &gib::simd_paths_available);
  m.def("set_simd_path", &gib::set_simd_path, py::arg("name"),
        "takes one of simd_paths_available(); False (and no change) otherwise");
  m.def("max_threads", &gib::max_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
}
