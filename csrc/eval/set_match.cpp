#include "eval/set_match.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "common/thread_pool.h"
#include "eval/box_iou.h"
#include "eval/coco_rules.h"

namespace vrft::eval {
namespace {

struct Scratch {
  std::vector<int64_t> dets, gts, adj_off, adj, gt_match, det_order;
  std::vector<uint8_t> seen, ignorable;
};

// Kuhn's augmenting path from detection d (iterative DFS over the adjacency lists).
bool augment(Scratch& s, int64_t d, std::vector<int64_t>& det_match) {
  // Each stack frame: (detection, next edge to try).
  std::vector<std::pair<int64_t, int64_t>> stack{{d, s.adj_off[d]}};
  std::vector<int64_t> path;  // GTs taken along the current path
  while (!stack.empty()) {
    auto& [u, e] = stack.back();
    if (e == s.adj_off[u + 1]) {
      stack.pop_back();
      if (!path.empty()) path.pop_back();
      continue;
    }
    const int64_t g = s.adj[e++];
    if (s.seen[g]) continue;
    s.seen[g] = 1;
    path.push_back(g);
    if (s.gt_match[g] < 0) {  // free GT: flip the path
      for (size_t i = path.size(); i-- > 0;) {
        const int64_t det = stack[i].first;
        s.gt_match[path[i]] = det;
        det_match[det] = path[i];
      }
      return true;
    }
    stack.emplace_back(s.gt_match[g], s.adj_off[s.gt_match[g]]);
  }
  return false;
}

}  // namespace

SetCounts max_matching_counts(const GtColumns& gt, const DtColumns& dt, int64_t I, int64_t K,
                              double iou_thr, double area_lo, double area_hi) {
  if (I < 0 || K < 0) throw std::invalid_argument("max_matching_counts: negative sizes");
  for (int64_t i = 0; i < gt.n; ++i) {
    if (gt.image[i] < 0 || gt.image[i] >= I || gt.category[i] < 0 || gt.category[i] >= K) {
      throw std::invalid_argument("gt image / category position out of range");
    }
  }
  for (int64_t i = 0; i < dt.n; ++i) {
    if (dt.image[i] < 0 || dt.image[i] >= I || dt.category[i] < 0 || dt.category[i] >= K) {
      throw std::invalid_argument("detection image / category position out of range");
    }
  }
  const double bar = std::min(iou_thr, coco::kMaxIouBar);
  auto by_key = [I](const int64_t* image, const int64_t* category, int64_t n) {
    std::vector<int64_t> rows(n);
    std::iota(rows.begin(), rows.end(), 0);
    std::stable_sort(rows.begin(), rows.end(), [&](int64_t x, int64_t y) {
      return category[x] * I + image[x] < category[y] * I + image[y];
    });
    return rows;
  };
  const auto grows = by_key(gt.image, gt.category, gt.n);
  const auto drows = by_key(dt.image, dt.category, dt.n);
  std::vector<int64_t> goff(K + 1, 0), doff(K + 1, 0);
  for (int64_t i = 0; i < gt.n; ++i) ++goff[gt.category[i] + 1];
  for (int64_t i = 0; i < dt.n; ++i) ++doff[dt.category[i] + 1];
  for (int64_t k = 0; k < K; ++k) {
    goff[k + 1] += goff[k];
    doff[k + 1] += doff[k];
  }
  SetCounts out;
  for (auto* v : {&out.tp, &out.fp, &out.fn, &out.ignored, &out.num_gt}) v->assign(K, 0);
  parallel_for(K, 1, [&](int64_t k0, int64_t k1) {
    Scratch s;
    std::vector<int64_t> det_match;
    for (int64_t k = k0; k < k1; ++k) {
      int64_t gi = goff[k], di = doff[k];
      while (gi < goff[k + 1] || di < doff[k + 1]) {
        const int64_t ig = gi < goff[k + 1] ? gt.image[grows[gi]] : I;
        const int64_t id = di < doff[k + 1] ? dt.image[drows[di]] : I;
        const int64_t img = std::min(ig, id);
        s.gts.clear();
        s.dets.clear();
        while (gi < goff[k + 1] && gt.image[grows[gi]] == img) s.gts.push_back(grows[gi++]);
        while (di < doff[k + 1] && dt.image[drows[di]] == img) s.dets.push_back(drows[di++]);
        const int64_t G = static_cast<int64_t>(s.gts.size()),
                      D = static_cast<int64_t>(s.dets.size());
        auto gt_ignored = [&](int64_t j) {
          const int64_t r = s.gts[j];
          return gt.ignore[r] || coco::outside_area_range(gt.area[r], area_lo, area_hi);
        };
        for (int64_t j = 0; j < G; ++j) out.num_gt[k] += !gt_ignored(j);
        // Edges to non-ignored GTs; ignorable detections.
        s.adj_off.assign(D + 1, 0);
        s.adj.clear();
        s.ignorable.assign(D, 0);
        for (int64_t d = 0; d < D; ++d) {
          const int64_t r = s.dets[d];
          bool ign = coco::outside_area_range(dt.area[r], area_lo, area_hi) ||
                     (dt.not_exhaustive != nullptr && dt.not_exhaustive[r]);
          for (int64_t j = 0; j < G; ++j) {
            const int64_t q = s.gts[j];
            const double iou = coco_box_iou_pair(dt.box + 4 * r, gt.box + 4 * q, gt.crowd[q] != 0);
            if (iou < bar) continue;
            if (gt_ignored(j)) {
              ign = true;
            } else {
              s.adj.push_back(j);
            }
          }
          s.adj_off[d + 1] = static_cast<int64_t>(s.adj.size());
          s.ignorable[d] = ign;
        }
        // Kuhn's algorithm: the non-ignorable detections first (file order), then the others.
        s.gt_match.assign(G, -1);
        det_match.assign(D, -1);
        s.det_order.clear();
        for (int pass = 0; pass < 2; ++pass) {
          for (int64_t d = 0; d < D; ++d) {
            if (s.ignorable[d] == pass) s.det_order.push_back(d);
          }
        }
        int64_t tp = 0;
        for (const int64_t d : s.det_order) {
          if (s.adj_off[d] == s.adj_off[d + 1]) continue;
          s.seen.assign(G, 0);
          tp += augment(s, d, det_match);
        }
        int64_t ignored = 0;
        for (int64_t d = 0; d < D; ++d) ignored += det_match[d] < 0 && s.ignorable[d];
        out.tp[k] += tp;
        out.ignored[k] += ignored;
        out.fp[k] += D - tp - ignored;
      }
      out.fn[k] = out.num_gt[k] - out.tp[k];
    }
  });
  return out;
}

}  // namespace vrft::eval
