// Pairwise (N x M) and paired (N) overlap measures between boxes, and their input check.
//
// Values follow torchvision.ops (box_convert, box_iou, generalized_box_iou, distance_box_iou,
// complete_box_iou; eps = 1e-7 for DIoU/CIoU) operation for operation (see box_math.h), except
// for the documented edge-case rules (docs/geometry.md):
//   * a pair whose union is zero has IoU 0 (torchvision: NaN);
//   * a zero-area enclosing box gives GIoU = IoU (= 0) (torchvision: NaN);
//   * a point box (w = h = 0) contributes no CIoU aspect term (torchvision: NaN).
//
// Inputs are row-major (count, 4) arrays in `fmt`.  They should have passed find_invalid_box
// (finite, not inverted, |coordinate| <= max_safe_coordinate<T>()); inverted boxes that reach
// these functions anyway are clamped to zero size (x2 := max(x2, x1); w := max(w, 0)), which is
// an exact no-op on valid boxes.  Outputs are written once, row-major.
#pragma once

#include <cstdint>

#include "geometry/box_types.h"

namespace vrft {

// out[i * m + j] = kind(a[i], b[j]) for i < n, j < m.
//
// The (m, 4) side is converted once into structure-of-arrays columns; every output row is then
// one branch-free loop over j that the compiler vectorises (AVX2 and baseline clones on x86-64).
// Rows (and, for very wide matrices, column blocks) are split over vrft::parallel_for.  Small
// problems (n * m up to a few thousand) run serially in the caller, and so does any call made
// from inside a pool worker (nested parallel_for is serial), so calling this per small problem
// from a parallel_for body is cheap: columns of up to 64 boxes live on the stack.
template <typename T>
void pairwise_iou(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, IouKind kind,
                  T* out);

// out[i] = kind(a[i], b[i]) for i < n.  Bit-identical to the pairwise value of the same pair.
template <typename T>
void paired_iou(const T* a, const T* b, int64_t n, BoxFormat fmt, IouKind kind, T* out);

// Largest coordinate magnitude (after conversion to xyxy) for which no intermediate of any kind
// overflows: 2^62 ~ 4.6e18 for float, 2^510 ~ 3.4e153 for double.  With |c| <= L, widths are
// <= 2L, areas and squared distances <= 4L^2, and sums of two of them <= 8L^2 = max/2.
template <typename T>
T max_safe_coordinate();

// Index of the first invalid box, or -1 when all are valid.  Invalid means, in this order:
//   "non-finite coordinate"                       a NaN or +-inf among the four numbers;
//   "inverted box (x2 < x1 or y2 < y1)"           (xyxy), or
//   "negative width or height"                    (xywh, cxcywh), unless allow_inverted;
//   "coordinate magnitude exceeds ... (overflow)" some xyxy coordinate beyond
//                                                 max_safe_coordinate<T>().
// `reason` (if not null) receives a static string describing the first problem.
template <typename T>
int64_t find_invalid_box(const T* boxes, int64_t n, BoxFormat fmt, bool allow_inverted,
                         const char** reason);

// Same as above with allow_inverted = false.
template <typename T>
int64_t find_invalid_box(const T* boxes, int64_t n, BoxFormat fmt, const char** reason);

// Index of the first box holding a NaN or +-inf, or -1.
template <typename T>
int64_t find_non_finite_box(const T* boxes, int64_t n);

// box_convert for (n, 4) boxes: out may equal in (in-place conversion).  Follows torchvision's
// box_convert: same format -> copy; xywh <-> cxcywh go through xyxy; no validation.
template <typename T>
void convert_boxes(const T* in, int64_t n, BoxFormat src, BoxFormat dst, T* out);

}  // namespace vrft
