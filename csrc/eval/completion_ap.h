// Average precision of each completion on its own: the number a per-sample pycocotools evaluation
// gives (VLM-R1's `map_reward` style: one image, the completion's boxes as detections), computed
// for a whole ragged batch in one pass with no Python objects.
//
// For completion b with predictions P_b (xyxy, score, category) and ground truth G_b (xyxy,
// category), the value equals
//     COCOeval(gt=G_b as one image, dt=P_b, iouType="bbox") with params.iouThrs = iou_thrs,
//     params.maxDets = [.., max_dets], evaluate(); accumulate(); then
//     mean(precision[:, :, :, area "all", maxDets -1][precision > -1])
// i.e. stats[0] for the default 10 thresholds and stats[1] for iou_thrs = [0.5].  Ground truth
// boxes are non-crowd with area = w * h and ids from 1; detections get area w * h (loadRes).
// Steps and the pycocotools function each reproduces (the rules shared with the COCO / LVIS
// engine are written once, in coco_rules.h):
//   * IoU: maskApi bbIou on xywh (coco_box_iou_pair, box_iou.h), after the xyxy -> xywh
//     conversion w = x2 - x1, h = y2 - y1 that a caller of pycocotools performs;
//   * detections of a category: stable sort by descending score, first max_dets kept (computeIoU);
//   * matching per threshold (evaluateImg, coco::best_match): best starts at min(t, 1 - 1e-10); a
//     detection takes the *last* GT of highest IoU >= best among unmatched GT; GT outside the area
//     range "all" [0, 1e10] are ignored (sorted last) and detections matched to them, or unmatched
//     and outside the range, are ignored;
//   * precision (accumulate): coco::precision = tp / ((fp + tp) + 2^-52), made non-increasing
//     from the right (coco::precision_envelope), sampled at the recall thresholds with
//     searchsorted(side="left") (coco::searchsorted_left), 0 from the first one past the last
//     recall on;
//   * mean (summarize): numpy's pairwise summation over the valid cells in (t, r, k) order,
//     divided by their count.
// Categories of a completion are visited in ascending id order (COCO.getCatIds sorts); only those
// with at least one non-ignored GT contribute cells.
#pragma once

#include <cstdint>

namespace vrft::eval {

struct CompletionApInput {
  int64_t num_completions = 0;
  const double* pred = nullptr;            // total_pred x 4, xyxy, finite
  const double* pred_score = nullptr;      // total_pred, finite
  const int64_t* pred_category = nullptr;  // total_pred (nullptr: one category)
  const int64_t* pred_offsets = nullptr;   // num_completions + 1
  const double* gt = nullptr;              // total_gt x 4, xyxy, finite
  const int64_t* gt_category = nullptr;    // total_gt (nullptr: one category)
  const int64_t* gt_offsets = nullptr;     // num_completions + 1
  const double* iou_thrs = nullptr;  // T thresholds (params.iouThrs, e.g. np.linspace(.5, .95, 10))
  int64_t num_iou_thrs = 0;
  const double* rec_thrs = nullptr;  // R recall thresholds (params.recThrs: np.linspace(0, 1, 101))
  int64_t num_rec_thrs = 0;
  int64_t max_dets = 100;
};

// out_ap[b] = the completion's AP as described above, or -1 when it has no non-ignored ground
// truth (pycocotools' -1).  Parallel over completions (thread pool).
void completion_ap(const CompletionApInput& in, double* out_ap);

}  // namespace vrft::eval
