#include "eval/ties.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

#include "common/numpy_sum.h"
#include "common/thread_pool.h"
#include "eval/box_iou.h"
#include "eval/coco_rules.h"

namespace vrft::eval {
namespace {

// One (image, category): its GT rows (dataset order), its detection rows sorted by descending
// score (stable: the file order within ties), the runs of equal scores ("segments") and the IoU
// of every detection with every GT (rows by the detection's local index in `dets`).
struct Group {
  int64_t image = 0;
  std::vector<int64_t> gts, dets;
  std::vector<int64_t> seg;   // segment boundaries in `dets`: seg[s] .. seg[s + 1]
  std::vector<uint8_t> hard;  // per segment: its order is enumerated / re-matched
  std::vector<double> iou;    // dets.size() x gts.size()
  int64_t n_slots = 0;        // detections kept by the cap
  int64_t slot0 = 0;          // offset of the group's slots in the category's label array
  bool unit = false;          // has a hard segment
};

// Everything shared by the categories of one call.
struct Ctx {
  const GtColumns& gt;
  const DtColumns& dt;
  const TieParams& p;
  int64_t T, A, AT, R, M;
  double bar;  // min over thresholds of min(t, 1 - 1e-10): the loosest match
};

// The category being processed: its groups, GT counts per area and the ranking skeleton (slot
// scores do not depend on the order of ties, so neither does the ranking of slots).
struct Category {
  std::vector<Group> groups;
  std::vector<int64_t> npig;                   // A: non-ignored GTs per area range
  std::vector<int64_t> rank_group, rank_slot;  // slots in accumulate()'s order
  std::vector<int64_t> rank_flat;              // the same slots as indices of the label array
  int64_t n_slots = 0;
};

struct Scratch {
  std::vector<int64_t> perm, match, active, idx;
  std::vector<uint8_t> perm_ignore, perm_crowd, perm_idnz, gt_matched;
  std::vector<int32_t> ctp, cfp, run;
  std::vector<double> q, env, values;
};

// COCOeval.evaluateImg of one group for detections in `order` (local indices, all of the
// group's detections; the cap keeps the first n_slots): states[slot * AT + a * T + t].
void evaluate_group(const Ctx& c, const Group& g, const int64_t* order, uint8_t* states,
                    Scratch& s) {
  const int64_t G = static_cast<int64_t>(g.gts.size()), D = g.n_slots, T = c.T;
  s.perm.resize(G);
  s.perm_ignore.resize(G);
  s.perm_crowd.resize(G);
  s.perm_idnz.resize(G);
  s.gt_matched.resize(G);
  s.match.resize(static_cast<size_t>(T * std::max<int64_t>(D, 1)));
  for (int64_t a = 0; a < c.A; ++a) {
    const double lo = c.p.match.area_rng[2 * a], hi = c.p.match.area_rng[2 * a + 1];
    // GTs sorted with the ignored ones last (stable), as evaluateImg's argsort of _ignore.
    int64_t q = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t j = 0; j < G; ++j) {
        const int64_t row = g.gts[j];
        const uint8_t ig =
            (c.gt.ignore[row] || coco::outside_area_range(c.gt.area[row], lo, hi)) ? 1 : 0;
        if (ig != pass) continue;
        s.perm[q] = j;
        s.perm_ignore[q] = ig;
        s.perm_crowd[q] = c.gt.crowd[row];
        s.perm_idnz[q] = c.gt.id_nonzero[row];
        ++q;
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      std::fill(s.gt_matched.begin(), s.gt_matched.end(), 0);
      for (int64_t d = 0; d < D; ++d) {
        const double* row = g.iou.data() + order[d] * G;
        const int64_t m = coco::best_match(
            c.p.match.iou_thrs[t], G,
            [&s](int64_t x) { return s.gt_matched[x] && !s.perm_crowd[x]; },
            [&s](int64_t x) { return s.perm_ignore[x] != 0; },
            [&s, row](int64_t x) { return row[s.perm[x]]; });
        s.match[t * D + d] = m;
        if (m > -1) s.gt_matched[m] = c.dt.id_positive[g.dets[order[d]]];
      }
    }
    for (int64_t d = 0; d < D; ++d) {
      const int64_t row = g.dets[order[d]];
      const bool ne = c.dt.not_exhaustive != nullptr && c.dt.not_exhaustive[row];
      const bool ignore_if_unmatched = coco::outside_area_range(c.dt.area[row], lo, hi) || ne;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t m = s.match[t * D + d];
        bool ignored = ignore_if_unmatched, matched = false;
        if (m > -1) {
          matched = s.perm_idnz[m] != 0;
          ignored = s.perm_ignore[m] != 0 || (!matched && ignore_if_unmatched);
        }
        states[d * c.AT + a * T + t] =
            ignored ? kIgnored : (matched ? kTruePositive : kFalsePositive);
      }
    }
  }
}

