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
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <string>
#include <string_view>
#include <vector>

#include "common/thread_pool.h"
#include "eval/accumulate.h"
#include "eval/evaluate.h"
#include "eval/merge.h"
#include "eval/results_json.h"
#include "geometry/iou.h"
#include "parse/parse.h"
#include "masks/mask_set.h"
#include "masks/polygon.h"
#include "match/lsap.h"
#include "match/match_boxes.h"
#include "rewards/completion_ap.h"
#include "rewards/reductions.h"
#include "rewards/segments.h"

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

// "(2, 3)" / "(5,)": an array's shape as Python prints it, for error messages.
std::string shape_text(const py::array& arr) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    s += (d ? ", " : "") + std::to_string(arr.shape(d));
  }
  return s + (arr.ndim() == 1 ? ",)" : ")");
}

void require_boxes_shape(const py::array& arr, const char* arg) {
  if (arr.ndim() != 2 || arr.shape(1) != 4) {
    throw std::invalid_argument(std::string(arg) + " must have shape (N, 4), got " +
                                shape_text(arr));
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

// Offsets of a ragged batch: int64, (B+1,), start at 0, non-decreasing, end at `total`.
const int64_t* check_offsets(const py::array_t<int64_t>& off, int64_t total, const char* arg,
                             const char* boxes_arg) {
  if (off.ndim() != 1 || off.shape(0) < 1) {
    throw std::invalid_argument(std::string(arg) + " must have shape (B + 1,), got " +
                                shape_text(off));
  }
  const int64_t* o = off.data();
  const int64_t n = off.shape(0);
  if (o[0] != 0) {
    throw std::invalid_argument(std::string(arg) + "[0] must be 0, got " + std::to_string(o[0]));
  }
  for (int64_t i = 1; i < n; ++i) {
    if (o[i] < o[i - 1]) {
      throw std::invalid_argument(std::string(arg) + " must be non-decreasing, but " + arg + "[" +
                                  std::to_string(i) + "] = " + std::to_string(o[i]) + " < " + arg +
                                  "[" + std::to_string(i - 1) + "] = " + std::to_string(o[i - 1]));
    }
  }
  if (o[n - 1] != total) {
    throw std::invalid_argument(std::string(arg) + "[-1] must equal len(" + boxes_arg + ") = " +
                                std::to_string(total) + ", got " + std::to_string(o[n - 1]));
  }
  return o;
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

// Status -> the ValueError scipy raises, optionally prefixed with the problem ("costs[17]: ...").
[[noreturn]] void throw_lsap_status(int status, const std::string& prefix) {
  throw std::invalid_argument(prefix + vrft::lsap_status_message(status));
}

// Single problem: cost is a C-contiguous float64 matrix (the Python layer converts on purpose).
py::tuple lsap_single(const py::handle& cost_obj, bool maximize) {
  auto cost = require_array<double>(cost_obj, "cost_matrix");
  if (cost.ndim() != 2) {
    throw std::invalid_argument("expected a matrix (2-D array), got a " +
                                std::to_string(cost.ndim()) + " array");
  }
  const int64_t nr = cost.shape(0), nc = cost.shape(1);
  const int64_t k = std::min(nr, nc);
  py::array_t<int64_t> rows(k), cols(k);
  int status;
  {
    py::gil_scoped_release release;
    vrft::LsapWorkspace ws;
    status = vrft::linear_sum_assignment(cost.data(), nr, nc, nc, maximize, rows.mutable_data(),
                                         cols.mutable_data(), nullptr, ws);
  }
  if (status != vrft::kLsapOk) throw_lsap_status(status, "");
  return py::make_tuple(rows, cols);
}

// Runs a batch whose problem pointers and shapes are already known; returns
// (row_ind, col_ind, offsets, total_cost).
py::tuple lsap_batch_run(std::vector<const double*>& ptrs, std::vector<int64_t>& nrows,
                         std::vector<int64_t>& ncols, std::vector<int64_t>& lds, bool maximize,
                         const std::string& arg) {
  const auto b = static_cast<py::ssize_t>(ptrs.size());
  py::array_t<int64_t> offsets(b + 1);
  int64_t* off = offsets.mutable_data();
  off[0] = 0;
  for (py::ssize_t i = 0; i < b; ++i) off[i + 1] = off[i] + std::min(nrows[i], ncols[i]);
  py::array_t<int64_t> rows(off[b]), cols(off[b]);
  py::array_t<double> totals(b);
  std::vector<int> statuses(static_cast<size_t>(b));
  int64_t first_bad;
  {
    // Safe without the GIL: only the buffers above and the caller's arrays (kept alive by the
    // Python objects the caller holds for the whole call) are touched.
    py::gil_scoped_release release;
    first_bad = vrft::batched_linear_sum_assignment(
        b, ptrs.data(), nrows.data(), ncols.data(), lds.data(), maximize, off,
        rows.mutable_data(), cols.mutable_data(), totals.mutable_data(), statuses.data());
  }
  if (first_bad >= 0) {
    throw_lsap_status(statuses[static_cast<size_t>(first_bad)],
                      arg + "[" + std::to_string(first_bad) + "]: ");
  }
  return py::make_tuple(rows, cols, offsets, totals);
}

// A Python list of C-contiguous float64 matrices, borrowed without copying.
py::tuple lsap_batch_list(const py::list& costs, bool maximize) {
  const auto b = static_cast<size_t>(py::len(costs));
  std::vector<const double*> ptrs(b);
  std::vector<int64_t> nrows(b), ncols(b), lds(b);
  std::vector<py::array_t<double>> keep;
  keep.reserve(b);
  for (size_t i = 0; i < b; ++i) {
    const std::string name = "costs[" + std::to_string(i) + "]";
    keep.push_back(require_array<double>(costs[i], name.c_str()));
    const auto& a = keep.back();
    if (a.ndim() != 2) {
      throw std::invalid_argument(name + ": expected a matrix (2-D array), got a " +
                                  std::to_string(a.ndim()) + " array");
    }
    ptrs[i] = a.data();
    nrows[i] = a.shape(0);
    ncols[i] = a.shape(1);
    lds[i] = a.shape(1);
  }
  return lsap_batch_run(ptrs, nrows, ncols, lds, maximize, "costs");
}

// A padded (B, N, M) float64 array with per-problem shapes (B, 2) int64.
py::tuple lsap_batch_padded(const py::handle& costs_obj, const py::handle& shapes_obj,
                            bool maximize) {
  auto costs = require_array<double>(costs_obj, "costs");
  auto shapes = require_array<int64_t>(shapes_obj, "shapes");
  if (costs.ndim() != 3) {
    throw std::invalid_argument("costs must be a list of 2-D arrays or a 3-D array (B, N, M), got shape " +
                                shape_text(costs));
  }
  const int64_t b = costs.shape(0), n = costs.shape(1), m = costs.shape(2);
  if (shapes.ndim() != 2 || shapes.shape(0) != b || shapes.shape(1) != 2) {
    throw std::invalid_argument("shapes must have shape (" + std::to_string(b) + ", 2), got " +
                                shape_text(shapes));
  }
  const int64_t* sh = shapes.data();
  std::vector<const double*> ptrs(static_cast<size_t>(b));
  std::vector<int64_t> nrows(ptrs.size()), ncols(ptrs.size()), lds(ptrs.size(), m);
  for (int64_t i = 0; i < b; ++i) {
    const int64_t r = sh[2 * i], c = sh[2 * i + 1];
    if (r < 0 || r > n || c < 0 || c > m) {
      throw std::invalid_argument("shapes[" + std::to_string(i) + "] must lie within (0..." +
                                  std::to_string(n) + ", 0..." + std::to_string(m) + "), got (" +
                                  std::to_string(r) + ", " + std::to_string(c) + ")");
    }
    const auto k = static_cast<size_t>(i);
    ptrs[k] = costs.data() + i * n * m;
    nrows[k] = r;
    ncols[k] = c;
  }
  return lsap_batch_run(ptrs, nrows, ncols, lds, maximize, "costs");
}

template <typename T>
py::dict match_boxes_impl(const py::handle& pred_obj, const py::handle& pred_off_obj,
                          const py::handle& gt_obj, const py::handle& gt_off_obj,
                          const py::object& scores_obj, const std::string& method,
                          const std::string& kind, const std::string& fmt, double iou_threshold,
                          bool strict) {
  auto pred = require_array<T>(pred_obj, "pred");
  auto gt = require_array<T>(gt_obj, "gt");
  auto pred_off = require_array<int64_t>(pred_off_obj, "pred_offsets");
  auto gt_off = require_array<int64_t>(gt_off_obj, "gt_offsets");
  require_boxes_shape(pred, "pred");
  require_boxes_shape(gt, "gt");
  const vrft::MatchOptions opt = vrft::make_match_options(method, kind, fmt, iou_threshold, strict);
  const int64_t n_pred = pred.shape(0), n_gt = gt.shape(0);
  const int64_t* po = check_offsets(pred_off, n_pred, "pred_offsets", "pred");
  const int64_t* go = check_offsets(gt_off, n_gt, "gt_offsets", "gt");
  if (pred_off.shape(0) != gt_off.shape(0)) {
    throw std::invalid_argument("pred_offsets and gt_offsets must describe the same number of "
                                "problems, got " + std::to_string(pred_off.shape(0) - 1) +
                                " and " + std::to_string(gt_off.shape(0) - 1));
  }
  const int64_t b = pred_off.shape(0) - 1;
  const double* scores_ptr = nullptr;
  py::array_t<double> scores;
  if (!scores_obj.is_none()) {
    scores = require_array<double>(scores_obj, "scores");
    if (scores.ndim() != 1 || scores.shape(0) != n_pred) {
      throw std::invalid_argument("scores must have shape (" + std::to_string(n_pred) +
                                  ",) like pred, got " + shape_text(scores));
    }
    scores_ptr = scores.data();
    for (int64_t i = 0; i < n_pred; ++i) {
      if (std::isnan(scores_ptr[i])) {
        throw std::invalid_argument("scores[" + std::to_string(i) + "] is NaN");
      }
    }
  }
  py::array_t<int64_t> matched_gt(n_pred), matched_pred(n_gt), n_matched(b);
  py::array_t<T> matched_value(n_pred);
  py::array_t<double> sum_matched(b);
  std::vector<int64_t> bad_pred(static_cast<size_t>(b)), bad_gt(static_cast<size_t>(b));
  vrft::MatchOutputs<T> out{matched_gt.mutable_data(), matched_value.mutable_data(),
                            matched_pred.mutable_data(), n_matched.mutable_data(),
                            sum_matched.mutable_data(), bad_pred.data(), bad_gt.data()};
  const T* pred_ptr = pred.data();
  const T* gt_ptr = gt.data();
  py::array_t<int64_t> pair_off(b + 1), unmatched_pred(b), unmatched_gt(b);
  int64_t* poff = pair_off.mutable_data();
  int64_t* upred = unmatched_pred.mutable_data();
  int64_t* ugt = unmatched_gt.mutable_data();
  {
    py::gil_scoped_release release;  // only the buffers above are touched
    // Boxes are validated inside, per problem (parallel, while in cache); any invalid box
    // raises below, before a result is built.  The offsets were checked above, so every box
    // belongs to exactly one problem and no read leaves the arrays.
    vrft::match_boxes(pred_ptr, po, gt_ptr, go, b, scores_ptr, opt, out);
    poff[0] = 0;
    for (int64_t i = 0; i < b; ++i) {
      poff[i + 1] = poff[i] + out.n_matched[i];
      upred[i] = po[i + 1] - po[i] - out.n_matched[i];
      ugt[i] = go[i + 1] - go[i] - out.n_matched[i];
    }
  }
  // Same messages and priority as check_boxes_valid: the first invalid prediction, else GT.
  for (const auto& [bad, arr, name] :
       {std::make_tuple(&bad_pred, static_cast<const py::array_t<T>*>(&pred), "pred"),
        std::make_tuple(&bad_gt, static_cast<const py::array_t<T>*>(&gt), "gt")}) {
    for (const int64_t idx : *bad) {
      if (idx < 0) continue;
      const char* reason = "invalid box";
      vrft::find_invalid_box(arr->data() + 4 * idx, 1, opt.fmt, &reason);
      throw std::invalid_argument(std::string(name) + "[" + std::to_string(idx) +
                                  "] is invalid: " + reason);
    }
  }
  const int64_t n_pairs = poff[b];
  py::array_t<int64_t> pair_pred(n_pairs), pair_gt(n_pairs), pair_pred_g(n_pairs),
      pair_gt_g(n_pairs);
  py::array_t<T> pair_value(n_pairs);
  {
    py::gil_scoped_release release;
    int64_t* pp = pair_pred.mutable_data();
    int64_t* pg = pair_gt.mutable_data();
    int64_t* ppg = pair_pred_g.mutable_data();
    int64_t* pgg = pair_gt_g.mutable_data();
    T* pv = pair_value.mutable_data();
    int64_t k = 0;
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t p = po[i]; p < po[i + 1]; ++p) {
        const int64_t g = out.matched_gt[p];
        if (g < 0) continue;
        pp[k] = p - po[i];
        pg[k] = g;
        ppg[k] = p;
        pgg[k] = go[i] + g;
        pv[k] = out.matched_value[p];
        ++k;
      }
    }
  }
  py::dict d;
  d["pred_index"] = pair_pred;
  d["gt_index"] = pair_gt;
  d["pred_global"] = pair_pred_g;
  d["gt_global"] = pair_gt_g;
  d["iou"] = pair_value;
  d["offsets"] = pair_off;
  d["matched_gt"] = matched_gt;
  d["matched_pred"] = matched_pred;
  d["n_matched"] = n_matched;
  d["n_unmatched_pred"] = unmatched_pred;
  d["n_unmatched_gt"] = unmatched_gt;
  d["sum_matched_iou"] = sum_matched;
  return d;
}

void bind_match(py::module_& m) {
  m.def("lsap", &lsap_single, py::arg("cost_matrix"), py::arg("maximize") = false,
        "scipy-compatible linear_sum_assignment on a C-contiguous float64 matrix.");
  m.def("lsap_batch_list", &lsap_batch_list, py::arg("costs"), py::arg("maximize") = false,
        "Batched LSAP over a list of C-contiguous float64 matrices -> (rows, cols, offsets, totals).");
  m.def("lsap_batch_padded", &lsap_batch_padded, py::arg("costs"), py::arg("shapes"),
        py::arg("maximize") = false,
        "Batched LSAP over a padded (B, N, M) float64 array with shapes (B, 2).");
  m.def("match_boxes_f32", &match_boxes_impl<float>, py::arg("pred"), py::arg("pred_offsets"),
        py::arg("gt"), py::arg("gt_offsets"), py::arg("scores"), py::arg("method"),
        py::arg("kind"), py::arg("fmt"), py::arg("iou_threshold"), py::arg("strict"));
  m.def("match_boxes_f64", &match_boxes_impl<double>, py::arg("pred"), py::arg("pred_offsets"),
        py::arg("gt"), py::arg("gt_offsets"), py::arg("scores"), py::arg("method"),
        py::arg("kind"), py::arg("fmt"), py::arg("iou_threshold"), py::arg("strict"));
}

// ---- completion parsing -------------------------------------------------------------------------

// UTF-8 view of a str.  PyUnicode_AsUTF8AndSize returns the str's own buffer for ASCII strings and
// a UTF-8 copy cached inside the str otherwise, so the pointer lives as long as the str does.  A
// str with lone surrogates has no UTF-8 form: it is encoded with "surrogatepass" (each surrogate
// becomes one 3-byte sequence, so code-point counting still gives Python indices) into a bytes
// object kept in `keep`.
vrft::parse::Text utf8_of(PyObject* str, std::vector<py::object>* keep) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(str, &size);
  if (!data) {
    PyErr_Clear();
    PyObject* bytes = PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass");
    if (!bytes) throw py::error_already_set();
    keep->push_back(py::reinterpret_steal<py::object>(bytes));
    data = PyBytes_AS_STRING(bytes);
    size = PyBytes_GET_SIZE(bytes);
  }
  return {data, static_cast<int64_t>(size), PyUnicode_IS_ASCII(str) != 0};
}

