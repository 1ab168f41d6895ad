// pycocotools' exactness rules, written once for both evaluators of this folder: the COCO / LVIS
// engine (evaluate.cpp, accumulate.cpp) and the per-completion AP (completion_ap.cpp).  Each rule
// quotes the line of pycocotools 2.0.11 `cocoeval.py` (COCOeval) it reproduces; lvis-api 0.5.3
// `eval.py` (LVISEval) has the same lines.  The results are compared with pycocotools by
// np.array_equal, so every floating-point expression keeps the reference's operation order (no
// -ffast-math, no fused multiply-add: see CMakeLists.txt).
//
// Not here: the default thresholds (params.iouThrs = np.linspace(.5, .95, 10), params.recThrs =
// np.linspace(.0, 1.00, 101)) and the area ranges of the engine.  C++ never builds them: the Python
// layer passes them in as arrays, made by numpy's own linspace (whose rounding they must match).
#pragma once

#include <algorithm>
#include <cstdint>

namespace vrft::eval::coco {

// evaluateImg: `iou = min([t, 1 - 1e-10])`, the starting bar of the best-match search, so that a
// threshold of 1.0 still admits a perfect (IoU == 1) match.
constexpr double kMaxIouBar = 1.0 - 1e-10;

// accumulate: `np.spacing(1)` = 2**-52, the eps of the precision denominator.
constexpr double kPrecisionEps = 2.220446049250313e-16;

// Params.setDetParams: areaRng "all" = [0 ** 2, 1e5 ** 2] (the per-completion AP's only range).
constexpr double kAreaAllLo = 0.0;
constexpr double kAreaAllHi = 1e10;

// evaluateImg: a GT is ignored when `g['ignore'] or (g['area'] < aRng[0] or g['area'] >
// aRng[1])`, an unmatched detection when `(d['area'] < aRng[0]) | (d['area'] > aRng[1])`: both
// bounds are inclusive.
inline bool outside_area_range(double area, double lo, double hi) { return area < lo || area > hi; }

// evaluateImg's match of one detection at IoU threshold t (detections come in score order, GTs
// sorted with the ignored ones last):
//     iou = min([t, 1 - 1e-10]); m = -1
//     for gind, g in enumerate(gt):
//         if gtm[tind, gind] > 0 and not iscrowd[gind]: continue       # taken(gind)
//         if m > -1 and gtIg[m] == 0 and gtIg[gind] == 1: break        # ignored(...)
//         if ious[dind, gind] < iou: continue                          # iou_of(gind)
//         iou = ious[dind, gind]; m = gind
// Returns m, the position of the GT the detection takes, or -1.  `<` skips and `>=` replaces, so
// among equal IoUs the last GT wins.
template <typename Taken, typename Ignored, typename IouOf>
inline int64_t best_match(double t, int64_t num_gt, const Taken& taken, const Ignored& ignored,
                          const IouOf& iou_of) {
  double best = std::min(t, kMaxIouBar);
  int64_t m = -1;
  for (int64_t g = 0; g < num_gt; ++g) {
    if (taken(g)) continue;
    if (m > -1 && !ignored(m) && ignored(g)) break;
    const double iou = iou_of(g);
    if (iou < best) continue;
    best = iou;
    m = g;
  }
  return m;
}

// accumulate: `pr = tp / (fp + tp + np.spacing(1))` on the cumulative counts (exact integers in
// double, as after its `np.cumsum(...).astype(dtype=float)`): (fp + tp) + eps, then the division.
inline double precision(double tp, double fp) { return tp / ((fp + tp) + kPrecisionEps); }

// accumulate: `for i in range(nd - 1, 0, -1): if pr[i] > pr[i - 1]: pr[i - 1] = pr[i]`, the
// precision made non-increasing by a running maximum from the right: writes pr[0..n) from the
// values precision_at(i) (e.g. coco::precision of entry i), in one pass from the right with the
// maximum in a register.  `run > p ? run : p` is that line's choice exactly (equal values and NaN
// included): the new pr[i - 1] is pr[i] only when pr[i] > pr[i - 1].
template <typename PrecisionAt>
inline void precision_envelope(int64_t n, const PrecisionAt& precision_at, double* pr) {
  if (n <= 0) return;
  double run = precision_at(n - 1);
  pr[n - 1] = run;
  for (int64_t i = n - 2; i >= 0; --i) {
    const double p = precision_at(i);
    run = run > p ? run : p;
    pr[i] = run;
  }
}

// True when the recall thresholds never decrease (always so for params.recThrs): searchsorted
// may then resume each threshold's search where the previous one stopped.
inline bool ascending(const double* thrs, int64_t n) {
  bool sorted = true;
  for (int64_t r = 1; r < n; ++r) sorted &= thrs[r - 1] <= thrs[r];
  return sorted;
}

// accumulate: `inds = np.searchsorted(rc, p.recThrs, side='left')` for one threshold: the first
// i in [from, n) with rc(i) >= thr, or n, for a non-decreasing recall rc(0..n).  `from` is 0, or
// the previous threshold's answer when the thresholds are ascending.  pycocotools then reads
// `q[ri] = pr[pi]` inside a try: the first threshold whose answer is n raises IndexError, which
// leaves that cell and every later one at 0 (callers stop there).
template <typename RecallAt>
inline int64_t searchsorted_left(const RecallAt& rc, int64_t n, double thr, int64_t from) {
  int64_t i = from;
  while (i < n && rc(i) < thr) ++i;
  return i;
}

}  // namespace vrft::eval::coco
