#include "eval/group_iou.h"

#include <algorithm>
#include <stdexcept>

namespace vrft::eval {
namespace {

class BlockWorker : public GroupIou::Worker {
 public:
  BlockWorker(const double* values, int64_t size) : values_(values), size_(size) {}
  void ious(int64_t block, const int64_t*, int64_t D, const int64_t*, int64_t G, const uint8_t*,
            double* out) override {
    if (block < 0 || block + D * G > size_) {
      throw std::invalid_argument("IoU blocks do not cover the evaluated groups");
    }
    std::copy(values_ + block, values_ + block + D * G, out);
  }

 private:
  const double* values_;
  int64_t size_;
};

}  // namespace

std::unique_ptr<GroupIou::Worker> BlockGroupIou::worker() const {
  return std::make_unique<BlockWorker>(values_, size_);
}

}  // namespace vrft::eval
