// Where the engine's per-group IoU comes from when it is not the box IoU of the columns: masks
// (iouType "segm", segm_iou.h) or blocks computed beforehand (keypoint OKS, which needs numpy's
// exp: see vrft_rewards/cocoeval/oks.py).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace vrft::eval {

class GroupIou {
 public:
  virtual ~GroupIou() = default;

  // The per-thread half: each worker of evaluate_images gets its own (scratch buffers).
  class Worker {
   public:
    virtual ~Worker() = default;
    // out[d * G + j] = IoU of detection row dt_rows[d] (score order) with GT row gt_rows[j]
    // (dataset order) of one group; crowd[j] = the GT's crowd flag (COCO only); `block` = where
    // this group's D x G block starts in the concatenation of all groups' blocks (group order).
    virtual void ious(int64_t block, const int64_t* dt_rows, int64_t D, const int64_t* gt_rows,
                      int64_t G, const uint8_t* crowd, double* out) = 0;
  };
  virtual std::unique_ptr<Worker> worker() const = 0;
};

// IoU blocks computed beforehand for exactly the groups evaluate_images forms, concatenated in
// group order (Evaluation::iou_offsets of a plan_only evaluation says where each starts).
class BlockGroupIou : public GroupIou {
 public:
  BlockGroupIou(const double* values, int64_t num_values) : values_(values), size_(num_values) {}
  std::unique_ptr<Worker> worker() const override;

 private:
  const double* values_;
  int64_t size_;
};

}  // namespace vrft::eval
