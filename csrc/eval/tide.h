// TIDE's error breakdown (Bolya et al., ECCV 2020), reproducing tidecv 1.0.1
// (``tidecv/quantify.py``,
// ``ap.py``, ``errors/*.py``) number for number on boxes.
//
// Per ground-truth image, in the dataset's order: predictions sorted by descending score (stable)
// over all classes and cut to max_dets per image; greedy matching in that order, each taking the
// same-class GT of highest IoU (the first on ties), a match when IoU >= pos_thresh; an unmatched
// prediction with crowd-IoU (intersection over its own area) > pos_thresh to an ignore region of
// its class (or of any class, -1), or whose class is ignored in the whole image (LVIS emulation),
// is ignored.  Every unmatched or ignored prediction gets one error, tested in this order:
//   no GT in the image -> Bkg;  best same-class IoU in [bg, pos] -> Loc;  best other-class IoU >=
//   pos -> Cls;  best IoU with a same-class GT already matched >= pos -> Dupe;  best IoU with any
//   GT <= bg -> Bkg;  else Both ("Other").
// A GT left unmatched is Miss unless a Loc / Cls error points at it ("usable").
// TIDE's own AP (not pycocotools'): per class, points sorted by descending score (stable in
// insertion order), precision = tp / (tp + fp), the running maximum from the right, 101 recall
// points with searchsorted(side="left"), the Python sum / 101 * 100; 0 for a class without GT;
// mAP = the mean over classes with points or GT (so a class with detections but no GT counts as
// 0), in the order classes first appear.
// Fixing a type rebuilds the data in tidecv's order (every error's point in error order, then the
// correct points class by class), so with tied scores the "fixed" AP can drop (then 0): dAP =
// max(fixed mAP - mAP, 0).  Loc / Cls become true positives through the highest-scored error per
// unmatched GT; Miss removes the GT; Dupe, Bkg and Both remove the prediction.  FalsePos scores
// every TP 1 and every FP 0; FalseNeg removes every unmatched GT (neither is clipped).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace vrft::eval {

struct TideInput {
  int64_t num_images = 0;  // in TIDE's iteration order (the GT file's image order)
  // GT boxes (not ignored), grouped by image: offsets (num_images + 1), boxes xywh, classes.
  const int64_t* gt_offsets = nullptr;
  const double* gt_box = nullptr;
  const int64_t* gt_class = nullptr;
  // Ignore regions with a box (crowd annotations), grouped by image; class -1 matches any class.
  const int64_t* ig_offsets = nullptr;
  const double* ig_box = nullptr;
  const int64_t* ig_class = nullptr;
  // Classes ignored in the whole image (regions without a box, tidecv's LVIS loader).
  const int64_t* wi_offsets = nullptr;
  const int64_t* wi_class = nullptr;
  // Predictions grouped by image, in file order: boxes xywh, classes, scores.
  const int64_t* dt_offsets = nullptr;
  const double* dt_box = nullptr;
  const int64_t* dt_class = nullptr;
  const double* dt_score = nullptr;
  int64_t max_dets = 100;
  double pos_thresh = 0.5;
  double bg_thresh = 0.1;
  const double* thresholds = nullptr;  // the evaluate_range thresholds (tidecv: 0.50 ... 0.95)
  int64_t num_thresholds = 0;
};

// Error types in tidecv's order.
enum TideError : int { kCls = 0, kLoc, kBoth, kDupe, kBkg, kMiss, kNumTideErrors };

struct TideResult {
  double ap = 0;                                  // TIDE's mAP at pos_thresh (percent)
  std::vector<double> ap_per_threshold;           // evaluate_range's runs
  std::array<double, kNumTideErrors> main_dap{};  // dAP of fixing each type (percent)
  std::array<int64_t, kNumTideErrors> counts{};   // errors of each type
  double false_pos = 0, false_neg = 0;            // the special errors' dAP
  int64_t num_classes = 0;                        // classes in the mean
};

// Throws std::invalid_argument for malformed offsets.
TideResult tide(const TideInput& in);

}  // namespace vrft::eval
