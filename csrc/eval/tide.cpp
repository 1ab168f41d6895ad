#include "eval/tide.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "eval/box_iou.h"

namespace vrft::eval {
namespace {

struct Point {
  double score;
  bool tp;
};

// tidecv's ClassedAPDataObject: classes in the order they first appear (dict insertion order
// decides the order of the mAP's sum), each with its points in push order.
struct APData {
  std::vector<int64_t> classes;
  std::unordered_map<int64_t, size_t> index;
  std::vector<std::vector<Point>> points;
  std::vector<int64_t> num_gt;

  size_t at(int64_t k) {
    auto it = index.find(k);
    if (it != index.end()) return it->second;
    index.emplace(k, classes.size());
    classes.push_back(k);
    points.emplace_back();
    num_gt.push_back(0);
    return classes.size() - 1;
  }
};

// APDataObject.get_ap: percent; 0 without GT.
double class_ap(std::vector<Point> pts, int64_t num_gt) {
  if (num_gt == 0) return 0.0;
  std::stable_sort(pts.begin(), pts.end(),
                   [](const Point& a, const Point& b) { return -a.score < -b.score; });
  const size_t n = pts.size();
  std::vector<double> prec(n), rec(n);
  int64_t nt = 0, nf = 0;
  for (size_t i = 0; i < n; ++i) {
    pts[i].tp ? ++nt : ++nf;
    prec[i] = static_cast<double>(nt) / static_cast<double>(nt + nf);
    rec[i] = static_cast<double>(nt) / static_cast<double>(num_gt);
  }
  for (size_t i = n; i-- > 1;) {
    if (prec[i] > prec[i - 1]) prec[i - 1] = prec[i];
  }
  double sum = 0.0;  // Python's sum(y_range), left to right
  for (int x = 0; x <= 100; ++x) {
    const double q = static_cast<double>(x) / 100.0;
    const size_t idx =
        static_cast<size_t>(std::lower_bound(rec.begin(), rec.end(), q) - rec.begin());
    sum += idx < n ? prec[idx] : 0.0;
  }
  return sum / 101.0 * 100.0;
}

// ClassedAPDataObject.get_mAP over the non-empty classes (NaN when none: tidecv divides by 0).
double mean_ap(const APData& d, int64_t* num_classes = nullptr) {
  double sum = 0.0;
  int64_t n = 0;
  for (size_t i = 0; i < d.classes.size(); ++i) {
    if (d.points[i].empty() && d.num_gt[i] == 0) continue;
    sum += class_ap(d.points[i], d.num_gt[i]);
    ++n;
  }
  if (num_classes) *num_classes = n;
  return n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

struct Error {
  int type;
  int64_t pred = -1;       // global prediction index (every type but Miss)
  int64_t gt = -1;         // the GT a Loc / Cls error points at, or the missed GT
  bool has_match = false;  // Loc / Cls: the GT was unmatched when the error was made (BestGTMatch)
};

// One TIDERun: AP data, and with errors the error list and the per-GT / per-prediction state
// the fixes read.
struct Run {
  APData ap;
  std::vector<Error> errors;
  std::vector<int8_t> used;        // per prediction: 0 False, 1 True, -1 None (ignored)
  std::vector<int64_t> best_id;    // per GT: the best-scored Loc / Cls error's prediction, -1
  std::vector<double> best_score;  // per GT, starting at -1 as BestGTMatch does
  std::unordered_map<int64_t, int64_t> false_negatives;  // per class
};

inline double iou_xywh(const double* d, const double* g, bool crowd) {
  return coco_box_iou_pair(d, g, crowd);
}

Run run(const TideInput& in, double thr, bool run_errors) {
  Run r;
  const int64_t n_gt = in.gt_offsets[in.num_images], n_dt = in.dt_offsets[in.num_images];
  r.used.assign(n_dt, 0);
  r.best_id.assign(n_gt, -1);
  r.best_score.assign(n_gt, -1.0);
  std::vector<uint8_t> gt_used(n_gt, 0), usable(n_gt, 0);
  std::vector<int64_t> preds;
  std::vector<double> gt_iou, buffer;
  for (int64_t img = 0; img < in.num_images; ++img) {
    const int64_t g0 = in.gt_offsets[img], g1 = in.gt_offsets[img + 1], G = g1 - g0;
    for (int64_t j = g0; j < g1; ++j) r.ap.num_gt[r.ap.at(in.gt_class[j])] += 1;
    preds.clear();
    for (int64_t p = in.dt_offsets[img]; p < in.dt_offsets[img + 1]; ++p) {
      if (!run_errors) {  // classes ignored in the whole image and absent from its GT are dropped
        bool drop = false;
        for (int64_t w = in.wi_offsets[img]; w < in.wi_offsets[img + 1] && !drop; ++w) {
          if (in.wi_class[w] != in.dt_class[p]) continue;
          drop = true;
          for (int64_t j = g0; j < g1; ++j) drop &= in.gt_class[j] != in.dt_class[p];
        }
        if (drop) continue;
      }
      preds.push_back(p);
    }
    if (preds.empty()) {
      for (int64_t j = g0; j < g1; ++j) {
        if (run_errors) {
          r.errors.push_back({kMiss, -1, j, false});
          ++r.false_negatives[in.gt_class[j]];
        }
      }
      continue;
    }
    std::stable_sort(preds.begin(), preds.end(),
                     [&in](int64_t a, int64_t b) { return -in.dt_score[a] < -in.dt_score[b]; });
    if (static_cast<int64_t>(preds.size()) > in.max_dets) preds.resize(in.max_dets);
    const int64_t P = static_cast<int64_t>(preds.size());
    gt_iou.assign(static_cast<size_t>(P * G), 0.0);
    for (int64_t i = 0; i < P; ++i) {
      for (int64_t j = 0; j < G; ++j) {
        gt_iou[i * G + j] = iou_xywh(in.dt_box + 4 * preds[i], in.gt_box + 4 * (g0 + j), false);
      }
    }
    auto same = [&](int64_t i, int64_t j) { return in.dt_class[preds[i]] == in.gt_class[g0 + j]; };
    if (G > 0) {  // greedy matching in score order on the same-class IoU
      buffer.resize(gt_iou.size());
      for (int64_t i = 0; i < P; ++i) {
        for (int64_t j = 0; j < G; ++j) buffer[i * G + j] = same(i, j) ? gt_iou[i * G + j] : 0.0;
      }
      for (int64_t i = 0; i < P; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < G; ++j) {
          if (buffer[i * G + j] > buffer[i * G + best]) best = j;
        }
        if (buffer[i * G + best] >= thr) {
          r.used[preds[i]] = 1;
          gt_used[g0 + best] = 1;
          for (int64_t q = 0; q < P; ++q) buffer[q * G + best] = 0.0;
        }
      }
    }
    // Ignore regions: an unmatched prediction of the region's class inside it is ignored.
    for (int64_t i = 0; i < P; ++i) {
      const int64_t p = preds[i];
      if (r.used[p] == 1) continue;
      for (int64_t w = in.ig_offsets[img]; w < in.ig_offsets[img + 1] && r.used[p] != -1; ++w) {
        if (in.ig_class[w] != in.dt_class[p] && in.ig_class[w] != -1) continue;
        if (iou_xywh(in.dt_box + 4 * p, in.ig_box + 4 * w, true) > thr) r.used[p] = -1;
      }
      for (int64_t w = in.wi_offsets[img]; w < in.wi_offsets[img + 1] && r.used[p] != -1; ++w) {
        if ((in.wi_class[w] == in.dt_class[p] || in.wi_class[w] == -1) && 1.0 > thr) r.used[p] = -1;
      }
    }
    for (int64_t i = 0; i < P; ++i) {
      const int64_t p = preds[i];
      if (r.used[p] != -1)
        r.ap.points[r.ap.at(in.dt_class[p])].push_back({in.dt_score[p], r.used[p] == 1});
      if (!run_errors || r.used[p] == 1) continue;
      if (G == 0) {
        r.errors.push_back({kBkg, p});
        continue;
      }
      // argmax (the first maximum) of a row of IoUs masked by `keep`.
      auto best_of = [&](auto keep) {
        int64_t b = 0;
        double v = keep(0) ? gt_iou[i * G] : 0.0;
        for (int64_t j = 1; j < G; ++j) {
          const double x = keep(j) ? gt_iou[i * G + j] : 0.0;
          if (x > v) {
            v = x;
            b = j;
          }
        }
        return std::make_pair(b, v);
      };
      const auto [li, lv] = best_of([&](int64_t j) { return same(i, j); });
      const auto [ci, cv] = best_of([&](int64_t j) { return !same(i, j); });
      const auto [di, dv] = best_of([&](int64_t j) { return same(i, j) && gt_used[g0 + j]; });
      const auto [ai, av] = best_of([](int64_t) { return true; });
      (void)di;
      (void)ai;
      int type;
      int64_t target = -1;
      if (in.bg_thresh <= lv && lv <= thr) {
        type = kLoc;
        target = g0 + li;
      } else if (cv >= thr) {
        type = kCls;
        target = g0 + ci;
      } else if (dv >= thr) {
        type = kDupe;
      } else if (av <= in.bg_thresh) {
        type = kBkg;
      } else {
        type = kBoth;
      }
      Error e{type, p, target, false};
      if (target >= 0 && !gt_used[target]) {  // BestGTMatch
        e.has_match = true;
        usable[target] = 1;
        if (r.best_score[target] < in.dt_score[p]) {
          r.best_score[target] = in.dt_score[p];
          r.best_id[target] = p;
        }
      }
      r.errors.push_back(e);
    }
    for (int64_t j = g0; j < g1; ++j) {
      if (gt_used[j] || !run_errors) continue;
      ++r.false_negatives[in.gt_class[j]];
      if (!usable[j]) r.errors.push_back({kMiss, -1, j, false});
    }
  }
  return r;
}

// fix_errors: the data rebuilt in tidecv's order with the errors of `fix_type` fixed (-1: none);
// `fp_transform`: every TP scored 1 and every FP 0; `fn_fix`: the unmatched GTs removed.
double fixed_map(const TideInput& in, const Run& r, int fix_type, bool fp_transform, bool fn_fix) {
  APData d;
  std::unordered_map<int64_t, int64_t> gt_pos;
  for (size_t i = 0; i < r.ap.classes.size(); ++i) gt_pos[r.ap.classes[i]] = r.ap.num_gt[i];
  auto push = [&](int64_t cls, double score, bool tp) {
    if (fp_transform) score = tp ? 1.0 : 0.0;
    d.points[d.at(cls)].push_back({score, tp});
  };
  for (const Error& e : r.errors) {
    if (e.type == fix_type) {
      if (e.type == kMiss) {
        gt_pos[in.gt_class[e.gt]] -= 1;
      } else if ((e.type == kLoc || e.type == kCls) && e.has_match && r.best_id[e.gt] == e.pred) {
        push(e.type == kCls ? in.gt_class[e.gt] : in.dt_class[e.pred], in.dt_score[e.pred], true);
      }
      continue;
    }
    if (e.pred >= 0 && r.used[e.pred] != -1) push(in.dt_class[e.pred], in.dt_score[e.pred], false);
  }
  for (size_t i = 0; i < r.ap.classes.size(); ++i) {
    for (const Point& p : r.ap.points[i]) {
      if (p.tp) push(r.ap.classes[i], p.score, true);
    }
  }
  for (const int64_t k : r.ap.classes) {
    int64_t v = gt_pos[k];
    if (fn_fix) {
      auto it = r.false_negatives.find(k);
      if (it != r.false_negatives.end()) v -= it->second;
    }
    d.num_gt[d.at(k)] += v;
  }
  return mean_ap(d);
}

void check_offsets(const int64_t* off, int64_t n, const char* what) {
  if (off == nullptr || off[0] != 0)
    throw std::invalid_argument(std::string(what) + " offsets must start at 0");
  for (int64_t i = 0; i < n; ++i) {
    if (off[i + 1] < off[i])
      throw std::invalid_argument(std::string(what) + " offsets must be non-decreasing");
  }
}

}  // namespace

TideResult tide(const TideInput& in) {
  if (in.num_images < 0 || in.max_dets < 0) throw std::invalid_argument("tide: negative sizes");
  check_offsets(in.gt_offsets, in.num_images, "gt");
  check_offsets(in.ig_offsets, in.num_images, "ignore region");
  check_offsets(in.wi_offsets, in.num_images, "whole-image ignore");
  check_offsets(in.dt_offsets, in.num_images, "prediction");
  TideResult out;
  const Run r = run(in, in.pos_thresh, true);
  out.ap = mean_ap(r.ap, &out.num_classes);
  // evaluate_range: the run at pos_thresh is the error run; the others drop whole-image ignored
  // classes first (use_for_errors=False), so their AP is computed on their own.
  for (int64_t t = 0; t < in.num_thresholds; ++t) {
    const double thr = in.thresholds[t];
    out.ap_per_threshold.push_back(thr == in.pos_thresh ? out.ap : mean_ap(run(in, thr, false).ap));
  }
  for (int type = 0; type < kNumTideErrors; ++type) {
    out.main_dap[type] = std::max(fixed_map(in, r, type, false, false) - out.ap, 0.0);
  }
  for (const Error& e : r.errors) ++out.counts[e.type];
  out.false_pos = fixed_map(in, r, -1, true, false) - out.ap;
  out.false_neg = fixed_map(in, r, -1, false, true) - out.ap;
  return out;
}

}  // namespace vrft::eval
