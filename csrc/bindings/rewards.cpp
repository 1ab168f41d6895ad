// _C bindings of the reward kernels: ragged per-segment operations (csrc/segments/), numpy's
// pairwise sum (csrc/common/) and the per-completion COCO AP (csrc/eval/completion_ap.h); the
// Python callers are the box rewards in vrft_rewards/rewards/.
//
// Pattern: values, boxes and offsets are checked with the GIL held and the outputs allocated; the
// GIL is then released for the kernel, which touches no Python object and writes only the fresh
// outputs.  What it reads follows args.h ("Caller memory and the GIL"): offsets, categories,
// thresholds and sort keys (scores) are owned copies validated here; values that only feed
// arithmetic or equality tests (boxes, the values summed, keep flags) are read in place.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "common/numpy_sum.h"
#include "eval/completion_ap.h"
#include "segments/segments.h"

namespace vrft::bindings {
namespace {

py::array_t<double> segment_sum_binding(const py::handle& values_obj,
                                        const py::handle& offsets_obj) {
  auto values = require_array<double>(values_obj, "values");
  auto offsets = require_array<int64_t>(offsets_obj, "offsets");
  if (values.ndim() != 1) {
    throw std::invalid_argument("values must be 1-D, got " + shape_text(values));
  }
  const std::vector<int64_t> off = owned_offsets(offsets, values.shape(0), "offsets", "values");
  const int64_t b = offsets.shape(0) - 1;
  py::array_t<double> out(b);
  double* out_ptr = out.mutable_data();
  py::gil_scoped_release release;
  vrft::segment_sum_sequential(values.data(), off.data(), b, out_ptr);
  return out;
}

double pairwise_sum_binding(const py::handle& values_obj) {
  auto values = require_array<double>(values_obj, "values");
  if (values.ndim() != 1) {
    throw std::invalid_argument("values must be 1-D, got " + shape_text(values));
  }
  return vrft::numpy_pairwise_sum(values.data(), values.shape(0));
}

// Optional per-box category column: None or int64 (n,), owned in `keep`.
const int64_t* optional_categories(const py::handle& obj, int64_t n, const char* arg,
                                   std::vector<int64_t>& keep) {
  if (obj.is_none()) return nullptr;
  auto arr = require_array<int64_t>(obj, arg);
  if (arr.ndim() != 1 || arr.shape(0) != n) {
    throw std::invalid_argument(std::string(arg) + " must have shape (" + std::to_string(n) +
                                ",), got " + shape_text(arr));
  }
  keep = owned(arr);
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
  if (max_dets < 1) {
    throw std::invalid_argument("max_dets must be >= 1, got " + std::to_string(max_dets));
  }
  vrft::eval::CompletionApInput in;
  const std::vector<int64_t> pred_off_owned =
      owned_offsets(pred_off, n_pred, "pred_offsets", "pred");
  const std::vector<int64_t> gt_off_owned = owned_offsets(gt_off, n_gt, "gt_offsets", "gt");
  in.pred_offsets = pred_off_owned.data();
  in.gt_offsets = gt_off_owned.data();
  if (pred_off.shape(0) != gt_off.shape(0)) {
    throw std::invalid_argument(
        "pred_offsets and gt_offsets must describe the same number of completions, got " +
        std::to_string(pred_off.shape(0) - 1) + " and " + std::to_string(gt_off.shape(0) - 1));
  }
  std::vector<int64_t> pred_cat_keep, gt_cat_keep;
  in.pred_category = optional_categories(pred_cat_obj, n_pred, "pred_categories", pred_cat_keep);
  in.gt_category = optional_categories(gt_cat_obj, n_gt, "gt_categories", gt_cat_keep);
  // Scores are the detections' sort key, thresholds are searched: owned, like the offsets.
  const std::vector<double> score_owned = owned_no_nan(score, "scores");
  const std::vector<double> iou_thrs_owned = owned(iou_thrs), rec_thrs_owned = owned(rec_thrs);
  in.num_completions = pred_off.shape(0) - 1;
  in.pred = pred.data();
  in.pred_score = score_owned.data();
  in.gt = gt.data();
  in.iou_thrs = iou_thrs_owned.data();
  in.num_iou_thrs = static_cast<int64_t>(iou_thrs_owned.size());
  in.rec_thrs = rec_thrs_owned.data();
  in.num_rec_thrs = static_cast<int64_t>(rec_thrs_owned.size());
  in.max_dets = max_dets;
  py::array_t<double> out(in.num_completions);
  double* out_ptr = out.mutable_data();
  py::gil_scoped_release release;
  vrft::eval::completion_ap(in, out_ptr);
  return out;
}

py::array_t<int64_t> argsort_desc_binding(const py::handle& scores_obj,
                                          const py::handle& offsets_obj) {
  auto scores = require_array<double>(scores_obj, "scores");
  if (scores.ndim() != 1) {
    throw std::invalid_argument("scores must be 1-D, got " + shape_text(scores));
  }
  auto offsets = require_array<int64_t>(offsets_obj, "offsets");
  const std::vector<int64_t> off = owned_offsets(offsets, scores.shape(0), "offsets", "scores");
  const std::vector<double> keys = owned_no_nan(scores, "scores");
  py::array_t<int64_t> order(scores.shape(0));
  int64_t* order_ptr = order.mutable_data();
  py::gil_scoped_release release;
  vrft::segment_stable_argsort_desc(keys.data(), off.data(), offsets.shape(0) - 1, order_ptr);
  return order;
}

py::tuple select_boxes_binding(const py::handle& boxes_obj, const py::handle& offsets_obj,
                               const py::handle& keep_obj, bool dedupe, bool collapse_inverted) {
  auto boxes = require_array<double>(boxes_obj, "boxes");
  require_boxes_shape(boxes, "boxes");
  auto offsets = require_array<int64_t>(offsets_obj, "offsets");
  const std::vector<int64_t> off = owned_offsets(offsets, boxes.shape(0), "offsets", "boxes");
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
    n = vrft::select_segment_boxes(boxes.data(), off.data(), b, keep.data(), dedupe,
                                   collapse_inverted, ob, os, oo);
  }
  out_boxes.resize({n, static_cast<int64_t>(4)});
  out_source.resize({n});
  return py::make_tuple(out_boxes, out_offsets, out_source);
}

}  // namespace

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

}  // namespace vrft::bindings
