// Host emulation of the few CUDA features the matching kernel uses, so that
// csrc/cuda/match_kernels.cuh can be compiled by g++ and executed on a machine without a GPU
// (tools/cuda_emu/match_emu.cpp, tests/test_cuda_emu.py).  One warp = 32 std::threads; every
// __syncwarp and each step of __shfl_xor_sync is a real barrier across them, so a missing
// barrier in the kernel shows up as a data race here too (not with the GPU's exact timing).
// Not part of the build; found before the real header only through -I tools/cuda_emu.
#pragma once

#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>

#define __global__
#define __device__
#define __host__
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
// Static __shared__ arrays (the IoU kernels) become function statics, shared by the threads of
// the one block that runs at a time (CUDA_EMU_STATIC_SHARED); the dynamic `extern __shared__`
// buffer of the matching kernel needs the plain form and a definition in the driver.
#ifdef CUDA_EMU_STATIC_SHARED
#define __shared__ static
#else
#define __shared__
#endif

struct dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace cuda_emu {

// Generation-counting barrier for `count` threads (32: the emulated warp; blockDim.x: a block).
class Barrier {
 public:
  explicit Barrier(unsigned count) : count_(count) {}
  void reset(unsigned count) { count_ = count; }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const unsigned generation = generation_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned count_;
  unsigned arrived_ = 0;
  unsigned generation_ = 0;
};

inline Barrier warp_barrier(32);
inline Barrier block_barrier(1);  // reset to blockDim.x before a block runs
inline std::uint64_t shuffle_slots[32];
inline std::mutex atomic_mutex;

}  // namespace cuda_emu

inline void __syncwarp(unsigned = 0xffffffffu) { cuda_emu::warp_barrier.wait(); }
inline void __syncthreads() { cuda_emu::block_barrier.wait(); }

inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
  std::lock_guard<std::mutex> lock(cuda_emu::atomic_mutex);
  const unsigned long long old = *address;
  if (value < old) *address = value;
  return old;
}

using std::fabs;
using std::isfinite;

template <typename T>
T __shfl_xor_sync(unsigned, T value, int offset) {
  static_assert(sizeof(T) <= 8, "8-byte slots");
  const unsigned lane = threadIdx.x & 31u;
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  cuda_emu::shuffle_slots[lane] = bits;
  cuda_emu::warp_barrier.wait();
  bits = cuda_emu::shuffle_slots[lane ^ static_cast<unsigned>(offset)];
  cuda_emu::warp_barrier.wait();
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
