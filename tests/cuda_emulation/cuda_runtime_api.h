// A CPU emulation of the part of the CUDA execution model that csrc/cuda uses, for the tests
// only (tests/cuda_emulation/build.py compiles the project's .cu files against it; it is never
// part of the installed package). The build puts this directory first on the include path, so
// the kernels' `#include <cuda_runtime_api.h>` lands here.
//
// What it models: a launch runs its blocks one after another; the threads of a block run as
// std::threads, each with its own threadIdx and blockIdx; `__shared__` variables are shared by the
// threads of a block (function-local statics, which serve one block at a time since blocks run in
// turn), filled with 0xFF bytes (NaN doubles) before every block so that reading what no thread
// wrote shows; `__syncthreads()` is a barrier of the block's threads that a finished thread leaves.
//
// What it checks: every thread of a block reaches the same number of barriers (divergent
// `__syncthreads`), grid and block sizes, and kernel exceptions (rethrown at the launch as a
// CUDA error). Indexing past a buffer is not trapped: it shows only as results that differ from
// the reference (or as a crash), and reading shared memory that no thread wrote as NaNs.
//
// What it cannot catch: real concurrency between blocks (they never overlap here), races of the
// GPU memory model (threads here see each other's writes at once, and a missing barrier may go
// unnoticed), warp-synchronous behaviour, timing, register and shared-memory limits, and float
// contraction (nvcc fuses multiply-adds; the host compiler may not).
#pragma once

#include <barrier>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

enum cudaError_t { cudaSuccess = 0, cudaErrorLaunchFailure = 4, cudaErrorInvalidConfiguration = 9 };

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  dim3(unsigned int x_ = 1) : x(x_) {}
};

namespace gib_emulation {

struct Index {
  unsigned int x = 0, y = 0, z = 0;
};

inline thread_local Index thread_index;
inline thread_local Index block_index;
inline thread_local std::barrier<>* block_barrier = nullptr;
inline thread_local long barriers_reached = 0;
inline cudaError_t last_error = cudaSuccess;
inline std::string last_message;

inline void fail(cudaError_t error, const std::string& message) {
  last_error = error;
  last_message = message;
}

// Runs kernel() for every thread of every block of a grid.
template <class Kernel>
void launch(dim3 grid, dim3 block, size_t /*shared_bytes*/, cudaStream_t /*stream*/,
            Kernel kernel) {
  if (grid.x == 0 || block.x == 0 || block.x > 1024 || grid.y != 1 || block.y != 1) {
    fail(cudaErrorInvalidConfiguration, "invalid configuration argument");
    return;
  }
  for (unsigned int b = 0; b < grid.x; ++b) {
    std::barrier<> barrier(block.x);
    std::vector<long> reached(block.x, 0);
    std::vector<std::exception_ptr> errors(block.x);
    std::vector<std::thread> threads;
    threads.reserve(block.x);
    for (unsigned int t = 0; t < block.x; ++t)
      threads.emplace_back([&, t] {
        thread_index = Index{t, 0, 0};
        block_index = Index{b, 0, 0};
        block_barrier = &barrier;
        barriers_reached = 0;
        try {
          kernel();
        } catch (...) {
          errors[t] = std::current_exception();
        }
        reached[t] = barriers_reached;
        barrier.arrive_and_drop();  // a finished thread no longer holds the block's barriers
      });
    for (auto& thread : threads) thread.join();
    for (unsigned int t = 0; t < block.x; ++t) {
      if (errors[t]) {
        try {
          std::rethrow_exception(errors[t]);
        } catch (const std::exception& e) {
          fail(cudaErrorLaunchFailure, std::string("kernel exception: ") + e.what());
        }
        return;
      }
      if (reached[t] != reached[0]) {
        fail(cudaErrorLaunchFailure,
             "barrier divergence: thread " + std::to_string(t) + " of block " +
                 std::to_string(b) + " reached " + std::to_string(reached[t]) +
                 " __syncthreads, thread 0 " + std::to_string(reached[0]));
        return;
      }
    }
  }
}

// build.py turns `__shared__ T name;` into `static T name; poison_shared(&name, sizeof(name));`:
// at the start of every block the block's threads meet, thread 0 fills the variable with 0xFF
// bytes (a NaN for doubles, -1 for integers), and they meet again before any of them uses it.
inline void poison_shared(void* shared, size_t bytes) {
  block_barrier->arrive_and_wait();
  if (thread_index.x == 0) std::memset(shared, 0xFF, bytes);
  block_barrier->arrive_and_wait();
}

}  // namespace gib_emulation

#define threadIdx (::gib_emulation::thread_index)
#define blockIdx (::gib_emulation::block_index)

inline void __syncthreads() {
  ++::gib_emulation::barriers_reached;
  ::gib_emulation::block_barrier->arrive_and_wait();
}

inline cudaError_t cudaGetLastError() {
  const cudaError_t error = ::gib_emulation::last_error;
  ::gib_emulation::last_error = cudaSuccess;
  return error;
}

inline const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : ::gib_emulation::last_message.c_str();
}

inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

inline cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : cudaErrorInvalidConfiguration;
}

inline cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;  // the emulated device
  return cudaSuccess;
}
