// scipy-compatible LSAP driver and its batched form.
//
// The driver reproduces the preprocessing of scipy's solve() (rectangular_lsap.cpp) step by step:
// empty input -> empty result; a tall matrix is transposed; maximize negates; then NaN and -inf
// are rejected over the whole matrix *before* solving, so an invalid entry wins over
// infeasibility exactly as in scipy.  Only then is an algorithm chosen by size.
#include "match/lsap.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "match/dynamic_for.h"

namespace vrft {

namespace {

struct ValueRange {
  double lo, hi;  // smallest and largest non-NaN value
  bool has_nan;
};

// One branch-free pass over an r x c block (stride ld): NaN flag, minimum, maximum.  Four
// independent min/max chains let the compiler keep several comparisons in flight; this pass is
// the first touch of the matrix, so it mostly runs at memory speed.
ValueRange value_range(const double* a, int64_t r, int64_t c, int64_t ld) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double lo[4] = {kInf, kInf, kInf, kInf};
  double hi[4] = {-kInf, -kInf, -kInf, -kInf};
  bool nan = false;
  for (int64_t i = 0; i < r; ++i) {
    const double* row = a + i * ld;
    int64_t j = 0;
    for (; j + 4 <= c; j += 4) {
      for (int l = 0; l < 4; ++l) {
        const double x = row[j + l];
        nan |= x != x;
        lo[l] = x < lo[l] ? x : lo[l];
        hi[l] = x > hi[l] ? x : hi[l];
      }
    }
    for (; j < c; ++j) {
      const double x = row[j];
      nan |= x != x;
      lo[0] = x < lo[0] ? x : lo[0];
      hi[0] = x > hi[0] ? x : hi[0];
    }
  }
  return {std::min(std::min(lo[0], lo[1]), std::min(lo[2], lo[3])),
          std::max(std::max(hi[0], hi[1]), std::max(hi[2], hi[3])), nan};
}

}  // namespace

const char* lsap_status_message(int status) {
  switch (status) {
    case kLsapOk:
      return "ok";
    case kLsapInfeasible:
      return "cost matrix is infeasible";  // scipy's text (_lsap.c)
    case kLsapInvalid:
      return "matrix contains invalid numeric entries";  // scipy's text (_lsap.c)
    default:
      return "unknown linear assignment status";
  }
}

