// Bindings of the optional _C_cuda module.  Like csrc/bindings/ for _C, this is the only file
// of its module that includes pybind11 (it shares _C's argument checks, csrc/bindings/args.h,
// which includes nothing of the core).  It takes raw device pointers (integers), counts and
// the caller's CUDA stream handle from the Python layer (vrft_rewards/_cuda.py), which has
// checked devices, dtypes, shapes, contiguity and offsets and allocated the outputs with torch;
// so this module never links libtorch.  A launch error comes back from the launcher as CUDA's
// message and is raised here as RuntimeError("CUDA error: <message>").
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "bindings/args.h"  // require_count: the argument checks shared with _C
#include "cuda/kernels.h"

namespace py = pybind11;

namespace {

using vrft::bindings::require_count;

void raise_if_error(const std::string& message) {
  if (!message.empty()) throw std::runtime_error("CUDA error: " + message);
}

template <typename T>
const T* cptr(std::uintptr_t p) {
  return reinterpret_cast<const T*>(p);
}
template <typename T>
T* mptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

// ---- runtime ------------------------------------------------------------------------------------

void bind_runtime(py::module_& m) {
  m.def("device_count", &vrft::cuda::device_count, "Number of visible CUDA devices.");
  m.def(
      "runtime_info",
      []() {
        const vrft::cuda::RuntimeInfo info = vrft::cuda::runtime_info();
        py::dict d;
        d["runtime_version"] = info.runtime_version;
        d["driver_version"] = info.driver_version;
        d["device_count"] = info.device_count;
        d["error"] = info.error;
        return d;
      },
      "CUDA runtime / driver versions (1000 * major + 10 * minor), device count and the "
      "device-count error message ('' if none), for diagnostics.");
}

// ---- geometry -----------------------------------------------------------------------------------
// The GIL is released around each launcher: it only enqueues work on the stream and touches no
// Python object.

template <typename T>
void pairwise_iou(std::uintptr_t a, int64_t n, std::uintptr_t b, int64_t m, const std::string& fmt,
                  const std::string& kind, std::uintptr_t out, std::uintptr_t stream) {
  require_count(n, "n");
  require_count(m, "m");
  const auto f = vrft::parse_box_format(fmt, "fmt");
  const auto k = vrft::parse_iou_kind(kind, "kind");
  std::string err;
  {
    py::gil_scoped_release release;
    err = vrft::cuda::pairwise_iou(cptr<T>(a), n, cptr<T>(b), m, f, k, mptr<T>(out), stream);
  }
  raise_if_error(err);
}

template <typename T>
void paired_iou(std::uintptr_t a, std::uintptr_t b, int64_t n, const std::string& fmt,
                const std::string& kind, std::uintptr_t out, std::uintptr_t stream) {
  require_count(n, "n");
  const auto f = vrft::parse_box_format(fmt, "fmt");
  const auto k = vrft::parse_iou_kind(kind, "kind");
  std::string err;
  {
    py::gil_scoped_release release;
    err = vrft::cuda::paired_iou(cptr<T>(a), cptr<T>(b), n, f, k, mptr<T>(out), stream);
  }
  raise_if_error(err);
}

template <typename T>
void find_invalid_boxes(std::uintptr_t boxes, int64_t n, const std::string& fmt,
                        bool allow_inverted, std::uintptr_t first_bad, std::uintptr_t stream) {
  require_count(n, "n");
  const auto f = vrft::parse_box_format(fmt, "fmt");
  std::string err;
  {
    py::gil_scoped_release release;
    err = vrft::cuda::find_invalid_boxes(cptr<T>(boxes), n, f, allow_inverted,
                                         mptr<int64_t>(first_bad), stream);
  }
  raise_if_error(err);
}

void bind_geometry(py::module_& m) {
  const char* pairwise_doc =
      "out[i, j] = kind(boxes1[i], boxes2[j]) on the device: a (n, 4), b (m, 4), out (n, m) "
      "C-contiguous device pointers; enqueued on `stream`. No validation (find_invalid_boxes).";
  const char* paired_doc = "out[i] = kind(a[i], b[i]) on the device: a, b (n, 4), out (n,).";
  const char* invalid_doc =
      "first_bad (one device int64, initialised to -1) := min(first_bad, i * 8 + reason) over "
      "invalid boxes (reason: 1 non-finite, 2 inverted, 3 negative size, 4 too large).";
  m.def("pairwise_iou_f32", &pairwise_iou<float>, py::arg("a_ptr"), py::arg("n"), py::arg("b_ptr"),
        py::arg("m"), py::arg("fmt"), py::arg("kind"), py::arg("out_ptr"), py::arg("stream"),
        pairwise_doc);
  m.def("pairwise_iou_f64", &pairwise_iou<double>, py::arg("a_ptr"), py::arg("n"), py::arg("b_ptr"),
        py::arg("m"), py::arg("fmt"), py::arg("kind"), py::arg("out_ptr"), py::arg("stream"),
        pairwise_doc);
  m.def("paired_iou_f32", &paired_iou<float>, py::arg("a_ptr"), py::arg("b_ptr"), py::arg("n"),
        py::arg("fmt"), py::arg("kind"), py::arg("out_ptr"), py::arg("stream"), paired_doc);
  m.def("paired_iou_f64", &paired_iou<double>, py::arg("a_ptr"), py::arg("b_ptr"), py::arg("n"),
        py::arg("fmt"), py::arg("kind"), py::arg("out_ptr"), py::arg("stream"), paired_doc);
  m.def("find_invalid_boxes_f32", &find_invalid_boxes<float>, py::arg("boxes_ptr"), py::arg("n"),
        py::arg("fmt"), py::arg("allow_inverted"), py::arg("first_bad_ptr"), py::arg("stream"),
        invalid_doc);
  m.def("find_invalid_boxes_f64", &find_invalid_boxes<double>, py::arg("boxes_ptr"), py::arg("n"),
        py::arg("fmt"), py::arg("allow_inverted"), py::arg("first_bad_ptr"), py::arg("stream"),
        invalid_doc);
}

// ---- matching -----------------------------------------------------------------------------------

template <typename T>
void match_boxes(std::uintptr_t pred, std::uintptr_t pred_offsets, std::uintptr_t gt,
                 std::uintptr_t gt_offsets, int64_t n_problems, int64_t max_pred, int64_t max_gt,
                 std::uintptr_t scores, const std::string& method, const std::string& kind,
                 const std::string& fmt, double iou_threshold, bool strict, std::uintptr_t scratch,
                 std::uintptr_t scratch_offsets, std::uintptr_t matched_gt,
                 std::uintptr_t matched_value, std::uintptr_t matched_pred,
                 std::uintptr_t n_matched, std::uintptr_t sum_matched, std::uintptr_t stream) {
  require_count(n_problems, "n_problems");
  const vrft::MatchOptions opt = vrft::make_match_options(method, kind, fmt, iou_threshold, strict);
  const vrft::cuda::MatchShape shape{n_problems, max_pred, max_gt};
  const vrft::cuda::DeviceMatchOutputs<T> out{mptr<int64_t>(matched_gt), mptr<T>(matched_value),
                                              mptr<int64_t>(matched_pred), mptr<int64_t>(n_matched),
                                              mptr<double>(sum_matched)};
  std::string err;
  {
    py::gil_scoped_release release;
    err = vrft::cuda::match_boxes(cptr<T>(pred), cptr<int64_t>(pred_offsets), cptr<T>(gt),
                                  cptr<int64_t>(gt_offsets), shape, cptr<double>(scores), opt,
                                  mptr<T>(scratch), cptr<int64_t>(scratch_offsets), out, stream);
  }
  raise_if_error(err);
}

void bind_match(py::module_& m) {
  const char* doc =
      "Batched one-to-one matching on the device (vrft::match_boxes semantics), one warp per "
      "problem. Offsets validated by the caller; max_pred / max_gt the largest problem sides; "
      "scores_ptr 0 = input order; scratch_ptr 0 = value tiles in shared memory, else global "
      "scratch with (B,) int64 scratch_offsets. Outputs preallocated on the device.";
#define VRFT_MATCH_ARGS                                                                           \
  py::arg("pred_ptr"), py::arg("pred_offsets_ptr"), py::arg("gt_ptr"), py::arg("gt_offsets_ptr"), \
      py::arg("n_problems"), py::arg("max_pred"), py::arg("max_gt"), py::arg("scores_ptr"),       \
      py::arg("method"), py::arg("kind"), py::arg("fmt"), py::arg("iou_threshold"),               \
      py::arg("strict"), py::arg("scratch_ptr"), py::arg("scratch_offsets_ptr"),                  \
      py::arg("matched_gt_ptr"), py::arg("matched_value_ptr"), py::arg("matched_pred_ptr"),       \
      py::arg("n_matched_ptr"), py::arg("sum_matched_ptr"), py::arg("stream")
  // Value tiles above these limits go to global scratch (the caller allocates it).
  m.attr("SHARED_TILE_BYTES") = py::int_(vrft::cuda::kSharedTileBytes);
  m.attr("SHARED_TILE_MAX_SIDE") = py::int_(vrft::cuda::kSharedTileMaxSide);
  m.def("match_boxes_f32", &match_boxes<float>, VRFT_MATCH_ARGS, doc);
  m.def("match_boxes_f64", &match_boxes<double>, VRFT_MATCH_ARGS, doc);
#undef VRFT_MATCH_ARGS
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "vrft_rewards CUDA kernels (raw device pointers; see vrft_rewards/_cuda.py)";
  bind_runtime(m);
  bind_geometry(m);
  bind_match(m);
}