// Number of TP cells of a slot among the metric's cells.
int64_t tp_cells(const uint8_t* st, const uint8_t* cells, int64_t AT) {
  int64_t n = 0;
  for (int64_t i = 0; i < AT; ++i) n += cells[i] && st[i] == kTruePositive;
  return n;
}

// Reorders the slots of every free segment of a group (in `labels`, slots x AT) by TP cells,
// descending (best) or ascending (worst), stable; returns false when a segment's TP sets are not
// nested (the sort is then not provably extreme).
bool sort_free_segments(const Ctx& c, const Group& g, uint8_t* labels, const uint8_t* cells,
                        bool best, std::vector<uint8_t>& tmp) {
  bool nested = true;
  for (size_t s = 0; s + 1 < g.seg.size(); ++s) {
    const int64_t b = g.seg[s], e = std::min(g.seg[s + 1], g.n_slots);
    if (e - b < 2 || g.hard[s]) continue;
    std::vector<int64_t> idx(e - b);
    std::iota(idx.begin(), idx.end(), b);
    for (int64_t i = b; i < e && nested; ++i) {
      for (int64_t j = i + 1; j < e && nested; ++j) {
        bool ij = false, ji = false;
        for (int64_t k = 0; k < c.AT; ++k) {
          if (!cells[k]) continue;
          const uint8_t x = labels[i * c.AT + k], y = labels[j * c.AT + k];
          ij |= x == kTruePositive && y == kFalsePositive;
          ji |= y == kTruePositive && x == kFalsePositive;
        }
        nested = !(ij && ji);
      }
    }
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t x, int64_t y) {
      const int64_t nx = tp_cells(labels + x * c.AT, cells, c.AT),
                    ny = tp_cells(labels + y * c.AT, cells, c.AT);
      return best ? nx > ny : nx < ny;
    });
    tmp.assign(labels + b * c.AT, labels + e * c.AT);
    for (int64_t i = 0; i < e - b; ++i) {
      std::copy(tmp.begin() + (idx[i] - b) * c.AT, tmp.begin() + (idx[i] - b + 1) * c.AT,
                labels + (b + i) * c.AT);
    }
  }
  return nested;
}

// True when outcome x is at least as good as y at every cell of the metric: in every segment,
// at every prefix, no fewer TPs and no more FPs (so every precision and recall of the ranking is
// at least as high, and so is every interpolated precision).
bool dominates(const Ctx& c, const Group& g, const uint8_t* x, const uint8_t* y,
               const uint8_t* cells) {
  for (int64_t k = 0; k < c.AT; ++k) {
    if (!cells[k]) continue;
    for (size_t s = 0; s + 1 < g.seg.size(); ++s) {
      const int64_t b = g.seg[s], e = std::min(g.seg[s + 1], g.n_slots);
      int64_t tx = 0, fx = 0, ty = 0, fy = 0;
      for (int64_t i = b; i < e; ++i) {
        tx += x[i * c.AT + k] == kTruePositive;
        fx += x[i * c.AT + k] == kFalsePositive;
        ty += y[i * c.AT + k] == kTruePositive;
        fy += y[i * c.AT + k] == kFalsePositive;
        if (tx < ty || fx > fy) return false;
      }
    }
  }
  return true;
}

