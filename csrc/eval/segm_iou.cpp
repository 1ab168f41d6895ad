#include "eval/segm_iou.h"

#include <vector>

#include "masks/mask_iou.h"

namespace vrft::eval {
namespace {

class MaskWorker : public GroupIou::Worker {
 public:
  MaskWorker(const masks::SegmArena* gm, const int64_t* gs, const masks::SegmArena* dm,
             const int64_t* ds)
      : gt_masks_(gm), gt_shape_(gs), dt_masks_(dm), dt_shape_(ds) {}

  void ious(int64_t, const int64_t* dt_rows, int64_t D, const int64_t* gt_rows, int64_t G,
            const uint8_t* crowd, double* out) override {
    // Decode each mask of the group once (buffers reused across groups).
    if (static_cast<int64_t>(gt_.size()) < G) gt_.resize(static_cast<size_t>(G));
    if (static_cast<int64_t>(dt_.size()) < D) dt_.resize(static_cast<size_t>(D));
    for (int64_t j = 0; j < G; ++j) gt_masks_->decode(gt_shape_[gt_rows[j]], gt_[j], scratch_);
    for (int64_t d = 0; d < D; ++d) dt_masks_->decode(dt_shape_[dt_rows[d]], dt_[d], scratch_);
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t j = 0; j < G; ++j) out[d * G + j] = masks::mask_iou(dt_[d], gt_[j], crowd[j]);
    }
  }

 private:
  const masks::SegmArena* gt_masks_;
  const int64_t* gt_shape_;
  const masks::SegmArena* dt_masks_;
  const int64_t* dt_shape_;
  std::vector<masks::MaskRuns> gt_, dt_;
  masks::SegmArena::Scratch scratch_;
};

}  // namespace

std::unique_ptr<GroupIou::Worker> MaskGroupIou::worker() const {
  return std::make_unique<MaskWorker>(gt_masks_, gt_shape_, dt_masks_, dt_shape_);
}

}  // namespace vrft::eval
