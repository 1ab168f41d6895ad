// CUDA kernels of the IoU family: pairwise (N x M), paired (N) and the box validity check.
//
// Templated over the float type T and taking raw pointers and int64 counts; the launchers are in
// iou_cuda.cu.  The per-pair arithmetic is geometry/box_math.h itself (__host__ __device__ under
// nvcc), compiled with --fmad=false, so a pair gives the bits of the CPU kernels (docs/cuda.md).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels.h"
#include "geometry/box_math.h"

namespace vrft::cuda::detail {

using geometry_detail::PreparedBox;

// Pairwise tile: kPairwiseThreads consecutive columns x kPairwiseRows rows.  Each thread
// prepares its column box once and reuses it for the tile's rows; the row boxes are prepared
// once per tile into shared memory.  For every row the block writes kPairwiseThreads
// consecutive outputs, so the writes (the bound of this kernel) are coalesced.
constexpr int kPairwiseThreads = 256;
constexpr int kPairwiseRows = 32;
static_assert(kPairwiseRows <= kPairwiseThreads, "row boxes are prepared one per thread");

template <IouKind K>
__host__ __device__ constexpr bool kind_centre() {
  return K == IouKind::kDIoU || K == IouKind::kCIoU;
}
template <IouKind K>
__host__ __device__ constexpr bool kind_aspect() {
  return K == IouKind::kCIoU;
}

// Tiles are numbered t = row_tile * col_tiles + col_tile and visited by a grid-stride loop over
// int64 t, so any n x m (also beyond 2^31 outputs or 65535 row tiles) is covered by a grid
// of bounded size.
template <typename T, IouKind K>
__global__ void __launch_bounds__(kPairwiseThreads)
    pairwise_kernel(const T* __restrict__ a, int64_t n, const T* __restrict__ b, int64_t m,
                    BoxFormat fmt, int64_t col_tiles, int64_t tiles, T* __restrict__ out) {
  __shared__ PreparedBox<T> rows[kPairwiseRows];
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t row_tile = t / col_tiles;
    const int64_t col_tile = t - row_tile * col_tiles;
    const int64_t i0 = row_tile * kPairwiseRows;
    const int64_t rows_left = n - i0;
    const int rows_here = rows_left < kPairwiseRows ? static_cast<int>(rows_left) : kPairwiseRows;
    const int64_t j = col_tile * kPairwiseThreads + threadIdx.x;
    // Every thread reaches both barriers (no early exit for j >= m): the first keeps the
    // previous tile's readers ahead of this tile's writers of `rows`, the second publishes them.
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < rows_here) {
      rows[threadIdx.x] = geometry_detail::prepare_box(a + 4 * (i0 + threadIdx.x), fmt,
                                                       kind_centre<K>(), kind_aspect<K>());
    }
    __syncthreads();
    if (j < m) {
      const PreparedBox<T> col =
          geometry_detail::prepare_box(b + 4 * j, fmt, kind_centre<K>(), kind_aspect<K>());
      T* o = out + i0 * m + j;
      for (int r = 0; r < rows_here; ++r, o += m) {
        *o = geometry_detail::pair_value(rows[r], col, K);
      }
    }
  }
}

// out[i] = kind(a[i], b[i]): one thread per pair, grid-stride over int64 i.
template <typename T, IouKind K>
__global__ void paired_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t n,
                              BoxFormat fmt, T* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const PreparedBox<T> pa =
        geometry_detail::prepare_box(a + 4 * i, fmt, kind_centre<K>(), kind_aspect<K>());
    const PreparedBox<T> pb =
        geometry_detail::prepare_box(b + 4 * i, fmt, kind_centre<K>(), kind_aspect<K>());
    out[i] = geometry_detail::pair_value(pa, pb, K);
  }
}

// max_safe_coordinate<T>() of geometry/validate.cpp: 2^62 (float), 2^510 (double).
template <typename T>
__device__ inline T device_max_safe_coordinate();
template <>
__device__ inline float device_max_safe_coordinate<float>() {
  return 0x1p62f;
}
template <>
__device__ inline double device_max_safe_coordinate<double>() {
  return 0x1p510;
}

// The reason box p is invalid, checked in vrft::find_invalid_box's order.
template <typename T>
__device__ inline InvalidBox box_problem(const T* p, BoxFormat fmt, bool allow_inverted) {
  if (!(isfinite(p[0]) && isfinite(p[1]) && isfinite(p[2]) && isfinite(p[3]))) {
    return InvalidBox::kNonFinite;
  }
  if (!allow_inverted) {
    if (fmt == BoxFormat::kXYXY) {
      if (p[2] < p[0] || p[3] < p[1]) return InvalidBox::kInverted;
    } else if (p[2] < T(0) || p[3] < T(0)) {
      return InvalidBox::kNegativeSize;
    }
  }
  T x1, y1, x2, y2;
  geometry_detail::to_xyxy(p, fmt, x1, y1, x2, y2);
  const T limit = device_max_safe_coordinate<T>();
  if (!(fabs(x1) <= limit && fabs(y1) <= limit && fabs(x2) <= limit && fabs(y2) <= limit)) {
    return InvalidBox::kTooLarge;
  }
  return InvalidBox::kNone;
}

// *first_bad = min(*first_bad, i * 8 + reason) over invalid boxes, compared as unsigned so
// that the caller's initial -1 (all bits set) means "none yet".
template <typename T>
__global__ void find_invalid_kernel(const T* __restrict__ boxes, int64_t n, BoxFormat fmt,
                                    bool allow_inverted, int64_t* first_bad) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const InvalidBox why = box_problem(boxes + 4 * i, fmt, allow_inverted);
    if (why != InvalidBox::kNone) {
      const auto key = static_cast<unsigned long long>(i) * 8ull + static_cast<unsigned>(why);
      atomicMin(reinterpret_cast<unsigned long long*>(first_bad), key);
    }
  }
}

}  // namespace vrft::cuda::detail