std::string type_name(PyObject* o) { return Py_TYPE(o)->tp_name; }

// The answer text of one completion: the str itself, or the content of the last assistant message
// of a TRL conversational completion (a list of {"role": ..., "content": ...} dicts; with tool
// turns the final assistant message is the answer).  Returns a new reference, or a null object
// (with *why set) when the entry is neither.  The message list is read through a tuple snapshot,
// because dict lookups may run Python code that mutates it.
py::object completion_text(PyObject* item, std::string* why) {
  if (PyUnicode_Check(item)) return py::reinterpret_borrow<py::object>(item);
  if (PyList_Check(item) || PyTuple_Check(item)) {
    auto msgs = py::reinterpret_steal<py::tuple>(PySequence_Tuple(item));
    if (!msgs) throw py::error_already_set();
    for (Py_ssize_t k = PyTuple_GET_SIZE(msgs.ptr()) - 1; k >= 0; --k) {
      PyObject* msg = PyTuple_GET_ITEM(msgs.ptr(), k);
      if (!PyDict_Check(msg)) {
        *why = "a chat message that is a dict, got " + type_name(msg) + " at message " +
               std::to_string(k);
        return py::object();
      }
      PyObject* role = PyDict_GetItemString(msg, "role");  // borrowed
      if (!role || !PyUnicode_Check(role) || PyUnicode_CompareWithASCIIString(role, "assistant") != 0)
        continue;
      PyObject* content = PyDict_GetItemString(msg, "content");
      if (content && PyUnicode_Check(content)) return py::reinterpret_borrow<py::object>(content);
      *why = "the last assistant message's content to be a str, got " +
             (content ? type_name(content) : std::string("no 'content' key"));
      return py::object();
    }
    *why = "a list of chat messages with an assistant message, found none";
    return py::object();
  }
  *why = "a str or a list of chat messages, got " + type_name(item);
  return py::object();
}

