// _C bindings of csrc/geometry/: pairwise / paired IoU-family overlaps and box format conversion,
// each for float32 and float64 (the Python facade is vrft_rewards/boxes.py).
//
// Pattern: the arrays are checked with the GIL held (dtype, C order, alignment, shapes, a
// writeable aligned `out`), and the GIL is released for box validation and the kernel.  The boxes
// are read in place (args.h, "Caller memory and the GIL"): they are values that only feed
// arithmetic, every bound comes from the shapes checked here, and the kernels stay memory-safe
// whatever another thread writes into them meanwhile (such a call gets unspecified numbers; the
// validation's error is raised after the GIL is taken back).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "geometry/iou.h"

namespace vrft::bindings {
namespace {

// Raises ValueError "<arg>[i] is invalid: <reason>" for the first bad box (vrft::find_invalid_box).
template <typename T>
void check_boxes_valid(const py::array_t<T>& boxes, vrft::BoxFormat fmt, bool allow_inverted,
                       const char* arg) {
  const char* reason = nullptr;
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = vrft::find_invalid_box(boxes.data(), boxes.shape(0), fmt, allow_inverted, &reason);
  }
  if (bad >= 0) throw_invalid_box(arg, bad, reason);
}

// The Python facade (vrft_rewards/boxes.py) has already chosen the dtype, made the arrays
// C-contiguous and checked `out`; these functions re-check everything that could make the core
// read or write out of bounds, so a direct call with bad arguments raises instead of crashing.

template <typename T>
void pairwise_iou_impl(const py::handle& a_obj, const py::handle& b_obj,
                       const std::string& fmt_name, const std::string& kind_name,
                       const py::handle& out_obj, bool clamp) {
  auto a = require_array<T>(a_obj, "boxes1");
  auto b = require_array<T>(b_obj, "boxes2");
  auto out = require_output<T>(out_obj, "out");
  require_boxes_shape(a, "boxes1");
  require_boxes_shape(b, "boxes2");
  const auto fmt = vrft::parse_box_format(fmt_name, "fmt");
  const auto kind = vrft::parse_iou_kind(kind_name, "kind");
  const int64_t n = a.shape(0), m = b.shape(0);
  if (out.ndim() != 2 || out.shape(0) != n || out.shape(1) != m) {
    throw std::invalid_argument("out must have shape (" + std::to_string(n) + ", " +
                                std::to_string(m) + ")");
  }
  T* out_ptr = out.mutable_data();
  check_boxes_valid(a, fmt, clamp, "boxes1");
  check_boxes_valid(b, fmt, clamp, "boxes2");
  py::gil_scoped_release release;
  vrft::pairwise_iou(a.data(), n, b.data(), m, fmt, kind, out_ptr);
}

template <typename T>
void paired_iou_impl(const py::handle& a_obj, const py::handle& b_obj, const std::string& fmt_name,
                     const std::string& kind_name, const py::handle& out_obj, bool clamp) {
  auto a = require_array<T>(a_obj, "boxes1");
  auto b = require_array<T>(b_obj, "boxes2");
  auto out = require_output<T>(out_obj, "out");
  require_boxes_shape(a, "boxes1");
  require_boxes_shape(b, "boxes2");
  const auto fmt = vrft::parse_box_format(fmt_name, "fmt");
  const auto kind = vrft::parse_iou_kind(kind_name, "kind");
  const int64_t n = a.shape(0);
  if (b.shape(0) != n) {
    throw std::invalid_argument("boxes1 and boxes2 must have the same length, got " +
                                std::to_string(n) + " and " + std::to_string(b.shape(0)));
  }
  if (out.ndim() != 1 || out.shape(0) != n) {
    throw std::invalid_argument("out must have shape (" + std::to_string(n) + ",)");
  }
  T* out_ptr = out.mutable_data();
  check_boxes_valid(a, fmt, clamp, "boxes1");
  check_boxes_valid(b, fmt, clamp, "boxes2");
  py::gil_scoped_release release;
  vrft::paired_iou(a.data(), b.data(), n, fmt, kind, out_ptr);
}

template <typename T>
void convert_boxes_impl(const py::handle& in_obj, const std::string& src_name,
                        const std::string& dst_name, const py::handle& out_obj) {
  auto in = require_array<T>(in_obj, "boxes");
  auto out = require_output<T>(out_obj, "out");
  require_boxes_shape(in, "boxes");
  const auto src = vrft::parse_box_format(src_name, "src");
  const auto dst = vrft::parse_box_format(dst_name, "dst");
  const int64_t n = in.shape(0);
  if (out.ndim() != 2 || out.shape(0) != n || out.shape(1) != 4) {
    throw std::invalid_argument("out must have shape (" + std::to_string(n) + ", 4)");
  }
  T* out_ptr = out.mutable_data();
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = vrft::find_non_finite_box(in.data(), n);
  }
  if (bad >= 0) throw_invalid_box("boxes", bad, "non-finite coordinate (NaN or inf)");
  py::gil_scoped_release release;
  vrft::convert_boxes(in.data(), n, src, dst, out_ptr);
}

}  // namespace

void bind_geometry(py::module_& m) {
  const char* pairwise_doc =
      "out[i, j] = kind(boxes1[i], boxes2[j]); validates the boxes (clamp=True accepts inverted "
      "boxes and clamps them to zero size).";
  const char* paired_doc = "out[i] = kind(boxes1[i], boxes2[i]); validation as pairwise.";
  const char* convert_doc = "out = torchvision box_convert(boxes, src, dst); rejects NaN/inf.";
  m.def("pairwise_iou_f32", &pairwise_iou_impl<float>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("clamp") = false, pairwise_doc);
  m.def("pairwise_iou_f64", &pairwise_iou_impl<double>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("clamp") = false, pairwise_doc);
  m.def("paired_iou_f32", &paired_iou_impl<float>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("clamp") = false, paired_doc);
  m.def("paired_iou_f64", &paired_iou_impl<double>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("clamp") = false, paired_doc);
  m.def("convert_boxes_f32", &convert_boxes_impl<float>, py::arg("boxes"), py::arg("src"),
        py::arg("dst"), py::arg("out"), convert_doc);
  m.def("convert_boxes_f64", &convert_boxes_impl<double>, py::arg("boxes"), py::arg("src"),
        py::arg("dst"), py::arg("out"), convert_doc);
}

}  // namespace vrft::bindings
