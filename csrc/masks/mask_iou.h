// The IoU of two masks exactly as pycocotools' maskApi rleIou computes it (maskUtils.iou, which
// COCOeval.computeIoU calls for iouType "segm", and lvis-api's compute_iou).
#pragma once

#include "masks/segm_arena.h"

namespace vrft::masks {

// rleIou for one (detection, GT) pair, in its order of rules:
//   1. bbIou of the two rleToBbox boxes (crowd: over the detection box's area); a pair whose
//      boxes do not overlap keeps that value, 0;
//   2. masks of different height or width: -1 (only reachable when their boxes overlap);
//   3. i = pixels in both, u = pixels in either (uint32), walked over the RLE counts;
//   4. i == 0: 0; crowd: u = the detection's area (intersection over the detection);
//   5. (double)i / (double)u, one IEEE division of two exact integers.
// Canonical masks intersect their intervals over the columns both boxes share only (the walk
// over the whole RLE gives the same counts); a mask with an empty run after its first count is
// walked count by count as rleIou walks it, because that walk stops early at a pixel where both
// masks fetch an empty run (and then reports fewer pixels than the masks hold).
double mask_iou(const MaskRuns& dt, const MaskRuns& gt, bool crowd);

// Rule 1 alone: maskApi bbIou of the two masks' boxes (rleIou's pre-check; only `> 0` matters).
double mask_box_iou(const double* dt_box, const double* gt_box, bool crowd);

}  // namespace vrft::masks
