// Jonker-Volgenant for the square LSAP (finite costs; other values are reported, see lsap.h).
//
//   R. Jonker, A. Volgenant, "A shortest augmenting path algorithm for dense and sparse linear
//   assignment problems", Computing 38:325-340, 1987.
//
// Phases, named after the procedures of the paper's pseudocode (I have not re-checked page
// numbers, so none are cited):
//   1. column reduction: v[j] = min_i c[i][j]; each column is offered to its minimum row,
//      scanning columns from last to first; a row that wins several columns keeps the one with the
//      smallest v;
//   2. reduction transfer: for rows that won exactly one column, lower that column's v by
//      the row's second-smallest reduced cost, so later phases see a tighter dual;
//   3. augmenting row reduction, two passes: each free row takes the column of its
//      smallest reduced cost, lowering that column's v to the second-smallest; a displaced row is
//      retried at once when v moved, else in the next pass;
//   4. augmentation: a Dijkstra search per remaining free row, scanning all columns at
//      the current minimum distance together, and the usual dual update.
// Only the column duals v are stored: the row dual of an assigned row is implicit,
// u[i] = c[i][x[i]] - v[x[i]] = min_j (c[i][j] - v[j]) (complementary slackness).
//
// Tie-breaks: column reduction gives a column to the lowest-index row among equal minima
// (strict `<` scan); in the search, an unassigned column at the minimum distance ends it.
//
// Floating point: in exact arithmetic phase 3 terminates because every retry strictly lowers a v.
// In floating point a decrement smaller than an ulp of v leaves v unchanged and the pass could
// cycle; each pass is therefore capped at n steps, and rows still in its queue go on to the
// augmentation phase, which always terminates.  (The cap also pays: long displacement chains
// cost more than the shortest-path searches they save.)
#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "match/lsap.h"

namespace vrft {
namespace {

// Values of the smallest and second smallest of row[j] - v[j] (n >= 2).  Four independent
// (min, second) chains break the dependency on the previous element; min and max are exact, so
// merging the chains gives the same values as one sequential scan.  This loop is most of the
// augmenting row reduction, itself most of the time on dense random problems.
inline void two_smallest(const double* row, const double* v, int64_t n, double* out_min,
                         double* out_second) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double m[4] = {kInf, kInf, kInf, kInf};
  double s[4] = {kInf, kInf, kInf, kInf};
  int64_t j = 0;
#if defined(__SSE2__)
  // Two 2-lane chains with packed min/max (baseline x86-64); minpd/maxpd equal the scalar
  // comparisons for the NaN-free values the driver guarantees.
  __m128d m01 = _mm_set1_pd(kInf), m23 = m01, s01 = m01, s23 = m01;
  for (; j + 4 <= n; j += 4) {
    const __m128d h01 = _mm_sub_pd(_mm_loadu_pd(row + j), _mm_loadu_pd(v + j));
    const __m128d h23 = _mm_sub_pd(_mm_loadu_pd(row + j + 2), _mm_loadu_pd(v + j + 2));
    s01 = _mm_min_pd(s01, _mm_max_pd(m01, h01));
    m01 = _mm_min_pd(m01, h01);
    s23 = _mm_min_pd(s23, _mm_max_pd(m23, h23));
    m23 = _mm_min_pd(m23, h23);
  }
  _mm_storeu_pd(m, m01);
  _mm_storeu_pd(m + 2, m23);
  _mm_storeu_pd(s, s01);
  _mm_storeu_pd(s + 2, s23);
#else
  for (; j + 4 <= n; j += 4) {
    for (int l = 0; l < 4; ++l) {
      const double h = row[j + l] - v[j + l];
      s[l] = std::min(s[l], std::max(m[l], h));
      m[l] = std::min(m[l], h);
    }
  }
#endif
  for (; j < n; ++j) {
    const double h = row[j] - v[j];
    s[0] = std::min(s[0], std::max(m[0], h));
    m[0] = std::min(m[0], h);
  }
  double mn = m[0], sc = s[0];
  for (int l = 1; l < 4; ++l) {
    sc = std::min(std::min(sc, s[l]), std::max(mn, m[l]));
    mn = std::min(mn, m[l]);
  }
  *out_min = mn;
  *out_second = sc;
}

// First index j in [from, n) with row[j] - v[j] == target, or n - 1 if there is none (cannot
// happen for a target produced by two_smallest on the same data; the bound keeps the scan safe).
inline int64_t find_first(const double* row, const double* v, int64_t from, int64_t n,
                          double target) {
  int64_t j = from;
#if defined(__SSE2__)
  const __m128d t = _mm_set1_pd(target);
  for (; j + 2 <= n; j += 2) {
    const __m128d h = _mm_sub_pd(_mm_loadu_pd(row + j), _mm_loadu_pd(v + j));
    const int mask = _mm_movemask_pd(_mm_cmpeq_pd(h, t));
    if (mask != 0) return j + ((mask & 1) ? 0 : 1);
  }
#endif
  for (; j < n; ++j) {
    if (row[j] - v[j] == target) return j;
  }
  return n - 1;
}

}  // namespace

