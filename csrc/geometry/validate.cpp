// Input checks of the geometry API: finite, not inverted, not large enough to overflow.
//
// O(n) and scalar: a check of n boxes costs about as much as writing n outputs, so it is
// negligible next to an n x m matrix.
#include <cmath>

#include "geometry/box_math.h"
#include "geometry/iou.h"

namespace vrft {

// 2^62 and 2^510 (see iou.h for why a quarter of sqrt(max) keeps every intermediate finite).
template <>
float max_safe_coordinate<float>() {
  return 4611686018427387904.0f;  // 2^62
}
template <>
double max_safe_coordinate<double>() {
  return std::ldexp(1.0, 510);
}

template <typename T>
int64_t find_non_finite_box(const T* boxes, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T* p = boxes + 4 * i;
    if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]) &&
          std::isfinite(p[3]))) {
      return i;
    }
  }
  return -1;
}

template <typename T>
int64_t find_invalid_box(const T* boxes, int64_t n, BoxFormat fmt, bool allow_inverted,
                         const char** reason) {
  const T limit = max_safe_coordinate<T>();
  for (int64_t i = 0; i < n; ++i) {
    const T* p = boxes + 4 * i;
    if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]) &&
          std::isfinite(p[3]))) {
      if (reason) *reason = "non-finite coordinate (NaN or inf)";
      return i;
    }
    if (!allow_inverted) {
      if (fmt == BoxFormat::kXYXY) {
        if (p[2] < p[0] || p[3] < p[1]) {
          if (reason) *reason = "inverted box (x2 < x1 or y2 < y1)";
          return i;
        }
      } else if (p[2] < T(0) || p[3] < T(0)) {
        if (reason) *reason = "negative width or height";
        return i;
      }
    }
    // The magnitude check looks at the coordinates the kernels use (xyxy after the same
    // conversion and clamp), so that x + w overflowing in xywh is caught as well.
    T x1, y1, x2, y2;
    geometry_detail::to_xyxy(p, fmt, x1, y1, x2, y2);
    if (!(std::fabs(x1) <= limit && std::fabs(y1) <= limit && std::fabs(x2) <= limit &&
          std::fabs(y2) <= limit)) {
      if (reason) {
        *reason = sizeof(T) == 4
                      ? "coordinate magnitude exceeds 2**62 ~ 4.6e18, where float32 areas and "
                        "squared distances could overflow; pass float64 boxes"
                      : "coordinate magnitude exceeds 2**510 ~ 3.4e153, where float64 areas and "
                        "squared distances could overflow";
      }
      return i;
    }
  }
  return -1;
}

template <typename T>
int64_t find_invalid_box(const T* boxes, int64_t n, BoxFormat fmt, const char** reason) {
  return find_invalid_box(boxes, n, fmt, false, reason);
}

#define VRFT_INSTANTIATE_VALIDATE(T)                                                      \
  template int64_t find_non_finite_box<T>(const T*, int64_t);                             \
  template int64_t find_invalid_box<T>(const T*, int64_t, BoxFormat, bool, const char**); \
  template int64_t find_invalid_box<T>(const T*, int64_t, BoxFormat, const char**);

VRFT_INSTANTIATE_VALIDATE(float)
VRFT_INSTANTIATE_VALIDATE(double)

#undef VRFT_INSTANTIATE_VALIDATE

}  // namespace vrft
