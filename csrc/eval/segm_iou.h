// Mask IoU for the engine (iouType "segm"): each group's masks are decoded from their sources
// when the group is evaluated and compared with pycocotools' rleIou rules (masks/mask_iou.h).
#pragma once

#include <cstdint>

#include "eval/group_iou.h"
#include "masks/segm_arena.h"

namespace vrft::eval {

class MaskGroupIou : public GroupIou {
 public:
  // gt_shape[row] / dt_shape[row]: the arena index of each GT / detection row's mask.
  MaskGroupIou(const masks::SegmArena* gt_masks, const int64_t* gt_shape,
               const masks::SegmArena* dt_masks, const int64_t* dt_shape)
      : gt_masks_(gt_masks), gt_shape_(gt_shape), dt_masks_(dt_masks), dt_shape_(dt_shape) {}
  std::unique_ptr<Worker> worker() const override;

 private:
  const masks::SegmArena* gt_masks_;
  const int64_t* gt_shape_;
  const masks::SegmArena* dt_masks_;
  const int64_t* dt_shape_;
};

}  // namespace vrft::eval
