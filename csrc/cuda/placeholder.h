// Launchers of the CUDA module.  Plain C++ declarations: callers pass raw device pointers and a
// cudaStream_t as an integer handle (the caller's current stream, e.g. from torch), so neither
// this header nor the bindings need the CUDA headers or libtorch.
#pragma once

#include <cstdint>
#include <string>

namespace vrft::cuda {

// Number of CUDA devices visible to the runtime (0 when there is no driver or no GPU).
int device_count();

// Placeholder kernel: out[i] = a[i] + b[i] for n float32 values on `stream`.  Returns an empty
// string on success, else CUDA's error message.
std::string add_f32(const float* a, const float* b, float* out, int64_t n, std::uintptr_t stream);

}  // namespace vrft::cuda
