// One-to-one matching of predicted boxes to ground-truth boxes, for a ragged batch of problems.
//
// Problem b owns predictions [pred_offsets[b], pred_offsets[b+1]) and ground truths
// [gt_offsets[b], gt_offsets[b+1]) of the flat (N, 4) box arrays.  A pair (p, g) *qualifies* when
// its overlap value (IoU, GIoU, DIoU or CIoU as computed by vrft::pairwise_iou) is
//     value >= iou_threshold   (value > iou_threshold when strict)   and   value > 0.
// Pairs of value <= 0 never match: they do not overlap, and the Hungarian formulation below needs
// every useful pair to carry positive weight.  NaN values never qualify.
//
// Methods:
//   kHungarian  a maximum-weight matching of qualifying pairs (weight = value): the assignment
//               problem on cost = -value for qualifying pairs and 0 otherwise, solved as a full
//               matching of the smaller side, after which the zero-cost (non-qualifying) pairs
//               are dropped.  Any matching extends to a full matching of the smaller side with
//               zero-cost pairs, and every qualifying pair has negative cost, so the optimum of
//               the full problem restricted to qualifying pairs is a maximum-weight matching.
//   kGreedy     COCO / Visual-RFT matching: predictions in descending score order (stable: equal
//               scores keep input order; no scores = input order), each takes the unmatched ground
//               truth of highest value among the qualifying ones; equal values -> the lowest
//               ground-truth index (Visual-RFT's `iou > best_iou` scan; pycocotools' evaluateImg
//               would take the last of equal IoUs instead).
//
// Outputs (per prediction, per ground truth, per problem) are indices local to the problem.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "geometry/box_types.h"
#include "match/lsap.h"

namespace vrft {

enum class MatchMethod : int { kHungarian = 0, kGreedy = 1 };

struct MatchOptions {
  MatchMethod method = MatchMethod::kHungarian;
  IouKind kind = IouKind::kIoU;
  BoxFormat fmt = BoxFormat::kXYXY;
  double iou_threshold = 0.5;
  bool strict = false;  // qualifying needs value > threshold instead of >=
};

// Options from their names, as the CPU and CUDA bindings receive them; std::invalid_argument
// naming the argument for an unknown method / kind / format or a threshold outside [0, 1].
inline MatchOptions make_match_options(const std::string& method, const std::string& kind,
                                       const std::string& fmt, double iou_threshold, bool strict) {
  MatchOptions opt;
  if (method == "hungarian") {
    opt.method = MatchMethod::kHungarian;
  } else if (method == "greedy") {
    opt.method = MatchMethod::kGreedy;
  } else {
    throw std::invalid_argument("method must be one of 'hungarian', 'greedy', got '" + method +
                                "'");
  }
  opt.kind = parse_iou_kind(kind, "kind");
  opt.fmt = parse_box_format(fmt, "fmt");
  if (!(iou_threshold >= 0.0 && iou_threshold <= 1.0)) {
    std::ostringstream value;
    value.precision(17);
    value << iou_threshold;
    throw std::invalid_argument("iou_threshold must be in [0, 1], got " + value.str());
  }
  opt.iou_threshold = iou_threshold;
  opt.strict = strict;
  return opt;
}

// Per-element and per-problem outputs; every pointer is required and sized as noted.
template <typename T>
struct MatchOutputs {
  int64_t* matched_gt;    // (n_pred,)  local GT index of each prediction, -1 if unmatched
  T* matched_value;       // (n_pred,)  value of the matched pair, 0 if unmatched
  int64_t* matched_pred;  // (n_gt,)    local prediction index of each GT, -1 if unmatched
  int64_t* n_matched;     // (B,)
  double* sum_matched;    // (B,)       sum of matched values, added in prediction order
  // Box validation (vrft::find_invalid_box), done per problem while its boxes are in cache:
  // global index of the problem's first invalid prediction / GT, or -1.  Problems with an
  // invalid box are still matched (NaN values never qualify); callers raise instead of using
  // the result.
  int64_t* bad_pred;  // (B,)
  int64_t* bad_gt;    // (B,)
};

// Scratch memory of the matcher: grows to the largest problem it has seen, then never allocates.
// One per thread (match_boxes keeps one per pool slot; a caller of match_problem owns its own).
template <typename T>
struct MatchWorkspace {
  std::vector<T> values;                              // n x m overlap matrix of the current problem
  std::vector<double> cost;                           // r x c assignment costs (r = smaller side)
  std::vector<int64_t> order;                         // greedy: predictions in processing order
  std::vector<char> taken;                            // greedy: GT already matched
  std::vector<int64_t> keep_pred, keep_gt, gt_count;  // hungarian: rows/columns with a candidate
  LsapWorkspace lsap;
};

// One problem on the calling thread: n predictions and m ground truths (valid boxes, row-major
// (count, 4)), scores (n,) or null.  Writes matched_gt (n), matched_value (n) and matched_pred
// (m) as match_boxes does for one problem, stores the sum of the matched values, added in
// prediction order from 0.0, in *sum_matched, and returns the number of matched pairs.
// match_boxes runs exactly this for each of its problems, so both give the same bits.
template <typename T>
int64_t match_problem(const T* pred, int64_t n, const T* gt, int64_t m, const double* scores,
                      const MatchOptions& options, MatchWorkspace<T>& ws, int64_t* matched_gt,
                      T* matched_value, int64_t* matched_pred, double* sum_matched);

// Offsets must already be validated (length B+1, start at 0, non-decreasing, end at the box
// counts); box values are checked here (see bad_pred / bad_gt).  scores: (n_pred,) or null.
template <typename T>
void match_boxes(const T* pred, const int64_t* pred_offsets, const T* gt, const int64_t* gt_offsets,
                 int64_t n_problems, const double* scores, const MatchOptions& options,
                 const MatchOutputs<T>& out);

}  // namespace vrft
