// Shortest augmenting path for the rectangular LSAP, without initialisation.
//
// Follows the pseudocode on pp. 1685-1686 of
//   D. F. Crouse, "On implementing 2D rectangular assignment algorithms",
//   IEEE Trans. Aerospace and Electronic Systems 52(4):1679-1696, 2016,
// (outer loop over rows, shortest augmenting path search, dual update, augmentation), which is
// also the algorithm of scipy.optimize.linear_sum_assignment (scipy cites the same pages).  Rows
// are added one at a time; each addition is one Dijkstra search over reduced costs
// c[i][j] - u[i] - v[j] >= 0.
// Forbidden pairs (+inf) are never relaxed; a search that can reach no free column (its minimum
// distance is +inf) proves that no complete matching exists.
//
// Tie-breaks (they decide which of several optimal assignments is returned):
//   * among columns at equal distance an unassigned one is preferred, which ends the search
//     early (scipy does the same; it matters for integer costs with many ties);
//   * the candidate columns are kept in a list initialised in reverse order, so that a constant
//     cost matrix yields the identity assignment (scipy issue #11602).
#include <cmath>
#include <limits>

#include "match/lsap.h"

namespace vrft {

int lsap_shortest_augmenting_path(const double* cost, int64_t nr, int64_t nc, int64_t ld,
                                  int64_t* col4row, LsapWorkspace& ws) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const auto unr = static_cast<size_t>(nr);
  const auto unc = static_cast<size_t>(nc);
  if (ws.u.size() < unr) ws.u.resize(unr);
  if (ws.v.size() < unc) ws.v.resize(unc);
  if (ws.dist.size() < unc) ws.dist.resize(unc);
  if (ws.row4col.size() < unc) ws.row4col.resize(unc);
  if (ws.path.size() < unc) ws.path.resize(unc);
  if (ws.cols.size() < unc) ws.cols.resize(unc);
  if (ws.order.size() < unc) ws.order.resize(unc);
  double* u = ws.u.data();
  double* v = ws.v.data();
  double* dist = ws.dist.data();
  int64_t* row4col = ws.row4col.data();
  int64_t* path = ws.path.data();
  int64_t* remaining = ws.cols.data();  // columns not yet reached by the current search
  int64_t* reached = ws.order.data();   // columns reached, in the order they were reached

  for (int64_t i = 0; i < nr; ++i) {
    u[i] = 0.0;
    col4row[i] = -1;
  }
  for (int64_t j = 0; j < nc; ++j) {
    v[j] = 0.0;
    row4col[j] = -1;
  }

  for (int64_t cur = 0; cur < nr; ++cur) {
    // ---- Shortest path from row `cur` to any unassigned column.
    int64_t n_remaining = nc;
    for (int64_t k = 0; k < nc; ++k) {
      remaining[k] = nc - 1 - k;  // reverse order: constant matrix -> identity (#11602)
      dist[k] = kInf;
    }
    int64_t n_reached = 0;
    double min_val = 0.0;
    int64_t i = cur;
    int64_t sink = -1;
    while (sink < 0) {
      const double* row = cost + i * ld;
      const double ui = u[i];
      double lowest = kInf;
      int64_t best = -1;
      for (int64_t k = 0; k < n_remaining; ++k) {
        const int64_t j = remaining[k];
        const double r = min_val + row[j] - ui - v[j];
        if (r < dist[j]) {
          path[j] = i;
          dist[j] = r;
        }
        // Prefer a free column on ties: it ends the search (scipy's rule, see file comment).
        if (dist[j] < lowest || (dist[j] == lowest && row4col[j] < 0)) {
          lowest = dist[j];
          best = k;
        }
      }
      if (!(lowest < kInf)) return kLsapInfeasible;  // nothing reachable: no full matching
      min_val = lowest;
      const int64_t j = remaining[best];
      reached[n_reached++] = j;
      remaining[best] = remaining[--n_remaining];
      if (row4col[j] < 0) {
        sink = j;
      } else {
        i = row4col[j];
      }
    }

    // ---- Dual update: keeps reduced costs >= 0 and tight on the new path.
    u[cur] += min_val;
    for (int64_t k = 0; k + 1 < n_reached; ++k) {
      // Every reached column except the sink is assigned; its row was scanned by the search.
      const int64_t j = reached[k];
      u[row4col[j]] += min_val - dist[j];
    }
    for (int64_t k = 0; k < n_reached; ++k) {
      const int64_t j = reached[k];
      v[j] -= min_val - dist[j];
    }

    // ---- Augment along the path back to `cur`.
    int64_t j = sink;
    for (;;) {
      const int64_t pi = path[j];
      row4col[j] = pi;
      const int64_t prev = col4row[pi];
      col4row[pi] = j;
      if (pi == cur) break;
      j = prev;
    }
  }
  return kLsapOk;
}

}  // namespace vrft
