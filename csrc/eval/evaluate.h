// Per-(image, category) evaluation: grouping, score order, IoU and greedy matching.
//
// Reproduces pycocotools COCOeval._prepare / computeIoU / evaluateImg (2.0.11) and lvis-api
// 0.5.3 LVISEval._prepare / compute_iou / evaluate_img.  The two differ only in data, not in
// code, once the caller has prepared the columns:
//   * COCO: gt_ignore = iscrowd (pycocotools overwrites any user `ignore` with iscrowd),
//     gt_crowd = iscrowd, max_dets_per_group = maxDets[-1], dt_not_exhaustive = nullptr.
//   * LVIS: gt_ignore = the annotation's `ignore`, gt_crowd all 0 (lvis-api forces iscrowd = 0,
//     so a matched GT is always skipped), max_dets_per_group = -1 (LVIS caps per image at load
//     time instead), dt_not_exhaustive = category in the image's not_exhaustive_category_ids.
// Filtering by image / category lists, the federated filter and the LVIS 300-per-image cap are
// done by the caller (they are set operations on whole columns).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "eval/group_iou.h"

namespace vrft::eval {

// std::allocator that default-initialises (leaves PODs uninitialised) on resize: the per-slot
// outputs are written in parallel by evaluate_images, so zeroing them first would be a serial
// pass over memory that is about to be overwritten.
template <typename T>
struct UninitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <typename U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
template <typename T>
using UninitVector = std::vector<T, UninitAllocator<T>>;

// Ground-truth columns, one row per annotation, in the order pycocotools would visit them
// (dataset order; for useCats=0 the caller orders rows by category position first).
struct GtColumns {
  int64_t n = 0;
  const int64_t* image = nullptr;       // position of the image in the evaluated list, [0, I)
  const int64_t* category = nullptr;    // position of the category, [0, K); all 0 for useCats=0
  const double* box = nullptr;          // n x 4, xywh (unused, may be null, with a GroupIou)
  const double* area = nullptr;         // the annotation's `area` field (not w*h)
  const uint8_t* ignore = nullptr;      // 1: ignored at every area range (see header comment)
  const uint8_t* crowd = nullptr;       // 1: iscrowd (may absorb many detections; IoU over dt area)
  const uint8_t* id_nonzero = nullptr;  // annotation id != 0 (the id-0 quirk, see match_detections)
};

// Detection columns, one row per detection, in result order.
struct DtColumns {
  int64_t n = 0;
  const int64_t* image = nullptr;
  const int64_t* category = nullptr;
  const double* box = nullptr;   // n x 4, xywh (unused, may be null, with a GroupIou)
  const double* area = nullptr;  // loadRes: w * h (segm: the mask's area; keypoints: extent)
  const double* score = nullptr;
  const uint8_t* id_positive = nullptr;     // detection id > 0 (always true after loadRes)
  const uint8_t* not_exhaustive = nullptr;  // LVIS only (nullptr for COCO)
};

struct MatchParams {
  int64_t num_images = 0;      // I
  int64_t num_categories = 0;  // K (1 for useCats=0)
  const double* iou_thrs = nullptr;
  int64_t num_iou_thrs = 0;          // T
  const double* area_rng = nullptr;  // A x 2: [lo, hi], both bounds inclusive
  int64_t num_area_rngs = 0;         // A
  int64_t max_dets_per_group = -1;   // keep the top-scored N per (image, category); -1: all
};

// Outcome of one detection at one (area range, IoU threshold).
enum DetState : uint8_t { kFalsePositive = 0, kTruePositive = 1, kIgnored = 2 };

// Everything accumulate() needs; one "group" per (category, image) with any GT or detection,
// sorted by (category, image) so that a category's groups are contiguous and in image order.
struct Evaluation {
  int64_t num_images = 0, num_categories = 0, num_iou_thrs = 0, num_area_rngs = 0;
  std::vector<int64_t> group_image, group_category;  // per group
  std::vector<int64_t> category_groups;              // K + 1 offsets into the groups
  std::vector<int64_t> gt_offsets;                   // groups + 1 offsets into gt_index
  std::vector<int64_t> gt_index;                     // GT rows of each group, dataset order
  std::vector<int64_t> dt_offsets;                   // groups + 1 offsets into the detection slots
  UninitVector<int64_t> dt_index;        // detection row per slot: score-descending, stable, capped
  UninitVector<double> dt_score;         // score per slot
  UninitVector<uint8_t> dt_state;        // slots x A x T DetState
  UninitVector<uint8_t> dt_any_tp;       // per slot: 1 if any of its A x T states is a TP
  std::vector<int64_t> num_positive_gt;  // groups x A: GTs not ignored ("npig" in pycocotools)

  // Kept on request only (EvaluateOptions), for the drop-ins' `ious` and `evalImgs`:
  std::vector<int64_t> iou_offsets;  // groups + 1 offsets into `ious` (always set)
  std::vector<double> ious;          // per group with GT: D x G, score order x dataset order
  std::vector<int32_t> dt_match;     // slots x A x T: matched GT (index in the group's GT list,
                                     // dataset order) or -1
};

// What evaluate_images computes the IoU from and what it keeps besides the states.
struct EvaluateOptions {
  const GroupIou* iou = nullptr;  // nullptr: the box IoU of the columns (bbIou)
  bool plan_only = false;         // groups, score order and iou_offsets only: no IoU, no matching
  bool keep_ious = false;         // fill Evaluation::ious
  bool keep_matches = false;      // fill Evaluation::dt_match
};

// Evaluation::category_groups from group_category (each in [0, K)): the K + 1 offsets of each
// category's run of groups.  Shared by evaluate_images, merge_evaluations and check_evaluation.
std::vector<int64_t> category_group_offsets(const std::vector<int64_t>& group_category, int64_t K);

// Groups, sorts, computes IoU and matches every (image, category) in parallel (thread pool).
// Throws std::invalid_argument when an image / category position is out of range.
Evaluation evaluate_images(const GtColumns& gt, const DtColumns& dt, const MatchParams& params,
                           const EvaluateOptions& options = {});

}  // namespace vrft::eval