template <typename T>
py::array_t<T> new_array(int64_t n) {
  return py::array_t<T>(static_cast<py::ssize_t>(n));
}

py::dict parse_completions_impl(const py::handle& completions, const std::string& schema,
                                const std::string& answer, bool require_tags,
                                const std::string& invalid) {
  vrft::parse::Options opt;
  opt.schema = vrft::parse::parse_schema(schema, "schema");
  opt.pick = vrft::parse::parse_answer_pick(answer, "answer");
  opt.require_tags = require_tags;
  if (invalid != "raise" && invalid != "empty") {
    throw std::invalid_argument("invalid must be 'raise' or 'empty', got '" + invalid + "'");
  }
  if (!PyList_Check(completions.ptr()) && !PyTuple_Check(completions.ptr())) {
    throw py::type_error("completions must be a list or tuple, got " + type_name(completions.ptr()));
  }
  // A tuple snapshot: reading chat messages may run Python code (a dict key's __eq__), which
  // could resize a list under our item pointer.
  py::tuple snapshot = py::reinterpret_steal<py::tuple>(PySequence_Tuple(completions.ptr()));
  if (!snapshot) throw py::error_already_set();
  const Py_ssize_t n = PyTuple_GET_SIZE(snapshot.ptr());
  PyObject** items = PySequence_Fast_ITEMS(snapshot.ptr());
  // `sources` owns a reference to every str we read, so the UTF-8 pointers stay valid while the
  // GIL is released even if the caller's list is mutated by another thread meanwhile.
  py::list sources(n);
  std::vector<py::object> keep;
  std::vector<vrft::parse::Text> texts(static_cast<size_t>(n));
  py::str empty_str("");
  for (Py_ssize_t i = 0; i < n; ++i) {
    std::string why;
    py::object s = completion_text(items[i], &why);
    if (!s) {
      if (invalid == "raise") {
        throw py::type_error("completions[" + std::to_string(i) + "] must be " + why +
                             " (pass invalid='empty' to read such entries as empty text)");
      }
      s = empty_str;
    }
    texts[static_cast<size_t>(i)] = utf8_of(s.ptr(), &keep);
    PyList_SET_ITEM(sources.ptr(), i, s.release().ptr());  // the list takes our reference
  }

  const int64_t b = static_cast<int64_t>(n);
  auto status = new_array<int8_t>(b), format = new_array<int8_t>(b), choice = new_array<int8_t>(b);
  auto has_think = new_array<uint8_t>(b), think_closed = new_array<uint8_t>(b),
       has_answer = new_array<uint8_t>(b), answer_closed = new_array<uint8_t>(b),
       text_outside = new_array<uint8_t>(b), strict_format = new_array<uint8_t>(b);
  auto n_think_open = new_array<int32_t>(b), n_think_close = new_array<int32_t>(b),
       n_answer_open = new_array<int32_t>(b), n_answer_close = new_array<int32_t>(b),
       n_dropped = new_array<int32_t>(b);
  auto answer_start = new_array<int64_t>(b), answer_end = new_array<int64_t>(b),
       answer_start_byte = new_array<int64_t>(b), answer_end_byte = new_array<int64_t>(b),
       offsets = new_array<int64_t>(b + 1);
  auto number = new_array<double>(b);
  std::vector<int64_t> n_boxes(static_cast<size_t>(n));
  vrft::parse::CompletionColumns cols{
      status.mutable_data(),        format.mutable_data(),         has_think.mutable_data(),
      think_closed.mutable_data(),  has_answer.mutable_data(),     answer_closed.mutable_data(),
      text_outside.mutable_data(),  strict_format.mutable_data(),  n_think_open.mutable_data(),
      n_think_close.mutable_data(), n_answer_open.mutable_data(),  n_answer_close.mutable_data(),
      answer_start.mutable_data(),  answer_end.mutable_data(),     answer_start_byte.mutable_data(),
      answer_end_byte.mutable_data(), number.mutable_data(),       choice.mutable_data(),
      n_dropped.mutable_data(),     n_boxes.data()};
  // Box buffers are kept per calling thread between calls: their pages stay mapped, which saves
  // the page faults of fresh allocations (~10% of a 4096-completion call).  Each Python thread
  // has its own, so concurrent calls never share one.
  static thread_local std::vector<vrft::parse::BoxColumns> parts;
  {
    py::gil_scoped_release release;
    vrft::parse::parse_batch(texts.data(), b, opt, cols, &parts);
    int64_t* off = offsets.mutable_data();
    off[0] = 0;
    for (int64_t i = 0; i < b; ++i) off[i + 1] = off[i] + n_boxes[static_cast<size_t>(i)];
  }
  const auto total = static_cast<py::ssize_t>(vrft::parse::total_boxes(parts));
  py::array_t<double> box_arr({total, static_cast<py::ssize_t>(4)});
  auto confidences = new_array<double>(total);
  auto label_start = new_array<int64_t>(total), label_end = new_array<int64_t>(total),
       label_start_byte = new_array<int64_t>(total), label_end_byte = new_array<int64_t>(total);
  vrft::parse::concat_boxes(parts, box_arr.mutable_data(), confidences.mutable_data(),
                            label_start.mutable_data(), label_end.mutable_data(),
                            label_start_byte.mutable_data(), label_end_byte.mutable_data());
  if (total > (py::ssize_t{1} << 20)) parts = {};  // do not keep the buffers of a huge batch alive

  py::dict d;
  d["sources"] = sources;
  d["status"] = status;
  d["format"] = format;
  d["has_think"] = has_think;
  d["think_closed"] = think_closed;
  d["has_answer"] = has_answer;
  d["answer_closed"] = answer_closed;
  d["text_outside"] = text_outside;
  d["strict_format"] = strict_format;
  d["n_think_open"] = n_think_open;
  d["n_think_close"] = n_think_close;
  d["n_answer_open"] = n_answer_open;
  d["n_answer_close"] = n_answer_close;
  d["answer_start"] = answer_start;
  d["answer_end"] = answer_end;
  d["answer_start_byte"] = answer_start_byte;
  d["answer_end_byte"] = answer_end_byte;
  d["number"] = number;
  d["choice"] = choice;
  d["n_dropped"] = n_dropped;
  d["offsets"] = offsets;
  d["boxes"] = box_arr;
  d["confidences"] = confidences;
  d["label_start"] = label_start;
  d["label_end"] = label_end;
  d["label_start_byte"] = label_start_byte;
  d["label_end_byte"] = label_end_byte;
  return d;
}

