// COCO's bounding-box IoU, exactly as pycocotools computes it.
//
// Reproduces maskApi.c `bbIou` (pycocotools 2.0.11, unchanged since 2015), which both
// pycocotools' COCOeval.computeIoU and lvis-api's LVISEval.compute_iou call through
// `pycocotools.mask.iou` for iouType "bbox".  Every step is in double, in the same order:
//   w = min(dx + dw, gx + gw) - max(dx, gx);  pair is 0 when w <= 0
//   h = min(dy + dh, gy + gh) - max(dy, gy);  pair is 0 when h <= 0
//   i = w * h;  u = crowd ? dw * dh : (dw * dh + gw * gh) - i;  iou = i / u
// A crowd ground truth divides by the detection's area alone (intersection over detection).
// Boxes are taken as they come (xywh); negative widths are not rejected, they simply go through
// the same formula, as in pycocotools.
#pragma once

#include <cstdint>

namespace vrft::eval {

// out[d * num_gt + g] = bbIou(dt[d], gt[g]) for d < num_dt, g < num_gt.
// dt: num_dt x 4 (xywh), gt: num_gt x 4 (xywh), gt_crowd: num_gt flags (nullptr: none crowd).
// Note the layout: row = detection, as pycocotools returns it (its C buffer is column-major).
void coco_box_iou(const double* dt, int64_t num_dt, const double* gt, int64_t num_gt,
                  const uint8_t* gt_crowd, double* out);

// One pair, the same formula; exposed for the gathered (index-based) evaluation loop.
inline double coco_box_iou_pair(const double* d, const double* g, bool crowd) {
  const double da = d[2] * d[3];
  const double ga = g[2] * g[3];
  // fmin/fmax in maskApi; the inputs are finite (validated), so std::min/max agree with them.
  const double dx2 = d[2] + d[0], gx2 = g[2] + g[0];
  const double w = (dx2 < gx2 ? dx2 : gx2) - (d[0] > g[0] ? d[0] : g[0]);
  if (w <= 0) return 0.0;
  const double dy2 = d[3] + d[1], gy2 = g[3] + g[1];
  const double h = (dy2 < gy2 ? dy2 : gy2) - (d[1] > g[1] ? d[1] : g[1]);
  if (h <= 0) return 0.0;
  const double i = w * h;
  // (da + ga) - i, left to right as in C; no fused multiply-add may join i = w * h into it
  // (x86-64 baseline has no FMA; the core is built without -ffast-math).
  const double u = crowd ? da : da + ga - i;
  return i / u;
}

}  // namespace vrft::eval
