#include "eval/evaluate.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/thread_pool.h"
#include "eval/box_iou.h"
#include "eval/coco_rules.h"

namespace vrft::eval {
namespace {

void check_positions(const int64_t* pos, int64_t n, int64_t limit, const char* what) {
  for (int64_t i = 0; i < n; ++i) {
    if (pos[i] < 0 || pos[i] >= limit) {
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) +
                                  "] = " + std::to_string(pos[i]) + " is outside [0, " +
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

// Columns gathered into group order (category, image, row), so that the per-group loops read
// contiguous memory; built once with independent loads.
struct GroupedDetections {
  std::vector<double> score, area, box;  // box: 4 per row
  std::vector<uint8_t> id_positive, not_exhaustive;
};
struct GroupedGroundTruth {
  std::vector<double> area, box;
  std::vector<uint8_t> ignore, crowd, id_nonzero;
};

// Scratch reused across the groups one thread handles.
struct Scratch {
  std::vector<int64_t> dets;  // grouped detection positions, score-sorted
  std::vector<double> ious;   // D x G, GT in dataset order
  std::vector<int64_t> perm;  // GT positions within the group, not-ignored first (stable)
  std::vector<uint8_t> perm_ignore, perm_crowd, perm_id_nonzero;
  std::vector<uint8_t> gt_matched;  // gtm[t, perm position] > 0
  std::vector<int64_t> match;       // T x D: matched perm position or -1
  std::vector<uint8_t> ignore_key;  // GT ignore flags (dataset order) of the last matching
};

// Reproduces the matching loop of pycocotools evaluateImg for one (image, category, area
// range), all thresholds at once: s.match[t * D + d] = perm position of the matched GT or -1.
// `perm*` describe the GTs after pycocotools' `np.argsort(_ignore, kind='mergesort')`
// (not-ignored first, stable).  The result depends on the area range only through the GT ignore
// flags, so the caller reuses it across area ranges with the same flags.
void match_detections(Scratch& s, int64_t num_dt, int64_t num_gt, const GroupedDetections& dt,
                      const double* iou_thrs, int64_t num_thrs) {
  s.match.resize(static_cast<size_t>(num_thrs * num_dt));
  for (int64_t t = 0; t < num_thrs; ++t) {
    std::fill(s.gt_matched.begin(), s.gt_matched.begin() + num_gt, 0);
    for (int64_t d = 0; d < num_dt; ++d) {
      const double* iou_row = s.ious.data() + d * num_gt;
      // A GT already matched is skipped unless it is a crowd region (COCO only; LVIS passes
      // crowd = 0).  "Matched" is `gtm > 0` on the stored detection id.
      const int64_t m = coco::best_match(
          iou_thrs[t], num_gt, [&s](int64_t p) { return s.gt_matched[p] && !s.perm_crowd[p]; },
          [&s](int64_t p) { return s.perm_ignore[p] != 0; },
          [&s, iou_row](int64_t p) { return iou_row[s.perm[p]]; });
      s.match[t * num_dt + d] = m;
      // gtm stores the detection id; `gtm > 0` tests it, so a non-positive id leaves the GT
      // available (never the case for loadRes / LVISResults ids 1..N).
      if (m > -1) s.gt_matched[m] = dt.id_positive[s.dets[d]];
    }
  }
}

// DetState of every detection at every threshold for area range [lo, hi], from s.match.
void assign_states(const Scratch& s, int64_t num_dt, const GroupedDetections& dt, double lo,
                   double hi, int64_t num_thrs, uint8_t* state, int64_t state_stride) {
  for (int64_t d = 0; d < num_dt; ++d) {
    const int64_t pos = s.dets[d];
    // Unmatched detections outside the area range (and, for LVIS, of a category that is not
    // exhaustively annotated in this image) are ignored rather than false positives.
    const double a = dt.area[pos];
    const bool ignore_if_unmatched = coco::outside_area_range(a, lo, hi) || dt.not_exhaustive[pos];
    for (int64_t t = 0; t < num_thrs; ++t) {
      const int64_t m = s.match[t * num_dt + d];
      bool ignored = ignore_if_unmatched;
      bool matched = false;  // pycocotools `dtm != 0`: the matched GT's id, 0 when unmatched
      if (m > -1) {
        // id-0 quirk: dtm stores the GT *id*, so a match with a GT whose id is 0 reads as
        // "unmatched" downstream (a false positive unless ignored).
        matched = s.perm_id_nonzero[m] != 0;
        ignored = s.perm_ignore[m] != 0 || (!matched && ignore_if_unmatched);
      }
      state[d * state_stride + t] = ignored ? kIgnored : (matched ? kTruePositive : kFalsePositive);
    }
  }
}

// pycocotools computeIoU / evaluateImg order: np.argsort(-score, kind='mergesort'), i.e. a
// stable sort by descending score.  Insertion sort for the typical handful (stable, no
// allocation), std::stable_sort beyond.
void sort_by_score(std::vector<int64_t>& idx, const double* score) {
  const int64_t n = static_cast<int64_t>(idx.size());
  if (n <= 32) {
    for (int64_t i = 1; i < n; ++i) {
      const int64_t x = idx[i];
      const double sx = score[x];
      int64_t j = i;
      for (; j > 0 && score[idx[j - 1]] < sx; --j) idx[j] = idx[j - 1];
      idx[j] = x;
    }
  } else {
    std::stable_sort(idx.begin(), idx.end(),
                     [score](int64_t a, int64_t b) { return score[a] > score[b]; });
  }
}

}  // namespace

std::vector<int64_t> category_group_offsets(const std::vector<int64_t>& group_category, int64_t K) {
  std::vector<int64_t> off(static_cast<size_t>(K + 1), 0);
  for (const int64_t k : group_category) ++off[static_cast<size_t>(k + 1)];
  for (int64_t k = 0; k < K; ++k) off[k + 1] += off[k];
  return off;
}

Evaluation evaluate_images(const GtColumns& gt, const DtColumns& dt, const MatchParams& params,
                           const EvaluateOptions& options) {
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
  auto gt_key = [&](int64_t i) { return gt.category[gt_rows[i]] * I + gt.image[gt_rows[i]]; };
  auto dt_key = [&](int64_t i) { return dt.category[dt_rows[i]] * I + dt.image[dt_rows[i]]; };
  const size_t max_groups = static_cast<size_t>(gt.n + dt.n);
  ev.group_category.reserve(max_groups);
  ev.group_image.reserve(max_groups);
  ev.gt_offsets.reserve(max_groups + 1);
  ev.gt_offsets.push_back(0);
  std::vector<int64_t> raw_dt_offsets{0};
  raw_dt_offsets.reserve(max_groups + 1);
  {
    int64_t ig = 0, id = 0;
    int64_t kg = gt.n ? gt_key(0) : INT64_MAX, kd = dt.n ? dt_key(0) : INT64_MAX;
    while (ig < gt.n || id < dt.n) {
      const int64_t key = std::min(kg, kd);
      while (kg == key) kg = ++ig < gt.n ? gt_key(ig) : INT64_MAX;
      while (kd == key) kd = ++id < dt.n ? dt_key(id) : INT64_MAX;
      ev.group_category.push_back(key / I);
      ev.group_image.push_back(key % I);
      ev.gt_offsets.push_back(ig);
      raw_dt_offsets.push_back(id);
    }
  }
  ev.category_groups = category_group_offsets(ev.group_category, K);
  ev.gt_index = gt_rows;
  const int64_t num_groups = static_cast<int64_t>(ev.group_image.size());

  // ---- gather the columns into group order ------------------------------------------------------
  GroupedDetections gd;
  gd.score.resize(static_cast<size_t>(dt.n));
  gd.area.resize(static_cast<size_t>(dt.n));
  gd.box.resize(static_cast<size_t>(dt.box ? 4 * dt.n : 0));
  gd.id_positive.resize(static_cast<size_t>(dt.n));
  gd.not_exhaustive.resize(static_cast<size_t>(dt.n));
  parallel_for(dt.n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t r = dt_rows[i];
      gd.score[i] = dt.score[r];
      gd.area[i] = dt.area[r];
      if (dt.box) {
        for (int c = 0; c < 4; ++c) gd.box[4 * i + c] = dt.box[4 * r + c];
      }
      gd.id_positive[i] = dt.id_positive ? dt.id_positive[r] : 1;
      gd.not_exhaustive[i] = dt.not_exhaustive ? dt.not_exhaustive[r] : 0;
    }
  });
  GroupedGroundTruth gg;
  gg.area.resize(static_cast<size_t>(gt.n));
  gg.box.resize(static_cast<size_t>(gt.box ? 4 * gt.n : 0));
  gg.ignore.resize(static_cast<size_t>(gt.n));
  gg.crowd.resize(static_cast<size_t>(gt.n));
  gg.id_nonzero.resize(static_cast<size_t>(gt.n));
  for (int64_t i = 0; i < gt.n; ++i) {
    const int64_t r = gt_rows[i];
    gg.area[i] = gt.area[r];
    if (gt.box) {
      for (int c = 0; c < 4; ++c) gg.box[4 * i + c] = gt.box[4 * r + c];
    }
    gg.ignore[i] = gt.ignore[r];
    gg.crowd[i] = gt.crowd[r];
    gg.id_nonzero[i] = gt.id_nonzero[r];
  }

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
  // Where each group's D x G IoU block lies in the concatenation of all blocks (a GroupIou of
  // precomputed blocks reads it; keep_ious fills it).
  ev.iou_offsets.assign(static_cast<size_t>(num_groups + 1), 0);
  for (int64_t g = 0; g < num_groups; ++g) {
    const int64_t D = ev.dt_offsets[g + 1] - ev.dt_offsets[g];
    const int64_t G = ev.gt_offsets[g + 1] - ev.gt_offsets[g];
    ev.iou_offsets[g + 1] = ev.iou_offsets[g] + D * G;
  }
  const bool plan_only = options.plan_only;
  if (!plan_only) {
    ev.dt_state.resize(static_cast<size_t>(num_slots * A * T));
    ev.dt_any_tp.resize(static_cast<size_t>(num_slots));  // every slot written below
  }
  ev.num_positive_gt.assign(static_cast<size_t>(plan_only ? 0 : num_groups * A), 0);
  if (options.keep_ious && !plan_only) ev.ious.resize(static_cast<size_t>(ev.iou_offsets.back()));
  const bool keep_matches = options.keep_matches && !plan_only;
  if (keep_matches) ev.dt_match.assign(static_cast<size_t>(num_slots * A * T), -1);
  const GroupIou* source = options.iou;
  if (!source && (!gt.box || !dt.box)) {
    throw std::invalid_argument("box columns are needed without another IoU source");
  }