// Checks (index, start, end) byte spans against `sources` before any text is touched.
void check_spans(const py::list& sources, const py::array_t<int64_t>& index,
                 const py::array_t<int64_t>& start, const py::array_t<int64_t>& end,
                 std::vector<vrft::parse::Text>* texts, std::vector<py::object>* keep) {
  const py::ssize_t n = sources.size();
  if (index.ndim() != 1 || start.ndim() != 1 || end.ndim() != 1 || index.shape(0) != start.shape(0) ||
      start.shape(0) != end.shape(0)) {
    throw std::invalid_argument("index, start and end must be 1-D arrays of one length");
  }
  texts->resize(static_cast<size_t>(n));
  for (py::ssize_t i = 0; i < n; ++i) {
    PyObject* s = PyList_GET_ITEM(sources.ptr(), i);
    if (!PyUnicode_Check(s)) throw py::type_error("sources must hold only str");
    (*texts)[static_cast<size_t>(i)] = utf8_of(s, keep);
  }
  const int64_t* ix = index.data();
  const int64_t* lo = start.data();
  const int64_t* hi = end.data();
  for (py::ssize_t k = 0; k < index.shape(0); ++k) {
    if (lo[k] < 0) continue;  // absent span
    if (ix[k] < 0 || ix[k] >= n || hi[k] < lo[k] || hi[k] > (*texts)[static_cast<size_t>(ix[k])].size) {
      throw std::invalid_argument("span " + std::to_string(k) + " is out of range of its text");
    }
  }
}

