// _C bindings of the fused per-completion rewards (csrc/rewards/): the tiny-batch path of the
// detection and format rewards (vrft_rewards/rewards/_tiny.py), for trainers that call a reward
// one sample at a time.
//
// Pattern: with the GIL held, the texts (strs; the caller extracted them from chat messages with
// completion_texts) are snapshotted into a tuple that owns them and turned into UTF-8 views, and
// the options and per-row frames are checked.  The GIL is then released for the scoring, which
// reads only those views and the checked frame array (kept alive by this frame's handles) and
// writes only C++ locals; the Python results are built after the GIL is back.  Small batches run
// on the calling thread: no pool, no numpy output, plain Python floats.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "bindings/texts.h"
#include "common/numpy_sum.h"
#include "rewards/detection.h"

namespace vrft::bindings {
namespace {

// A tuple owning the items of a list or tuple (a tuple is returned as is).
py::tuple snapshot(const py::handle& seq, const char* arg) {
  if (!PyList_Check(seq.ptr()) && !PyTuple_Check(seq.ptr())) {
    throw py::type_error(std::string(arg) + " must be a list or tuple, got " +
                         Py_TYPE(seq.ptr())->tp_name);
  }
  return py::reinterpret_steal<py::tuple>(PySequence_Tuple(seq.ptr()));
}

// The options as the Python side passes them (codes of _options.MATCH_METHODS / IOU_KINDS),
// checked here as make_match_options would check their names.
vrft::rewards::DetectionOptions detection_options(bool answer_first, int method, int kind,
                                                  double iou_threshold, bool strict, bool dedupe) {
  if (method < 0 || method > 1) {
    throw std::invalid_argument("method must be 0 (hungarian) or 1 (greedy), got " +
                                std::to_string(method));
  }
  if (kind < 0 || kind > 3) {
    throw std::invalid_argument("kind must be 0..3 (iou, giou, diou, ciou), got " +
                                std::to_string(kind));
  }
  if (!(iou_threshold >= 0.0 && iou_threshold <= 1.0)) {
    throw std::invalid_argument("iou_threshold must be in [0, 1]");
  }
  vrft::rewards::DetectionOptions opt;
  opt.pick = answer_first ? vrft::parse::AnswerPick::kFirst : vrft::parse::AnswerPick::kLast;
  opt.match.method = method == 0 ? vrft::MatchMethod::kHungarian : vrft::MatchMethod::kGreedy;
  opt.match.kind = static_cast<vrft::IouKind>(kind);  // IouKind's values are these codes
  opt.match.fmt = vrft::BoxFormat::kXYXY;
  opt.match.iou_threshold = iou_threshold;
  opt.match.strict = strict;
  opt.dedupe = dedupe;
  return opt;
}

// One row's values, in the order of _tiny.Row's fields.
py::tuple row_tuple(const vrft::rewards::DetectionRow& r) {
  return py::make_tuple(r.pred_ok, r.gt_ok, r.n_pred, r.n_gt, r.n_matched, r.iou, r.confidence,
                        r.f1, r.precision, r.recall, r.format_strict, r.format_tags,
                        r.format_answer);
}

// Ground truth given as data: (boxes float64 (G, 4), offsets int64 (n + 1), usable uint8 (n)).
struct DataTruth {
  py::array_t<double> boxes;
  py::array_t<int64_t> offsets;
  py::array_t<uint8_t> usable;
};

DataTruth data_truth(const py::handle& obj, int64_t n) {
  if (!PyTuple_Check(obj.ptr()) || PyTuple_GET_SIZE(obj.ptr()) != 3) {
    throw py::type_error("gt must be None or a tuple (boxes, offsets, usable)");
  }
  auto t = py::reinterpret_borrow<py::tuple>(obj);
  DataTruth d;
  d.boxes = require_array<double>(t[0], "gt boxes");
  require_boxes_shape(d.boxes, "gt boxes");
  d.offsets = require_offsets(t[1], "gt offsets", n, d.boxes.shape(0), "gt boxes");
  d.usable = require_column<uint8_t>(t[2], "gt usable", n);
  return d;
}

// (rows, sum of matched values, number of matched pairs): rows is a tuple of one tuple per
// completion; the sum is numpy's pairwise sum of the pairs in MatchResult order (batch metric
// mean_matched_iou = sum / count).  The ground truth is `solutions` (texts) or `gt` (data), or
// neither (format values only).
py::tuple score_detection_rows(const py::handle& texts_obj, const py::handle& solutions_obj,
                               bool answer_first, int method, int kind, double iou_threshold,
                               bool strict, bool dedupe, const py::handle& frames_obj,
                               const py::handle& gt_obj) {
  const auto opt = detection_options(answer_first, method, kind, iou_threshold, strict, dedupe);
  py::tuple texts = snapshot(texts_obj, "texts");
  const Py_ssize_t n = PyTuple_GET_SIZE(texts.ptr());
  std::vector<py::object> keep;
  std::vector<vrft::parse::Text> views(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* t = PyTuple_GET_ITEM(texts.ptr(), i);
    if (!PyUnicode_Check(t)) {
      throw py::type_error("texts[" + std::to_string(i) + "] must be a str, got " +
                           Py_TYPE(t)->tp_name);
    }
    views[static_cast<size_t>(i)] = utf8_view(t, &keep);
  }
  // Solutions: None (format values only), or one str or None (no ground truth) per text.
  py::tuple solutions;
  std::vector<vrft::parse::Text> sol_views(static_cast<size_t>(n));
  std::vector<char> has_sol(static_cast<size_t>(n), 0);
  if (!solutions_obj.is_none()) {
    solutions = snapshot(solutions_obj, "solutions");
    if (PyTuple_GET_SIZE(solutions.ptr()) != n) {
      throw std::invalid_argument("solutions must have one entry per text (" + std::to_string(n) +
                                  "), got " + std::to_string(PyTuple_GET_SIZE(solutions.ptr())));
    }
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* s = PyTuple_GET_ITEM(solutions.ptr(), i);
      if (s == Py_None) continue;
      if (!PyUnicode_Check(s)) {
        throw py::type_error("solutions[" + std::to_string(i) + "] must be a str or None, got " +
                             Py_TYPE(s)->tp_name);
      }
      sol_views[static_cast<size_t>(i)] = utf8_view(s, &keep);
      has_sol[static_cast<size_t>(i)] = 1;
    }
  }
  DataTruth data;
  const bool has_data = !gt_obj.is_none();
  if (has_data) {
    if (!solutions_obj.is_none()) throw std::invalid_argument("pass solutions or gt, not both");
    data = data_truth(gt_obj, n);
  }
  // Frames: None, or float64 (n, 8): the prediction's then the ground truth's dx, dy, sx, sy.
  py::array_t<double> frames_keep;
  const double* frames = nullptr;
  if (!frames_obj.is_none()) {
    frames_keep = require_column<double>(frames_obj, "frames", n, 8);
    frames = frames_keep.data();
  }

