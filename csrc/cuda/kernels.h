// Launchers of the CUDA module (_C_cuda), as plain C++ declarations.
//
// Contract shared by every launcher:
//   * pointers are device pointers on the current CUDA device, row-major and C-contiguous, as
//     described per argument; the caller (the Python layer, vrft_rewards/_cuda.py) has checked
//     shapes, dtypes, devices and offsets, and allocated every output;
//   * `stream` is a cudaStream_t passed as an integer (the caller's current stream, e.g.
//     torch.cuda.current_stream().cuda_stream; 0 is the legacy default stream).  Work is only
//     enqueued on it: no launcher synchronises with the host or allocates device memory;
//   * the return value is empty on success, else CUDA's error message for the launch
//     (cudaGetLastError right after it), which the bindings raise as RuntimeError.  Errors that
//     happen while the kernel runs surface at the caller's next synchronisation, as for any
//     asynchronous CUDA work.
// This header needs neither the CUDA headers nor pybind11, so the bindings compile with g++.
#pragma once

#include <cstdint>
#include <string>

#include "geometry/box_types.h"
#include "match/match_boxes.h"

namespace vrft::cuda {

// Number of CUDA devices visible to the runtime (0 when there is no driver or no GPU).
int device_count();

// What the runtime sees, for diagnostics: CUDA runtime and driver versions (1000 * major +
// 10 * minor; driver 0 when there is none) and the message of cudaGetDeviceCount's error (empty
// when it succeeded), e.g. "CUDA driver version is insufficient for CUDA runtime version".
struct RuntimeInfo {
  int runtime_version;
  int driver_version;
  int device_count;
  std::string error;
};
RuntimeInfo runtime_info();

// out[i * m + j] = kind(a[i], b[j]) for i < n, j < m, bit for bit the CPU vrft::pairwise_iou
// value (CIoU: see docs/cuda.md).  a: (n, 4), b: (m, 4), out: (n, m).  n or m = 0: no launch.
template <typename T>
std::string pairwise_iou(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, IouKind kind,
                         T* out, std::uintptr_t stream);

// out[i] = kind(a[i], b[i]) for i < n (vrft::paired_iou).  a, b: (n, 4), out: (n,).
template <typename T>
std::string paired_iou(const T* a, const T* b, int64_t n, BoxFormat fmt, IouKind kind, T* out,
                       std::uintptr_t stream);

// Reasons a box is invalid, in vrft::find_invalid_box's order of checks.
enum class InvalidBox : int {
  kNone = 0,
  kNonFinite = 1,     // "non-finite coordinate (NaN or inf)"
  kInverted = 2,      // "inverted box (x2 < x1 or y2 < y1)" (xyxy)
  kNegativeSize = 3,  // "negative width or height" (xywh, cxcywh)
  kTooLarge = 4,      // "coordinate magnitude exceeds ..." (overflow guard)
};

// vrft::find_invalid_box on the device.  `first_bad` points at one device int64 that the caller
// initialised to -1; it receives min over invalid boxes i of i * 8 + reason (InvalidBox), so
// that (key >> 3) is the first invalid index, as on the CPU, and (key & 7) its reason.
template <typename T>
std::string find_invalid_boxes(const T* boxes, int64_t n, BoxFormat fmt, bool allow_inverted,
                               int64_t* first_bad, std::uintptr_t stream);

// Device buffers of a batched match (same meaning as vrft::MatchOutputs, all required).
template <typename T>
struct DeviceMatchOutputs {
  int64_t* matched_gt;    // (n_pred,)  local GT index of each prediction, -1 if unmatched
  T* matched_value;       // (n_pred,)  value of the matched pair, 0 if unmatched
  int64_t* matched_pred;  // (n_gt,)    local prediction index of each GT, -1 if unmatched
  int64_t* n_matched;     // (B,)
  double* sum_matched;    // (B,)       sum of matched values, added in prediction order
};

// Sizes of a ragged batch that the launcher needs to plan shared memory (from the offsets,
// which the caller validated on the host).
struct MatchShape {
  int64_t n_problems;  // B
  int64_t max_pred;    // max over problems of the prediction count
  int64_t max_gt;      // max over problems of the GT count
};

// vrft::match_boxes on the device: one warp per problem, problems spread over the grid.
// pred_offsets / gt_offsets: (B + 1,) device int64, validated.  scores: (n_pred,) float64 or
// null.  The value tile of each problem lives in shared memory when `scratch` is null, else at
// scratch + scratch_offsets[b] (global memory; scratch_offsets (B,) device int64, problem b owns
// n_b * m_b values).  Returns an error when even the per-problem solver state does not fit in
// the device's shared memory (a side of several thousand boxes).
template <typename T>
std::string match_boxes(const T* pred, const int64_t* pred_offsets, const T* gt,
                        const int64_t* gt_offsets, const MatchShape& shape, const double* scores,
                        const MatchOptions& options, T* scratch, const int64_t* scratch_offsets,
                        const DeviceMatchOutputs<T>& out, std::uintptr_t stream);

// When the caller should pass `scratch` (value tiles in global memory) instead of keeping the
// tile in shared memory: tiles over kSharedTileBytes (64 x 64 float32 still fits), or a side over
// kSharedTileMaxSide.  Below both, a warp's slice (tile + 43 bytes per box of the longer side)
// stays under 28 KiB, so a block fits in the default 48 KiB without opting in.
constexpr int64_t kSharedTileBytes = 16384;
constexpr int64_t kSharedTileMaxSide = 256;

}  // namespace vrft::cuda
