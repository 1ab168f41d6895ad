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

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/thread_pool.h"
#include "eval/accumulate.h"
#include "eval/evaluate.h"
#include "eval/results_json.h"
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

template <typename T>
void check_boxes_valid(const py::array_t<T>& boxes, vrft::BoxFormat fmt, const char* arg) {
  const char* reason = nullptr;
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = vrft::find_invalid_box(boxes.data(), boxes.shape(0), fmt, &reason);
  }
  if (bad >= 0) {
    throw std::invalid_argument(std::string(arg) + "[" + std::to_string(bad) + "] is invalid: " +
                                reason);
  }
}

// ---- runtime ------------------------------------------------------------------------------------

void bind_runtime(py::module_& m) {
  m.def("get_num_threads", &vrft::get_num_threads,
        "Number of threads batch calls use (including the caller).");
  m.def("set_num_threads", &vrft::set_num_threads, py::arg("n"),
        "Set the thread-pool size; 0 restores the CPU count.");
}

// ---- geometry -----------------------------------------------------------------------------------

template <typename T>
void pairwise_iou_impl(const py::handle& a_obj, const py::handle& b_obj, const std::string& fmt_name,
                       const std::string& kind_name, const py::handle& out_obj, bool validate) {
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
  if (validate) {
    check_boxes_valid(a, fmt, "boxes1");
    check_boxes_valid(b, fmt, "boxes2");
  }
  T* out_ptr = out.mutable_data();
  py::gil_scoped_release release;
  vrft::pairwise_iou(a.data(), n, b.data(), m, fmt, kind, out_ptr);
}

template <typename T>
void paired_iou_impl(const py::handle& a_obj, const py::handle& b_obj, const std::string& fmt_name,
                     const std::string& kind_name, const py::handle& out_obj, bool validate) {
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
  if (validate) {
    check_boxes_valid(a, fmt, "boxes1");
    check_boxes_valid(b, fmt, "boxes2");
  }
  T* out_ptr = out.mutable_data();
  py::gil_scoped_release release;
  vrft::paired_iou(a.data(), b.data(), n, fmt, kind, out_ptr);
}

void bind_geometry(py::module_& m) {
  m.def("pairwise_iou_f32", &pairwise_iou_impl<float>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("validate") = true);
  m.def("pairwise_iou_f64", &pairwise_iou_impl<double>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("validate") = true);
  m.def("paired_iou_f32", &paired_iou_impl<float>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("validate") = true);
  m.def("paired_iou_f64", &paired_iou_impl<double>, py::arg("boxes1"), py::arg("boxes2"),
        py::arg("fmt"), py::arg("kind"), py::arg("out"), py::arg("validate") = true);
}

// ---- matching (linear assignment, box matching) -------------------------------------------------
void bind_match(py::module_& /*m*/) {}

// ---- completion parsing -------------------------------------------------------------------------
void bind_parse(py::module_& /*m*/) {}

// ---- COCO / LVIS evaluation ---------------------------------------------------------------------
//
// The Python layer (vrft_rewards/eval) loads the JSON, filters and prepares flat columns; these
// bindings check lengths and dtypes, then run the whole evaluation without the GIL.

template <typename T>
py::array_t<T> require_column(const py::handle& obj, const char* arg, int64_t n, int64_t width = 0) {
  auto arr = require_array<T>(obj, arg);
  const bool ok = width == 0 ? (arr.ndim() == 1 && arr.shape(0) == n)
                             : (arr.ndim() == 2 && arr.shape(0) == n && arr.shape(1) == width);
  if (!ok) {
    std::string shape = "(";
    for (py::ssize_t d = 0; d < arr.ndim(); ++d) shape += (d ? ", " : "") + std::to_string(arr.shape(d));
    throw std::invalid_argument(std::string(arg) + " must have shape (" + std::to_string(n) +
                                (width ? ", " + std::to_string(width) : std::string(",")) +
                                "), got " + shape + ")");
  }
  return arr;
}

// Holds the per-image matches between evaluate() and accumulate().
struct PyEvaluation {
  vrft::eval::Evaluation ev;
};