// pycocotools' accumulate of every cell `need[a * T + t]` with GT: s.q[cell * R + r] = the
// interpolated precision at recall threshold r.  One forward pass over the ranked slots keeps the
// cumulative TP / FP of all cells; per cell, the recall thresholds' positions are found forward
// (searchsorted, side="left") and the precision envelope (the running maximum from the right) is
// read at them backward, so no precision array is written.
void cell_precisions(const Ctx& c, const Category& cat, const uint8_t* labels, const uint8_t* need,
                     Scratch& s) {
  const int64_t n = cat.n_slots, R = c.R;
  s.active.clear();
  for (int64_t cell = 0; cell < c.AT; ++cell) {
    if (need[cell] && cat.npig[cell / c.T] > 0) s.active.push_back(cell);
  }
  const int64_t K = static_cast<int64_t>(s.active.size());
  s.q.assign(static_cast<size_t>(c.AT * R), std::numeric_limits<double>::quiet_NaN());
  if (K == 0) return;
  s.ctp.resize(static_cast<size_t>(K * std::max<int64_t>(n, 1)));
  s.cfp.resize(s.ctp.size());
  s.run.assign(static_cast<size_t>(2 * K), 0);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = labels + cat.rank_flat[i] * c.AT;
    for (int64_t j = 0; j < K; ++j) {
      const uint8_t st = row[s.active[j]];
      s.run[2 * j] += st == kTruePositive;
      s.run[2 * j + 1] += st == kFalsePositive;
      s.ctp[j * n + i] = s.run[2 * j];
      s.cfp[j * n + i] = s.run[2 * j + 1];
    }
  }
  const bool asc = coco::ascending(c.p.rec_thrs, R);
  s.idx.resize(R);
  for (int64_t j = 0; j < K; ++j) {
    const int64_t cell = s.active[j];
    const int32_t* tp = s.ctp.data() + j * n;
    const int32_t* fp = s.cfp.data() + j * n;
    const double npig = static_cast<double>(cat.npig[cell / c.T]);
    double* q = s.q.data() + cell * R;
    // searchsorted(rc, recThrs, "left"); from the first threshold past the last recall on, the
    // cells stay 0 (the IndexError pycocotools' try swallows).
    int64_t i = 0, r_end = R;
    for (int64_t r = 0; r < R; ++r) {
      i = coco::searchsorted_left(
          [tp, npig](int64_t d) { return static_cast<double>(tp[d]) / npig; }, n, c.p.rec_thrs[r],
          asc ? i : 0);
      s.idx[r] = i;
      if (i >= n) {
        r_end = r;
        break;
      }
    }
    for (int64_t r = r_end; r < R; ++r) q[r] = 0.0;
    if (r_end == 0) continue;
    auto prec = [tp, fp](int64_t d) {
      return coco::precision(static_cast<double>(tp[d]), static_cast<double>(fp[d]));
    };
    if (asc) {  // positions non-decreasing in r: one backward pass
      double run = prec(n - 1);
      int64_t d = n - 1;
      for (int64_t r = r_end - 1; r >= 0; --r) {
        for (; d > s.idx[r]; --d) {
          const double p = prec(d - 1);
          run = run > p ? run : p;
        }
        q[r] = run;
      }
    } else {
      s.env.resize(n);
      coco::precision_envelope(n, prec, s.env.data());
      for (int64_t r = 0; r < r_end; ++r) q[r] = s.env[s.idx[r]];
    }
  }
}