  // ---- per group: sort, IoU, match (groups are independent) -----------------------------------
  parallel_for(num_groups, source ? 16 : 256, [&](int64_t begin, int64_t end) {
    Scratch s;
    std::unique_ptr<GroupIou::Worker> worker = source ? source->worker() : nullptr;
    for (int64_t g = begin; g < end; ++g) {
      const int64_t r0 = raw_dt_offsets[g], rn = raw_dt_offsets[g + 1] - r0;
      s.dets.resize(static_cast<size_t>(rn));
      for (int64_t i = 0; i < rn; ++i) s.dets[i] = r0 + i;
      sort_by_score(s.dets, gd.score.data());
      const int64_t slot0 = ev.dt_offsets[g];
      const int64_t D = ev.dt_offsets[g + 1] - slot0;
      s.dets.resize(static_cast<size_t>(D));
      for (int64_t d = 0; d < D; ++d) {
        ev.dt_index[slot0 + d] = dt_rows[s.dets[d]];
        ev.dt_score[slot0 + d] = gd.score[s.dets[d]];
      }
      const int64_t g0 = ev.gt_offsets[g];
      const int64_t G = ev.gt_offsets[g + 1] - g0;
      if (plan_only) continue;

      if (G == 0) {
        // No GT (pycocotools: `ious == []`, no matching): every detection is unmatched, so
        // only the area (and LVIS not-exhaustive) rule decides between ignored and FP.
        for (int64_t d = 0; d < D; ++d) {
          const int64_t pos = s.dets[d];
          const double ar = gd.area[pos];
          for (int64_t a = 0; a < A; ++a) {
            const double lo = params.area_rng[2 * a], hi = params.area_rng[2 * a + 1];
            const bool ig = coco::outside_area_range(ar, lo, hi) || gd.not_exhaustive[pos];
            uint8_t* st = ev.dt_state.data() + ((slot0 + d) * A + a) * T;
            std::fill(st, st + T, ig ? kIgnored : kFalsePositive);
          }
          ev.dt_any_tp[slot0 + d] = 0;
        }
        continue;
      }

      // IoU (D x G) with GTs in dataset order, once per group as computeIoU does.
      s.ious.resize(static_cast<size_t>(D * G));
      if (worker) {
        worker->ious(ev.iou_offsets[g], ev.dt_index.data() + slot0, D, ev.gt_index.data() + g0, G,
                     gg.crowd.data() + g0, s.ious.data());
      } else {
        for (int64_t d = 0; d < D; ++d) {
          const double* db = gd.box.data() + 4 * s.dets[d];
          double* row = s.ious.data() + d * G;
          for (int64_t j = 0; j < G; ++j) {
            row[j] = coco_box_iou_pair(db, gg.box.data() + 4 * (g0 + j), gg.crowd[g0 + j] != 0);
          }
        }
      }
      if (!ev.ious.empty()) {
        std::copy(s.ious.begin(), s.ious.end(), ev.ious.begin() + ev.iou_offsets[g]);
      }

      s.perm.resize(static_cast<size_t>(G));
      s.perm_ignore.resize(static_cast<size_t>(G));
      s.perm_crowd.resize(static_cast<size_t>(G));
      s.perm_id_nonzero.resize(static_cast<size_t>(G));
      s.gt_matched.resize(static_cast<size_t>(G));
      s.ignore_key.assign(static_cast<size_t>(G), 2);  // 2: no matching computed yet
      for (int64_t a = 0; a < A; ++a) {
        const double lo = params.area_rng[2 * a], hi = params.area_rng[2 * a + 1];
        // `_ignore = ignore or area < lo or area > hi` (inclusive bounds).
        bool same = true;
        int64_t npig = 0;
        for (int64_t j = 0; j < G; ++j) {
          const double ar = gg.area[g0 + j];
          const uint8_t ig = (gg.ignore[g0 + j] || coco::outside_area_range(ar, lo, hi)) ? 1 : 0;
          npig += !ig;
          if (s.ignore_key[j] != ig) {
            same = false;
            s.ignore_key[j] = ig;
          }
        }
        ev.num_positive_gt[g * A + a] = npig;
        if (!same) {
          // The stable argsort that puts ignored GTs last (two stable passes), then matching.
          int64_t p = 0;
          for (int pass = 0; pass < 2; ++pass) {
            for (int64_t j = 0; j < G; ++j) {
              if (s.ignore_key[j] != pass) continue;
              const int64_t q = g0 + j;
              s.perm[p] = j;
              s.perm_ignore[p] = s.ignore_key[j];
              s.perm_crowd[p] = gg.crowd[q];
              s.perm_id_nonzero[p] = gg.id_nonzero[q];
              ++p;
            }
          }
          match_detections(s, D, G, gd, params.iou_thrs, T);
        }
        uint8_t* state = ev.dt_state.data() + (slot0 * A + a) * T;
        assign_states(s, D, gd, lo, hi, T, state, A * T);
        if (keep_matches) {
          for (int64_t d = 0; d < D; ++d) {
            int32_t* out = ev.dt_match.data() + ((slot0 + d) * A + a) * T;
            for (int64_t t = 0; t < T; ++t) {
              const int64_t m = s.match[t * D + d];
              out[t] = m > -1 ? static_cast<int32_t>(s.perm[m]) : -1;
            }
          }
        }
      }
      for (int64_t d = 0; d < D; ++d) {
        const uint8_t* st = ev.dt_state.data() + (slot0 + d) * A * T;
        uint8_t any = 0;
        for (int64_t i = 0; i < A * T; ++i) any |= st[i] == kTruePositive;
        ev.dt_any_tp[slot0 + d] = any;
      }
    }
  });
  return ev;
}

}  // namespace vrft::eval
