#include "match/match_boxes.h"

#include <algorithm>
#include <vector>

#include "geometry/iou.h"
#include "match/dynamic_for.h"
#include "match/lsap.h"

namespace vrft {
namespace {

// The qualifying test `value > 0 && value >= t` (`value > t` when strict) folded into one
// comparison: with t >= 0, `value > t` already implies value > 0, and for t > 0 so does
// `value >= t`; only the inclusive t == 0 case needs `value > 0`, which is `value > t`.
// NaN compares false, so it never qualifies.
struct Qualifies {
  double t;
  bool inclusive;
  Qualifies(double threshold, bool strict) : t(threshold), inclusive(!strict && threshold > 0.0) {}
  bool operator()(double value) const { return inclusive ? value >= t : value > t; }
};

template <typename T>
void record(int64_t p, int64_t g, T value, const MatchOutputs<T>& out, int64_t p0, int64_t g0) {
  out.matched_gt[p0 + p] = g;
  out.matched_value[p0 + p] = value;
  out.matched_pred[g0 + g] = p;
}

template <typename T>
void solve_hungarian(const T* values, int64_t n, int64_t m, const MatchOptions& opt,
                     MatchWorkspace<T>& ws, const MatchOutputs<T>& out, int64_t p0, int64_t g0) {
  // Predictions and GTs without any qualifying pair cannot be in the matching: drop them first.
  // Detection problems are sparse (a prediction overlaps one or two GTs), so the assignment
  // problem that remains is usually far smaller than n x m.
  const Qualifies qualifies(opt.iou_threshold, opt.strict);
  const auto un = static_cast<size_t>(n);
  const auto um = static_cast<size_t>(m);
  if (ws.keep_pred.size() < un) ws.keep_pred.resize(un);
  if (ws.keep_gt.size() < um) ws.keep_gt.resize(um);
  if (ws.gt_count.size() < um) ws.gt_count.resize(um);
  int64_t* keep_pred = ws.keep_pred.data();  // kept prediction indices
  int64_t* keep_gt = ws.keep_gt.data();      // kept GT indices
  int64_t* gt_count = ws.gt_count.data();    // qualifying pairs per GT
  std::fill(gt_count, gt_count + m, int64_t(0));
  int64_t np = 0, ng = 0;
  bool one_each = true;  // every prediction has at most one qualifying GT
  int64_t last_g = -1;
  for (int64_t p = 0; p < n; ++p) {
    const T* row = values + p * m;
    int64_t count = 0;
    for (int64_t g = 0; g < m; ++g) {
      if (qualifies(static_cast<double>(row[g]))) {
        ++count;
        ++gt_count[g];
        last_g = g;
      }
    }
    if (count > 0) keep_pred[np++] = p;
    one_each &= count <= 1;
  }
  if (np == 0) return;
  if (one_each) {
    // Shortcut: each prediction has one candidate.  If no GT is wanted twice, the qualifying
    // pairs form a matching and, all weights being positive, the maximum one.
    bool distinct = true;
    for (int64_t g = 0; g < m; ++g) distinct &= gt_count[g] <= 1;
    if (distinct) {
      for (int64_t a = 0; a < np; ++a) {
        const int64_t p = keep_pred[a];
        const T* row = values + p * m;
        for (int64_t g = 0; g < m; ++g) {
          if (qualifies(static_cast<double>(row[g]))) record(p, g, row[g], out, p0, g0);
        }
      }
      return;
    }
  }
  if (np == 1) {
    // Shortcut: one prediction with candidates (last_g is among them): take its best GT.
    const int64_t p = keep_pred[0];
    const T* row = values + p * m;
    int64_t best = last_g;
    for (int64_t g = 0; g < m; ++g) {
      if (qualifies(static_cast<double>(row[g])) && row[g] > row[best]) best = g;
    }
    record(p, best, row[best], out, p0, g0);
    return;
  }
  for (int64_t g = 0; g < m; ++g) {
    if (gt_count[g] > 0) keep_gt[ng++] = g;
  }
  // Rows of the assignment problem are the smaller side, so a full matching of the rows exists.
  const bool pred_rows = np <= ng;
  const int64_t r = pred_rows ? np : ng;
  const int64_t c = pred_rows ? ng : np;
  const auto size = static_cast<size_t>(r * c);
  if (ws.cost.size() < size) ws.cost.resize(size);
  double* cost = ws.cost.data();
  for (int64_t a = 0; a < np; ++a) {
    const T* row = values + keep_pred[a] * m;
    for (int64_t k = 0; k < ng; ++k) {
      const double v = static_cast<double>(row[keep_gt[k]]);
      const double w = qualifies(v) ? -v : 0.0;
      if (pred_rows) {
        cost[a * c + k] = w;
      } else {
        cost[k * c + a] = w;
      }
    }
  }
  const auto ur = static_cast<size_t>(r);
  std::vector<int64_t>& col4row = ws.lsap.col4row;  // the solvers themselves never use it
  if (col4row.size() < ur) col4row.resize(ur);
  // All costs are finite and in [-1, 0]: the square case may take JV like the driver would.
  if (r == c && r >= kJvMinSize) {
    lsap_jonker_volgenant(cost, r, c, col4row.data(), ws.lsap);
  } else {
    lsap_shortest_augmenting_path(cost, r, c, c, col4row.data(), ws.lsap);
  }
  for (int64_t i = 0; i < r; ++i) {
    const int64_t j = col4row[i];
    if (!(cost[i * c + j] < 0.0)) continue;  // a non-qualifying filler pair
    const int64_t p = keep_pred[pred_rows ? i : j];
    const int64_t g = keep_gt[pred_rows ? j : i];
    record(p, g, values[p * m + g], out, p0, g0);
  }
}

template <typename T>
void solve_greedy(const T* values, int64_t n, int64_t m, const double* scores,
                  const MatchOptions& opt, MatchWorkspace<T>& ws, const MatchOutputs<T>& out,
                  int64_t p0, int64_t g0) {
  const Qualifies qualifies(opt.iou_threshold, opt.strict);
  const auto un = static_cast<size_t>(n);
  const auto um = static_cast<size_t>(m);
  if (ws.order.size() < un) ws.order.resize(un);
  if (ws.taken.size() < um) ws.taken.resize(um);
  int64_t* order = ws.order.data();
  char* taken = ws.taken.data();
  for (int64_t p = 0; p < n; ++p) order[p] = p;
  if (scores != nullptr) {
    // Descending score, equal scores in input order: the order of Python's
    // sorted(..., key=score, reverse=True) used by Visual-RFT and of pycocotools' stable
    // mergesort on -score.  The index tie-break makes std::sort stable without a buffer.
    const double* s = scores + p0;
    std::sort(order, order + n,
              [s](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  }
  std::fill(taken, taken + m, 0);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t p = order[k];
    const T* row = values + p * m;
    int64_t best = -1;
    double best_value = 0.0;
    for (int64_t g = 0; g < m; ++g) {
      if (taken[g]) continue;
      const double v = static_cast<double>(row[g]);
      // Strict `>` against the running best keeps the lowest index among equal values.
      if (qualifies(v) && (best < 0 || v > best_value)) {
        best = g;
        best_value = v;
      }
    }
    if (best >= 0) {
      taken[best] = 1;
      record(p, best, row[best], out, p0, g0);
    }
  }
}

}  // namespace

template <typename T>
int64_t match_problem(const T* pred, int64_t n, const T* gt, int64_t m, const double* scores,
                      const MatchOptions& options, MatchWorkspace<T>& ws, int64_t* matched_gt,
                      T* matched_value, int64_t* matched_pred, double* sum_matched) {
  for (int64_t p = 0; p < n; ++p) {
    matched_gt[p] = -1;
    matched_value[p] = T(0);
  }
  for (int64_t g = 0; g < m; ++g) matched_pred[g] = -1;
  int64_t count = 0;
  double sum = 0.0;
  if (n > 0 && m > 0) {
    const auto size = static_cast<size_t>(n * m);
    if (ws.values.size() < size) ws.values.resize(size);
    pairwise_iou(pred, n, gt, m, options.fmt, options.kind, ws.values.data());
    // The solvers write through a one-problem view of the outputs (offsets 0).
    const MatchOutputs<T> out{matched_gt, matched_value, matched_pred, nullptr,
                              nullptr,    nullptr,       nullptr};
    if (options.method == MatchMethod::kHungarian) {
      solve_hungarian(ws.values.data(), n, m, options, ws, out, 0, 0);
    } else {
      solve_greedy(ws.values.data(), n, m, scores, options, ws, out, 0, 0);
    }
    for (int64_t p = 0; p < n; ++p) {
      if (matched_gt[p] >= 0) {
        ++count;
        sum += static_cast<double>(matched_value[p]);
      }
    }
  }
  *sum_matched = sum;
  return count;
}

template <typename T>
void match_boxes(const T* pred, const int64_t* pred_offsets, const T* gt, const int64_t* gt_offsets,
                 int64_t n_problems, const double* scores, const MatchOptions& options,
                 const MatchOutputs<T>& out) {
  // Blocks of up to 64 problems claimed dynamically: small enough to balance ragged sizes over
  // the pool, large enough that claiming a block costs nothing per problem.
  dynamic_for<MatchWorkspace<T>>(
      n_problems, dynamic_block(n_problems, 64),
      [&](int64_t begin, int64_t end, MatchWorkspace<T>& ws) {
        for (int64_t b = begin; b < end; ++b) {
          const int64_t p0 = pred_offsets[b], n = pred_offsets[b + 1] - p0;
          const int64_t g0 = gt_offsets[b], m = gt_offsets[b + 1] - g0;
          const int64_t bad_p = find_invalid_box(pred + 4 * p0, n, options.fmt, nullptr);
          const int64_t bad_g = find_invalid_box(gt + 4 * g0, m, options.fmt, nullptr);
          out.bad_pred[b] = bad_p < 0 ? -1 : p0 + bad_p;
          out.bad_gt[b] = bad_g < 0 ? -1 : g0 + bad_g;
          out.n_matched[b] = match_problem(pred + 4 * p0, n, gt + 4 * g0, m,
                                           scores != nullptr ? scores + p0 : nullptr, options, ws,
                                           out.matched_gt + p0, out.matched_value + p0,
                                           out.matched_pred + g0, out.sum_matched + b);
        }
      });
}

template int64_t match_problem<float>(const float*, int64_t, const float*, int64_t, const double*,
                                      const MatchOptions&, MatchWorkspace<float>&, int64_t*, float*,
                                      int64_t*, double*);
template int64_t match_problem<double>(const double*, int64_t, const double*, int64_t,
                                       const double*, const MatchOptions&, MatchWorkspace<double>&,
                                       int64_t*, double*, int64_t*, double*);
template void match_boxes<float>(const float*, const int64_t*, const float*, const int64_t*,
                                 int64_t, const double*, const MatchOptions&,
                                 const MatchOutputs<float>&);
template void match_boxes<double>(const double*, const int64_t*, const double*, const int64_t*,
                                  int64_t, const double*, const MatchOptions&,
                                  const MatchOutputs<double>&);

}  // namespace vrft