// A metric's AP from the cell precisions of cell_precisions(): the mean of the defined cells of
// the metric in (t, r, a) order, as numpy flattens precision[t, :, k, a]; -1 when none.
double metric_mean(const Ctx& c, const uint8_t* cells, Scratch& s) {
  s.values.clear();
  for (int64_t t = 0; t < c.T; ++t) {
    for (int64_t r = 0; r < c.R; ++r) {
      for (int64_t a = 0; a < c.A; ++a) {
        const int64_t cell = a * c.T + t;
        if (!cells[cell]) continue;
        const double v = s.q[cell * c.R + r];
        if (!std::isnan(v)) s.values.push_back(v);
      }
    }
  }
  const int64_t m = static_cast<int64_t>(s.values.size());
  if (m == 0) return -1.0;
  return numpy_pairwise_sum(s.values.data(), m) / static_cast<double>(m);
}

double metric_ap(const Ctx& c, const Category& cat, const uint8_t* labels, const uint8_t* cells,
                 Scratch& s) {
  cell_precisions(c, cat, labels, cells, s);
  return metric_mean(c, cells, s);
}

uint64_t uniform_below(std::mt19937_64& gen, uint64_t n) {  // deterministic on every platform
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t x;
  do {
    x = gen();
  } while (x >= limit);
  return x % n;
}

void build_category(const Ctx& c, const std::vector<int64_t>& gt_rows,
                    const std::vector<int64_t>& dt_rows, Category& cat) {
  // Rows arrive sorted by image (stable); split them into groups.
  size_t gi = 0, di = 0;
  while (gi < gt_rows.size() || di < dt_rows.size()) {
    const int64_t img_g =
        gi < gt_rows.size() ? c.gt.image[gt_rows[gi]] : std::numeric_limits<int64_t>::max();
    const int64_t img_d =
        di < dt_rows.size() ? c.dt.image[dt_rows[di]] : std::numeric_limits<int64_t>::max();
    Group g;
    g.image = std::min(img_g, img_d);
    while (gi < gt_rows.size() && c.gt.image[gt_rows[gi]] == g.image)
      g.gts.push_back(gt_rows[gi++]);
    while (di < dt_rows.size() && c.dt.image[dt_rows[di]] == g.image)
      g.dets.push_back(dt_rows[di++]);
    const double* score = c.dt.score;
    std::stable_sort(g.dets.begin(), g.dets.end(),
                     [score](int64_t x, int64_t y) { return score[x] > score[y]; });
    const int64_t D = static_cast<int64_t>(g.dets.size()), G = static_cast<int64_t>(g.gts.size());
    const int64_t cap = c.p.match.max_dets_per_group;
    g.n_slots = cap >= 0 ? std::min(D, cap) : D;
    for (int64_t i = 0; i < D; ++i) {
      if (i == 0 || score[g.dets[i]] != score[g.dets[i - 1]]) g.seg.push_back(i);
    }
    g.seg.push_back(D);
    g.iou.resize(static_cast<size_t>(D * G));
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t j = 0; j < G; ++j) {
        g.iou[d * G + j] = coco_box_iou_pair(c.dt.box + 4 * g.dets[d], c.gt.box + 4 * g.gts[j],
                                             c.gt.crowd[g.gts[j]] != 0);
      }
    }
    g.hard.assign(g.seg.size() - 1, 0);
    for (size_t s = 0; s + 1 < g.seg.size(); ++s) {
      const int64_t b = g.seg[s], e = g.seg[s + 1];
      if (e - b < 2 || b >= g.n_slots) continue;
      bool hard = e > g.n_slots;  // the cap cuts the tie: which ones survive depends on the order
      for (int64_t j = 0; j < G && !hard; ++j) {
        if (c.gt.crowd[g.gts[j]]) continue;  // a crowd region absorbs any number of detections
        int64_t near = 0;
        for (int64_t d = b; d < e; ++d) near += g.iou[d * G + j] >= c.bar;
        hard = near >= 2;
      }
      g.hard[s] = hard;
    }
    cat.groups.push_back(std::move(g));
  }
  cat.npig.assign(c.A, 0);
  int64_t n = 0;
  for (Group& g : cat.groups) {
    g.slot0 = n;
    n += g.n_slots;
    for (int64_t a = 0; a < c.A; ++a) {
      const double lo = c.p.match.area_rng[2 * a], hi = c.p.match.area_rng[2 * a + 1];
      for (const int64_t row : g.gts) {
        cat.npig[a] += !(c.gt.ignore[row] || coco::outside_area_range(c.gt.area[row], lo, hi));
      }
    }
  }
  cat.n_slots = n;
  // accumulate(): images in order, each image's slots by score, then a stable sort by score.
  std::vector<int64_t> order(n), grp(n), pos(n);
  std::vector<double> sc(n);
  for (size_t gi2 = 0; gi2 < cat.groups.size(); ++gi2) {
    const Group& g = cat.groups[gi2];
    for (int64_t i = 0; i < g.n_slots; ++i) {
      grp[g.slot0 + i] = static_cast<int64_t>(gi2);
      pos[g.slot0 + i] = i;
      sc[g.slot0 + i] = c.dt.score[g.dets[i]];
    }
  }
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&sc](int64_t x, int64_t y) { return sc[x] > sc[y]; });
  cat.rank_group.resize(n);
  cat.rank_slot.resize(n);
  cat.rank_flat.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    cat.rank_group[i] = grp[order[i]];
    cat.rank_slot[i] = pos[order[i]];
    cat.rank_flat[i] = order[i];  // slot0 of the group + position: the flat slot index
  }
}

