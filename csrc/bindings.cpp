// The only translation unit of _C that includes pybind11.
//
// Each area of the core has one bind_<area>() function; the module entry point only wires them
// together.  Pattern of every batch binding: check and convert the Python arguments into raw
// buffers while holding the GIL, then release the GIL for the whole computation.  Releasing is
// safe because the core touches only those buffers (kept alive by the py::array handles held in
// this frame) and no Python object.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/thread_pool.h"
#include "geometry/iou.h"

namespace py = pybind11;

namespace {

// ---- shared argument helpers ------------------------------------------------------------------

// A C-contiguous array of exactly dtype T: refuses silent casts (the Python layer converts lists
// and chooses the dtype on purpose before calling in).
template <typename T>
py::array_t<T> require_array(const py::handle& obj, const char* arg) {
  if (!py::array_t<T, py::array::c_style>::check_(obj)) {
    throw py::type_error(std::string(arg) + " must be a C-contiguous " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + " numpy array, got " +
                         py::str(py::type::of(obj)).cast<std::string>());
  }
  return py::reinterpret_borrow<py::array_t<T>>(obj);
}

void require_boxes_shape(const py::array& arr, const char* arg) {
  if (arr.ndim() != 2 || arr.shape(1) != 4) {
    std::string shape = "(";
    for (py::ssize_t d = 0; d < arr.ndim(); ++d) shape += (d ? ", " : "") + std::to_string(arr.shape(d));
    throw std::invalid_argument(std::string(arg) + " must have shape (N, 4), got " + shape + ")");
  }
}

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
  if (bad >= 0) {
    throw std::invalid_argument(std::string(arg) + "[" + std::to_string(bad) + "] is invalid: " +
                                reason);
  }
}

template <typename T>
T* writable_output(py::array_t<T>& out) {
  if (!out.writeable()) throw std::invalid_argument("out must be a writeable array");
  return out.mutable_data();
}

// ---- runtime ------------------------------------------------------------------------------------

void bind_runtime(py::module_& m) {
  m.def("get_num_threads", &vrft::get_num_threads,
        "Number of threads batch calls use (including the caller).");
  m.def("set_num_threads", &vrft::set_num_threads, py::arg("n"),
        "Set the thread-pool size; 0 restores the CPU count.");
}

// ---- geometry -----------------------------------------------------------------------------------
// The Python facade (vrft_rewards/boxes.py) has already chosen the dtype, made the arrays
// C-contiguous and checked `out`; these functions re-check everything that could make the core
// read or write out of bounds, so a direct call with bad arguments raises instead of crashing.

template <typename T>
void pairwise_iou_impl(const py::handle& a_obj, const py::handle& b_obj, const std::string& fmt_name,
                       const std::string& kind_name, const py::handle& out_obj, bool clamp) {
  auto a = require_array<T>(a_obj, "boxes1");
  auto b = require_array<T>(b_obj, "boxes2");
  auto out = require_array<T>(out_obj, "out");
  require_boxes_shape(a, "boxes1");
  require_boxes_shape(b, "boxes2");
  const auto fmt = vrft::parse_box_format(fmt_name, "fmt");
  const auto kind = vrft::parse_iou_kind(kind_name, "kind");
  const int64_t n = a.shape(0), m = b.shape(0);
  if (out.ndim() != 2 || out.shape(0) != n || out.shape(1) != m) {
    throw std::invalid_argument("out must have shape (" + std::to_string(n) + ", " +
                                std::to_string(m) + ")");
  }
  T* out_ptr = writable_output(out);
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
  auto out = require_array<T>(out_obj, "out");
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
  T* out_ptr = writable_output(out);
  check_boxes_valid(a, fmt, clamp, "boxes1");
  check_boxes_valid(b, fmt, clamp, "boxes2");
  py::gil_scoped_release release;
  vrft::paired_iou(a.data(), b.data(), n, fmt, kind, out_ptr);
}

template <typename T>
void convert_boxes_impl(const py::handle& in_obj, const std::string& src_name,
                        const std::string& dst_name, const py::handle& out_obj) {
  auto in = require_array<T>(in_obj, "boxes");
  auto out = require_array<T>(out_obj, "out");
  require_boxes_shape(in, "boxes");
  const auto src = vrft::parse_box_format(src_name, "src");
  const auto dst = vrft::parse_box_format(dst_name, "dst");
  const int64_t n = in.shape(0);
  if (out.ndim() != 2 || out.shape(0) != n || out.shape(1) != 4) {
    throw std::invalid_argument("out must have shape (" + std::to_string(n) + ", 4)");
  }
  T* out_ptr = writable_output(out);
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = vrft::find_non_finite_box(in.data(), n);
  }
  if (bad >= 0) {
    throw std::invalid_argument("boxes[" + std::to_string(bad) +
                                "] is invalid: non-finite coordinate (NaN or inf)");
  }
  py::gil_scoped_release release;
  vrft::convert_boxes(in.data(), n, src, dst, out_ptr);
}

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

// ---- matching (linear assignment, box matching) -------------------------------------------------
void bind_match(py::module_& /*m*/) {}

// ---- completion parsing -------------------------------------------------------------------------
void bind_parse(py::module_& /*m*/) {}

// ---- COCO / LVIS evaluation ---------------------------------------------------------------------
void bind_eval(py::module_& /*m*/) {}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "vrft_rewards native core (CPU)";
  bind_runtime(m);
  bind_geometry(m);
  bind_match(m);
  bind_parse(m);
  bind_eval(m);
}
