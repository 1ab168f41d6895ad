#include "eval/accumulate.h"

#include <algorithm>
#include <vector>

#include "common/thread_pool.h"

namespace vrft::eval {
namespace {

// np.spacing(1): the distance from 1.0 to the next double, 2**-52.
constexpr double kSpacingOne = 2.220446049250313e-16;

struct CategoryScratch {
  std::vector<int64_t> slots;     // detection slots of the category, concatenated in image order
  std::vector<int64_t> rank;      // position of each slot inside its (image, category) list
  std::vector<int64_t> order;     // stable score-descending order of `slots`
  std::vector<int64_t> kept;      // `order` restricted to rank < maxDet
  std::vector<double> tp, fp, rc, pr;
};

// One PR curve (steps 2-6 above) for the detections `kept` at threshold t and area range a.
void build_pr_curve(const Evaluation& ev, CategoryScratch& s, int64_t a, int64_t t, int64_t npig,
                    const AccumulateParams& params, double* precision_cells,
                    double* score_cells, int64_t cell_stride, double* recall_cell) {
  const int64_t A = ev.num_area_rngs, T = ev.num_iou_thrs;
  const int64_t nd = static_cast<int64_t>(s.kept.size());
  s.tp.resize(static_cast<size_t>(nd));
  s.fp.resize(static_cast<size_t>(nd));
  s.rc.resize(static_cast<size_t>(nd));
  s.pr.resize(static_cast<size_t>(nd));
  int64_t tp = 0, fp = 0;
  const double n_pos = static_cast<double>(npig);
  for (int64_t i = 0; i < nd; ++i) {
    const int64_t slot = s.slots[s.kept[i]];
    const uint8_t st = ev.dt_state[(slot * A + a) * T + t];
    tp += st == kTruePositive;
    fp += st == kFalsePositive;
    const double tpd = static_cast<double>(tp), fpd = static_cast<double>(fp);
    s.rc[i] = tpd / n_pos;
    s.pr[i] = tpd / ((fpd + tpd) + kSpacingOne);
  }
  *recall_cell = nd ? s.rc[nd - 1] : 0.0;
  // `if pr[i] > pr[i-1]: pr[i-1] = pr[i]`, right to left.
  for (int64_t i = nd - 1; i > 0; --i) {
    if (s.pr[i] > s.pr[i - 1]) s.pr[i - 1] = s.pr[i];
  }
  const int64_t R = params.num_rec_thrs;
  for (int64_t r = 0; r < R; ++r) {
    precision_cells[r * cell_stride] = 0.0;
    score_cells[r * cell_stride] = 0.0;
  }
  for (int64_t r = 0; r < R; ++r) {
    // np.searchsorted(rc, recThrs, side='left'): first i with rc[i] >= thr.
    const int64_t i =
        std::lower_bound(s.rc.begin(), s.rc.end(), params.rec_thrs[r]) - s.rc.begin();
    if (i >= nd) break;  // IndexError inside pycocotools' try: the rest stays 0
    precision_cells[r * cell_stride] = s.pr[i];
    score_cells[r * cell_stride] = ev.dt_score[s.slots[s.kept[i]]];
  }
}

}  // namespace

void accumulate(const Evaluation& ev, const AccumulateParams& params, double* precision,
                double* recall, double* scores) {
  const int64_t T = ev.num_iou_thrs, K = ev.num_categories, A = ev.num_area_rngs;
  const int64_t R = params.num_rec_thrs, M = params.num_max_dets;
  std::fill(precision, precision + T * R * K * A * M, -1.0);
  std::fill(scores, scores + T * R * K * A * M, -1.0);
  std::fill(recall, recall + T * K * A * M, -1.0);

  parallel_for(K, 1, [&](int64_t k_begin, int64_t k_end) {
    CategoryScratch s;
    std::vector<int64_t> npig(static_cast<size_t>(A));
    for (int64_t k = k_begin; k < k_end; ++k) {
      const int64_t g_begin = ev.category_groups[k], g_end = ev.category_groups[k + 1];
      if (g_begin == g_end) continue;  // no evaluated image has GT or detections: all -1
      s.slots.clear();
      s.rank.clear();
      std::fill(npig.begin(), npig.end(), 0);
      for (int64_t g = g_begin; g < g_end; ++g) {
        for (int64_t slot = ev.dt_offsets[g]; slot < ev.dt_offsets[g + 1]; ++slot) {
          s.slots.push_back(slot);
          s.rank.push_back(slot - ev.dt_offsets[g]);
        }
        for (int64_t a = 0; a < A; ++a) npig[a] += ev.num_positive_gt[g * A + a];
      }
      // One stable sort for every maxDet: the stable order of a subsequence is the subsequence
      // of the stable order, so maxDet only filters by in-image rank afterwards.
      s.order.resize(s.slots.size());
      for (size_t i = 0; i < s.order.size(); ++i) s.order[i] = static_cast<int64_t>(i);
      std::stable_sort(s.order.begin(), s.order.end(), [&](int64_t x, int64_t y) {
        return ev.dt_score[s.slots[x]] > ev.dt_score[s.slots[y]];
      });
      for (int64_t m = 0; m < M; ++m) {
        s.kept.clear();
        for (const int64_t i : s.order) {
          if (s.rank[i] < params.max_dets[m]) s.kept.push_back(i);
        }
        for (int64_t a = 0; a < A; ++a) {
          if (npig[a] == 0) continue;  // `if npig == 0: continue` leaves -1
          for (int64_t t = 0; t < T; ++t) {
            const int64_t cell = (((t * R) * K + k) * A + a) * M + m;  // [t, 0, k, a, m]
            const int64_t stride = K * A * M;                             // one step in r
            build_pr_curve(ev, s, a, t, npig[a], params, precision + cell, scores + cell, stride,
                           recall + ((t * K + k) * A + a) * M + m);
          }
        }
      }
    }
  });
}

}  // namespace vrft::eval