using Outcome = std::vector<uint8_t>;  // a group's labels, slots x AT

// Keeps `list` free of outcomes beaten by another: for the best bound, x is dropped when some
// kept outcome dominates it; for the worst bound, when it dominates some kept outcome.
void add_candidate(const Ctx& c, const Group& g, std::vector<Outcome>& list, const Outcome& x,
                   const uint8_t* cells, bool best) {
  auto better = [&](const Outcome& u, const Outcome& v) {  // u at least as extreme as v
    return best ? dominates(c, g, u.data(), v.data(), cells)
                : dominates(c, g, v.data(), u.data(), cells);
  };
  for (const Outcome& y : list) {
    if (better(y, x)) return;
  }
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const Outcome& y) { return better(x, y); }),
      list.end());
  list.push_back(x);
}

int64_t factorial_capped(int64_t n, int64_t cap) {
  int64_t f = 1;
  for (int64_t i = 2; i <= n; ++i) {
    if (f > cap / i) return cap + 1;
    f *= i;
  }
  return f;
}

// Result slots of one category (M values each).
struct CategoryOut {
  std::vector<double> canonical, lo, hi, mc_mean, mc_sd;
  std::vector<uint8_t> exact;
  int64_t tied = 0, hard = 0;
};

void process_category(const Ctx& c, Category& cat, uint64_t seed, CategoryOut& out, Scratch& s) {
  const int64_t M = c.M, AT = c.AT;
  out.canonical.assign(M, -1.0);
  out.lo.assign(M, -1.0);
  out.hi.assign(M, -1.0);
  out.mc_mean.assign(M, -1.0);
  out.mc_sd.assign(M, 0.0);
  out.exact.assign(M, 1);
  Outcome canon(static_cast<size_t>(cat.n_slots * AT));
  std::vector<int64_t> order;
  for (Group& g : cat.groups) {
    order.resize(g.dets.size());
    std::iota(order.begin(), order.end(), 0);
    if (g.n_slots) evaluate_group(c, g, order.data(), canon.data() + g.slot0 * AT, s);
    for (size_t q = 0; q + 1 < g.seg.size(); ++q) {
      if (g.seg[q + 1] - g.seg[q] >= 2 && g.seg[q] < g.n_slots) {
        ++out.tied;
        out.hard += g.hard[q];
        g.unit |= g.hard[q] != 0;
      }
    }
  }
  for (int64_t m = 0; m < M; ++m)
    out.canonical[m] = metric_ap(c, cat, canon.data(), c.p.cells + m * AT, s);
  if (out.tied == 0) {
    out.lo = out.hi = out.mc_mean = out.canonical;
    return;
  }
  // Base labels per (metric, bound): the canonical ones with every free segment sorted.
  std::vector<uint8_t> tmp;
  std::vector<Outcome> base(static_cast<size_t>(2 * M), canon);
  for (int64_t m = 0; m < M; ++m) {
    for (int b = 0; b < 2; ++b) {
      for (const Group& g : cat.groups) {
        if (g.unit) continue;
        if (!sort_free_segments(c, g, base[2 * m + b].data() + g.slot0 * AT, c.p.cells + m * AT,
                                b == 0, tmp)) {
          out.exact[m] = 0;
        }
      }
    }
  }
  // Candidates of every unit: its hard segments' orders enumerated and re-matched.
  std::vector<int64_t> units;
  std::vector<std::vector<std::vector<Outcome>>> cand;  // [unit][2m + b] -> outcomes
  for (size_t gi = 0; gi < cat.groups.size(); ++gi) {
    const Group& g = cat.groups[gi];
    if (!g.unit) continue;
    units.push_back(static_cast<int64_t>(gi));
    cand.emplace_back(static_cast<size_t>(2 * M));
    auto& lists = cand.back();
    std::vector<std::pair<int64_t, int64_t>> segs;
    int64_t n_orders = 1;
    for (size_t q = 0; q + 1 < g.seg.size(); ++q) {
      if (!g.hard[q]) continue;
      segs.emplace_back(g.seg[q], g.seg[q + 1]);
      const int64_t f = factorial_capped(g.seg[q + 1] - g.seg[q], c.p.unit_budget);
      n_orders =
          f > c.p.unit_budget / std::max<int64_t>(n_orders, 1) ? c.p.unit_budget + 1 : n_orders * f;
    }
    const bool enumerate = n_orders <= c.p.unit_budget;
    if (!enumerate) std::fill(out.exact.begin(), out.exact.end(), 0);
    order.resize(g.dets.size());
    std::iota(order.begin(), order.end(), 0);
    Outcome lab(static_cast<size_t>(g.n_slots * AT));
    Outcome sorted;
    while (true) {
      evaluate_group(c, g, order.data(), lab.data(), s);
      for (int64_t m = 0; m < M; ++m) {
        for (int b = 0; b < 2; ++b) {
          sorted = lab;
          if (!sort_free_segments(c, g, sorted.data(), c.p.cells + m * AT, b == 0, tmp))
            out.exact[m] = 0;
          add_candidate(c, g, lists[2 * m + b], sorted, c.p.cells + m * AT, b == 0);
        }
      }
      if (!enumerate) break;
      // Next order: the hard segments' permutations as a mixed-radix counter.
      size_t q = 0;
      for (; q < segs.size(); ++q) {
        if (std::next_permutation(order.begin() + segs[q].first, order.begin() + segs[q].second))
          break;
      }
      if (q == segs.size()) break;
    }
  }
  // Combine the units' candidates per (metric, bound).
  for (int64_t m = 0; m < M; ++m) {
    for (int b = 0; b < 2; ++b) {
      Outcome& lab = base[2 * m + b];
      const uint8_t* cells = c.p.cells + m * AT;
      const size_t U = units.size();
      std::vector<size_t> pick(U, 0);
      auto place = [&](size_t u) {
        const Group& g = cat.groups[units[u]];
        const Outcome& x = cand[u][2 * m + b][pick[u]];
        std::copy(x.begin(), x.end(), lab.begin() + g.slot0 * AT);
      };
      int64_t combos = 1;
      for (size_t u = 0; u < U; ++u) {
        const int64_t n = static_cast<int64_t>(cand[u][2 * m + b].size());
        combos =
            n > c.p.combo_budget / std::max<int64_t>(combos, 1) ? c.p.combo_budget + 1 : combos * n;
        place(u);
      }
      double best = metric_ap(c, cat, lab.data(), cells, s);
      auto better = [b](double x, double y) { return b == 0 ? x > y : x < y; };
      if (combos <= c.p.combo_budget) {
        while (true) {
          size_t u = 0;
          for (; u < U; ++u) {
            if (++pick[u] < cand[u][2 * m + b].size()) break;
            pick[u] = 0;
            place(u);
          }
          if (u == U) break;
          place(u);
          const double v = metric_ap(c, cat, lab.data(), cells, s);
          if (better(v, best)) best = v;
        }
      } else {  // coordinate ascent from the first candidates: attained, not proven extreme
        out.exact[m] = 0;
        for (int round = 0, changed = 1; changed && round < 8; ++round) {
          changed = 0;
          for (size_t u = 0; u < U; ++u) {
            size_t keep = pick[u];
            for (size_t i = 0; i < cand[u][2 * m + b].size(); ++i) {
              pick[u] = i;
              place(u);
              const double v = metric_ap(c, cat, lab.data(), cells, s);
              if (better(v, best)) {
                best = v;
                keep = i;
                changed = 1;
              }
            }
            pick[u] = keep;
            place(u);
          }
        }
      }
      (b == 0 ? out.hi : out.lo)[m] = best;
    }
  }
  // Monte Carlo over uniformly random orders of every tie segment.
  bool varies = false;
  for (int64_t m = 0; m < M; ++m) varies |= out.hi[m] != out.lo[m];
  if (c.p.num_draws <= 0 || !varies) {
    out.mc_mean = out.canonical;
    return;
  }
  std::mt19937_64 gen(seed);
  std::vector<double> mean(M, 0.0), m2(M, 0.0);
  // Only groups with a tie move; the others keep their canonical labels in `lab` throughout.
  std::vector<size_t> moving;
  for (size_t gi = 0; gi < cat.groups.size(); ++gi) {
    const Group& g = cat.groups[gi];
    for (size_t q = 0; q + 1 < g.seg.size(); ++q) {
      if (g.seg[q + 1] - g.seg[q] >= 2 && g.seg[q] < g.n_slots) {
        moving.push_back(gi);
        break;
      }
    }
  }
  Outcome lab(canon);
  std::vector<uint8_t> all_cells(static_cast<size_t>(AT), 0);  // the cells of any metric
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t i = 0; i < AT; ++i) all_cells[i] |= c.p.cells[m * AT + i];
  }
  for (int64_t draw = 0; draw < c.p.num_draws; ++draw) {
    for (const size_t gi : moving) {
      const Group& g = cat.groups[gi];
      order.resize(g.dets.size());
      std::iota(order.begin(), order.end(), 0);
      for (size_t q = 0; q + 1 < g.seg.size(); ++q) {
        const int64_t b = g.seg[q], e = g.seg[q + 1];
        if (e - b < 2 || b >= g.n_slots) continue;
        for (int64_t i = e - 1; i > b; --i) {  // Fisher-Yates
          const auto j = static_cast<int64_t>(uniform_below(gen, static_cast<uint64_t>(i - b + 1)));
          std::swap(order[i], order[b + j]);
        }
      }
      if (g.unit) {
        evaluate_group(c, g, order.data(), lab.data() + g.slot0 * AT, s);
      } else {  // free segments: the labels move with their detections
        for (int64_t i = 0; i < g.n_slots; ++i) {
          std::copy(canon.begin() + (g.slot0 + order[i]) * AT,
                    canon.begin() + (g.slot0 + order[i] + 1) * AT,
                    lab.begin() + (g.slot0 + i) * AT);
        }
      }
    }
    cell_precisions(c, cat, lab.data(), all_cells.data(), s);
    for (int64_t m = 0; m < M; ++m) {  // Welford
      const double v = metric_mean(c, c.p.cells + m * AT, s);
      const double delta = v - mean[m];
      mean[m] += delta / static_cast<double>(draw + 1);
      m2[m] += delta * (v - mean[m]);
    }
  }
  for (int64_t m = 0; m < M; ++m) {
    out.mc_mean[m] = mean[m];
    out.mc_sd[m] =
        c.p.num_draws > 1 ? std::sqrt(m2[m] / static_cast<double>(c.p.num_draws - 1)) : 0.0;
  }
}

