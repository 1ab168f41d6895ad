#include "eval/completion_ap.h"

#include <algorithm>
#include <vector>

#include "common/numpy_sum.h"
#include "common/thread_pool.h"
#include "eval/box_iou.h"
#include "eval/coco_rules.h"

namespace vrft::eval {
namespace {

// Every box of a completion is judged against areaRng "all" only.
inline bool outside_area_range(double area) {
  return coco::outside_area_range(area, coco::kAreaAllLo, coco::kAreaAllHi);
}

// Scratch buffers of one worker, reused across completions (no allocation per completion once
// they have grown).
struct Scratch {
  std::vector<int64_t> cats, gt_idx, dt_idx;
  std::vector<double> gt_xywh, dt_xywh, ious, cells, tp, fp, pr;
  std::vector<uint8_t> gt_ignore, gt_matched, dt_matched, dt_ignored, dt_out_of_range;
};

void xyxy_to_xywh(const double* box, double* out) {
  out[0] = box[0];
  out[1] = box[1];
  out[2] = box[2] - box[0];
  out[3] = box[3] - box[1];
}

// COCOeval.evaluateImg for one (image, category) at one threshold, then the accumulate() of a
// single image: appends the R precision values of this threshold to `cells` ... by writing them
// at cells[(t * R + r) * K + k].
void evaluate_category(const CompletionApInput& in, bool rec_thrs_ascending, int64_t k,
                       int64_t num_valid_cats, Scratch& s) {
  const int64_t ng = static_cast<int64_t>(s.gt_idx.size());
  const int64_t nd = static_cast<int64_t>(s.dt_idx.size());
  const int64_t R = in.num_rec_thrs;
  for (int64_t t = 0; t < in.num_iou_thrs; ++t) {
    std::fill(s.gt_matched.begin(), s.gt_matched.begin() + ng, 0);
    for (int64_t d = 0; d < nd; ++d) {
      const double* iou_row = s.ious.data() + d * ng;
      // Non-crowd GTs (sorted with the ignored ones last) take one detection each.
      const int64_t m = coco::best_match(
          in.iou_thrs[t], ng, [&s](int64_t g) { return s.gt_matched[g] != 0; },
          [&s](int64_t g) { return s.gt_ignore[g] != 0; },
          [iou_row](int64_t g) { return iou_row[g]; });
      s.dt_matched[d] = m > -1;
      s.dt_ignored[d] = m > -1 ? s.gt_ignore[m] : s.dt_out_of_range[d];
      if (m > -1) s.gt_matched[m] = 1;
    }
    // accumulate(): cumulative TP / FP over non-ignored detections, in score order.
    int64_t npig = 0;
    for (int64_t g = 0; g < ng; ++g) npig += !s.gt_ignore[g];
    double tp_run = 0, fp_run = 0;
    for (int64_t d = 0; d < nd; ++d) {
      if (!s.dt_ignored[d]) {
        if (s.dt_matched[d]) {
          tp_run += 1;
        } else {
          fp_run += 1;
        }
      }
      s.tp[d] = tp_run;
      s.fp[d] = fp_run;
    }
    const double n_pos = static_cast<double>(npig);
    const double* tp = s.tp.data();
    const double* fp = s.fp.data();
    coco::precision_envelope(
        nd, [tp, fp](int64_t d) { return coco::precision(tp[d], fp[d]); }, s.pr.data());
    // Sampled at the recall thresholds, rc = tp / npig; the cells from the first threshold past
    // the last recall on stay 0 (the IndexError pycocotools swallows).
    int64_t i = 0;
    for (int64_t r = 0; r < R; ++r) {
      i = coco::searchsorted_left([tp, n_pos](int64_t d) { return tp[d] / n_pos; }, nd,
                                  in.rec_thrs[r], rec_thrs_ascending ? i : 0);
      if (i >= nd) break;
      s.cells[(t * R + r) * num_valid_cats + k] = s.pr[i];
    }
  }
}

double completion_value(const CompletionApInput& in, bool rec_thrs_ascending, int64_t b,
                        Scratch& s) {
  const int64_t p0 = in.pred_offsets[b], p1 = in.pred_offsets[b + 1];
  const int64_t g0 = in.gt_offsets[b], g1 = in.gt_offsets[b + 1];
  auto pcat = [&](int64_t i) { return in.pred_category ? in.pred_category[i] : 0; };
  auto gcat = [&](int64_t i) { return in.gt_category ? in.gt_category[i] : 0; };

  // Categories with at least one non-ignored GT, ascending (COCO.getCatIds order).
  s.cats.clear();
  for (int64_t i = g0; i < g1; ++i) {
    double xywh[4];
    xyxy_to_xywh(in.gt + 4 * i, xywh);
    if (!outside_area_range(xywh[2] * xywh[3])) s.cats.push_back(gcat(i));
  }
  std::sort(s.cats.begin(), s.cats.end());
  s.cats.erase(std::unique(s.cats.begin(), s.cats.end()), s.cats.end());
  const int64_t K = static_cast<int64_t>(s.cats.size());
  if (K == 0) return -1.0;
  s.cells.assign(static_cast<size_t>(in.num_iou_thrs * in.num_rec_thrs * K), 0.0);

  for (int64_t k = 0; k < K; ++k) {
    const int64_t cat = s.cats[k];
    // GT of the category, non-ignored first (np.argsort(_ignore, kind="mergesort")).
    s.gt_idx.clear();
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t i = g0; i < g1; ++i) {
        if (gcat(i) != cat) continue;
        const double* box = in.gt + 4 * i;
        const bool ignored = outside_area_range((box[2] - box[0]) * (box[3] - box[1]));
        if (ignored == (pass == 1)) s.gt_idx.push_back(i);
      }
    }
    // Detections of the category by descending score, stable; the first max_dets kept.
    s.dt_idx.clear();
    for (int64_t i = p0; i < p1; ++i) {
      if (pcat(i) == cat) s.dt_idx.push_back(i);
    }
    std::stable_sort(s.dt_idx.begin(), s.dt_idx.end(),
                     [&](int64_t a, int64_t c) { return in.pred_score[a] > in.pred_score[c]; });
    if (static_cast<int64_t>(s.dt_idx.size()) > in.max_dets) s.dt_idx.resize(in.max_dets);

