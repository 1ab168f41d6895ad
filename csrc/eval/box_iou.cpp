#include "eval/box_iou.h"

namespace vrft::eval {

void coco_box_iou(const double* dt, int64_t num_dt, const double* gt, int64_t num_gt,
                  const uint8_t* gt_crowd, double* out) {
  for (int64_t d = 0; d < num_dt; ++d) {
    const double* db = dt + 4 * d;
    double* row = out + d * num_gt;
    for (int64_t g = 0; g < num_gt; ++g) {
      row[g] = coco_box_iou_pair(db, gt + 4 * g, gt_crowd != nullptr && gt_crowd[g] != 0);
    }
  }
}

}  // namespace vrft::eval