void check_positions(const int64_t* v, int64_t n, int64_t bound, const char* what) {
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] < 0 || v[i] >= bound) throw std::invalid_argument(std::string(what) + " out of range");
  }
}

// Rows sorted by (category, image), stable; offsets of each category's run.
std::vector<int64_t> rows_by_category(const int64_t* image, const int64_t* category, int64_t n,
                                      int64_t I, int64_t K, std::vector<int64_t>& off) {
  std::vector<int64_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  std::stable_sort(rows.begin(), rows.end(), [&](int64_t x, int64_t y) {
    return category[x] * I + image[x] < category[y] * I + image[y];
  });
  off.assign(static_cast<size_t>(K + 1), 0);
  for (int64_t i = 0; i < n; ++i) ++off[category[i] + 1];
  for (int64_t k = 0; k < K; ++k) off[k + 1] += off[k];
  return rows;
}

}  // namespace

TieRange tie_range(const GtColumns& gt, const DtColumns& dt, const TieParams& p) {
  const int64_t I = p.match.num_images, K = p.match.num_categories, T = p.match.num_iou_thrs;
  const int64_t A = p.match.num_area_rngs, M = p.num_metrics;
  if (I < 0 || K < 0 || T <= 0 || A <= 0 || M < 0 || p.num_rec_thrs <= 0) {
    throw std::invalid_argument("tie_range: empty or negative sizes");
  }
  check_positions(gt.image, gt.n, I, "gt image position");
  check_positions(gt.category, gt.n, K, "gt category position");
  check_positions(dt.image, dt.n, I, "detection image position");
  check_positions(dt.category, dt.n, K, "detection category position");
  double bar = std::numeric_limits<double>::infinity();
  for (int64_t t = 0; t < T; ++t)
    bar = std::min(bar, std::min(p.match.iou_thrs[t], coco::kMaxIouBar));
  const Ctx c{gt, dt, p, T, A, A * T, p.num_rec_thrs, M, bar};
  std::vector<int64_t> goff, doff;
  const auto grows = rows_by_category(gt.image, gt.category, gt.n, I, K, goff);
  const auto drows = rows_by_category(dt.image, dt.category, dt.n, I, K, doff);
  std::vector<CategoryOut> outs(static_cast<size_t>(K));
  parallel_for(K, 1, [&](int64_t k0, int64_t k1) {
    Scratch s;
    for (int64_t k = k0; k < k1; ++k) {
      Category cat;
      const std::vector<int64_t> g(grows.begin() + goff[k], grows.begin() + goff[k + 1]);
      const std::vector<int64_t> d(drows.begin() + doff[k], drows.begin() + doff[k + 1]);
      build_category(c, g, d, cat);
      // splitmix64 of (seed, k): the draws do not depend on the thread schedule.
      uint64_t z = p.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(k + 1);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      process_category(c, cat, z ^ (z >> 31), outs[k], s);
    }
  });
  TieRange r;
  for (auto* v : {&r.canonical, &r.lo, &r.hi, &r.mc_mean, &r.mc_sd})
    v->resize(static_cast<size_t>(K * M));
  r.exact.resize(static_cast<size_t>(K * M));
  r.tied_groups.resize(K);
  r.hard_groups.resize(K);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t m = 0; m < M; ++m) {
      r.canonical[k * M + m] = outs[k].canonical[m];
      r.lo[k * M + m] = outs[k].lo[m];
      r.hi[k * M + m] = outs[k].hi[m];
      r.mc_mean[k * M + m] = outs[k].mc_mean[m];
      r.mc_sd[k * M + m] = outs[k].mc_sd[m];
      r.exact[k * M + m] = outs[k].exact[m];
    }
    r.tied_groups[k] = outs[k].tied;
    r.hard_groups[k] = outs[k].hard;
  }
  return r;
}

}  // namespace vrft::eval
