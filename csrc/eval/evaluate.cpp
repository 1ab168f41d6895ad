#include "eval/evaluate.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/thread_pool.h"
#include "eval/box_iou.h"

namespace vrft::eval {
namespace {

// pycocotools: `iou = min([t, 1 - 1e-10])`, the starting bar of the best-match search, so that a
// threshold of 1.0 still admits a perfect (IoU == 1) match.
constexpr double kMaxIouBar = 1.0 - 1e-10;

void check_positions(const int64_t* pos, int64_t n, int64_t limit, const char* what) {
  for (int64_t i = 0; i < n; ++i) {
    if (pos[i] < 0 || pos[i] >= limit) {
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + "] = " +
                                  std::to_string(pos[i]) + " is outside [0, " +
                                  std::to_string(limit) + ")");
    }
  }
}

// Rows ordered by (category, image, row): two stable counting-sort passes (LSD radix), O(n).
// Keeping the row order inside a group reproduces pycocotools' per-(image, category) lists,
// which are built in dataset / result order and later sorted with stable mergesorts.
std::vector<int64_t> order_by_category_then_image(const int64_t* image, const int64_t* category,
                                                  int64_t n, int64_t num_images,
                                                  int64_t num_categories) {
  std::vector<int64_t> by_image(static_cast<size_t>(n)), out(static_cast<size_t>(n));
  std::vector<int64_t> start(static_cast<size_t>(std::max(num_images, num_categories) + 1));
  auto counting_pass = [&](const int64_t* key, int64_t buckets, const int64_t* src, int64_t* dst) {
    std::fill(start.begin(), start.begin() + buckets + 1, 0);
    for (int64_t i = 0; i < n; ++i) ++start[key[src ? src[i] : i] + 1];
    for (int64_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = src ? src[i] : i;
      dst[start[key[row]]++] = row;
    }
  };
  counting_pass(image, num_images, nullptr, by_image.data());
  counting_pass(category, num_categories, by_image.data(), out.data());
  return out;
}

// Scratch reused across the groups one thread handles.
struct Scratch {
  std::vector<int64_t> dets;       // detection rows, score-sorted
  std::vector<double> dt_boxes;    // gathered detection boxes (D x 4)
  std::vector<double> gt_boxes;    // gathered GT boxes (G x 4)
  std::vector<uint8_t> gt_crowd;   // gathered crowd flags (dataset order)
  std::vector<double> ious;        // D x G, GT in dataset order
  std::vector<int64_t> perm;       // GT positions, not-ignored first (stable)
  std::vector<uint8_t> perm_ignore, perm_crowd, perm_id_nonzero;
  std::vector<uint8_t> gt_matched; // gtm[t, perm position] > 0
};

// Reproduces the body of pycocotools evaluateImg for one (image, category, area range), all
// thresholds at once, writing DetState per detection.  `perm*` describe the GTs after
// pycocotools' `np.argsort(_ignore, kind='mergesort')` (not-ignored first, stable).
void match_detections(const Scratch& s, int64_t num_dt, int64_t num_gt, const DtColumns& dt,
                      double lo, double hi, const double* iou_thrs, int64_t num_thrs,
                      std::vector<uint8_t>& gt_matched, uint8_t* state /* D x A x T, this a */,
                      int64_t state_stride) {
  for (int64_t t = 0; t < num_thrs; ++t) {
    std::fill(gt_matched.begin(), gt_matched.begin() + num_gt, 0);
    for (int64_t d = 0; d < num_dt; ++d) {
      const double* iou_row = s.ious.data() + d * num_gt;
      double best = std::min(iou_thrs[t], kMaxIouBar);
      int64_t m = -1;
      for (int64_t p = 0; p < num_gt; ++p) {
        // A GT already matched is skipped unless it is a crowd region (COCO only; LVIS passes
        // crowd = 0).  "Matched" is `gtm > 0` on the stored detection id.
        if (gt_matched[p] && !s.perm_crowd[p]) continue;
        // Once matched to a regular GT, stop at the first ignored GT (ignored ones sort last).
        if (m > -1 && !s.perm_ignore[m] && s.perm_ignore[p]) break;
        const double iou = iou_row[s.perm[p]];
        if (iou < best) continue;  // `>=` wins: a later GT with an equal IoU replaces the earlier
        best = iou;
        m = p;
      }
      const int64_t row = s.dets[d];
      bool ignored = false;
      bool matched = false;  // pycocotools `dtm != 0`: the matched GT's id, 0 when unmatched
      if (m > -1) {
        ignored = s.perm_ignore[m] != 0;
        // id-0 quirk: dtm stores the GT *id*, so a match with a GT whose id is 0 reads as
        // "unmatched" downstream (false positive unless ignored).
        matched = s.perm_id_nonzero[m] != 0;
        // gtm stores the detection id; `gtm > 0` tests it, so a non-positive id leaves the GT
        // available (never the case for loadRes / LVISResults ids 1..N).
        gt_matched[m] = dt.id_positive ? dt.id_positive[row] : 1;
      }
      if (!matched) {
        // Unmatched detections outside the area range (and, for LVIS, of a category that is not
        // exhaustively annotated in this image) are ignored rather than false positives.
        const double a = dt.area[row];
        if (a < lo || a > hi || (dt.not_exhaustive && dt.not_exhaustive[row])) ignored = true;
      }
      state[d * state_stride + t] =
          ignored ? kIgnored : (matched ? kTruePositive : kFalsePositive);
    }
  }
}

}  // namespace

