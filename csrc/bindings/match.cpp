// _C bindings of csrc/match/: scipy-compatible linear sum assignment (one problem, a list or a
// padded batch of problems) and one-to-one box matching of ragged batches (the Python facade is
// vrft_rewards/matching.py).
//
// Pattern: cost matrices, boxes, offsets and scores are checked with the GIL held and the output
// arrays allocated; then the GIL is released for the solver, which touches no Python object and
// writes only the fresh outputs.  What it reads follows args.h ("Caller memory and the GIL"): the
// cost matrices, offsets, shapes and scores are owned copies made and validated here (a solver
// or a sort that sees its input change could walk out of its range or never end); the boxes of
// match_boxes are read in place, because they only feed the overlap values, from which the core
// builds its own finite costs.  Errors found by the solver (a status, an invalid box) are raised
// after the GIL is back.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "geometry/iou.h"
#include "match/lsap.h"
#include "match/match_boxes.h"
#include "match/matched_pairs.h"

namespace vrft::bindings {
namespace {

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
  const std::vector<double> owned_cost = owned(cost);
  py::array_t<int64_t> rows(k), cols(k);
  int status;
  {
    py::gil_scoped_release release;
    vrft::LsapWorkspace ws;
    status = vrft::linear_sum_assignment(owned_cost.data(), nr, nc, nc, maximize,
                                         rows.mutable_data(), cols.mutable_data(), nullptr, ws);
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
  vrft::lsap_batch_offsets(b, nrows.data(), ncols.data(), off);
  py::array_t<int64_t> rows(off[b]), cols(off[b]);
  py::array_t<double> totals(b);
  std::vector<int> statuses(static_cast<size_t>(b));
  int64_t first_bad;
  {
    // Safe without the GIL: the problems are owned copies (the callers below), and only the
    // buffers above are written.
    py::gil_scoped_release release;
    first_bad = vrft::batched_linear_sum_assignment(
        b, ptrs.data(), nrows.data(), ncols.data(), lds.data(), maximize, off, rows.mutable_data(),
        cols.mutable_data(), totals.mutable_data(), statuses.data());
  }
  if (first_bad >= 0) {
    throw_lsap_status(statuses[static_cast<size_t>(first_bad)],
                      arg + "[" + std::to_string(first_bad) + "]: ");
  }
  return py::make_tuple(rows, cols, offsets, totals);
}

// A Python list of C-contiguous float64 matrices, copied into one owned buffer.
py::tuple lsap_batch_list(const py::list& costs, bool maximize) {
  const py::tuple items(costs);  // a snapshot: the list may change while it is read
  const auto b = static_cast<size_t>(items.size());
  std::vector<int64_t> nrows(b), ncols(b), lds(b), start(b + 1, 0);
  std::vector<py::array_t<double>> keep;
  keep.reserve(b);
  for (size_t i = 0; i < b; ++i) {
    const std::string name = "costs[" + std::to_string(i) + "]";
    keep.push_back(require_array<double>(items[i], name.c_str()));
    const auto& a = keep.back();
    if (a.ndim() != 2) {
      throw std::invalid_argument(name + ": expected a matrix (2-D array), got a " +
                                  std::to_string(a.ndim()) + " array");
    }
    nrows[i] = a.shape(0);
    ncols[i] = a.shape(1);
    lds[i] = a.shape(1);
    start[i + 1] = start[i] + a.size();
  }
  std::vector<double> owned_costs(static_cast<size_t>(start[b]));
  std::vector<const double*> ptrs(b);
  for (size_t i = 0; i < b; ++i) {
    double* dst = owned_costs.data() + start[i];
    if (keep[i].size()) std::memcpy(dst, keep[i].data(), static_cast<size_t>(keep[i].nbytes()));
    ptrs[i] = dst;
  }
  return lsap_batch_run(ptrs, nrows, ncols, lds, maximize, "costs");
}

// A padded (B, N, M) float64 array with per-problem shapes (B, 2) int64.
py::tuple lsap_batch_padded(const py::handle& costs_obj, const py::handle& shapes_obj,
                            bool maximize) {
  auto costs = require_array<double>(costs_obj, "costs");
  auto shapes = require_array<int64_t>(shapes_obj, "shapes");
  if (costs.ndim() != 3) {
    throw std::invalid_argument(
        "costs must be a list of 2-D arrays or a 3-D array (B, N, M), got shape " +
        shape_text(costs));
  }
  const int64_t b = costs.shape(0), n = costs.shape(1), m = costs.shape(2);
  if (shapes.ndim() != 2 || shapes.shape(0) != b || shapes.shape(1) != 2) {
    throw std::invalid_argument("shapes must have shape (" + std::to_string(b) + ", 2), got " +
                                shape_text(shapes));
  }
  const std::vector<int64_t> sh = owned(shapes);
  const auto nb = static_cast<size_t>(b);
  std::vector<int64_t> nrows(nb), ncols(nb), lds(nb), start(nb + 1, 0);
  for (int64_t i = 0; i < b; ++i) {
    const int64_t r = sh[2 * i], c = sh[2 * i + 1];
    if (r < 0 || r > n || c < 0 || c > m) {
      throw std::invalid_argument("shapes[" + std::to_string(i) + "] must lie within (0..." +
                                  std::to_string(n) + ", 0..." + std::to_string(m) + "), got (" +
                                  std::to_string(r) + ", " + std::to_string(c) + ")");
    }
    const auto k = static_cast<size_t>(i);
    nrows[k] = r;
    ncols[k] = c;
    lds[k] = c;
    start[k + 1] = start[k] + r * c;
  }
  // Each problem's r x c block, copied densely (the padding is never read).
  std::vector<double> owned_costs(static_cast<size_t>(start[nb]));
  std::vector<const double*> ptrs(nb);
  for (size_t k = 0; k < nb; ++k) {
    double* dst = owned_costs.data() + start[k];
    const double* src = costs.data() + static_cast<int64_t>(k) * n * m;
    for (int64_t row = 0; row < nrows[k]; ++row) {
      std::memcpy(dst + row * ncols[k], src + row * m,
                  static_cast<size_t>(ncols[k]) * sizeof(double));
    }
    ptrs[k] = dst;
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
  const std::vector<int64_t> po_owned = owned_offsets(pred_off, n_pred, "pred_offsets", "pred");
  const std::vector<int64_t> go_owned = owned_offsets(gt_off, n_gt, "gt_offsets", "gt");
  const int64_t* po = po_owned.data();
  const int64_t* go = go_owned.data();
  if (pred_off.shape(0) != gt_off.shape(0)) {
    throw std::invalid_argument(
        "pred_offsets and gt_offsets must describe the same number of problems, got " +
        std::to_string(pred_off.shape(0) - 1) + " and " + std::to_string(gt_off.shape(0) - 1));
  }
  const int64_t b = pred_off.shape(0) - 1;
  const double* scores_ptr = nullptr;
  std::vector<double> scores_owned;  // the sort key of greedy matching
  if (!scores_obj.is_none()) {
    auto scores = require_array<double>(scores_obj, "scores");
    if (scores.ndim() != 1 || scores.shape(0) != n_pred) {
      throw std::invalid_argument("scores must have shape (" + std::to_string(n_pred) +
                                  ",) like pred, got " + shape_text(scores));
    }
    scores_owned = owned_no_nan(scores, "scores");
    scores_ptr = scores_owned.data();
  }
  py::array_t<int64_t> matched_gt(n_pred), matched_pred(n_gt), n_matched(b);
  py::array_t<T> matched_value(n_pred);
  py::array_t<double> sum_matched(b);
  std::vector<int64_t> bad_pred(static_cast<size_t>(b)), bad_gt(static_cast<size_t>(b));
  vrft::MatchOutputs<T> out{matched_gt.mutable_data(),
                            matched_value.mutable_data(),
                            matched_pred.mutable_data(),
                            n_matched.mutable_data(),
                            sum_matched.mutable_data(),
                            bad_pred.data(),
                            bad_gt.data()};
  const T* pred_ptr = pred.data();
  const T* gt_ptr = gt.data();
  py::array_t<int64_t> pair_off(b + 1), unmatched_pred(b), unmatched_gt(b);
  int64_t* poff = pair_off.mutable_data();
  int64_t* upred = unmatched_pred.mutable_data();
  int64_t* ugt = unmatched_gt.mutable_data();
  int64_t n_pairs;
  {
    py::gil_scoped_release release;  // only the buffers above are touched
    // Boxes are validated inside, per problem (parallel, while in cache); any invalid box
    // raises below, before a result is built.  The offsets are owned and were checked above, so
    // every box belongs to exactly one problem and no read leaves the arrays.
    vrft::match_boxes(pred_ptr, po, gt_ptr, go, b, scores_ptr, opt, out);
    n_pairs = vrft::count_matched_pairs(po, go, b, out.n_matched, poff, upred, ugt);
  }
  // Same messages and priority as the geometry bindings: the first invalid prediction, else GT.
  for (const auto& [bad, arr, name] :
       {std::make_tuple(&bad_pred, static_cast<const py::array_t<T>*>(&pred), "pred"),
        std::make_tuple(&bad_gt, static_cast<const py::array_t<T>*>(&gt), "gt")}) {
    for (const int64_t idx : *bad) {
      if (idx < 0) continue;
      const char* reason = "invalid box";
      vrft::find_invalid_box(arr->data() + 4 * idx, 1, opt.fmt, &reason);
      throw_invalid_box(name, idx, reason);
    }
  }
  py::array_t<int64_t> pair_pred(n_pairs), pair_gt(n_pairs), pair_pred_g(n_pairs),
      pair_gt_g(n_pairs);
  py::array_t<T> pair_value(n_pairs);
  const vrft::MatchedPairs<T> pairs{pair_pred.mutable_data(), pair_gt.mutable_data(),
                                    pair_pred_g.mutable_data(), pair_gt_g.mutable_data(),
                                    pair_value.mutable_data()};
  {
    py::gil_scoped_release release;  // reads the match outputs, writes the pair arrays
    vrft::list_matched_pairs(po, go, b, out.matched_gt, out.matched_value, pairs);
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

}  // namespace

void bind_match(py::module_& m) {
  m.def("lsap", &lsap_single, py::arg("cost_matrix"), py::arg("maximize") = false,
        "scipy-compatible linear_sum_assignment on a C-contiguous float64 matrix.");
  m.def("lsap_batch_list", &lsap_batch_list, py::arg("costs"), py::arg("maximize") = false,
        "Batched LSAP over a list of C-contiguous float64 matrices -> (rows, cols, offsets, "
        "totals).");
  m.def("lsap_batch_padded", &lsap_batch_padded, py::arg("costs"), py::arg("shapes"),
        py::arg("maximize") = false,
        "Batched LSAP over a padded (B, N, M) float64 array with shapes (B, 2).");
  m.def("match_boxes_f32", &match_boxes_impl<float>, py::arg("pred"), py::arg("pred_offsets"),
        py::arg("gt"), py::arg("gt_offsets"), py::arg("scores"), py::arg("method"), py::arg("kind"),
        py::arg("fmt"), py::arg("iou_threshold"), py::arg("strict"));
  m.def("match_boxes_f64", &match_boxes_impl<double>, py::arg("pred"), py::arg("pred_offsets"),
        py::arg("gt"), py::arg("gt_offsets"), py::arg("scores"), py::arg("method"), py::arg("kind"),
        py::arg("fmt"), py::arg("iou_threshold"), py::arg("strict"));
}

}  // namespace vrft::bindings
