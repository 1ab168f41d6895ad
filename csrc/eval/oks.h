// Object keypoint similarity (iouType "keypoints") exactly as pycocotools' COCOeval.computeOks
// computes it, in two native passes around numpy's exp:
//
//     vars = (sigmas * 2)**2                                    (by the caller, with numpy)
//     for each GT g, detection d (score order, capped):
//         k1 = count(vg > 0)
//         dx, dy = xd - xg, yd - yg                      if k1 > 0
//                = distance outside the GT box doubled    else (x0 = bx - bw, x1 = bx + 2 bw, ...)
//         e = (dx**2 + dy**2) / vars / (area + np.spacing(1)) / 2,  restricted to vg > 0 if k1 > 0
//         oks = np.sum(np.exp(-e)) / len(e)
//
// Pass 1 (oks_exponents) writes every -e of every pair, pair after pair; the caller applies
// np.exp to that one flat array (numpy's exp is SIMD code whose last bit differs from libm's exp
// on some CPUs, and is elementwise the same on a flat array as on each pair's own array); pass 2
// (oks_reduce) sums each pair's values in numpy's pairwise order and divides by their count.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/evaluate.h"

namespace vrft::eval {

// Keypoints of one side (GT or detections), one row of 3K numbers (x, y, v) per annotation.
struct KeypointColumns {
  const double* xyv = nullptr;        // rows x 3K
  const uint8_t* integral = nullptr;  // per row: all values were ints (numpy holds them as int64)
};

struct OksInputs {
  int64_t num_keypoints = 0;     // K
  const double* vars = nullptr;  // K values of (sigmas * 2)**2, as numpy computed them
  KeypointColumns gt, dt;
  const double* gt_box = nullptr;   // GT rows x 4 (xywh)
  const double* gt_area = nullptr;  // GT rows
};

// Pass 1 for every group of `plan` (an evaluate_images result with plan_only): the -e values of
// each pair (group order, then detection-major within a group, as the IoU blocks), appended to
// `neg_e`, and per pair how many values it has (`counts`, Evaluation::iou_offsets order).
void oks_exponents(const Evaluation& plan, const OksInputs& in, std::vector<double>& neg_e,
                   std::vector<int32_t>& counts);

// Pass 2: oks[p] = numpy_pairwise_sum(values of pair p) / counts[p] (values = exp(-e), flat).
void oks_reduce(const double* values, int64_t num_values, const int32_t* counts, int64_t num_pairs,
                double* oks);

}  // namespace vrft::eval