// list[str | None] of the byte spans (None where start < 0).
py::list slice_texts(const py::list& sources, const py::array_t<int64_t, py::array::c_style>& index,
                     const py::array_t<int64_t, py::array::c_style>& start,
                     const py::array_t<int64_t, py::array::c_style>& end) {
  std::vector<vrft::parse::Text> texts;
  std::vector<py::object> keep;
  check_spans(sources, index, start, end, &texts, &keep);
  const py::ssize_t m = index.shape(0);
  py::list out(m);
  const int64_t* ix = index.data();
  const int64_t* lo = start.data();
  const int64_t* hi = end.data();
  for (py::ssize_t k = 0; k < m; ++k) {
    PyObject* o;
    if (lo[k] < 0) {
      o = Py_None;
      Py_INCREF(o);
    } else {
      const auto& t = texts[static_cast<size_t>(ix[k])];
      o = PyUnicode_DecodeUTF8(t.data + lo[k], static_cast<Py_ssize_t>(hi[k] - lo[k]), "surrogatepass");
      if (!o) throw py::error_already_set();
    }
    PyList_SET_ITEM(out.ptr(), k, o);
  }
  return out;
}

// list[str] of normalised answers (see vrft::parse::normalize_text); the text work runs without
// the GIL, only the final str objects are made with it.
py::list normalize_texts(const py::list& sources, const py::array_t<int64_t, py::array::c_style>& start,
                         const py::array_t<int64_t, py::array::c_style>& end, bool lower,
                         bool strip_punct, int underscores, bool collapse_space, bool drop_space) {
  const py::ssize_t n = sources.size();
  py::array_t<int64_t> index(n);
  for (py::ssize_t i = 0; i < n; ++i) index.mutable_data()[i] = i;
  std::vector<vrft::parse::Text> texts;
  std::vector<py::object> keep;
  check_spans(sources, index, start, end, &texts, &keep);
  vrft::parse::NormalizeOptions opt;
  opt.lower = lower;
  opt.strip_punct = strip_punct;
  opt.underscores = underscores;
  opt.collapse_space = collapse_space;
  opt.drop_space = drop_space;
  std::string buf;
  std::vector<size_t> cuts(static_cast<size_t>(n) + 1, 0);
  const int64_t* lo = start.data();
  const int64_t* hi = end.data();
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) {
      if (lo[i] >= 0) {
        const auto& t = texts[static_cast<size_t>(i)];
        vrft::parse::normalize_text(t.data + lo[i], t.data + hi[i], opt, &buf);
      }
      cuts[static_cast<size_t>(i) + 1] = buf.size();
    }
  }
  py::list out(n);
  for (py::ssize_t i = 0; i < n; ++i) {
    const size_t a = cuts[static_cast<size_t>(i)], z = cuts[static_cast<size_t>(i) + 1];
    PyObject* o = PyUnicode_DecodeUTF8(buf.data() + a, static_cast<Py_ssize_t>(z - a), "surrogatepass");
    if (!o) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), i, o);
  }
  return out;
}

void bind_parse(py::module_& m) {
  m.def("parse_completions", &parse_completions_impl, py::arg("completions"), py::arg("schema"),
        py::arg("answer"), py::arg("require_tags"), py::arg("invalid"));
  m.def("slice_texts", &slice_texts, py::arg("sources"), py::arg("index"), py::arg("start"),
        py::arg("end"));
  m.def("normalize_texts", &normalize_texts, py::arg("sources"), py::arg("start"), py::arg("end"),
        py::arg("lower"), py::arg("strip_punct"), py::arg("underscores"),
        py::arg("collapse_space"), py::arg("drop_space"));
}

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
    throw std::invalid_argument(std::string(arg) + " must have shape (" + std::to_string(n) +
                                (width ? ", " + std::to_string(width) : std::string(",")) +
                                "), got " + shape_text(arr));
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

// Pickle support, so that Ray / multiprocessing workers can send their shard's state back:
// (version, I, K, T, A, then every array of the Evaluation).  Unpickling validates the arrays
// (check_evaluation) so that a corrupt state raises instead of reading out of bounds later.
constexpr int kEvalStateVersion = 1;

template <typename V>
void vector_from_numpy(const py::handle& obj, const char* field, V& out) {
  using T = typename V::value_type;
  auto arr = require_array<T>(obj, field);
  if (arr.ndim() != 1) throw std::invalid_argument(std::string(field) + " must be 1-D");
  out.resize(static_cast<size_t>(arr.shape(0)));
  std::copy(arr.data(), arr.data() + arr.shape(0), out.begin());
}

py::tuple eval_state_getstate(const PyEvaluation& s) {
  const auto& e = s.ev;
  return py::make_tuple(kEvalStateVersion, e.num_images, e.num_categories, e.num_iou_thrs,
                        e.num_area_rngs, to_numpy(e.group_image), to_numpy(e.group_category),
                        to_numpy(e.category_groups), to_numpy(e.gt_offsets), to_numpy(e.gt_index),
                        to_numpy(e.dt_offsets), to_numpy(e.dt_index), to_numpy(e.dt_score),
                        to_numpy(e.dt_state), to_numpy(e.dt_any_tp), to_numpy(e.num_positive_gt));
}

std::shared_ptr<PyEvaluation> eval_state_setstate(const py::tuple& t) {
  if (t.size() != 16 || t[0].cast<int>() != kEvalStateVersion) {
    throw std::invalid_argument("EvalState pickle of another version or layout");
  }
  auto out = std::make_shared<PyEvaluation>();
  auto& e = out->ev;
  e.num_images = t[1].cast<int64_t>();
  e.num_categories = t[2].cast<int64_t>();
  e.num_iou_thrs = t[3].cast<int64_t>();
  e.num_area_rngs = t[4].cast<int64_t>();
  vector_from_numpy(t[5], "group_image", e.group_image);
  vector_from_numpy(t[6], "group_category", e.group_category);
  vector_from_numpy(t[7], "category_groups", e.category_groups);
  vector_from_numpy(t[8], "gt_offsets", e.gt_offsets);
  vector_from_numpy(t[9], "gt_index", e.gt_index);
  vector_from_numpy(t[10], "dt_offsets", e.dt_offsets);
  vector_from_numpy(t[11], "dt_index", e.dt_index);
  vector_from_numpy(t[12], "dt_score", e.dt_score);
  vector_from_numpy(t[13], "dt_state", e.dt_state);
  vector_from_numpy(t[14], "dt_any_tp", e.dt_any_tp);
  vector_from_numpy(t[15], "num_positive_gt", e.num_positive_gt);
  vrft::eval::check_evaluation(e);
  return out;
}

