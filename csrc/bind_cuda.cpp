// pybind11 module gib_kernels._cuda: validates the arguments, releases the GIL, calls the CUDA
// launchers that the op headers declare (conventions: gib/cuda_utils.cuh). Buffers arrive as
// device addresses (torch's data_ptr()) of float64/int64 C-contiguous tensors that
// gib_kernels/backends/cuda.py allocates, the stream as torch's cuda_stream handle. Every check
// that could otherwise crash the process happens here; CUDA errors surface as RuntimeError.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "gib/cuda_utils.cuh"

namespace py = pybind11;

namespace {

void require(bool ok, const std::string& msg) {
  if (!ok) throw py::value_error(msg);
}

// A device buffer: required unless the call has nothing to read or write.
template <class T>
T* buffer(uintptr_t address, bool needed, const char* name) {
  require(!needed || address != 0, std::string(name) + " must be a device buffer");
  return reinterpret_cast<T*>(address);
}

cudaStream_t as_stream(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }

gib::Metric metric_of(int metric) {
  require(metric == 0 || metric == 1, "metric must be 0 (max-norm) or 1 (Euclidean)");
  return static_cast<gib::Metric>(metric);
}

void check_sizes(int64_t n, int64_t d, int device) {
  require(n >= 0 && d >= 0, "the number of rows and columns must be >= 0");
  require(device >= 0, "device must be a CUDA device index >= 0");
}

void check_k(int64_t k, int64_t n) {
  require(k >= 1 && (n == 0 || k < n), "k must be >= 1 and smaller than the number of samples");
}

void check_loo(int64_t n, int64_t m, int64_t k, int device) {
  check_sizes(n, m, device);
  require(m >= 1, "z must have at least one column");
  check_k(k, n);
}

gib::LabelGroups groups_of(uintptr_t begin, uintptr_t end) {
  require((begin == 0) == (end == 0), "give both group_begin and group_end, or neither");
  return {reinterpret_cast<const int64_t*>(begin), reinterpret_cast<const int64_t*>(end)};
}

gib::AnchorRange anchors_of(int64_t begin, int64_t end, int64_t n) {
  require(0 <= begin && begin <= end && end <= n, "anchors must satisfy 0 <= begin <= end <= n");
  return {begin, end};
}

// Runs a launcher without the GIL (launches are asynchronous, but the device guard and the
// error check are not free).
template <class F>
void launch(F&& launcher) {
  py::gil_scoped_release release;
  launcher();
}

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the error, report none
    return 0;
  }
  return count;
}

void kth_neighbor_distance(uintptr_t z, int64_t n, int64_t d, uintptr_t group_begin,
                           uintptr_t group_end, int64_t k, int metric, int64_t anchors_begin,
                           int64_t anchors_end, uintptr_t lists, uintptr_t out, int device,
                           uintptr_t stream) {
  check_sizes(n, d, device);
  check_k(k, n);
  const gib::Metric met = metric_of(metric);
  const gib::LabelGroups groups = groups_of(group_begin, group_end);
  const gib::AnchorRange anchors = anchors_of(anchors_begin, anchors_end, n);
  const bool any = anchors_end > anchors_begin;
  const double* zp = buffer<const double>(z, any && d > 0, "z");
  double* lp = buffer<double>(lists, any, "lists");
  double* op = buffer<double>(out, any, "out");
  launch([&] {
    gib::kth_neighbor_distance_cuda(zp, n, d, groups, k, met, anchors, lp, op, device,
                                    as_stream(stream));
  });
}

void count_within(uintptr_t z, int64_t n, int64_t d, uintptr_t radius, int metric,
                  int64_t anchors_begin, int64_t anchors_end, uintptr_t out, int device,
                  uintptr_t stream) {
  check_sizes(n, d, device);
  const gib::Metric met = metric_of(metric);
  const gib::AnchorRange anchors = anchors_of(anchors_begin, anchors_end, n);
  const bool any = anchors_end > anchors_begin;
  const double* zp = buffer<const double>(z, any && d > 0, "z");
  const double* rp = buffer<const double>(radius, any, "radius");
  int64_t* op = buffer<int64_t>(out, any, "out");
  launch([&] {
    gib::count_within_cuda(zp, n, d, rp, met, anchors, op, device, as_stream(stream));
  });
}

void knn_loo_maxnorm_radii(uintptr_t z, int64_t n, int64_t m, uintptr_t group_begin,
                           uintptr_t group_end, uintptr_t w, int64_t q, int64_t k,
                           int64_t anchors_begin, int64_t anchors_end, uintptr_t lists,
                           uintptr_t radius, int device, uintptr_t stream) {
  check_loo(n, m, k, device);
  const gib::LabelGroups groups = groups_of(group_begin, group_end);
  require(!(groups.begin && w), "give labels or w, not both");
  require(q >= 0 && (w != 0 || q == 0), "q must be w's number of columns (0 without w)");
  const gib::AnchorRange anchors = anchors_of(anchors_begin, anchors_end, n);
  const bool any = anchors_end > anchors_begin;
  const double* zp = buffer<const double>(z, any, "z");
  const double* wp = buffer<const double>(w, false, "w");
  double* lp = buffer<double>(lists, any, "lists");
  double* rp = buffer<double>(radius, any, "radius");
  launch([&] {
    gib::knn_loo_maxnorm_radii_cuda(zp, n, m, groups, wp, q, k, anchors, lp, rp, device,
                                    as_stream(stream));
  });
}