    const int64_t ng = static_cast<int64_t>(s.gt_idx.size());
    const int64_t nd = static_cast<int64_t>(s.dt_idx.size());
    s.gt_xywh.resize(4 * ng);
    s.gt_ignore.resize(ng);
    s.gt_matched.resize(ng);
    for (int64_t g = 0; g < ng; ++g) {
      xyxy_to_xywh(in.gt + 4 * s.gt_idx[g], &s.gt_xywh[4 * g]);
      s.gt_ignore[g] = outside_area_range(s.gt_xywh[4 * g + 2] * s.gt_xywh[4 * g + 3]);
    }
    s.dt_xywh.resize(4 * nd);
    s.dt_matched.resize(nd);
    s.dt_ignored.resize(nd);
    s.dt_out_of_range.resize(nd);
    s.tp.resize(nd);
    s.fp.resize(nd);
    s.pr.resize(nd);
    for (int64_t d = 0; d < nd; ++d) {
      xyxy_to_xywh(in.pred + 4 * s.dt_idx[d], &s.dt_xywh[4 * d]);
      s.dt_out_of_range[d] = outside_area_range(s.dt_xywh[4 * d + 2] * s.dt_xywh[4 * d + 3]);
    }
    s.ious.resize(nd * ng);
    for (int64_t d = 0; d < nd; ++d) {
      for (int64_t g = 0; g < ng; ++g) {
        s.ious[d * ng + g] = eval::coco_box_iou_pair(&s.dt_xywh[4 * d], &s.gt_xywh[4 * g], false);
      }
    }
    evaluate_category(in, rec_thrs_ascending, k, K, s);
  }
  // Every cell is valid here (each category has a non-ignored GT), so summarize's
  // mean(s[s > -1]) is the mean over all cells in (t, r, k) order.
  const int64_t n = static_cast<int64_t>(s.cells.size());
  return numpy_pairwise_sum(s.cells.data(), n) / static_cast<double>(n);
}

}  // namespace

void completion_ap(const CompletionApInput& in, double* out_ap) {
  const bool rec_thrs_ascending = coco::ascending(in.rec_thrs, in.num_rec_thrs);
  parallel_for(in.num_completions, 64, [&](int64_t begin, int64_t end) {
    Scratch scratch;
    for (int64_t b = begin; b < end; ++b) {
      out_ap[b] = completion_value(in, rec_thrs_ascending, b, scratch);
    }
  });
}

}  // namespace vrft::eval
