// The CUDA backend: the conventions of its launchers, which the op headers declare beside the
// CPU entry points (gib/knn.h, knn_loo.h, kde.h, under GIB_WITH_CUDA, which this header sets), and,
// for nvcc, the tiling helpers that every kernel of csrc/cuda shares. csrc/bind_cuda.cpp and every
// .cu file include this header first.
//
// Device buffers are float64, row-major, C-contiguous (the Python side allocates them through
// torch and passes raw pointers and its current stream). The per-pair math is the GIB_HD code of
// common.h and loo_math.h, in double as on the CPU: max-norm distances, and so radii and counts,
// agree with the CPU kernels bit for bit; Euclidean sums to rounding (nvcc fuses multiply-adds).
//
// Labels: the k-NN and KDE kernels take the rows sorted by label, and for every row i the range
// [group.begin[i], group.end[i]) of the rows that share its label (nullptr: one group, every row).
// Per-anchor outputs are (rows, anchors.end - anchors.begin), row-major: entry (j, i) is column j
// of anchor anchors.begin + i, so a warp's threads write consecutive addresses.
//
// Launchers make `device` current for the call, return at once on empty input, and throw
// std::runtime_error (a Python RuntimeError, never an abort) when CUDA reports an error.
#pragma once

#ifndef GIB_WITH_CUDA
#define GIB_WITH_CUDA 1
#endif

#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "gib/common.h"
#include "gib/kde.h"
#include "gib/knn.h"
#include "gib/knn_loo.h"
#include "gib/loo_math.h"

namespace gib {

namespace cuda {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("gib_kernels CUDA error in ") + what + ": " +
                             cudaGetErrorString(status));
}

// Makes `device` current for the guard's scope: the data may live on any device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) : device_(device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (device_ != previous_) check(cudaSetDevice(device_), "cudaSetDevice");
  }
  ~DeviceGuard() {
    if (device_ != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int device_;
  int previous_ = 0;
};

constexpr int kBlock = 128;  // anchors per block, one per thread
constexpr int kTileD = 32;   // coordinates per staged chunk

inline unsigned int blocks_for(AnchorRange anchors) {
  return static_cast<unsigned int>((anchors.end - anchors.begin + kBlock - 1) / kBlock);
}

}  // namespace cuda
}  // namespace gib

#if defined(__CUDACC__)
namespace gib {
namespace cuda {

// Candidate rows [begin, end).
struct Range {
  int64_t begin;
  int64_t end;
};

// The candidates of anchor a: the rows of its label group, or every row.
__device__ __forceinline__ Range own_candidates(LabelGroups groups, int64_t n, int64_t a) {
  return groups.begin ? Range{groups.begin[a], groups.end[a]} : Range{0, n};
}

// Ross: a point alone in its label takes no part in the labelled leave-one-out estimate.
__device__ __forceinline__ bool takes_part(LabelGroups groups, int64_t row) {
  return !groups.begin || groups.end[row] - groups.begin[row] > 1;
}

// The candidates of any anchor of the block starting at a0: groups are contiguous in label order,
// so they run from the group of the block's first anchor to the group of its last.
__device__ __forceinline__ Range block_candidates(LabelGroups groups, int64_t n, int64_t a0,
                                                  int64_t anchors_end) {
  if (!groups.begin) return Range{0, n};
  const int64_t last = (a0 + kBlock < anchors_end ? a0 + kBlock : anchors_end) - 1;
  return Range{groups.begin[a0], groups.end[last]};
}

// Shared-memory copies of kTileD coordinates of the block's anchors and of a tile of TileB
// candidates. The per-pair loops then read shared memory only: their own anchor's coordinate
// (consecutive threads, consecutive addresses) and the candidates' (one address: a broadcast).
// Both are stored transposed, a warp writing one row's coordinates; the pads spread those
// writes over the banks.
template <int TileB>
struct Staged {
  double anchors[kTileD][kBlock + 1];   // [coordinate][anchor]
  double candidates[kTileD][TileB + 1];  // [coordinate][candidate]
};

// tile[c][r] = x[row0 + r][c0 + c] for r < Rows, c < kTileD (zero outside x), every thread of the
// block helping; consecutive threads read consecutive coordinates of a row (coalesced).
template <int Rows, int Stride>
__device__ __forceinline__ void stage_rows(double (*tile)[Stride], const double* x, int64_t n,
                                           int64_t d, int64_t row0, int64_t c0) {
  for (int e = threadIdx.x; e < Rows * kTileD; e += kBlock) {
    const int r = e / kTileD, c = e % kTileD;
    const int64_t row = row0 + r, col = c0 + c;
    tile[c][r] = row < n && col < d ? x[row * d + col] : 0.0;
  }
}

// Calls column(x_anchor, x_candidates, c) for every coordinate c of x (n, d) in increasing order,
// with x_anchor this thread's anchor coordinate (anchors a0 + threadIdx.x) and x_candidates[b]
// that of candidate b0 + b, b < TileB. Every thread of the block must call it (it synchronises);
// rows past n read as zeros.
template <int TileB, class Column>
__device__ __forceinline__ void for_each_column(Staged<TileB>& s, const double* x, int64_t n,
                                                int64_t d, int64_t a0, int64_t b0,
                                                Column column) {
  for (int64_t c0 = 0; c0 < d; c0 += kTileD) {
    __syncthreads();  // everyone is done with the previous chunk
    stage_rows<kBlock>(s.anchors, x, n, d, a0, c0);
    stage_rows<TileB>(s.candidates, x, n, d, b0, c0);
    __syncthreads();
    const int chunk = d - c0 < kTileD ? static_cast<int>(d - c0) : kTileD;
    for (int c = 0; c < chunk; ++c)
      column(s.anchors[c][threadIdx.x], s.candidates[c], static_cast<int32_t>(c0 + c));
  }
}

// Bit b set: candidate b0 + b lies in `own` and is not the anchor itself (unless with_self).
template <int TileB>
__device__ __forceinline__ uint32_t candidate_mask(Range own, int64_t b0, int64_t a,
                                                   bool with_self) {
  static_assert(TileB <= 32, "one bit per candidate");
  uint32_t mask = 0;
  for (int b = 0; b < TileB; ++b) {
    const int64_t cand = b0 + b;
    if (cand >= own.begin && cand < own.end && (with_self || cand != a)) mask |= 1u << b;
  }
  return mask;
}

// squared_distance_without (loo_math.h) between rows a and b of z (n, m), out of line: it is the
// rare path, and inlined into an unrolled tile loop it would crowd the registers of the common one.
__device__ __noinline__ inline double distance_without_out_of_line(const double* z, int64_t m,
                                                                   int64_t a, int64_t b, int64_t j) {
  return squared_distance_without(z + a * m, z + b * m, m, j);
}

inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace cuda
}  // namespace gib
#endif
