// Box format conversion, operation for operation as torchvision.ops.box_convert.
#include <cstdint>

#include "common/thread_pool.h"
#include "geometry/iou.h"

namespace vrft {
namespace {

// torchvision's four primitive conversions (_box_convert.py); the xywh <-> cxcywh pairs are
// compositions through xyxy, exactly as box_convert chains them.
template <typename T>
inline void xywh_to_xyxy(T& a, T& b, T& c, T& d) {  // x, y, x + w, y + h
  c = a + c;
  d = b + d;
}
template <typename T>
inline void cxcywh_to_xyxy(T& a, T& b, T& c, T& d) {  // cx -+ 0.5 * w, cy -+ 0.5 * h
  const T cx = a, cy = b, w = c, h = d;
  a = cx - T(0.5) * w;
  b = cy - T(0.5) * h;
  c = cx + T(0.5) * w;
  d = cy + T(0.5) * h;
}
template <typename T>
inline void xyxy_to_xywh(T& a, T& b, T& c, T& d) {  // x1, y1, x2 - x1, y2 - y1
  c = c - a;
  d = d - b;
}
template <typename T>
inline void xyxy_to_cxcywh(T& a, T& b, T& c, T& d) {  // (x1 + x2) / 2, ..., x2 - x1, y2 - y1
  const T x1 = a, y1 = b, x2 = c, y2 = d;
  a = (x1 + x2) / T(2);
  b = (y1 + y2) / T(2);
  c = x2 - x1;
  d = y2 - y1;
}

template <typename T>
inline void convert_one(const T* p, BoxFormat src, BoxFormat dst, T* q) {
  T a = p[0], b = p[1], c = p[2], d = p[3];
  if (src != dst) {
    if (src == BoxFormat::kXYWH) xywh_to_xyxy(a, b, c, d);
    if (src == BoxFormat::kCXCYWH) cxcywh_to_xyxy(a, b, c, d);
    if (dst == BoxFormat::kXYWH) xyxy_to_xywh(a, b, c, d);
    if (dst == BoxFormat::kCXCYWH) xyxy_to_cxcywh(a, b, c, d);
  }
  q[0] = a;
  q[1] = b;
  q[2] = c;
  q[3] = d;
}

}  // namespace

template <typename T>
void convert_boxes(const T* in, int64_t n, BoxFormat src, BoxFormat dst, T* out) {
  parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) convert_one(in + 4 * i, src, dst, out + 4 * i);
  });
}

template void convert_boxes<float>(const float*, int64_t, BoxFormat, BoxFormat, float*);
template void convert_boxes<double>(const double*, int64_t, BoxFormat, BoxFormat, double*);

}  // namespace vrft
