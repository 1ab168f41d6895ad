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
    // Every mask's box first (kept with RLE masks, decoded polygons); a mask is decoded only
    // when its box overlaps another's, as rleIou walks only those pairs.
    load(gt_, gt_ready_, G, *gt_masks_, gt_shape_, gt_rows);
    load(dt_, dt_ready_, D, *dt_masks_, dt_shape_, dt_rows);
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t j = 0; j < G; ++j) {
        const double o = masks::mask_box_iou(dt_[d].box, gt_[j].box, crowd[j] != 0);
        if (!(o > 0)) {
          out[d * G + j] = o;
          continue;
        }
        ready(dt_, dt_ready_, d, *dt_masks_, dt_shape_, dt_rows);
        ready(gt_, gt_ready_, j, *gt_masks_, gt_shape_, gt_rows);
        out[d * G + j] = masks::mask_iou(dt_[d], gt_[j], crowd[j] != 0);
      }
    }
  }

 private:
  // Size, box and area of n masks; decoded right away only where the arena keeps no summary.
  void load(std::vector<masks::MaskRuns>& runs, std::vector<uint8_t>& is_ready, int64_t n,
            const masks::SegmArena& arena, const int64_t* shape, const int64_t* rows) {
    if (static_cast<int64_t>(runs.size()) < n) runs.resize(static_cast<size_t>(n));
    is_ready.assign(static_cast<size_t>(n), 0);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = shape[rows[k]];
      masks::MaskRuns& m = runs[static_cast<size_t>(k)];
      if (arena.summary(i, &m.area, m.box)) {
        m.height = arena.height(i);
        m.width = arena.width(i);
      } else {
        arena.decode(i, m, scratch_);
        is_ready[static_cast<size_t>(k)] = 1;
      }
    }
  }

  void ready(std::vector<masks::MaskRuns>& runs, std::vector<uint8_t>& is_ready, int64_t k,
             const masks::SegmArena& arena, const int64_t* shape, const int64_t* rows) {
    if (is_ready[static_cast<size_t>(k)]) return;
    arena.decode(shape[rows[k]], runs[static_cast<size_t>(k)], scratch_);
    is_ready[static_cast<size_t>(k)] = 1;
  }

  const masks::SegmArena* gt_masks_;
  const int64_t* gt_shape_;
  const masks::SegmArena* dt_masks_;
  const int64_t* dt_shape_;
  std::vector<masks::MaskRuns> gt_, dt_;
  std::vector<uint8_t> gt_ready_, dt_ready_;
  masks::SegmArena::Scratch scratch_;
};

}  // namespace

std::unique_ptr<GroupIou::Worker> MaskGroupIou::worker() const {
  return std::make_unique<MaskWorker>(gt_masks_, gt_shape_, dt_masks_, dt_shape_);
}

}  // namespace vrft::eval
