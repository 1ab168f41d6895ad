// Small helpers shared by the launchers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace vrft::cuda::detail {

inline cudaStream_t as_stream(std::uintptr_t handle) {
  return reinterpret_cast<cudaStream_t>(handle);
}

// Blocks for `work` items of `per_block` each, capped so that grid-stride loops cover the rest
// (2^20 blocks is far more than any GPU keeps resident).
inline unsigned grid_for(int64_t work, int64_t per_block) {
  const int64_t blocks = (work + per_block - 1) / per_block;
  constexpr int64_t kMaxBlocks = int64_t(1) << 20;
  return static_cast<unsigned>(blocks < kMaxBlocks ? (blocks > 0 ? blocks : 1) : kMaxBlocks);
}

// "" after a good launch, else CUDA's message (cudaGetLastError also clears a non-sticky error).
inline std::string launch_status() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

}  // namespace vrft::cuda::detail
