#include "eval/accumulate.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/thread_pool.h"
#include "eval/coco_rules.h"

namespace vrft::eval {
namespace {

struct ScoredIndex {
  double score;
  int64_t index;
};

// Stable sort by descending score (np.argsort(-score, kind='mergesort') order).  Large inputs use
// an LSD radix sort on an order-preserving integer image of the double (stable by construction);
// +0.0 and -0.0 get the same key, as they compare equal in numpy.  Scores are finite
// (validated in Python).
void sort_by_descending_score(std::vector<ScoredIndex>& v, std::vector<ScoredIndex>& buffer) {
  const size_t n = v.size();
  if (n <= 256) {
    std::stable_sort(v.begin(), v.end(),
                     [](const ScoredIndex& x, const ScoredIndex& y) { return x.score > y.score; });
    return;
  }
  auto key = [](double x) {
    if (x == 0.0) x = 0.0;  // -0.0 -> +0.0
    uint64_t b;
    std::memcpy(&b, &x, sizeof b);
    b = (b >> 63) ? ~b : (b | 0x8000000000000000ULL);  // ascending order of x
    return ~b;                                         // descending order of x
  };
  buffer.resize(n);
  constexpr int kBits = 11;
  constexpr uint64_t kMask = (1u << kBits) - 1;
  size_t count[1u << kBits];
  ScoredIndex* src = v.data();
  ScoredIndex* dst = buffer.data();
  for (int shift = 0; shift < 64; shift += kBits) {
    std::fill(count, count + (1u << kBits), size_t{0});
    for (size_t i = 0; i < n; ++i) ++count[(key(src[i].score) >> shift) & kMask];
    if (count[(key(src[0].score) >> shift) & kMask] == n) continue;  // one digit: no-op pass
    size_t sum = 0;
    for (auto& c : count) {
      const size_t here = c;
      c = sum;
      sum += here;
    }
    for (size_t i = 0; i < n; ++i) dst[count[(key(src[i].score) >> shift) & kMask]++] = src[i];
    std::swap(src, dst);
  }
  if (src != v.data()) std::copy(src, src + n, v.data());
}

struct CategoryScratch {
  std::vector<ScoredIndex> keyed, radix_buffer;
  std::vector<int64_t> rank_sorted;
  std::vector<int64_t> slots;  // detection slots of the category, concatenated in image order
  std::vector<int64_t> rank;   // position of each slot inside its (image, category) list
  std::vector<int64_t> order;  // stable score-descending order of `slots`
  // Per maxDet: the true positives of the curve (in curve order).
  struct Curve {
    int64_t nd = 0, tp = 0, fp = 0;
    bool first_is_tp = false;
    std::vector<int64_t> tp_pos;   // index of each TP in the curve
    std::vector<int64_t> tp_fp;    // fp count when that TP arrived
    std::vector<double> pr_max;    // suffix max of precision over TPs
    std::vector<int64_t> tp_slot;  // slot of each TP (for the scores array)
    int64_t first_slot = -1;       // slot of curve entry 0
  };
  std::vector<Curve> curves;
  std::vector<int32_t> fp;              // running false-positive counts per [m][a][t]
  std::vector<int64_t> nd, first_slot;  // per m
  std::vector<int64_t> same_as;         // per m: an earlier m with the same curve, or -1
};

// Samples one finished curve at the recall thresholds (steps 3-6 of the header).
//
// Only true-positive entries need their precision computed: rc rises only at a TP, so
// searchsorted(rc, thr, 'left') lands on entry 0 or on the TP where tp first reaches the
// threshold; and after a TP, each false positive or ignored detection can only lower or keep the
// precision (tp fixed, denominator non-decreasing, and correctly rounded + and / are monotone),
// so the running max from the right over all entries equals the same envelope taken over the TP
// entries alone (0 when there is none: every entry then has tp = 0 and precision 0).  The rules
// themselves (precision, envelope, searchsorted) are coco_rules.h's.
void sample_curve(CategoryScratch::Curve& c, int64_t npig, const AccumulateParams& params,
                  bool rec_thrs_sorted, const double* slot_score, double* precision_cells,
                  double* score_cells, int64_t cell_stride, double* recall_cell) {
  const double n_pos = static_cast<double>(npig);
  *recall_cell = c.nd ? static_cast<double>(c.tp) / n_pos : 0.0;  // rc[-1], or 0 when nd == 0
  const int64_t ntp = static_cast<int64_t>(c.tp_pos.size());
  c.pr_max.resize(static_cast<size_t>(ntp));
  const int64_t* tp_fp = c.tp_fp.data();
  coco::precision_envelope(
      ntp,  // the j-th TP entry (0-based) has tp = j + 1
      [tp_fp](int64_t j) {
        return coco::precision(static_cast<double>(j + 1), static_cast<double>(tp_fp[j]));
      },
      c.pr_max.data());
  const double rc0 = c.first_is_tp ? 1.0 / n_pos : 0.0;  // rc[0] (tp is 0 or 1 there)
  const int64_t R = params.num_rec_thrs;
  int64_t r = 0;
  if (c.nd > 0) {
    int64_t j = 0;  // candidate TP; only moves forward while the thresholds do not decrease
    for (; r < R; ++r) {
      const double thr = params.rec_thrs[r];
      double pr;
      int64_t slot;
      if (rc0 >= thr) {  // searchsorted lands on entry 0
        pr = ntp ? c.pr_max[0] : 0.0;
        slot = c.first_slot;
      } else {
        // First TP whose recall (k / npig for the k-th, 1-based; non-decreasing) reaches thr.
        j = coco::searchsorted_left(
            [n_pos](int64_t tp) { return static_cast<double>(tp + 1) / n_pos; }, ntp, thr,
            rec_thrs_sorted ? j : 0);
        if (j >= ntp) break;  // pi >= nd: IndexError in pycocotools' try, the rest stays 0
        pr = c.pr_max[j];
        slot = c.tp_slot[j];
      }
      precision_cells[r * cell_stride] = pr;
      score_cells[r * cell_stride] = slot_score[slot];
    }
  }
  for (; r < R; ++r) {
    precision_cells[r * cell_stride] = 0.0;
    score_cells[r * cell_stride] = 0.0;
  }
}

}  // namespace

void accumulate(const Evaluation& ev, const AccumulateParams& params, double* precision,
                double* recall, double* scores) {
  const int64_t T = ev.num_iou_thrs, K = ev.num_categories, A = ev.num_area_rngs;
  const int64_t R = params.num_rec_thrs, M = params.num_max_dets;
  // -1 everywhere first (categories / areas without GT keep it).  Parallel, so that the first
  // touch of these fresh, large arrays (40 MB each for LVIS) is spread over the threads.
  const int64_t cells = T * R * K * A * M;
  parallel_for(cells, int64_t{1} << 16, [&](int64_t b, int64_t e) {
    std::fill(precision + b, precision + e, -1.0);
    std::fill(scores + b, scores + e, -1.0);
  });
  std::fill(recall, recall + T * K * A * M, -1.0);

  const bool rec_thrs_sorted = coco::ascending(params.rec_thrs, R);

  parallel_for(K, 1, [&](int64_t k_begin, int64_t k_end) {
    // Reused by this thread across calls and categories: no allocation in the steady state.
    thread_local CategoryScratch s;
    if (s.curves.size() < static_cast<size_t>(M * A * T)) {
      s.curves.resize(static_cast<size_t>(M * A * T));  // [m][a][t]
    }
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
      // One stable sort serves every maxDet: the stable order of a subsequence is the
      // subsequence of the stable order, so maxDet only filters by in-image rank afterwards.
      const int64_t n = static_cast<int64_t>(s.slots.size());
      // (score, concatenation index) pairs sorted by descending score, stably: the same order
      // as np.argsort(-scores, kind='mergesort') on the concatenation.
      s.keyed.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) s.keyed[i] = {ev.dt_score[s.slots[i]], i};
      sort_by_descending_score(s.keyed, s.radix_buffer);
      s.order.resize(static_cast<size_t>(n));
      s.rank_sorted.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        s.order[i] = s.slots[s.keyed[i].index];
        s.rank_sorted[i] = s.rank[s.keyed[i].index];
      }
      const std::vector<int64_t>& rank_sorted = s.rank_sorted;
      // maxDets that keep the same detections give the same curves: with at most `top` ranks in
      // any image, maxDet >= top keeps all of them.  Compute each distinct set once.
      int64_t top = 0;
      for (int64_t i = 0; i < n; ++i) top = std::max(top, rank_sorted[i] + 1);
      s.same_as.assign(static_cast<size_t>(M), -1);
      for (int64_t m = 1; m < M; ++m) {
        const int64_t cap_m = std::min(params.max_dets[m], top);
        const int64_t cap_prev = std::min(params.max_dets[m - 1], top);
        if (cap_m == cap_prev) s.same_as[m] = s.same_as[m - 1] >= 0 ? s.same_as[m - 1] : m - 1;
      }
      const int64_t AT = A * T;
      for (int64_t i = 0; i < M * AT; ++i) {
        auto& c = s.curves[i];
        c.tp_pos.clear();
        c.tp_fp.clear();
        c.tp_slot.clear();
        // A TP is matched to a distinct non-ignored GT: at most npig of them per curve.
        const size_t bound = static_cast<size_t>(npig[(i / T) % A]);
        c.tp_pos.reserve(bound);
        c.tp_fp.reserve(bound);
        c.tp_slot.reserve(bound);
      }
      s.fp.assign(static_cast<size_t>(M * AT), 0);
      s.nd.assign(static_cast<size_t>(M), 0);
      s.first_slot.assign(static_cast<size_t>(M), -1);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t slot = s.order[i];
        const uint8_t* __restrict st = ev.dt_state.data() + slot * AT;
        const int64_t rk = rank_sorted[i];
        for (int64_t m = 0; m < M; ++m) {
          if (rk >= params.max_dets[m] || s.same_as[m] >= 0) continue;
          const int64_t nd = s.nd[m]++;
          if (nd == 0) s.first_slot[m] = slot;
          int32_t* __restrict fp = s.fp.data() + m * AT;
          for (int64_t at = 0; at < AT; ++at) {  // vectorised (no branch, no reduction)
            fp[at] += static_cast<int32_t>(st[at] == kFalsePositive);
          }
          if (!ev.dt_any_tp[slot]) continue;
          for (int64_t at = 0; at < AT; ++at) {
            if (st[at] == kTruePositive) {  // fp is unchanged by a TP entry
              CategoryScratch::Curve& c = s.curves[m * AT + at];
              c.tp_pos.push_back(nd);
              c.tp_fp.push_back(fp[at]);
              c.tp_slot.push_back(slot);
            }
          }
        }
      }
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t at = 0; at < AT; ++at) {
          CategoryScratch::Curve& c = s.curves[m * AT + at];
          c.nd = s.nd[m];
          c.tp = static_cast<int64_t>(c.tp_pos.size());
          c.fp = s.fp[m * AT + at];
          c.first_slot = s.first_slot[m];
          c.first_is_tp = c.nd > 0 && ev.dt_state[c.first_slot * AT + at] == kTruePositive;
        }
      }
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t a = 0; a < A; ++a) {
          if (npig[a] == 0) continue;  // `if npig == 0: continue` leaves -1
          for (int64_t t = 0; t < T; ++t) {
            const int64_t cell = (((t * R) * K + k) * A + a) * M + m;  // [t, 0, k, a, m]
            if (s.same_as[m] >= 0) {  // copy the cells of the identical curve
              const int64_t src = s.same_as[m] - m;
              for (int64_t r = 0; r < R; ++r) {
                precision[cell + r * K * A * M] = precision[cell + r * K * A * M + src];
                scores[cell + r * K * A * M] = scores[cell + r * K * A * M + src];
              }
              const int64_t rc = ((t * K + k) * A + a) * M + m;
              recall[rc] = recall[rc + src];
              continue;
            }
            sample_curve(s.curves[(m * A + a) * T + t], npig[a], params, rec_thrs_sorted,
                         ev.dt_score.data(), precision + cell, scores + cell, K * A * M,
                         recall + ((t * K + k) * A + a) * M + m);
          }
        }
      }
    }
  });
}

}  // namespace vrft::eval
