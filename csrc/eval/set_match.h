// Detection counts that no order of tied scores can change: per category, true positives of a
// maximum-cardinality one-to-one matching at IoU >= t, false positives, missed GTs.
//
// Greedy matching by score (pycocotools, lmms-eval-style F1) depends on the order of tied
// detections when two of them compete for one GT.  The size of a maximum matching does not: it is
// unique even when the matching is not.  Per (image, category), detections and GTs are the
// engine's (area range "all"): an edge joins a detection and a non-ignored GT with IoU >=
// min(t, 1 - 1e-10) (pycocotools' IoU and bar).  A detection left unmatched that overlaps an
// ignored GT at that bar (a crowd region: IoU over the detection's area), is outside the area
// range, or is of a category the image does not annotate exhaustively (LVIS), is ignored rather
// than a false positive.  Among maximum matchings the one leaving the most ignorable detections
// unmatched is used (fewest false positives): Kuhn's augmenting paths from the non-ignorable
// detections first, then the ignorable ones, keep every matched detection matched, so the
// matched set is the greedy basis of the transversal matroid in that priority, a maximum one.
// No maxDets cap is applied (which tied detections a cap keeps is itself order-dependent).
#pragma once

#include <cstdint>
#include <vector>

#include "eval/evaluate.h"

namespace vrft::eval {

struct SetCounts {  // per category (K)
  std::vector<int64_t> tp, fp, fn, ignored, num_gt;
};

// Parallel over categories.  `area_lo`, `area_hi`: the area range ("all"), bounds inclusive.
SetCounts max_matching_counts(const GtColumns& gt, const DtColumns& dt, int64_t num_images,
                              int64_t num_categories, double iou_thr, double area_lo,
                              double area_hi);

}  // namespace vrft::eval