// Merges shard states; gt_rows[i] / dt_rows[i] map shard i's local rows to the caller's rows
// (None: the shard was given the caller's rows unchanged).
std::shared_ptr<PyEvaluation> eval_merge(const py::list& states, const py::list& gt_rows,
                                         const py::list& dt_rows) {
  const size_t n = py::len(states);
  if (py::len(gt_rows) != n || py::len(dt_rows) != n) {
    throw std::invalid_argument("states, gt_rows and dt_rows must have the same length");
  }
  if (n == 0) throw std::invalid_argument("states must hold at least one evaluation state");
  std::vector<std::shared_ptr<PyEvaluation>> keep;  // holds the states while the GIL is released
  std::vector<py::array_t<int64_t>> maps;           // and the row maps
  std::vector<vrft::eval::EvaluationPart> parts(n);
  // A row map: None, or a 1-D int64 array (its data outlives the vector's moves of the handle).
  auto row_map = [&maps](const py::handle& obj, const std::string& arg, const int64_t** rows,
                         int64_t* count) {
    if (obj.is_none()) return;
    maps.push_back(require_array<int64_t>(obj, arg.c_str()));
    if (maps.back().ndim() != 1) throw std::invalid_argument(arg + " must be 1-D, got " + shape_text(maps.back()));
    *rows = maps.back().data();
    *count = maps.back().shape(0);
  };
  for (size_t i = 0; i < n; ++i) {
    keep.push_back(states[i].cast<std::shared_ptr<PyEvaluation>>());
    parts[i].ev = &keep.back()->ev;
    const std::string at = "[" + std::to_string(i) + "]";
    row_map(gt_rows[i], "gt_rows" + at, &parts[i].gt_rows, &parts[i].num_gt_rows);
    row_map(dt_rows[i], "dt_rows" + at, &parts[i].dt_rows, &parts[i].num_dt_rows);
  }
  auto out = std::make_shared<PyEvaluation>();
  py::gil_scoped_release release;  // only the C++ objects held above are read
  out->ev = vrft::eval::merge_evaluations(parts);
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
      .def_property_readonly("dt_score", [](const PyEvaluation& s) { return to_numpy(s.ev.dt_score); })
      .def_property_readonly("num_positive_gt", [](const PyEvaluation& s) { return to_numpy(s.ev.num_positive_gt); })
      .def(py::pickle(&eval_state_getstate, &eval_state_setstate));
  m.def("eval_merge", &eval_merge, py::arg("states"), py::arg("gt_rows"), py::arg("dt_rows"));
  m.def("eval_evaluate", &eval_evaluate, py::arg("gt"), py::arg("dt"), py::arg("num_images"),
        py::arg("num_categories"), py::arg("iou_thrs"), py::arg("area_rng"),
        py::arg("max_dets_per_group"));
  m.def("eval_accumulate", &eval_accumulate, py::arg("state"), py::arg("rec_thrs"),
        py::arg("max_dets"));
}

// ---- masks (grounding gIoU / cIoU) ----------------------------------------------------------------
//
// The Python layer turns every sample's segmentation into compressed-RLE pieces (pycocotools
// rasterises polygons); these bindings decode and unite them once and compute the paired
// overlaps with predicted boxes without the GIL.

struct PyMaskSet {
  vrft::masks::MaskSet set;
};

// Offsets of pieces per sample / coordinates per polygon: `count` + 1 values from 0 to `total`.
py::array_t<int64_t> require_offsets(const py::handle& obj, const char* arg, int64_t count,
                                     int64_t total, const char* of) {
  auto off = require_array<int64_t>(obj, arg);
  if (off.ndim() != 1 || off.shape(0) != count + 1) {
    throw std::invalid_argument(std::string(arg) + " must have shape (" + std::to_string(count + 1) +
                                ",), got " + shape_text(off));
  }
  check_offsets(off, total, arg, of);
  return off;
}

std::shared_ptr<PyMaskSet> make_mask_set(const py::handle& heights_obj, const py::handle& widths_obj,
                                         const py::list& rle, const py::handle& rle_offsets_obj,
                                         const py::handle& coords_obj,
                                         const py::handle& coord_offsets_obj,
                                         const py::handle& polygon_offsets_obj) {
  auto heights = require_array<int64_t>(heights_obj, "heights");
  auto widths = require_array<int64_t>(widths_obj, "widths");
  if (heights.ndim() != 1 || widths.ndim() != 1 || widths.shape(0) != heights.shape(0)) {
    throw std::invalid_argument("heights and widths must be 1-D arrays of the same length");
  }
  const int64_t n = heights.shape(0);
  auto coords = require_array<double>(coords_obj, "coords");
  if (coords.ndim() != 1) throw std::invalid_argument("coords must be 1-D");
  auto rle_offsets = require_offsets(rle_offsets_obj, "rle_offsets", n, static_cast<int64_t>(py::len(rle)), "rle");
  auto coord_offsets_arr = require_array<int64_t>(coord_offsets_obj, "coord_offsets");
  if (coord_offsets_arr.ndim() != 1 || coord_offsets_arr.shape(0) < 1) {
    throw std::invalid_argument("coord_offsets must have shape (P + 1,)");
  }
  const int64_t num_polygons = coord_offsets_arr.shape(0) - 1;
  auto coord_offsets = require_offsets(coord_offsets_obj, "coord_offsets", num_polygons, coords.shape(0), "coords");
  auto polygon_offsets = require_offsets(polygon_offsets_obj, "polygon_offsets", n, num_polygons, "coord_offsets[:-1]");
  const int64_t* h = heights.data();
  const int64_t* w = widths.data();
  for (int64_t i = 0; i < n; ++i) {
    if (h[i] <= 0 || w[i] <= 0) {
      throw std::invalid_argument("heights[" + std::to_string(i) + "] and widths[" +
                                  std::to_string(i) + "] must be positive");
    }
    if (h[i] > (int64_t{1} << 24) || w[i] > (int64_t{1} << 24)) {
      throw std::invalid_argument("mask " + std::to_string(i) + " is larger than 2**24 pixels a side");
    }
    const double limit = vrft::masks::polygon_coordinate_limit(h[i], w[i]);
    for (int64_t p = polygon_offsets.data()[i]; p < polygon_offsets.data()[i + 1]; ++p) {
      const int64_t c0 = coord_offsets.data()[p], c1 = coord_offsets.data()[p + 1];
      if ((c1 - c0) % 2) {
        throw std::invalid_argument("polygon " + std::to_string(p) + " has an odd number of coordinates");
      }
      for (int64_t c = c0; c < c1; ++c) {
        const double v = coords.data()[c];
        if (!(std::fabs(v) <= limit)) {
          throw std::invalid_argument("polygon " + std::to_string(p) + " of mask " + std::to_string(i) +
                                      " has a coordinate that is not finite or lies far outside the image");
        }
      }
    }
  }
  // Views into the bytes objects, which the list keeps alive for the whole call.
  std::vector<std::string_view> views;
  views.reserve(py::len(rle));
  for (const py::handle& piece : rle) {
    if (!PyBytes_Check(piece.ptr())) {
      throw py::type_error("rle must be a list of bytes (compressed RLE counts)");
    }
    views.emplace_back(PyBytes_AS_STRING(piece.ptr()),
                       static_cast<size_t>(PyBytes_GET_SIZE(piece.ptr())));
  }
  vrft::masks::MaskSources src;
  src.num_samples = n;
  src.heights = h;
  src.widths = w;
  src.rle = &views;
  src.rle_offsets = rle_offsets.data();
  src.coords = coords.data();
  src.coord_offsets = coord_offsets.data();
  src.polygon_offsets = polygon_offsets.data();
  auto out = std::make_shared<PyMaskSet>();
  py::gil_scoped_release release;  // only the arrays, views and list held above are read
  out->set = vrft::masks::decode_mask_set(src);
  return out;
}

