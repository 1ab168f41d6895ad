// Pairwise (N x M) and paired (N) overlap measures between boxes.
//
// Values follow torchvision.ops (box_iou, generalized_box_iou, distance_box_iou,
// complete_box_iou; eps = 1e-7 for DIoU/CIoU) operation for operation, except for the documented
// edge-case rule: a pair whose union is zero has IoU 0 instead of NaN.
//
// Inputs are row-major (count, 4) arrays in `fmt`; they must already be validated (finite,
// non-inverted): see validate_boxes.  Outputs are written once, row-major.
#pragma once

#include <cstdint>

#include "geometry/box_types.h"

namespace vrft {

// out[i * m + j] = kind(a[i], b[j]).  Splits rows over the thread pool for large matrices.
template <typename T>
void pairwise_iou(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, IouKind kind,
                  T* out);

// out[i] = kind(a[i], b[i]).
template <typename T>
void paired_iou(const T* a, const T* b, int64_t n, BoxFormat fmt, IouKind kind, T* out);

// Index of the first box that is not finite or is inverted (x2 < x1 or y2 < y1 after conversion
// to xyxy; negative width/height for xywh/cxcywh), or -1 when all are valid.  `reason` receives a
// short description of what was wrong.
template <typename T>
int64_t find_invalid_box(const T* boxes, int64_t n, BoxFormat fmt, const char** reason);

}  // namespace vrft