void knn_loo_maxnorm_counts(uintptr_t z, int64_t n, int64_t m, uintptr_t group_begin,
                            uintptr_t group_end, uintptr_t w, int64_t q, int64_t anchors_begin,
                            int64_t anchors_end, uintptr_t radius, uintptr_t count_z,
                            uintptr_t count_w, int device, uintptr_t stream) {
  check_sizes(n, m, device);
  require(m >= 1, "z must have at least one column");
  const gib::LabelGroups groups = groups_of(group_begin, group_end);
  require(!(groups.begin && w), "give labels or w, not both");
  require(q >= 0 && (w != 0 || q == 0), "q must be w's number of columns (0 without w)");
  const gib::AnchorRange anchors = anchors_of(anchors_begin, anchors_end, n);
  const bool any = anchors_end > anchors_begin;
  const double* zp = buffer<const double>(z, any, "z");
  const double* wp = buffer<const double>(w, false, "w");
  const double* rp = buffer<const double>(radius, any, "radius");
  int64_t* czp = buffer<int64_t>(count_z, any, "count_z");
  int64_t* cwp = buffer<int64_t>(count_w, any, "count_w");
  launch([&] {
    gib::knn_loo_maxnorm_counts_cuda(zp, n, m, groups, wp, q, anchors, rp, czp, cwp, device,
                                     as_stream(stream));
  });
}

void knn_loo_euclidean(uintptr_t z, int64_t n, int64_t m, int64_t k, int64_t anchors_begin,
                       int64_t anchors_end, uintptr_t lists, uintptr_t kth_squared, int device,
                       uintptr_t stream) {
  check_loo(n, m, k, device);
  const gib::AnchorRange anchors = anchors_of(anchors_begin, anchors_end, n);
  const bool any = anchors_end > anchors_begin;
  const double* zp = buffer<const double>(z, any, "z");
  double* lp = buffer<double>(lists, any, "lists");
  double* kp = buffer<double>(kth_squared, any, "kth_squared");
  launch([&] {
    gib::knn_loo_euclidean_cuda(zp, n, m, k, anchors, lp, kp, device, as_stream(stream));
  });
}

void kde_log_mean_kernel(uintptr_t t, int64_t n, int64_t m, uintptr_t group_begin,
                         uintptr_t group_end, double sigma2, bool leave_one_out,
                         int64_t anchors_begin, int64_t anchors_end, uintptr_t log_mean,
                         int device, uintptr_t stream) {
  check_sizes(n, m, device);
  require(sigma2 > 0, "sigma2 must be > 0");
  require(!leave_one_out || m >= 1, "t must have at least one column");
  const gib::LabelGroups groups = groups_of(group_begin, group_end);
  const gib::AnchorRange anchors = anchors_of(anchors_begin, anchors_end, n);
  const bool any = anchors_end > anchors_begin;
  const double* tp = buffer<const double>(t, any && m > 0, "t");
  double* op = buffer<double>(log_mean, any, "log_mean");
  const int64_t columns = leave_one_out ? m : 0;
  launch([&] {
    gib::kde_log_mean_kernel_cuda(tp, n, m, groups, sigma2, columns, anchors, op, device,
                                  as_stream(stream));
  });
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "gib_kernels CUDA kernels over float64/int64 device buffers (addresses and a stream).";
  m.def("device_count", &device_count,
        "Number of visible CUDA devices; 0 (never an error) without a driver or a device.");
  m.def("kth_neighbor_distance", &kth_neighbor_distance, py::arg("z"), py::arg("n"), py::arg("d"),
        py::arg("group_begin"), py::arg("group_end"), py::arg("k"), py::arg("metric"),
        py::arg("anchors_begin"), py::arg("anchors_end"), py::arg("lists"), py::arg("out"),
        py::arg("device"), py::arg("stream"));
  m.def("count_within", &count_within, py::arg("z"), py::arg("n"), py::arg("d"),
        py::arg("radius"), py::arg("metric"), py::arg("anchors_begin"), py::arg("anchors_end"),
        py::arg("out"), py::arg("device"), py::arg("stream"));
  m.def("knn_loo_maxnorm_radii", &knn_loo_maxnorm_radii, py::arg("z"), py::arg("n"),
        py::arg("m"), py::arg("group_begin"), py::arg("group_end"), py::arg("w"), py::arg("q"),
        py::arg("k"), py::arg("anchors_begin"), py::arg("anchors_end"), py::arg("lists"),
        py::arg("radius"), py::arg("device"), py::arg("stream"));
  m.def("knn_loo_maxnorm_counts", &knn_loo_maxnorm_counts, py::arg("z"), py::arg("n"),
        py::arg("m"), py::arg("group_begin"), py::arg("group_end"), py::arg("w"), py::arg("q"),
        py::arg("anchors_begin"), py::arg("anchors_end"), py::arg("radius"), py::arg("count_z"),
        py::arg("count_w"), py::arg("device"), py::arg("stream"));
  m.def("knn_loo_euclidean", &knn_loo_euclidean, py::arg("z"), py::arg("n"), py::arg("m"),
        py::arg("k"), py::arg("anchors_begin"), py::arg("anchors_end"), py::arg("lists"),
        py::arg("kth_squared"), py::arg("device"), py::arg("stream"));
  m.def("kde_log_mean_kernel", &kde_log_mean_kernel, py::arg("t"), py::arg("n"), py::arg("m"),
        py::arg("group_begin"), py::arg("group_end"), py::arg("sigma2"),
        py::arg("leave_one_out"), py::arg("anchors_begin"), py::arg("anchors_end"),
        py::arg("log_mean"), py::arg("device"), py::arg("stream"));
}
