// Linear sum assignment (LSAP): single problems and the algorithms behind them.
//
// All functions are plain C++ over pointers and sizes and return a status code (the scipy
// convention of scipy/optimize/rectangular_lsap/rectangular_lsap.h); the Python boundary maps
// statuses to exceptions once.  Costs are float64 row-major; a row stride `ld` (>= nc) lets the
// batched API solve the top-left block of a padded (B, N, M) array without copying.
//
// Semantics reproduce scipy.optimize.linear_sum_assignment:
//   * rectangular: a matrix with more rows than columns is solved transposed, so every one of the
//     min(nr, nc) rows (or columns) is assigned;
//   * maximize negates the costs first;
//   * after negation, NaN and -inf are invalid (kLsapInvalid), +inf is a forbidden pair, and a
//     problem without a complete matching of finite pairs is infeasible (kLsapInfeasible);
//   * results are (row, col) pairs sorted by row.
// The total cost equals scipy's; the pairs may differ where several assignments tie exactly.
#pragma once

#include <cstdint>
#include <vector>

namespace vrft {

// Status codes (same values as scipy's RECTANGULAR_LSAP_INFEASIBLE / _INVALID).
constexpr int kLsapOk = 0;
constexpr int kLsapInfeasible = -1;
constexpr int kLsapInvalid = -2;
// Internal: lsap_jonker_volgenant found +inf or magnitudes it cannot handle; the driver then uses
// the shortest augmenting path.  Never returned by linear_sum_assignment.
constexpr int kLsapNeedsSap = -3;

// Magnitude from which JV hands over to the SAP: JV subtracts duals of the size of the costs
// without the SAP's infinity checks, so beyond this its differences could overflow.
constexpr double kJvMaxAbsCost = 1e300 / 16;

// Human-readable text of a status: scipy's exact ValueError messages.
const char* lsap_status_message(int status);

// Scratch memory for the solvers.  One per thread, reused across problems: after it has grown to
// the largest problem size no solver call allocates.
struct LsapWorkspace {
  std::vector<double> cost;        // working copy (transposed / negated) when one is needed
  std::vector<double> padded;      // nearly square problems padded to square for JV
  std::vector<double> u, v, dist;  // row duals, column duals, shortest-path distances
  std::vector<int64_t> col4row, row4col, path, cols, rows, order;
  std::vector<int64_t> scratch;  // small integer scratch (free rows, column lists, counts)
};

// Square problems of at least this size take Jonker-Volgenant with its initialisation, smaller
// ones and all rectangular ones the shortest augmenting path without initialisation (which needs
// no padding).  Picked by measurement: a throwaway driver timing both solvers on the same
// matrices, thread CPU time per problem on the 2-core development VM, SAP / JV:
//   uniform float64:  n=4 0.22/0.15 us, n=8 1.05/0.44, n=16 4.9/1.4, n=32 22/4.7, n=100 264/44
//   integers 0..2:    n=4 0.21/0.14 us, n=8 0.91/0.42, n=16 3.0/1.4, n=32 9.7/5.4, n=100 89/55
// JV wins from n=4 on; below that both take a few nanoseconds and the SAP has less setup.
// Nearly square rectangular problems (rows >= 3/4 of the columns) are padded to square for JV;
// see linear_sum_assignment in lsap.cpp for that measurement.
// JV also needs finite costs (its column reduction has no notion of a forbidden pair), so
// matrices with +inf entries always take the SAP.
constexpr int64_t kJvMinSize = 4;

// Shortest augmenting path (Crouse 2016, pp. 1685-1686) without initialisation.
// cost: nr x nc row-major with stride ld, nr <= nc, entries finite or +inf (no NaN, no -inf).
// Writes col4row[0..nr).  Returns kLsapOk or kLsapInfeasible.
int lsap_shortest_augmenting_path(const double* cost, int64_t nr, int64_t nc, int64_t ld,
                                  int64_t* col4row, LsapWorkspace& ws);

// Jonker-Volgenant (Computing 38:325-340, 1987): column reduction, reduction transfer, two
// passes of augmenting row reduction, then shortest augmenting paths for the rows left free.
// cost: n x n row-major with stride ld, any values: the column-reduction pass also validates
// them (saving a separate pass over the matrix).  Writes col4row[0..n).  Returns kLsapOk,
// kLsapInvalid (NaN or -inf) or kLsapNeedsSap (+inf, or |cost| >= kJvMaxAbsCost).
int lsap_jonker_volgenant(const double* cost, int64_t n, int64_t ld, int64_t* col4row,
                          LsapWorkspace& ws);

// scipy-compatible driver.  cost: nr x nc row-major with stride ld (>= nc), any float64 values.
// On success writes k = min(nr, nc) pairs to rows[0..k) (ascending) and cols[0..k), and the sum
// of the chosen original (not negated) costs, added in row order, to *total (may be null).
// Returns kLsapOk, kLsapInfeasible or kLsapInvalid (NaN, or -inf after negation).
int linear_sum_assignment(const double* cost, int64_t nr, int64_t nc, int64_t ld, bool maximize,
                          int64_t* rows, int64_t* cols, double* total, LsapWorkspace& ws);

// Many problems at once, spread over the thread pool (dynamic chunks, one workspace per chunk).
// Problem b has shape (nrows[b], ncols[b]) and starts at costs[b] with row stride lds[b].
// Its pairs go to rows/cols starting at out_offsets[b] (out_offsets has B+1 entries and
// out_offsets[b+1] - out_offsets[b] == min(nrows[b], ncols[b])); totals[b] receives its total.
// statuses[b] receives each problem's status; returns the index of the first failing problem,
// or -1 when all succeeded (outputs of failed problems are unspecified).
int64_t batched_linear_sum_assignment(int64_t n_problems, const double* const* costs,
                                      const int64_t* nrows, const int64_t* ncols,
                                      const int64_t* lds, bool maximize, const int64_t* out_offsets,
                                      int64_t* rows, int64_t* cols, double* totals, int* statuses);

// The out_offsets of batched_linear_sum_assignment (B + 1 values from 0): each problem gets
// min(nrows[b], ncols[b]) pairs.
void lsap_batch_offsets(int64_t n_problems, const int64_t* nrows, const int64_t* ncols,
                        int64_t* out_offsets);

}  // namespace vrft