int lsap_jonker_volgenant(const double* cost, int64_t n, int64_t ld, int64_t* x,
                          LsapWorkspace& ws) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const auto un = static_cast<size_t>(n);
  if (n == 1) {
    const double c0 = cost[0];
    if (std::isnan(c0) || c0 == -kInf) return kLsapInvalid;
    if (!(std::fabs(c0) < kJvMaxAbsCost)) return kLsapNeedsSap;
    x[0] = 0;
    return kLsapOk;
  }
  if (ws.v.size() < un) ws.v.resize(un);
  if (ws.dist.size() < un) ws.dist.resize(un);
  if (ws.row4col.size() < un) ws.row4col.resize(un);
  if (ws.path.size() < un) ws.path.resize(un);
  if (ws.cols.size() < un) ws.cols.resize(un);
  if (ws.rows.size() < un) ws.rows.resize(un);
  if (ws.scratch.size() < un) ws.scratch.resize(un);
  double* v = ws.v.data();
  double* d = ws.dist.data();
  int64_t* y = ws.row4col.data();     // row assigned to each column, -1 if none
  int64_t* pred = ws.path.data();     // predecessor row of each column in the search tree
  int64_t* collist = ws.cols.data();  // columns: [0,low) done, [low,up) at min distance, rest todo
  int64_t* free_rows = ws.rows.data();
  int64_t* matches = ws.scratch.data();  // phase 1: how many columns each row won

  // ---- 1. Column reduction.  Row-major scan (cache friendly); strict `<` keeps the lowest row.
  // The winning row is kept as a double (d is free until phase 4) so that compare and select
  // have the same width and the loop runs two columns per instruction.  The same pass checks
  // the values (NaN flag, maximum; the minimum is the smallest column minimum).
  double* row_of = d;
  bool has_nan = false;
  double hi = -kInf;
  for (int64_t j = 0; j < n; ++j) {
    v[j] = cost[j];
    row_of[j] = 0.0;
    has_nan |= std::isnan(cost[j]);
    hi = std::max(hi, cost[j]);
  }
#if defined(__SSE2__)
  __m128d unord = _mm_setzero_pd();
  __m128d hi2 = _mm_set1_pd(-kInf);
#endif
  for (int64_t i = 1; i < n; ++i) {
    const double* row = cost + i * ld;
    const double di = static_cast<double>(i);
    int64_t j = 0;
#if defined(__SSE2__)
    const __m128d vi = _mm_set1_pd(di);
    for (; j + 2 <= n; j += 2) {
      const __m128d r = _mm_loadu_pd(row + j);
      const __m128d cur = _mm_loadu_pd(v + j);
      const __m128d lower = _mm_cmplt_pd(r, cur);
      _mm_storeu_pd(v + j, _mm_or_pd(_mm_and_pd(lower, r), _mm_andnot_pd(lower, cur)));
      const __m128d w = _mm_loadu_pd(row_of + j);
      _mm_storeu_pd(row_of + j, _mm_or_pd(_mm_and_pd(lower, vi), _mm_andnot_pd(lower, w)));
      unord = _mm_or_pd(unord, _mm_cmpunord_pd(r, r));
      hi2 = _mm_max_pd(hi2, r);
    }
#endif
    for (; j < n; ++j) {
      has_nan |= std::isnan(row[j]);
      hi = std::max(hi, row[j]);
      if (row[j] < v[j]) {
        v[j] = row[j];
        row_of[j] = di;
      }
    }
  }
#if defined(__SSE2__)
  has_nan |= _mm_movemask_pd(unord) != 0;
  double hi_lanes[2];
  _mm_storeu_pd(hi_lanes, hi2);
  hi = std::max(hi, std::max(hi_lanes[0], hi_lanes[1]));
