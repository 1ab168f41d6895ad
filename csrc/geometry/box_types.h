// Box formats and IoU kinds shared by the geometry, matching and CUDA code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace vrft {

// How the four numbers of a box are laid out.  Coordinates are continuous (no +1 pixel rule).
enum class BoxFormat : int {
  kXYXY = 0,    // x1, y1, x2, y2
  kXYWH = 1,    // x, y, width, height (COCO)
  kCXCYWH = 2,  // centre x, centre y, width, height
};

// Which overlap measure pairwise/paired functions compute (torchvision's definitions).
enum class IouKind : int {
  kIoU = 0,
  kGIoU = 1,
  kDIoU = 2,
  kCIoU = 3,
};

inline BoxFormat parse_box_format(const std::string& name, const char* arg) {
  if (name == "xyxy") return BoxFormat::kXYXY;
  if (name == "xywh") return BoxFormat::kXYWH;
  if (name == "cxcywh") return BoxFormat::kCXCYWH;
  throw std::invalid_argument(std::string(arg) + " must be one of 'xyxy', 'xywh', 'cxcywh', got '" +
                              name + "'");
}

inline IouKind parse_iou_kind(const std::string& name, const char* arg) {
  if (name == "iou") return IouKind::kIoU;
  if (name == "giou") return IouKind::kGIoU;
  if (name == "diou") return IouKind::kDIoU;
  if (name == "ciou") return IouKind::kCIoU;
  throw std::invalid_argument(std::string(arg) +
                              " must be one of 'iou', 'giou', 'diou', 'ciou', got '" + name + "'");
}

}  // namespace vrft