  std::vector<vrft::rewards::DetectionRow> rows(static_cast<size_t>(n));
  double pair_sum = 0.0;
  int64_t n_pairs = 0;
  {
    py::gil_scoped_release release;
    static thread_local vrft::rewards::DetectionScratch scratch;
    static thread_local std::vector<double> pairs;
    pairs.clear();
    for (Py_ssize_t i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i);
      vrft::rewards::RowFrames f;
      if (frames != nullptr) {
        for (int j = 0; j < 4; ++j) {
          f.pred[j] = frames[8 * i + j];
          f.gt[j] = frames[8 * i + 4 + j];
        }
      }
      vrft::rewards::GroundTruth truth;
      if (has_data) {
        const int64_t lo = data.offsets.data()[i], hi = data.offsets.data()[i + 1];
        truth.boxes = data.boxes.data() + 4 * lo;
        truth.count = hi - lo;
        truth.usable = data.usable.data()[i] != 0;
      } else if (has_sol[k]) {
        truth.text = &sol_views[k];
      }
      const bool any_truth = has_data || has_sol[k];
      vrft::rewards::score_detection(views[k], any_truth ? &truth : nullptr, opt,
                                     frames != nullptr ? &f : nullptr, scratch, &rows[k], &pairs);
    }
    n_pairs = static_cast<int64_t>(pairs.size());
    pair_sum = vrft::numpy_pairwise_sum(pairs.data(), n_pairs);
  }
  py::tuple out(n);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyTuple_SET_ITEM(out.ptr(), i, row_tuple(rows[static_cast<size_t>(i)]).release().ptr());
  }
  return py::make_tuple(out, pair_sum, n_pairs);
}

}  // namespace

void bind_rewards_fused(py::module_& m) {
  m.def("score_detection_rows", &score_detection_rows, py::arg("texts"), py::arg("solutions"),
        py::arg("answer_first"), py::arg("method"), py::arg("kind"), py::arg("iou_threshold"),
        py::arg("strict"), py::arg("dedupe"), py::arg("frames"), py::arg("gt"),
        "Fused per-completion detection and format rewards of a small batch: (rows, pair_sum, "
        "n_pairs).");
}

}  // namespace vrft::bindings
