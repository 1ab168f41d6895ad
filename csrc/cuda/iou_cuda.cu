// Launchers of the IoU kernels (iou_kernels.cuh): pick the kernel for the kind, size the grid,
// launch on the caller's stream, report the launch status.
#include "cuda/iou_kernels.cuh"
#include "cuda/launch_util.cuh"

namespace vrft::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the "no driver / no device" error so later calls start clean
    return 0;
  }
  return n;
}

RuntimeInfo runtime_info() {
  RuntimeInfo info{0, 0, 0, {}};
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  const cudaError_t err = cudaGetDeviceCount(&info.device_count);
  if (err != cudaSuccess) {
    info.device_count = 0;
    info.error = cudaGetErrorString(err);
    cudaGetLastError();
  }
  return info;
}

namespace {

template <typename T, IouKind K>
void launch_pairwise(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, T* out,
                     cudaStream_t stream) {
  const int64_t row_tiles = (n + detail::kPairwiseRows - 1) / detail::kPairwiseRows;
  const int64_t col_tiles = (m + detail::kPairwiseThreads - 1) / detail::kPairwiseThreads;
  const int64_t tiles = row_tiles * col_tiles;
  detail::pairwise_kernel<T, K>
      <<<detail::grid_for(tiles, 1), detail::kPairwiseThreads, 0, stream>>>(a, n, b, m, fmt,
                                                                            col_tiles, tiles, out);
}

template <typename T, IouKind K>
void launch_paired(const T* a, const T* b, int64_t n, BoxFormat fmt, T* out, cudaStream_t stream) {
  constexpr int kThreads = 256;
  detail::paired_kernel<T, K>
      <<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(a, b, n, fmt, out);
}

}  // namespace

template <typename T>
std::string pairwise_iou(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, IouKind kind,
                         T* out, std::uintptr_t stream) {
  if (n <= 0 || m <= 0) return {};  // an empty matrix: nothing to write, nothing to launch
  const cudaStream_t s = detail::as_stream(stream);
  switch (kind) {
    case IouKind::kGIoU:
      launch_pairwise<T, IouKind::kGIoU>(a, n, b, m, fmt, out, s);
      break;
    case IouKind::kDIoU:
      launch_pairwise<T, IouKind::kDIoU>(a, n, b, m, fmt, out, s);
      break;
    case IouKind::kCIoU:
      launch_pairwise<T, IouKind::kCIoU>(a, n, b, m, fmt, out, s);
      break;
    case IouKind::kIoU:
    default:
      launch_pairwise<T, IouKind::kIoU>(a, n, b, m, fmt, out, s);
      break;
  }
  return detail::launch_status();
}

template <typename T>
std::string paired_iou(const T* a, const T* b, int64_t n, BoxFormat fmt, IouKind kind, T* out,
                       std::uintptr_t stream) {
  if (n <= 0) return {};
  const cudaStream_t s = detail::as_stream(stream);
  switch (kind) {
    case IouKind::kGIoU:
      launch_paired<T, IouKind::kGIoU>(a, b, n, fmt, out, s);
      break;
    case IouKind::kDIoU:
      launch_paired<T, IouKind::kDIoU>(a, b, n, fmt, out, s);
      break;
    case IouKind::kCIoU:
      launch_paired<T, IouKind::kCIoU>(a, b, n, fmt, out, s);
      break;
    case IouKind::kIoU:
    default:
      launch_paired<T, IouKind::kIoU>(a, b, n, fmt, out, s);
      break;
  }
  return detail::launch_status();
}

template <typename T>
std::string find_invalid_boxes(const T* boxes, int64_t n, BoxFormat fmt, bool allow_inverted,
                               int64_t* first_bad, std::uintptr_t stream) {
  if (n <= 0) return {};
  constexpr int kThreads = 256;
  detail::find_invalid_kernel<T>
      <<<detail::grid_for(n, kThreads), kThreads, 0, detail::as_stream(stream)>>>(
          boxes, n, fmt, allow_inverted, first_bad);
  return detail::launch_status();
}

#define VRFT_INSTANTIATE_IOU(T)                                                                  \
  template std::string pairwise_iou<T>(const T*, int64_t, const T*, int64_t, BoxFormat, IouKind, \
                                       T*, std::uintptr_t);                                      \
  template std::string paired_iou<T>(const T*, const T*, int64_t, BoxFormat, IouKind, T*,        \
                                     std::uintptr_t);                                            \
  template std::string find_invalid_boxes<T>(const T*, int64_t, BoxFormat, bool, int64_t*,       \
                                             std::uintptr_t);

VRFT_INSTANTIATE_IOU(float)
VRFT_INSTANTIATE_IOU(double)

#undef VRFT_INSTANTIATE_IOU

}  // namespace vrft::cuda