py::tuple mask_set_box_overlap(const PyMaskSet& s, const py::handle& boxes_obj,
                               const py::handle& valid_obj) {
  const auto n = static_cast<py::ssize_t>(s.set.masks.size());
  auto boxes = require_array<double>(boxes_obj, "boxes");
  require_boxes_shape(boxes, "boxes");
  auto valid = require_array<uint8_t>(valid_obj, "valid");
  if (boxes.shape(0) != n || valid.ndim() != 1 || valid.shape(0) != n) {
    throw std::invalid_argument("boxes and valid must have one row per mask (" + std::to_string(n) + ")");
  }
  py::array_t<int64_t> inter(n), uni(n);
  int64_t* pi = inter.mutable_data();
  int64_t* pu = uni.mutable_data();
  {
    py::gil_scoped_release release;
    vrft::masks::box_overlaps(s.set, boxes.data(), valid.data(), pi, pu);
  }
  return py::make_tuple(inter, uni);
}

void bind_masks(py::module_& m) {
  py::class_<PyMaskSet, std::shared_ptr<PyMaskSet>>(m, "MaskSet")
      .def(py::init(&make_mask_set), py::arg("heights"), py::arg("widths"), py::arg("rle"),
           py::arg("rle_offsets"), py::arg("coords"), py::arg("coord_offsets"),
           py::arg("polygon_offsets"))
      .def_property_readonly("status", [](const PyMaskSet& s) { return to_numpy(s.set.status); })
      .def_property_readonly("area", [](const PyMaskSet& s) {
        py::array_t<int64_t> out(static_cast<py::ssize_t>(s.set.masks.size()));
        for (size_t i = 0; i < s.set.masks.size(); ++i) out.mutable_data()[i] = vrft::masks::mask_area(s.set.masks[i]);
        return out;
      })
      .def_property_readonly("bbox", [](const PyMaskSet& s) {
        py::array_t<double> out({static_cast<py::ssize_t>(s.set.masks.size()), py::ssize_t{4}});
        for (size_t i = 0; i < s.set.masks.size(); ++i) vrft::masks::mask_bbox(s.set.masks[i], out.mutable_data() + 4 * i);
        return out;
      })
      .def("counts", [](const PyMaskSet& s, int64_t i) {
        // COCO's uncompressed RLE of mask i: alternating zeros / ones run lengths.
        if (i < 0 || i >= static_cast<int64_t>(s.set.masks.size())) throw py::index_error("mask index out of range");
        const auto& mask = s.set.masks[static_cast<size_t>(i)];
        std::vector<int64_t> counts;
        counts.reserve(2 * mask.ones.size() + 1);
        int64_t at = 0;
        for (const auto& iv : mask.ones) {
          counts.push_back(iv.begin - at);
          counts.push_back(iv.end - iv.begin);
          at = iv.end;
        }
        counts.push_back(mask.height * mask.width - at);
        return to_numpy(counts);
      }, py::arg("i"))
      .def("box_overlap", &mask_set_box_overlap, py::arg("boxes"), py::arg("valid"));
  // Exposed for the tests against pycocotools: the rasterised pixel rectangle of xywh boxes as
  // (col_begin, col_end, row_begin, row_end), and the counts of one compressed RLE string.
  m.def("rasterize_boxes", [](const py::handle& boxes_obj, int64_t height, int64_t width) {
    auto boxes = require_array<double>(boxes_obj, "boxes");
    require_boxes_shape(boxes, "boxes");
    py::array_t<int64_t> out({boxes.shape(0), py::ssize_t{4}});
    for (py::ssize_t i = 0; i < boxes.shape(0); ++i) {
      const double* b = boxes.data() + 4 * i;
      const auto px = vrft::masks::rasterize_box(b[0], b[1], b[2], b[3], height, width);
      int64_t* o = out.mutable_data() + 4 * i;
      o[0] = px.col_begin; o[1] = px.col_end; o[2] = px.row_begin; o[3] = px.row_end;
    }
    return out;
  }, py::arg("boxes"), py::arg("height"), py::arg("width"));
  m.def("rle_decode", [](const py::bytes& text) {
    std::vector<int64_t> counts;
    if (!vrft::masks::decode_rle_string(std::string_view(text), counts)) {
      throw std::invalid_argument("not a valid compressed RLE string");
    }
    return to_numpy(counts);
  }, py::arg("text"));
}

// ---- reward kernels -----------------------------------------------------------------------------

py::array_t<double> segment_sum_binding(const py::handle& values_obj, const py::handle& offsets_obj) {
  auto values = require_array<double>(values_obj, "values");
  auto offsets = require_array<int64_t>(offsets_obj, "offsets");
  if (values.ndim() != 1) throw std::invalid_argument("values must be 1-D, got " + shape_text(values));
  const int64_t* off = check_offsets(offsets, values.shape(0), "offsets", "values");
  const int64_t b = offsets.shape(0) - 1;
  py::array_t<double> out(b);
  double* out_ptr = out.mutable_data();
  py::gil_scoped_release release;
  vrft::segment_sum_sequential(values.data(), off, b, out_ptr);
  return out;
}

double pairwise_sum_binding(const py::handle& values_obj) {
  auto values = require_array<double>(values_obj, "values");
  if (values.ndim() != 1) throw std::invalid_argument("values must be 1-D, got " + shape_text(values));
  return vrft::numpy_pairwise_sum(values.data(), values.shape(0));
}

// Optional per-box category column: None or int64 (n,).
const int64_t* optional_categories(const py::handle& obj, int64_t n, const char* arg,
                                   py::array_t<int64_t>& keep) {
  if (obj.is_none()) return nullptr;
  keep = require_array<int64_t>(obj, arg);
  if (keep.ndim() != 1 || keep.shape(0) != n) {
    throw std::invalid_argument(std::string(arg) + " must have shape (" + std::to_string(n) +
                                ",), got " + shape_text(keep));
  }
  return keep.data();
}