Evaluation evaluate_images(const GtColumns& gt, const DtColumns& dt, const MatchParams& params) {
  const int64_t I = params.num_images, K = params.num_categories;
  const int64_t T = params.num_iou_thrs, A = params.num_area_rngs;
  if (I < 0 || K < 0 || T < 0 || A < 0) throw std::invalid_argument("negative evaluation size");
  check_positions(gt.image, gt.n, I, "gt image position");
  check_positions(gt.category, gt.n, K, "gt category position");
  check_positions(dt.image, dt.n, I, "detection image position");
  check_positions(dt.category, dt.n, K, "detection category position");

  Evaluation ev;
  ev.num_images = I;
  ev.num_categories = K;
  ev.num_iou_thrs = T;
  ev.num_area_rngs = A;

  // ---- group rows by (category, image) --------------------------------------------------------
  const auto gt_rows = order_by_category_then_image(gt.image, gt.category, gt.n, I, K);
  const auto dt_rows = order_by_category_then_image(dt.image, dt.category, dt.n, I, K);
  auto key_of = [I](const int64_t* img, const int64_t* cat, int64_t row) {
    return cat[row] * I + img[row];
  };
  ev.category_groups.assign(static_cast<size_t>(K + 1), 0);
  ev.gt_offsets.push_back(0);
  std::vector<int64_t> raw_dt_offsets{0};
  {
    int64_t ig = 0, id = 0;
    while (ig < gt.n || id < dt.n) {
      const int64_t kg = ig < gt.n ? key_of(gt.image, gt.category, gt_rows[ig]) : INT64_MAX;
      const int64_t kd = id < dt.n ? key_of(dt.image, dt.category, dt_rows[id]) : INT64_MAX;
      const int64_t key = std::min(kg, kd);
      while (ig < gt.n && key_of(gt.image, gt.category, gt_rows[ig]) == key) ++ig;
      while (id < dt.n && key_of(dt.image, dt.category, dt_rows[id]) == key) ++id;
      ev.group_category.push_back(key / I);
      ev.group_image.push_back(key % I);
      ++ev.category_groups[key / I + 1];
      ev.gt_offsets.push_back(ig);
      raw_dt_offsets.push_back(id);
    }
  }
  for (int64_t k = 0; k < K; ++k) ev.category_groups[k + 1] += ev.category_groups[k];
  ev.gt_index = gt_rows;
  const int64_t num_groups = static_cast<int64_t>(ev.group_image.size());

  // pycocotools computeIoU: `dt = dt[0:maxDets[-1]]` after the score sort, per (image, category).
  ev.dt_offsets.assign(static_cast<size_t>(num_groups + 1), 0);
  for (int64_t g = 0; g < num_groups; ++g) {
    int64_t count = raw_dt_offsets[g + 1] - raw_dt_offsets[g];
    if (params.max_dets_per_group >= 0) count = std::min(count, params.max_dets_per_group);
    ev.dt_offsets[g + 1] = ev.dt_offsets[g] + count;
  }
  const int64_t num_slots = ev.dt_offsets[num_groups];
  ev.dt_index.resize(static_cast<size_t>(num_slots));
  ev.dt_score.resize(static_cast<size_t>(num_slots));
  ev.dt_state.resize(static_cast<size_t>(num_slots * A * T));
  ev.num_positive_gt.assign(static_cast<size_t>(num_groups * A), 0);

  // ---- per group: sort, IoU, match (groups are independent) -----------------------------------
  parallel_for(num_groups, 64, [&](int64_t begin, int64_t end) {
    Scratch s;
    for (int64_t g = begin; g < end; ++g) {
      // Score order: np.argsort(-score, kind='mergesort') == stable sort by descending score.
      s.dets.assign(dt_rows.begin() + raw_dt_offsets[g], dt_rows.begin() + raw_dt_offsets[g + 1]);
      std::stable_sort(s.dets.begin(), s.dets.end(),
                       [&](int64_t a, int64_t b) { return dt.score[a] > dt.score[b]; });
      const int64_t D = ev.dt_offsets[g + 1] - ev.dt_offsets[g];
      s.dets.resize(static_cast<size_t>(D));
      for (int64_t d = 0; d < D; ++d) {
        ev.dt_index[ev.dt_offsets[g] + d] = s.dets[d];
        ev.dt_score[ev.dt_offsets[g] + d] = dt.score[s.dets[d]];
      }
      const int64_t g0 = ev.gt_offsets[g];
      const int64_t G = ev.gt_offsets[g + 1] - g0;
      const int64_t* grows = ev.gt_index.data() + g0;

      // IoU (D x G) with GTs in dataset order, once per group as computeIoU does.
      s.ious.resize(static_cast<size_t>(D * G));
      s.dt_boxes.resize(static_cast<size_t>(D * 4));
      s.gt_boxes.resize(static_cast<size_t>(G * 4));
      s.gt_crowd.resize(static_cast<size_t>(G));
      for (int64_t d = 0; d < D; ++d) std::copy_n(dt.box + 4 * s.dets[d], 4, &s.dt_boxes[4 * d]);
      for (int64_t j = 0; j < G; ++j) {
        std::copy_n(gt.box + 4 * grows[j], 4, &s.gt_boxes[4 * j]);
        s.gt_crowd[j] = gt.crowd[grows[j]];
      }
      coco_box_iou(s.dt_boxes.data(), D, s.gt_boxes.data(), G, s.gt_crowd.data(), s.ious.data());

      s.perm.resize(static_cast<size_t>(G));
      s.perm_ignore.resize(static_cast<size_t>(G));
      s.perm_crowd.resize(static_cast<size_t>(G));
      s.perm_id_nonzero.resize(static_cast<size_t>(G));
      s.gt_matched.resize(static_cast<size_t>(G));
      for (int64_t a = 0; a < A; ++a) {
        const double lo = params.area_rng[2 * a], hi = params.area_rng[2 * a + 1];
        // `_ignore = ignore or area < lo or area > hi` (inclusive bounds), then the stable
        // argsort that puts ignored GTs last.
        int64_t p = 0, npig = 0;
        for (int pass = 0; pass < 2; ++pass) {
          for (int64_t j = 0; j < G; ++j) {
            const int64_t row = grows[j];
            const double ar = gt.area[row];
            const bool ig = gt.ignore[row] || ar < lo || ar > hi;
            if (ig != (pass == 1)) continue;
            s.perm[p] = j;
            s.perm_ignore[p] = ig ? 1 : 0;
            s.perm_crowd[p] = gt.crowd[row];
            s.perm_id_nonzero[p] = gt.id_nonzero[row];
            ++p;
            if (!ig) ++npig;
          }
        }
        ev.num_positive_gt[g * A + a] = npig;
        uint8_t* state = ev.dt_state.data() + (ev.dt_offsets[g] * A + a) * T;
        match_detections(s, D, G, dt, lo, hi, params.iou_thrs, T, s.gt_matched, state, A * T);
      }
    }
  });
  return ev;
}

}  // namespace vrft::eval
