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
#define __shared__

struct dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace cuda_emu {

// Generation-counting barrier for the 32 lanes of the emulated warp.
class Barrier {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const unsigned generation = generation_;
    if (++arrived_ == 32) {
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
  unsigned arrived_ = 0;
  unsigned generation_ = 0;
};

inline Barrier warp_barrier;
inline std::uint64_t shuffle_slots[32];

}  // namespace cuda_emu

inline void __syncwarp(unsigned = 0xffffffffu) { cuda_emu::warp_barrier.wait(); }

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