#endif
  double lo = kInf;
  for (int64_t j = 0; j < n; ++j) lo = std::min(lo, v[j]);
  if (has_nan || lo == -kInf) return kLsapInvalid;
  if (!(hi < kInf) || !(std::max(std::fabs(lo), std::fabs(hi)) < kJvMaxAbsCost)) {
    return kLsapNeedsSap;
  }
  for (int64_t j = 0; j < n; ++j) pred[j] = static_cast<int64_t>(row_of[j]);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = -1;
    matches[i] = 0;
  }
  for (int64_t j = n - 1; j >= 0; --j) {
    const int64_t imin = pred[j];
    if (++matches[imin] == 1) {
      x[imin] = j;
      y[j] = imin;
    } else if (v[j] < v[x[imin]]) {
      // The row already won a column with a larger minimum: keep the cheaper one.
      y[x[imin]] = -1;
      x[imin] = j;
      y[j] = imin;
    } else {
      y[j] = -1;
    }
  }

  // ---- 2. Reduction transfer.
  int64_t n_free = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (matches[i] == 0) {
      free_rows[n_free++] = i;
    } else if (matches[i] == 1) {
      // Row i's reduced cost is exactly 0 at j1 (v[j1] is that column's minimum, c[i][j1]) and
      // >= 0 elsewhere, so the minimum over j != j1 is the second smallest value of the row.
      const int64_t j1 = x[i];
      double umin, usub;
      two_smallest(cost + i * ld, v, n, &umin, &usub);
      v[j1] -= usub;
    }
  }

  // ---- 3. Augmenting row reduction, two passes.
  for (int pass = 0; pass < 2 && n_free > 0; ++pass) {
    int64_t k = 0;
    const int64_t prev_free = n_free;
    n_free = 0;
    int64_t steps = 0;
    // Cap: see the file comment.  n steps per pass also measured fastest overall for uniform
    // 100 x 100 costs (a throwaway driver, 2-core VM): uncapped chains averaged ~15 n steps
    // per problem; capping at n leaves ~4 rows to phase 4 and cut the total time by ~1/4.
    const int64_t max_steps = n;
    while (k < prev_free) {
      if (++steps > max_steps) {
        while (k < prev_free) free_rows[n_free++] = free_rows[k++];
        break;
      }
      const int64_t i = free_rows[k++];
      const double* row = cost + i * ld;
      // Smallest (umin at j1) and second smallest (usub at j2) reduced cost of row i; j1 is the
      // first index of umin, j2 the first other index of usub (the ties of a sequential scan).
      double umin, usub;
      two_smallest(row, v, n, &umin, &usub);
      int64_t j1 = find_first(row, v, 0, n, umin);
      int64_t j2 = find_first(row, v, 0, n, usub);
      if (j2 == j1) j2 = find_first(row, v, j1 + 1, n, usub);  // umin == usub: next occurrence
      int64_t i0 = y[j1];
      const bool lowered = umin < usub;
      if (lowered) {
        v[j1] -= usub - umin;
      } else if (i0 >= 0) {
        // Equal minima: take the second column instead so that no row is displaced when it is free.
        j1 = j2;
        i0 = y[j2];
      }
      x[i] = j1;
      y[j1] = i;
      if (i0 >= 0) {
        x[i0] = -1;
        if (lowered) {
          free_rows[--k] = i0;  // retry the displaced row at once
        } else {
          free_rows[n_free++] = i0;  // next pass
        }
      }
    }
  }

  // ---- 4. Augmentation of the rows still free.
  // The column list is kept together with each column's distance, dual and predecessor in the
  // list's own order (structure of arrays, permuted along with the list), so the relaxation
  // reads them contiguously and gathers only the cost row.  Positions: [0, low) scanned,
  // [low, up) at the current minimum distance, [up, n) todo.
  if (ws.u.size() < un) ws.u.resize(un);
  int64_t* cl = collist;       // column at each position
  double* dl = d;              // its tentative distance
  double* vl = ws.u.data();    // its dual (constant during one search)
  int64_t* pl = pred;          // its predecessor row
  int64_t* pred_of = matches;  // predecessor by column, for the augmentation walk
  auto swap_pos = [&](int64_t a, int64_t b) {
    std::swap(cl[a], cl[b]);
    std::swap(dl[a], dl[b]);
    std::swap(vl[a], vl[b]);
    std::swap(pl[a], pl[b]);
  };
  for (int64_t f = 0; f < n_free; ++f) {
    const int64_t start = free_rows[f];
    const double* srow = cost + start * ld;
    for (int64_t k = 0; k < n; ++k) {
      cl[k] = k;
      vl[k] = v[k];
      dl[k] = srow[k] - v[k];
      pl[k] = start;
    }
    int64_t low = 0, up = 0, last = 0;
    int64_t end_pos = -1;
    double mn = 0.0;
    while (end_pos < 0) {
      if (up == low) {
        // Collect all todo columns at the new minimum distance into [low, up).  A free column
        // always exists (n rows, at most n - 1 assigned), so todo columns remain until one is
        // found; the check only guards against non-finite distances.
        if (up >= n) return kLsapInfeasible;
        last = low;
        mn = dl[up++];
        for (int64_t k = up; k < n; ++k) {
          const double h = dl[k];
          if (h <= mn) {
            if (h < mn) {
              up = low;
              mn = h;
            }
            swap_pos(k, up++);
          }
        }
        for (int64_t k = low; k < up; ++k) {
          if (y[cl[k]] < 0) {
            end_pos = k;
            break;
          }
        }
        if (end_pos >= 0) break;
      }
      // Scan one column at the minimum distance: relax through its assigned row.
      const int64_t j1 = cl[low];
      const int64_t i = y[j1];
      const double* row = cost + i * ld;
      const double h = row[j1] - vl[low] - mn;  // row i's implicit dual, shifted by mn
      ++low;
      // Relaxation, branch-free and two columns at a time where SSE2 is available (the outcome
      // of `v2 < dl` is unpredictable on random costs).  A column whose distance drops to the
      // current minimum is rare; a second pass moves such columns into [low, up) (or ends the
      // search at a free one).  Every todo column at distance mn was reached in this scan,
      // since the earlier ones were collected already.
      int64_t k = up;
      bool reached_min = false;
#if defined(__SSE2__)
      const __m128d h2 = _mm_set1_pd(h);
      const __m128d mn2 = _mm_set1_pd(mn);
      const __m128i i2 = _mm_set1_epi64x(i);
      __m128d hit = _mm_setzero_pd();
      for (; k + 2 <= n; k += 2) {
        const __m128d r = _mm_set_pd(row[cl[k + 1]], row[cl[k]]);
        const __m128d v2 = _mm_sub_pd(_mm_sub_pd(r, _mm_loadu_pd(vl + k)), h2);
        const __m128d cur = _mm_loadu_pd(dl + k);
        const __m128d lower = _mm_cmplt_pd(v2, cur);
        _mm_storeu_pd(dl + k, _mm_or_pd(_mm_and_pd(lower, v2), _mm_andnot_pd(lower, cur)));
        const __m128i lm = _mm_castpd_si128(lower);
        const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pl + k));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(pl + k),
                         _mm_or_si128(_mm_and_si128(lm, i2), _mm_andnot_si128(lm, p)));
        hit = _mm_or_pd(hit, _mm_and_pd(lower, _mm_cmpeq_pd(v2, mn2)));
      }
      reached_min = _mm_movemask_pd(hit) != 0;
#endif
      for (; k < n; ++k) {
        const double v2 = row[cl[k]] - vl[k] - h;
        if (v2 < dl[k]) {
          pl[k] = i;
          dl[k] = v2;
          reached_min |= v2 == mn;
        }
      }
      if (reached_min) {
        for (k = up; k < n; ++k) {
          if (dl[k] == mn) {
            if (y[cl[k]] < 0) {
              end_pos = k;
              break;
            }
            swap_pos(k, up++);  // position k now holds an already examined column
          }
        }
      }
    }
    // Dual update for the columns whose distance became final (those before `last`).
    for (int64_t k = 0; k < last; ++k) v[cl[k]] += dl[k] - mn;
    // Augment along the predecessors (every column on the path is scanned or is the end).
    for (int64_t k = 0; k < up; ++k) pred_of[cl[k]] = pl[k];
    pred_of[cl[end_pos]] = pl[end_pos];
    int64_t j = cl[end_pos];
    for (;;) {
      const int64_t i = pred_of[j];
      y[j] = i;
      const int64_t prev = x[i];
      x[i] = j;
      if (i == start) break;
      j = prev;
    }
  }
  return kLsapOk;
}

}  // namespace vrft