int linear_sum_assignment(const double* cost, int64_t nr, int64_t nc, int64_t ld, bool maximize,
                          int64_t* rows, int64_t* cols, double* total, LsapWorkspace& ws) {
  if (total != nullptr) *total = 0.0;
  if (nr == 0 || nc == 0) return kLsapOk;
  const bool transpose = nc < nr;
  const int64_t r = transpose ? nc : nr;  // rows of the problem actually solved (r <= c)
  const int64_t c = transpose ? nr : nc;
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // Working matrix: the input itself when no change is needed, else a transposed and/or negated
  // copy.  Validity is checked on the values the solver will see (after negation), over the
  // whole matrix before any solving, so an invalid entry wins over infeasibility as in scipy.
  const double* work = cost;
  int64_t work_ld = ld;
  if (transpose || maximize) {
    const auto size = static_cast<size_t>(r * c);
    if (ws.cost.size() < size) ws.cost.resize(size);
    double* w = ws.cost.data();
    const double sign = maximize ? -1.0 : 1.0;
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t j = 0; j < c; ++j) {
        w[i * c + j] = sign * (transpose ? cost[j * ld + i] : cost[i * ld + j]);
      }
    }
    work = w;
    work_ld = c;
  }
  const auto uc = static_cast<size_t>(c);
  if (ws.col4row.size() < uc) ws.col4row.resize(uc);
  int64_t* col4row = ws.col4row.data();
  int status = kLsapNeedsSap;
  // Square and nearly square problems go to JV, which validates the values in its first pass
  // and hands +inf / huge magnitudes back to the SAP (kLsapNeedsSap).
  const bool jv_shape = c >= kJvMinSize && (r == c || 4 * r >= 3 * c);
  if (jv_shape && r == c) {
    status = lsap_jonker_volgenant(work, r, work_ld, col4row, ws);
  } else if (jv_shape) {
    // Nearly square: JV on the matrix padded with zero-cost dummy rows beats the SAP (whose
    // cost grows with every row added).  Any optimal assignment of the padded problem restricted
    // to the real rows is optimal for the rectangular one, since every dummy row costs the same
    // wherever it goes.  Measured as for kJvMinSize (per problem, SAP / padded JV, copy
    // included): 9x10 1.3/0.9 us, 15x20 3.3/1.9, 37x50 20/7.9, 75x100 101/27; at r = c/2 they
    // are close (10x20 1.5/1.9, 50x100 43/28), at r = c/4 the SAP wins (25x100 11/35).
    const auto size = static_cast<size_t>(c * c);
    if (ws.padded.size() < size) ws.padded.resize(size);
    double* padded = ws.padded.data();
    for (int64_t i = 0; i < r; ++i) {
      std::copy(work + i * work_ld, work + i * work_ld + c, padded + i * c);
    }
    std::fill(padded + r * c, padded + c * c, 0.0);
    status = lsap_jonker_volgenant(padded, c, c, col4row, ws);
  } else {
    const ValueRange range = value_range(work, r, c, work_ld);
    if (range.has_nan || range.lo == -kInf) status = kLsapInvalid;
  }
  if (status == kLsapInvalid) return status;
  if (status == kLsapNeedsSap) {
    // Values are known to be free of NaN and -inf here; +inf marks forbidden pairs.
    status = lsap_shortest_augmenting_path(work, r, c, work_ld, col4row, ws);
  }
  if (status != kLsapOk) return status;

  if (!transpose) {
    for (int64_t i = 0; i < r; ++i) {
      rows[i] = i;
      cols[i] = col4row[i];
    }
  } else {
    // Solved row i is original column i, matched to original row col4row[i].  Emit pairs sorted
    // by original row (scipy argsorts col4row; the values are distinct, so a bucket pass suffices).
    if (ws.scratch.size() < uc) ws.scratch.resize(uc);
    int64_t* owner = ws.scratch.data();
    for (int64_t k = 0; k < c; ++k) owner[k] = -1;
    for (int64_t i = 0; i < r; ++i) owner[col4row[i]] = i;
    int64_t out = 0;
    for (int64_t k = 0; k < c; ++k) {
      if (owner[k] >= 0) {
        rows[out] = k;
        cols[out] = owner[k];
        ++out;
      }
    }
  }
  if (total != nullptr) {
    double s = 0.0;
    for (int64_t k = 0; k < r; ++k) s += cost[rows[k] * ld + cols[k]];
    *total = s;
  }
  return kLsapOk;
}

void lsap_batch_offsets(int64_t n_problems, const int64_t* nrows, const int64_t* ncols,
                        int64_t* out_offsets) {
  out_offsets[0] = 0;
  for (int64_t b = 0; b < n_problems; ++b) {
    out_offsets[b + 1] = out_offsets[b] + std::min(nrows[b], ncols[b]);
  }
}

int64_t batched_linear_sum_assignment(int64_t n_problems, const double* const* costs,
                                      const int64_t* nrows, const int64_t* ncols,
                                      const int64_t* lds, bool maximize, const int64_t* out_offsets,
                                      int64_t* rows, int64_t* cols, double* totals, int* statuses) {
  // Problems can differ in size by orders of magnitude: small blocks claimed dynamically keep
  // the threads balanced; each thread owns one workspace.
  dynamic_for<LsapWorkspace>(n_problems, dynamic_block(n_problems, 16),
                             [&](int64_t begin, int64_t end, LsapWorkspace& ws) {
                               for (int64_t b = begin; b < end; ++b) {
                                 const int64_t o = out_offsets[b];
                                 statuses[b] = linear_sum_assignment(costs[b], nrows[b], ncols[b],
                                                                     lds[b], maximize, rows + o,
                                                                     cols + o, totals + b, ws);
                               }
                             });
  for (int64_t b = 0; b < n_problems; ++b) {
    if (statuses[b] != kLsapOk) return b;
  }
  return -1;
}

}  // namespace vrft
