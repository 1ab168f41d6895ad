// Launcher of the batched matching kernel (match_kernels.cuh): plan the shared memory, pick the
// method's kernel, launch on the caller's stream, report the launch status.
#include "cuda/launch_util.cuh"
#include "cuda/match_kernels.cuh"

namespace vrft::cuda {

namespace {

// Warps (problems) per block: as many as fit in the default 48 KiB of shared memory, at most 8.
constexpr int64_t kDefaultSharedBytes = 48 * 1024;
constexpr int64_t kMaxWarpsPerBlock = 8;
// Problem sides beyond this are refused (the solver state alone would exceed any GPU's shared
// memory long before; the limit also keeps n * m within int in the kernel).
constexpr int64_t kMaxSide = 32768;

template <typename T, MatchMethod M>
std::string launch(const detail::MatchParams<T>& params, int64_t slice_bytes, cudaStream_t stream) {
  int64_t warps = slice_bytes > 0 ? kDefaultSharedBytes / slice_bytes : kMaxWarpsPerBlock;
  if (warps > kMaxWarpsPerBlock) warps = kMaxWarpsPerBlock;
  if (warps < 1) {
    // One problem per block needs more than the default: opt in to the device's maximum.
    int device = 0;
    int optin = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err == cudaSuccess) {
      err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    }
    if (err != cudaSuccess) return cudaGetErrorString(err);
    if (slice_bytes > optin) {
      return "match_boxes: a problem with up to " + std::to_string(params.layout.total) +
             " bytes of solver state exceeds the device's " + std::to_string(optin) +
             " bytes of shared memory per block; split it or use the CPU path";
    }
    err = cudaFuncSetAttribute(detail::match_kernel<T, M>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(slice_bytes));
    if (err != cudaSuccess) return cudaGetErrorString(err);
    warps = 1;
  }
  const unsigned blocks = detail::grid_for(params.n_problems, warps);
  detail::match_kernel<T, M><<<blocks, static_cast<unsigned>(warps * detail::kWarp),
                               static_cast<size_t>(warps * slice_bytes), stream>>>(params);
  return detail::launch_status();
}

}  // namespace

template <typename T>
std::string match_boxes(const T* pred, const int64_t* pred_offsets, const T* gt,
                        const int64_t* gt_offsets, const MatchShape& shape, const double* scores,
                        const MatchOptions& options, T* scratch, const int64_t* scratch_offsets,
                        const DeviceMatchOutputs<T>& out, std::uintptr_t stream) {
  if (shape.n_problems <= 0) return {};
  if (shape.max_pred < 0 || shape.max_gt < 0 || shape.max_pred > kMaxSide ||
      shape.max_gt > kMaxSide) {
    return "match_boxes: problems of up to " + std::to_string(kMaxSide) +
           " boxes per side are supported on the GPU, got " + std::to_string(shape.max_pred) +
           " predictions x " + std::to_string(shape.max_gt) + " ground truths";
  }
  if (scratch != nullptr && scratch_offsets == nullptr) {
    return "match_boxes: scratch given without scratch_offsets";
  }
  const int64_t k = shape.max_pred > shape.max_gt ? shape.max_pred : shape.max_gt;
  const int64_t tile = scratch == nullptr ? shape.max_pred * shape.max_gt : 0;
  detail::MatchParams<T> params{pred,
                                pred_offsets,
                                gt,
                                gt_offsets,
                                shape.n_problems,
                                shape.max_pred,
                                shape.max_gt,
                                scores,
                                options.kind,
                                options.fmt,
                                detail::Qualifies{options.iou_threshold, options.strict},
                                detail::SliceLayout(k, tile, static_cast<int64_t>(sizeof(T))),
                                scratch,
                                scratch_offsets,
                                out};
  const int64_t slice_bytes = params.layout.total;
  const cudaStream_t s = detail::as_stream(stream);
  if (options.method == MatchMethod::kGreedy) {
    return launch<T, MatchMethod::kGreedy>(params, slice_bytes, s);
  }
  return launch<T, MatchMethod::kHungarian>(params, slice_bytes, s);
}

template std::string match_boxes<float>(const float*, const int64_t*, const float*, const int64_t*,
                                        const MatchShape&, const double*, const MatchOptions&,
                                        float*, const int64_t*, const DeviceMatchOutputs<float>&,
                                        std::uintptr_t);
template std::string match_boxes<double>(const double*, const int64_t*, const double*,
                                         const int64_t*, const MatchShape&, const double*,
                                         const MatchOptions&, double*, const int64_t*,
                                         const DeviceMatchOutputs<double>&, std::uintptr_t);

}  // namespace vrft::cuda
