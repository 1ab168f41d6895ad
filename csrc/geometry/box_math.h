// Per-box and per-pair arithmetic of the IoU family, shared by the pairwise, paired and
// conversion code so that one pair gives the same bits whichever function computes it.
//
// Every expression reproduces torchvision.ops operation for operation (same operands, same
// order, same rounding), so that with IEEE float/double arithmetic and no FMA contraction
// (CMakeLists.txt passes -ffp-contract=off, which g++ does not default to even in ISO mode;
// never -ffast-math) the results are those of the torch formulas:
//   box_convert              -> to_xyxy()
//   box_area                 -> PreparedBox::area
//   _box_inter_union         -> pair_inter_union()
//   box_iou                  -> inter / union
//   generalized_box_iou      -> pair_giou()
//   _box_diou_iou            -> pair_diou()
//   complete_box_iou         -> pair_ciou()
// The only departures are the documented edge-case rules (docs/geometry.md): a zero union gives
// IoU 0 (torchvision: 0/0 = NaN), a zero-area enclosing box gives a GIoU penalty of 0, and a
// point box (w = h = 0) has no aspect term in CIoU.  They are written as selects on the
// denominator, which never change a defined value and keep the inner loops branch-free.
#pragma once

#include <cmath>
#include <cstdint>

#include "geometry/box_types.h"

// The same functions serve the CPU core (g++) and the CUDA kernels (nvcc, csrc/cuda/): under
// nvcc they are __host__ __device__, under any other compiler the macro is empty, so the CPU
// build sees exactly the code it always saw.  Device code must be compiled with --fmad=false
// (CMakeLists.txt), the nvcc counterpart of -ffp-contract=off, and without --use_fast_math
// (IEEE division, no flush-to-zero), so that both sides round every operation alike.
#ifndef VRFT_HD
#if defined(__CUDACC__)
#define VRFT_HD __host__ __device__
#else
#define VRFT_HD
#endif
#endif