template <typename T, typename Alloc>
py::array_t<T> to_numpy(const std::vector<T, Alloc>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

std::shared_ptr<PyEvaluation> eval_evaluate(py::dict gt_cols, py::dict dt_cols,
                                            int64_t num_images, int64_t num_categories,
                                            const py::handle& iou_thrs_obj,
                                            const py::handle& area_rng_obj,
                                            int64_t max_dets_per_group) {
  const int64_t ng = py::len(gt_cols["image"]);
  const int64_t nd = py::len(dt_cols["image"]);
  auto g_image = require_column<int64_t>(gt_cols["image"], "gt image", ng);
  auto g_cat = require_column<int64_t>(gt_cols["category"], "gt category", ng);
  auto g_box = require_column<double>(gt_cols["box"], "gt box", ng, 4);
  auto g_area = require_column<double>(gt_cols["area"], "gt area", ng);
  auto g_ignore = require_column<uint8_t>(gt_cols["ignore"], "gt ignore", ng);
  auto g_crowd = require_column<uint8_t>(gt_cols["crowd"], "gt crowd", ng);
  auto g_idnz = require_column<uint8_t>(gt_cols["id_nonzero"], "gt id_nonzero", ng);
  auto d_image = require_column<int64_t>(dt_cols["image"], "detection image", nd);
  auto d_cat = require_column<int64_t>(dt_cols["category"], "detection category", nd);
  auto d_box = require_column<double>(dt_cols["box"], "detection box", nd, 4);
  auto d_area = require_column<double>(dt_cols["area"], "detection area", nd);
  auto d_score = require_column<double>(dt_cols["score"], "detection score", nd);
  auto d_idpos = require_column<uint8_t>(dt_cols["id_positive"], "detection id_positive", nd);
  py::object ne_obj = dt_cols.contains("not_exhaustive") ? py::object(dt_cols["not_exhaustive"])
                                                         : py::none();
  py::array_t<uint8_t> d_ne;
  if (!ne_obj.is_none()) d_ne = require_column<uint8_t>(ne_obj, "detection not_exhaustive", nd);
  auto iou_thrs = require_array<double>(iou_thrs_obj, "iou_thrs");
  auto area_rng = require_array<double>(area_rng_obj, "area_rng");
  if (iou_thrs.ndim() != 1) throw std::invalid_argument("iou_thrs must be 1-D");
  if (area_rng.ndim() != 2 || area_rng.shape(1) != 2) {
    throw std::invalid_argument("area_rng must have shape (A, 2)");
  }

  vrft::eval::GtColumns gt;
  gt.n = ng;
  gt.image = g_image.data();
  gt.category = g_cat.data();
  gt.box = g_box.data();
  gt.area = g_area.data();
  gt.ignore = g_ignore.data();
  gt.crowd = g_crowd.data();
  gt.id_nonzero = g_idnz.data();
  vrft::eval::DtColumns dt;
  dt.n = nd;
  dt.image = d_image.data();
  dt.category = d_cat.data();
  dt.box = d_box.data();
  dt.area = d_area.data();
  dt.score = d_score.data();
  dt.id_positive = d_idpos.data();
  dt.not_exhaustive = ne_obj.is_none() ? nullptr : d_ne.data();
  vrft::eval::MatchParams params;
  params.num_images = num_images;
  params.num_categories = num_categories;
  params.iou_thrs = iou_thrs.data();
  params.num_iou_thrs = iou_thrs.shape(0);
  params.area_rng = area_rng.data();
  params.num_area_rngs = area_rng.shape(0);
  params.max_dets_per_group = max_dets_per_group;

  auto out = std::make_shared<PyEvaluation>();
  py::gil_scoped_release release;
  out->ev = vrft::eval::evaluate_images(gt, dt, params);
  return out;
}

py::tuple eval_accumulate(const PyEvaluation& state, const py::handle& rec_thrs_obj,
                          const py::handle& max_dets_obj) {
  auto rec_thrs = require_array<double>(rec_thrs_obj, "rec_thrs");
  auto max_dets = require_array<int64_t>(max_dets_obj, "max_dets");
  if (rec_thrs.ndim() != 1) throw std::invalid_argument("rec_thrs must be 1-D");
  if (max_dets.ndim() != 1) throw std::invalid_argument("max_dets must be 1-D");
  const auto& ev = state.ev;
  const py::ssize_t T = ev.num_iou_thrs, R = rec_thrs.shape(0), K = ev.num_categories,
                    A = ev.num_area_rngs, M = max_dets.shape(0);
  py::array_t<double> precision({T, R, K, A, M});
  py::array_t<double> scores({T, R, K, A, M});
  py::array_t<double> recall({T, K, A, M});
  vrft::eval::AccumulateParams params;
  params.rec_thrs = rec_thrs.data();
  params.num_rec_thrs = R;
  params.max_dets = max_dets.data();
  params.num_max_dets = M;
  double* p = precision.mutable_data();
  double* r = recall.mutable_data();
  double* s = scores.mutable_data();
  {
    py::gil_scoped_release release;
    vrft::eval::accumulate(ev, params, p, r, s);
  }
  return py::make_tuple(precision, recall, scores);
}

// The fast path of results loading: bytes of a results JSON -> dict of columns, or None when the
// file is not on the fast path (the Python loader then parses it and names any bad record).
py::object eval_parse_results(const py::bytes& data) {
  const std::string_view view(data);
  vrft::eval::ResultColumns cols;
  bool ok;
  {
    py::gil_scoped_release release;  // `data` is immutable and kept alive by the caller's frame
    ok = vrft::eval::parse_result_columns(view.data(), view.size(), cols);
  }
  if (!ok) return py::none();
  const auto n = static_cast<py::ssize_t>(cols.score.size());
  py::array_t<double> box({n, static_cast<py::ssize_t>(4)});
  std::copy(cols.box.begin(), cols.box.end(), box.mutable_data());
  py::dict out;
  out["image_id"] = to_numpy(cols.image_id);
  out["category_id"] = to_numpy(cols.category_id);
  out["bbox"] = box;
  out["score"] = to_numpy(cols.score);
  return out;
}

void bind_eval(py::module_& m) {
  m.def("eval_parse_results", &eval_parse_results, py::arg("data"));
  py::class_<PyEvaluation, std::shared_ptr<PyEvaluation>>(m, "EvalState")
      .def_property_readonly("num_groups",
                             [](const PyEvaluation& s) { return s.ev.group_image.size(); })
      .def_property_readonly("group_image", [](const PyEvaluation& s) { return to_numpy(s.ev.group_image); })
      .def_property_readonly("group_category", [](const PyEvaluation& s) { return to_numpy(s.ev.group_category); })
      .def_property_readonly("gt_offsets", [](const PyEvaluation& s) { return to_numpy(s.ev.gt_offsets); })
      .def_property_readonly("gt_index", [](const PyEvaluation& s) { return to_numpy(s.ev.gt_index); })
      .def_property_readonly("dt_offsets", [](const PyEvaluation& s) { return to_numpy(s.ev.dt_offsets); })
      .def_property_readonly("dt_index", [](const PyEvaluation& s) { return to_numpy(s.ev.dt_index); })
      .def_property_readonly("dt_state", [](const PyEvaluation& s) { return to_numpy(s.ev.dt_state); })
      .def_property_readonly("num_positive_gt", [](const PyEvaluation& s) { return to_numpy(s.ev.num_positive_gt); });
  m.def("eval_evaluate", &eval_evaluate, py::arg("gt"), py::arg("dt"), py::arg("num_images"),
        py::arg("num_categories"), py::arg("iou_thrs"), py::arg("area_rng"),
        py::arg("max_dets_per_group"));
  m.def("eval_accumulate", &eval_accumulate, py::arg("state"), py::arg("rec_thrs"),
        py::arg("max_dets"));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "vrft_rewards native core (CPU)";
  bind_runtime(m);
  bind_geometry(m);
  bind_match(m);
  bind_parse(m);
  bind_eval(m);
}