py::array_t<double> completion_ap_binding(const py::handle& pred_obj, const py::handle& score_obj,
                                          const py::handle& pred_cat_obj,
                                          const py::handle& pred_off_obj, const py::handle& gt_obj,
                                          const py::handle& gt_cat_obj,
                                          const py::handle& gt_off_obj,
                                          const py::handle& iou_thrs_obj,
                                          const py::handle& rec_thrs_obj, int64_t max_dets) {
  auto pred = require_array<double>(pred_obj, "pred");
  auto gt = require_array<double>(gt_obj, "gt");
  require_boxes_shape(pred, "pred");
  require_boxes_shape(gt, "gt");
  auto score = require_array<double>(score_obj, "scores");
  auto pred_off = require_array<int64_t>(pred_off_obj, "pred_offsets");
  auto gt_off = require_array<int64_t>(gt_off_obj, "gt_offsets");
  auto iou_thrs = require_array<double>(iou_thrs_obj, "iou_thresholds");
  auto rec_thrs = require_array<double>(rec_thrs_obj, "rec_thresholds");
  const int64_t n_pred = pred.shape(0), n_gt = gt.shape(0);
  if (score.ndim() != 1 || score.shape(0) != n_pred) {
    throw std::invalid_argument("scores must have shape (" + std::to_string(n_pred) + ",), got " +
                                shape_text(score));
  }
  if (max_dets < 1) throw std::invalid_argument("max_dets must be >= 1, got " + std::to_string(max_dets));
  vrft::CompletionApInput in;
  in.pred_offsets = check_offsets(pred_off, n_pred, "pred_offsets", "pred");
  in.gt_offsets = check_offsets(gt_off, n_gt, "gt_offsets", "gt");
  if (pred_off.shape(0) != gt_off.shape(0)) {
    throw std::invalid_argument("pred_offsets and gt_offsets must describe the same number of "
                                "completions, got " + std::to_string(pred_off.shape(0) - 1) +
                                " and " + std::to_string(gt_off.shape(0) - 1));
  }
  py::array_t<int64_t> pred_cat_keep, gt_cat_keep;
  in.pred_category = optional_categories(pred_cat_obj, n_pred, "pred_categories", pred_cat_keep);
  in.gt_category = optional_categories(gt_cat_obj, n_gt, "gt_categories", gt_cat_keep);
  in.num_completions = pred_off.shape(0) - 1;
  in.pred = pred.data();
  in.pred_score = score.data();
  in.gt = gt.data();
  in.iou_thrs = iou_thrs.data();
  in.num_iou_thrs = iou_thrs.size();
  in.rec_thrs = rec_thrs.data();
  in.num_rec_thrs = rec_thrs.size();
  in.max_dets = max_dets;
  py::array_t<double> out(in.num_completions);
  double* out_ptr = out.mutable_data();
  py::gil_scoped_release release;
  vrft::completion_ap(in, out_ptr);
  return out;
}

py::array_t<int64_t> argsort_desc_binding(const py::handle& scores_obj, const py::handle& offsets_obj) {
  auto scores = require_array<double>(scores_obj, "scores");
  if (scores.ndim() != 1) throw std::invalid_argument("scores must be 1-D, got " + shape_text(scores));
  auto offsets = require_array<int64_t>(offsets_obj, "offsets");
  const int64_t* off = check_offsets(offsets, scores.shape(0), "offsets", "scores");
  for (int64_t i = 0; i < scores.shape(0); ++i) {
    if (std::isnan(scores.data()[i])) throw std::invalid_argument("scores[" + std::to_string(i) + "] is NaN");
  }
  py::array_t<int64_t> order(scores.shape(0));
  int64_t* order_ptr = order.mutable_data();
  py::gil_scoped_release release;
  vrft::segment_stable_argsort_desc(scores.data(), off, offsets.shape(0) - 1, order_ptr);
  return order;
}

py::tuple select_boxes_binding(const py::handle& boxes_obj, const py::handle& offsets_obj,
                               const py::handle& keep_obj, bool dedupe, bool collapse_inverted) {
  auto boxes = require_array<double>(boxes_obj, "boxes");
  require_boxes_shape(boxes, "boxes");
  auto offsets = require_array<int64_t>(offsets_obj, "offsets");
  const int64_t* off = check_offsets(offsets, boxes.shape(0), "offsets", "boxes");
  auto keep = require_array<uint8_t>(keep_obj, "keep_segment");
  const int64_t b = offsets.shape(0) - 1;
  if (keep.ndim() != 1 || keep.shape(0) != b) {
    throw std::invalid_argument("keep_segment must have shape (" + std::to_string(b) + ",), got " +
                                shape_text(keep));
  }
  const int64_t total = boxes.shape(0);
  py::array_t<double> out_boxes({total, static_cast<int64_t>(4)});
  py::array_t<int64_t> out_source(total), out_offsets(b + 1);
  double* ob = out_boxes.mutable_data();
  int64_t* os = out_source.mutable_data();
  int64_t* oo = out_offsets.mutable_data();
  int64_t n;
  {
    py::gil_scoped_release release;
    n = vrft::select_segment_boxes(boxes.data(), off, b, keep.data(), dedupe, collapse_inverted,
                                   ob, os, oo);
  }
  out_boxes.resize({n, static_cast<int64_t>(4)});
  out_source.resize({n});
  return py::make_tuple(out_boxes, out_offsets, out_source);
}

void bind_rewards(py::module_& m) {
  m.def("select_segment_boxes", &select_boxes_binding, py::arg("boxes"), py::arg("offsets"),
        py::arg("keep_segment"), py::arg("dedupe"), py::arg("collapse_inverted"),
        "(boxes, offsets, source) of the kept segments, optionally deduplicated and with "
        "inverted boxes collapsed to zero size.");
  m.def("segment_stable_argsort_desc", &argsort_desc_binding, py::arg("scores"), py::arg("offsets"),
        "Global indices sorted by descending score within each segment, ties in input order.");
  m.def("segment_sum_sequential", &segment_sum_binding, py::arg("values"), py::arg("offsets"),
        "Per-segment sums added left to right from 0.0 (Python loop order).");
  m.def("numpy_pairwise_sum", &pairwise_sum_binding, py::arg("values"),
        "Sum in numpy's pairwise order (equals np.sum on a contiguous float64 array).");
  m.def("completion_ap", &completion_ap_binding, py::arg("pred"), py::arg("scores"),
        py::arg("pred_categories"), py::arg("pred_offsets"), py::arg("gt"),
        py::arg("gt_categories"), py::arg("gt_offsets"), py::arg("iou_thresholds"),
        py::arg("rec_thresholds"), py::arg("max_dets"),
        "Per-completion COCO AP (pycocotools per-sample stats), -1 without ground truth.");
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "vrft_rewards native core (CPU)";
  bind_runtime(m);
  bind_geometry(m);
  bind_match(m);
  bind_parse(m);
  bind_eval(m);
  bind_masks(m);
  bind_rewards(m);
}