namespace vrft {
namespace geometry_detail {

// torchvision's default eps for DIoU / CIoU.  As a Python float it is the double nearest 1e-7,
// which torch rounds to the tensor's dtype; static_cast<T>(1e-7) does the same.
template <typename T>
inline VRFT_HD T iou_eps() {
  return static_cast<T>(1e-7);
}

// `4 / (torch.pi ** 2)` is evaluated by Python in double and then rounded to the tensor dtype
// when it multiplies a float32 tensor.  Python's pi ** 2 is pow(pi, 2.0), correctly rounded,
// which equals the rounded product pi * pi.
template <typename T>
inline VRFT_HD T ciou_aspect_scale() {
  constexpr double kPi = 3.141592653589793;  // math.pi == torch.pi
  constexpr double kScale = 4.0 / (kPi * kPi);
  return static_cast<T>(kScale);
}

// Selects written in the operand order of the x86 max/min instructions (maxps(a, b) is
// `a > b ? a : b`, minps(a, b) is `a < b ? a : b`), so that g++ emits one instruction for each
// without -ffast-math.  They equal torch.max / torch.min / clamp(min=0) on finite input (the only
// input we accept), up to the sign of a zero result, which no output depends on except the sign
// of a zero output.
template <typename T>
inline VRFT_HD T max_of(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
inline VRFT_HD T min_of(T a, T b) {
  return a < b ? a : b;
}

// A box converted to xyxy, with everything the pair formulas need that depends on one box only
// (torchvision computes these on the (N,) / (M,) tensors before broadcasting, so precomputing
// them per box is the same arithmetic).
template <typename T>
struct PreparedBox {
  T x1, y1, x2, y2;
  T area;        // box_area: (x2 - x1) * (y2 - y1)
  T cx, cy;      // _box_diou_iou centres: (x1 + x2) / 2, (y1 + y2) / 2
  T aspect;      // complete_box_iou: atan(w / h); 0 for a point box
  T has_aspect;  // 1, or 0 for a point box (w == h == 0), whose aspect atan(0/0) is undefined
};

// box_convert(boxes, fmt, "xyxy") for one box, after clamping an inverted box to zero size in
// its own format (x2 := max(x2, x1) for xyxy; w := max(w, 0) for xywh/cxcywh).  The clamp is an
// exact no-op on valid boxes, so it is always applied: the Python layer has already rejected
// inverted boxes unless the caller asked for clamping.
//   _box_xywh_to_xyxy:   x2 = x + w
//   _box_cxcywh_to_xyxy: x1 = cx - 0.5 * w, x2 = cx + 0.5 * w
template <typename T>
inline VRFT_HD void to_xyxy(const T* p, BoxFormat fmt, T& x1, T& y1, T& x2, T& y2) {
  switch (fmt) {
    case BoxFormat::kXYWH: {
      const T w = max_of(p[2], T(0));
      const T h = max_of(p[3], T(0));
      x1 = p[0];
      y1 = p[1];
      x2 = p[0] + w;
      y2 = p[1] + h;
      return;
    }
    case BoxFormat::kCXCYWH: {
      const T w = max_of(p[2], T(0));
      const T h = max_of(p[3], T(0));
      x1 = p[0] - T(0.5) * w;
      y1 = p[1] - T(0.5) * h;
      x2 = p[0] + T(0.5) * w;
      y2 = p[1] + T(0.5) * h;
      return;
    }
    case BoxFormat::kXYXY:
    default:
      x1 = p[0];
      y1 = p[1];
      x2 = max_of(p[2], p[0]);
      y2 = max_of(p[3], p[1]);
      return;
  }
}

// atan of the aspect ratio w / h (the ratio itself rounded in T, as torch divides in T).
// torch evaluates atan with SLEEF (<= 1 ulp) on vectorised chunks and the C library on the
// remainder, so its own result depends on where a box sits in the tensor; no implementation can
// reproduce it bit for bit.  We take the C library's double atan (glibc: correctly rounded) and
// round it to T once, i.e. the correctly rounded atan for float boxes too (glibc's atanf is not
// guaranteed to be).  This is the one step where CIoU can differ from torch's value.
// In device code std::atan is CUDA's double atan (at most 2 ulp from the correctly rounded value,
// CUDA Programming Guide, "Mathematical Functions"): float CIoU rounds it to float and almost
// always matches the CPU bits; double CIoU can differ from the CPU in the last bits
// (docs/cuda.md).
inline VRFT_HD float aspect_angle(float ratio) {
  return static_cast<float>(std::atan(static_cast<double>(ratio)));
}
inline VRFT_HD double aspect_angle(double ratio) { return std::atan(ratio); }

// Fills a PreparedBox.  `with_centre` / `with_aspect` skip work the requested kind never reads.
template <typename T>
inline VRFT_HD PreparedBox<T> prepare_box(const T* p, BoxFormat fmt, bool with_centre,
                                          bool with_aspect) {
  PreparedBox<T> b;
  to_xyxy(p, fmt, b.x1, b.y1, b.x2, b.y2);
  const T w = b.x2 - b.x1;
  const T h = b.y2 - b.y1;
  b.area = w * h;
  b.cx = with_centre ? (b.x1 + b.x2) / T(2) : T(0);
  b.cy = with_centre ? (b.y1 + b.y2) / T(2) : T(0);
  b.aspect = T(0);
  b.has_aspect = T(0);
  if (with_aspect) {
    // h == 0 < w gives atan(+inf) = pi/2, the limit torchvision computes as well.
    const bool point = w == T(0) && h == T(0);
    b.aspect = point ? T(0) : aspect_angle(w / h);
    b.has_aspect = point ? T(0) : T(1);
  }
  return b;
}

// ---- pair formulas --------------------------------------------------------------------------
// Arguments are the row box `a` (boxes1) and the column box `b` (boxes2) given as scalars, so
// the same inline code serves the SoA inner loop (b read from column arrays) and the paired loop.

// _box_inter_union: lt = max(b1[:2], b2[:2]); rb = min(b1[2:], b2[2:]);
// wh = (rb - lt).clamp(min=0); inter = wh[0] * wh[1]; union = area1 + area2 - inter.
// box_iou: inter / union, except that union == 0 (which forces inter == 0) gives 0, not NaN.
template <typename T>
inline VRFT_HD T pair_iou(T ax1, T ay1, T ax2, T ay2, T aarea, T bx1, T by1, T bx2, T by2, T barea,
                          T& uni) {
  const T iw = max_of(min_of(ax2, bx2) - max_of(ax1, bx1), T(0));
  const T ih = max_of(min_of(ay2, by2) - max_of(ay1, by1), T(0));
  const T inter = iw * ih;
  uni = (aarea + barea) - inter;
  // Dividing 0 by 1 instead of 0 by 0: the fix-up sits on the denominator so that a defined
  // quotient is computed by exactly the same division as torch's (uni + 0 == uni for uni > 0).
  // Written as an add of the comparison rather than a ternary with a constant arm, which g++
  // refuses to if-convert under the default -ftrapping-math (the loop would stay scalar).
  return inter / (uni + static_cast<T>(uni == T(0)));
}

// Enclosing box extent: whi = (max(b1[2:], b2[2:]) - min(b1[:2], b2[:2])).clamp(min=0).
// The clamp is left out because it never acts: for boxes with x1 <= x2 (all boxes here, after
// to_xyxy's clamp), max(ax2, bx2) >= ax2 >= ax1 >= min(ax1, bx1), and a rounded difference of
// ordered values is >= 0.  Dropping it matters for speed: g++ threads the clamp's select into
// the squares of DIoU, and the resulting branch keeps the loop from vectorising.
template <typename T>
inline VRFT_HD void pair_enclosing(T ax1, T ay1, T ax2, T ay2, T bx1, T by1, T bx2, T by2, T& cw,
                                   T& ch) {
  cw = max_of(ax2, bx2) - min_of(ax1, bx1);
  ch = max_of(ay2, by2) - min_of(ay1, by1);
}

// generalized_box_iou: iou - (areai - union) / areai.  areai == 0 forces union == 0; the
// penalty is then 0 (torchvision: 0/0 = NaN).
template <typename T>
inline VRFT_HD T pair_giou(T iou, T uni, T cw, T ch) {
  const T areai = cw * ch;
  return iou - (areai - uni) / (areai + static_cast<T>(areai == T(0)));
}

// _box_diou_iou: iou - ((dx ** 2) + (dy ** 2)) / ((cw ** 2) + (ch ** 2) + eps), with
// dx = (x1 + x2) / 2 - (x1' + x2') / 2 (torch's `** 2` is a plain x * x).
template <typename T>
inline VRFT_HD T pair_diou(T iou, T cw, T ch, T acx, T acy, T bcx, T bcy) {
  const T diag = (cw * cw + ch * ch) + iou_eps<T>();
  const T dx = acx - bcx;
  const T dy = acy - bcy;
  const T centres = dx * dx + dy * dy;
  return iou - centres / diag;
}

// complete_box_iou: v = (4 / pi^2) * (atan(w1/h1) - atan(w2/h2)) ** 2;
// alpha = v / (1 - iou + v + eps); ciou = diou - alpha * v.
// `has` is has_aspect(a) * has_aspect(b) (exactly 0 or 1): multiplying by 1 is exact, and a
// point box removes the aspect term instead of propagating atan(0/0) = NaN.
template <typename T>
inline VRFT_HD T pair_ciou(T iou, T diou, T a_aspect, T b_aspect, T has) {
  const T d = a_aspect - b_aspect;
  const T v = (ciou_aspect_scale<T>() * (d * d)) * has;
  const T alpha = v / (((T(1) - iou) + v) + iou_eps<T>());
  return diou - alpha * v;
}

// One pair of prepared boxes, any kind (used by the paired loop and tests of consistency).
template <typename T>
inline VRFT_HD T pair_value(const PreparedBox<T>& a, const PreparedBox<T>& b, IouKind kind) {
  T uni;
  const T iou = pair_iou(a.x1, a.y1, a.x2, a.y2, a.area, b.x1, b.y1, b.x2, b.y2, b.area, uni);
  if (kind == IouKind::kIoU) return iou;
  T cw, ch;
  pair_enclosing(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2, cw, ch);
  if (kind == IouKind::kGIoU) return pair_giou(iou, uni, cw, ch);
  const T diou = pair_diou(iou, cw, ch, a.cx, a.cy, b.cx, b.cy);
  if (kind == IouKind::kDIoU) return diou;
  return pair_ciou(iou, diou, a.aspect, b.aspect, a.has_aspect * b.has_aspect);
}

inline VRFT_HD bool kind_needs_centre(IouKind kind) {
  return kind == IouKind::kDIoU || kind == IouKind::kCIoU;
}
inline VRFT_HD bool kind_needs_aspect(IouKind kind) { return kind == IouKind::kCIoU; }

}  // namespace geometry_detail
}  // namespace vrft
