#include "geometry/iou.h"

#include <algorithm>
#include <cmath>

#include "common/thread_pool.h"

namespace vrft {
namespace {

template <typename T>
struct XYXY {
  T x1, y1, x2, y2;
};

template <typename T>
inline XYXY<T> to_xyxy(const T* p, BoxFormat fmt) {
  switch (fmt) {
    case BoxFormat::kXYWH:
      return {p[0], p[1], p[0] + p[2], p[1] + p[3]};
    case BoxFormat::kCXCYWH:
      return {p[0] - T(0.5) * p[2], p[1] - T(0.5) * p[3], p[0] + T(0.5) * p[2],
              p[1] + T(0.5) * p[3]};
    case BoxFormat::kXYXY:
    default:
      return {p[0], p[1], p[2], p[3]};
  }
}

template <typename T>
inline T pair_value(const XYXY<T>& a, const XYXY<T>& b, IouKind kind) {
  const T area_a = (a.x2 - a.x1) * (a.y2 - a.y1);
  const T area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
  const T iw = std::max(std::min(a.x2, b.x2) - std::max(a.x1, b.x1), T(0));
  const T ih = std::max(std::min(a.y2, b.y2) - std::max(a.y1, b.y1), T(0));
  const T inter = iw * ih;
  const T uni = area_a + area_b - inter;
  const T iou = uni > T(0) ? inter / uni : T(0);
  if (kind == IouKind::kIoU) return iou;
  const T cw = std::max(std::max(a.x2, b.x2) - std::min(a.x1, b.x1), T(0));
  const T ch = std::max(std::max(a.y2, b.y2) - std::min(a.y1, b.y1), T(0));
  if (kind == IouKind::kGIoU) {
    const T area_c = cw * ch;
    return area_c > T(0) ? iou - (area_c - uni) / area_c : iou;
  }
  const T eps = T(1e-7);
  const T diag = cw * cw + ch * ch + eps;
  const T dx = (a.x1 + a.x2) / T(2) - (b.x1 + b.x2) / T(2);
  const T dy = (a.y1 + a.y2) / T(2) - (b.y1 + b.y2) / T(2);
  const T diou = iou - (dx * dx + dy * dy) / diag;
  if (kind == IouKind::kDIoU) return diou;
  const T d = std::atan((a.x2 - a.x1) / (a.y2 - a.y1)) - std::atan((b.x2 - b.x1) / (b.y2 - b.y1));
  const T v = T(4) / T(M_PI * M_PI) * d * d;
  const T alpha = v / (T(1) - iou + v + eps);
  return diou - alpha * v;
}

}  // namespace

template <typename T>
void pairwise_iou(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, IouKind kind,
                  T* out) {
  if (n == 0 || m == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / m);
  parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const XYXY<T> bi = to_xyxy(a + 4 * i, fmt);
      for (int64_t j = 0; j < m; ++j) out[i * m + j] = pair_value(bi, to_xyxy(b + 4 * j, fmt), kind);
    }
  });
}

template <typename T>
void paired_iou(const T* a, const T* b, int64_t n, BoxFormat fmt, IouKind kind, T* out) {
  parallel_for(n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = pair_value(to_xyxy(a + 4 * i, fmt), to_xyxy(b + 4 * i, fmt), kind);
  });
}

template <typename T>
int64_t find_invalid_box(const T* boxes, int64_t n, BoxFormat fmt, const char** reason) {
  for (int64_t i = 0; i < n; ++i) {
    const T* p = boxes + 4 * i;
    if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]) && std::isfinite(p[3]))) {
      if (reason) *reason = "non-finite coordinate";
      return i;
    }
    const bool inverted = fmt == BoxFormat::kXYXY ? (p[2] < p[0] || p[3] < p[1]) : (p[2] < 0 || p[3] < 0);
    if (inverted) {
      if (reason) *reason = fmt == BoxFormat::kXYXY ? "inverted box (x2 < x1 or y2 < y1)"
                                                     : "negative width or height";
      return i;
    }
  }
  return -1;
}

#define VRFT_INSTANTIATE_IOU(T)                                                                  \
  template void pairwise_iou<T>(const T*, int64_t, const T*, int64_t, BoxFormat, IouKind, T*); \
  template void paired_iou<T>(const T*, const T*, int64_t, BoxFormat, IouKind, T*);            \
  template int64_t find_invalid_box<T>(const T*, int64_t, BoxFormat, const char**);

VRFT_INSTANTIATE_IOU(float)
VRFT_INSTANTIATE_IOU(double)

}  // namespace vrft
