// Fused per-completion detection rewards: one completion and its ground truth in, every value
// the box and format rewards need out, on the calling thread, with no allocation once the
// scratch has grown.
//
// This is the path for trainers that call a reward one sample at a time (verl's Reward Loop,
// OpenRLHF, ms-swift): the batch path (vrft_rewards/rewards/_problems.py + box_rewards.py) builds
// flat arrays for the whole batch, which for one completion costs far more than the work.  Here
// the same rules run in the same order on one completion: parse (parse_one), the answer and
// ground-truth checks of box_problems, the box selection of select_segment_boxes, the frame
// conversion of boxes_to_pixels, matching (match_problem, the per-problem body of match_boxes)
// and the reward arithmetic of IoUReward, ConfidenceReward, F1Reward and FormatReward, so that
// every value is bit-identical to the batch path (tests/test_rewards_tiny.py checks it).
#pragma once

#include <cstdint>
#include <vector>

#include "match/match_boxes.h"
#include "parse/parse.h"

namespace vrft {
namespace rewards {

// The options of the box rewards that decide a row's values.
struct DetectionOptions {
  parse::AnswerPick pick = parse::AnswerPick::kLast;  // which <answer> block of the completion
  MatchOptions match;                                 // method, kind, threshold, strict (xyxy)
  bool dedupe = false;                                // drop exact-duplicate predicted boxes
};

// Frame conversion of one row, boxes_to_pixels' x / d * s: per axis a divisor and a scale for
// the predictions (pred[0..3] = dx, dy, sx, sy) and for the ground truth (gt[0..3]).  Every frame
// is of this form: norm1000 (1000, W), norm1 (1, W), abs (1, 1), abs from a resized image
// (w_model, W); dividing or multiplying by 1 is exact, so one formula gives each frame's bits.
struct RowFrames {
  double pred[4];
  double gt[4];
};

// What one completion scores, before the row outcomes (docs/rewards.md) are applied.
struct DetectionRow {
  bool pred_ok = false;  // the answer is a box answer (boxes, or an explicit empty answer)
  bool gt_ok = false;    // the ground truth is a box answer with finite, non-inverted boxes
  int64_t n_pred = 0;    // predictions scored (after dedupe; 0 unless pred_ok and gt_ok)
  int64_t n_gt = 0;      // ground-truth boxes (0 unless pred_ok and gt_ok)
  int64_t n_matched = 0;
  double iou = 0.0;         // IoUReward: min(1, sum of matched IoU / max(N_gt, N_pred, 1))
  double confidence = 0.0;  // ConfidenceReward before the row outcomes
  double f1 = 0.0, precision = 0.0, recall = 0.0;  // F1Reward's three metrics
  // FormatReward's three modes (meaningful for pick == kLast, the parse the format reward uses).
  double format_strict = 0.0, format_tags = 0.0, format_answer = 0.0;
};

// One row's ground truth: a solution text to parse (the last block, tags optional), or boxes given
// as data (row-major (count, 4), as _truth.py reads a gt_boxes row or a parsed list).
struct GroundTruth {
  const parse::Text* text = nullptr;  // the solution, or null for boxes given as data
  const double* boxes = nullptr;
  int64_t count = 0;
  bool usable = false;  // boxes given as data: false for a missing row (None)
};

// Scratch of score_detection, reused across calls (one per thread).
struct DetectionScratch {
  parse::BoxColumns pred_parsed, gt_parsed;
  std::vector<double> pred, gt, conf, scores;
  std::vector<int64_t> visit, matched_gt, matched_pred;
  std::vector<double> matched_value;
  MatchWorkspace<double> match;
};

// Scores one completion against its ground truth (`truth` null: none; only the format values are
// then meaningful and gt_ok is false).  `frames` null: no conversion.  The matched pairs' values
// are appended to `pair_values` in prediction order (the order of MatchResult.iou, whose mean is
// the mean_matched_iou metric).
void score_detection(const parse::Text& completion, const GroundTruth* truth,
                     const DetectionOptions& options, const RowFrames* frames,
                     DetectionScratch& scratch, DetectionRow* row,
                     std::vector<double>* pair_values);

}  // namespace rewards
}  // namespace vrft
