// CUDA kernel of vrft::match_boxes (csrc/match/match_boxes.h): many small ragged problems in one
// launch, one warp per problem.
//
// Per problem the warp
//   1. computes the n x m value tile with geometry/box_math.h (the CPU values, bit for bit),
//      into its slice of shared memory (or into global scratch for large problems);
//   2. solves it:
//      greedy     predictions ranked by descending score (stable), then, prediction by
//                 prediction, a warp argmax over the untaken qualifying GTs (lowest index on
//                 equal values), exactly the CPU scan's choice;
//      hungarian  Crouse's shortest augmenting path (the algorithm of scipy's
//                 linear_sum_assignment and of the CPU solver), rows = the smaller side,
//                 cost = -value for qualifying pairs and 0 otherwise (the CPU costs, in double);
//                 each Dijkstra step scans the unvisited columns lane-parallel and reduces the
//                 argmin over the warp; the sequential steps (path bookkeeping, augmentation)
//                 run on lane 0.  The optimum equals the CPU's; among exactly tied optima the
//                 matching may differ;
//   3. records the matches and, on lane 0, sums the matched values in prediction order (double),
//      as the CPU does.
// Warp-level rules kept throughout: the problem loop and every loop around a shuffle depend only
// on values all 32 lanes hold (problem sizes, warp-reduced results), so every __shfl_xor_sync
// with the full mask runs with all lanes active; shared state written by one lane and read by
// another is separated by __syncwarp (which also orders the global writes within the warp).
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "cuda/kernels.h"
#include "geometry/box_math.h"

namespace vrft::cuda::detail {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

__host__ __device__ constexpr int64_t align_up(int64_t bytes, int64_t to) {
  return (bytes + to - 1) / to * to;
}

// Layout of one warp's shared-memory slice for problems of at most k boxes on either side,
// with a value tile of `tile` elements of `value_bytes` each (0 when the tile is in global
// memory).  The host uses slice_bytes() to size the launch, the device carve() to find the
// arrays; both read the same offsets.
struct SliceLayout {
  int64_t values, u, v, spc, path, col4row, row4col, order, sr, sc, taken, total;
  __host__ __device__ SliceLayout(int64_t k, int64_t tile, int64_t value_bytes) {
    values = 0;
    u = align_up(tile * value_bytes, 16);
    v = u + 8 * k;
    spc = v + 8 * k;
    path = spc + 8 * k;
    col4row = path + 4 * k;
    row4col = col4row + 4 * k;
    order = row4col + 4 * k;
    sr = order + 4 * k;
    sc = sr + k;
    taken = sc + k;
    // At least 16 bytes, so that a batch of only empty problems (k = 0) still has a non-empty
    // slice and the launcher's division by the slice size is defined.
    total = align_up(taken + k, 16) > 16 ? align_up(taken + k, 16) : 16;
  }
};

// One warp's view of its slice.
template <typename T>
struct WarpState {
  T* values;             // n x m value tile (row = prediction)
  double* u;             // row duals (hungarian)
  double* v;             // column duals
  double* spc;           // shortest path cost to each column in the current search
  int* path;             // predecessor row of each column in the current search
  int* col4row;          // column of each row, -1 if unassigned
  int* row4col;          // row of each column, -1 if unassigned
  int* order;            // greedy: predictions in processing order
  unsigned char* sr;     // row visited in the current search
  unsigned char* sc;     // column visited in the current search
  unsigned char* taken;  // greedy: GT already matched
};

template <typename T>
__device__ inline WarpState<T> carve(unsigned char* base, const SliceLayout& l) {
  WarpState<T> s;
  s.values = reinterpret_cast<T*>(base + l.values);
  s.u = reinterpret_cast<double*>(base + l.u);
  s.v = reinterpret_cast<double*>(base + l.v);
  s.spc = reinterpret_cast<double*>(base + l.spc);
  s.path = reinterpret_cast<int*>(base + l.path);
  s.col4row = reinterpret_cast<int*>(base + l.col4row);
  s.row4col = reinterpret_cast<int*>(base + l.row4col);
  s.order = reinterpret_cast<int*>(base + l.order);
  s.sr = base + l.sr;
  s.sc = base + l.sc;
  s.taken = base + l.taken;
  return s;
}

// The qualifying rule of match_boxes.h: value > 0 and value >= t (> t when strict); NaN never.
struct Qualifies {
  double t;
  bool strict;
  __device__ bool operator()(double value) const {
    return value > 0.0 && (strict ? value > t : value >= t);
  }
};

// Everything a problem needs besides its sizes.
template <typename T>
struct MatchParams {
  const T* pred;
  const int64_t* pred_offsets;
  const T* gt;
  const int64_t* gt_offsets;
  int64_t n_problems;
  int64_t max_pred, max_gt;  // the sizes the shared-memory slices were planned for
  const double* scores;      // null: input order
  IouKind kind;
  BoxFormat fmt;
  Qualifies qualifies;
  SliceLayout layout;
  T* scratch;  // null: value tiles in shared memory
  const int64_t* scratch_offsets;
  DeviceMatchOutputs<T> out;
};

// ---- step 1: the value tile ----------------------------------------------------------------

template <typename T>
__device__ void fill_values(const MatchParams<T>& P, const T* pred, int n, const T* gt, int m,
                            T* values, int lane) {
  const bool centre = geometry_detail::kind_needs_centre(P.kind);
  const bool aspect = geometry_detail::kind_needs_aspect(P.kind);
  const int pairs = n * m;  // n, m <= 2^15 (checked by the launcher), so no overflow
  for (int k = lane; k < pairs; k += kWarp) {
    const int p = k / m;
    const int g = k - p * m;
    const auto a = geometry_detail::prepare_box(pred + 4 * p, P.fmt, centre, aspect);
    const auto b = geometry_detail::prepare_box(gt + 4 * g, P.fmt, centre, aspect);
    values[k] = geometry_detail::pair_value(a, b, P.kind);
  }
}

// ---- warp reductions -----------------------------------------------------------------------

// Greedy argmax: higher value wins, equal values -> lower GT index; `g == INT_MAX` is "none".
__device__ inline void warp_argmax(double& value, int& g) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const double ov = __shfl_xor_sync(kFullMask, value, offset);
    const int og = __shfl_xor_sync(kFullMask, g, offset);
    const bool take = og != INT_MAX && (g == INT_MAX || ov > value || (ov == value && og < g));
    if (take) {
      value = ov;
      g = og;
    }
  }
}

// Hungarian argmin: lower cost wins; equal costs -> an unassigned column (scipy's preference,
// which ends the search sooner), then the lower column index; `j == INT_MAX` is "none".
__device__ inline void warp_argmin(double& cost, int& is_free, int& j) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const double oc = __shfl_xor_sync(kFullMask, cost, offset);
    const int of = __shfl_xor_sync(kFullMask, is_free, offset);
    const int oj = __shfl_xor_sync(kFullMask, j, offset);
    const bool take =
        oj != INT_MAX &&
        (j == INT_MAX || oc < cost || (oc == cost && (of > is_free || (of == is_free && oj < j))));
    if (take) {
      cost = oc;
      is_free = of;
      j = oj;
    }
  }
}

// ---- step 2: solvers -----------------------------------------------------------------------

template <typename T>
__device__ inline void record(const MatchParams<T>& P, int64_t p0, int64_t g0, int p, int g,
                              T value) {
  P.out.matched_gt[p0 + p] = g;
  P.out.matched_value[p0 + p] = value;
  P.out.matched_pred[g0 + g] = p;
}

template <typename T>
__device__ void solve_greedy(const MatchParams<T>& P, const WarpState<T>& S, const T* values,
                             int64_t p0, int n, int64_t g0, int m, int lane) {
  // Rank of p = number of predictions before it in (descending score, ascending index) order:
  // the order of the CPU's std::sort with the same comparator (a strict total order, NaN
  // scores being rejected up front).  O(n^2 / 32) per problem, nothing to synchronise.
  for (int p = lane; p < n; p += kWarp) {
    int rank = p;
    if (P.scores != nullptr) {
      const double* s = P.scores + p0;
      const double sp = s[p];
      rank = 0;
      for (int q = 0; q < n; ++q) rank += (s[q] > sp || (s[q] == sp && q < p)) ? 1 : 0;
    }
    S.order[rank] = p;
  }
  for (int g = lane; g < m; g += kWarp) S.taken[g] = 0;
  __syncwarp();
  for (int k = 0; k < n; ++k) {  // uniform: n is the same in every lane
    const int p = S.order[k];
    const T* row = values + static_cast<int64_t>(p) * m;
    double best = 0.0;
    int best_g = INT_MAX;
    for (int g = lane; g < m; g += kWarp) {
      if (S.taken[g]) continue;
      const double v = static_cast<double>(row[g]);
      // Ascending g per lane and a strict `>` keep the lowest index among a lane's equal values.
      if (P.qualifies(v) && (best_g == INT_MAX || v > best)) {
        best = v;
        best_g = g;
      }
    }
    warp_argmax(best, best_g);  // all lanes active: the loop above has no early exit
    if (best_g != INT_MAX) {
      if (lane == 0) {
        S.taken[best_g] = 1;
        record(P, p0, g0, p, best_g, row[best_g]);
      }
      __syncwarp();  // `taken` is read by other lanes in the next step
    }
  }
}

template <typename T>
__device__ void solve_hungarian(const MatchParams<T>& P, const WarpState<T>& S, const T* values,
                                int64_t p0, int n, int64_t g0, int m, int lane) {
  // Rows are the smaller side so that every row gets a column.
  const bool transposed = n > m;
  const int r = transposed ? m : n;
  const int c = transposed ? n : m;
  auto cost = [&](int i, int j) -> double {
    const int p = transposed ? j : i;
    const int g = transposed ? i : j;
    const double v = static_cast<double>(values[static_cast<int64_t>(p) * m + g]);
    return P.qualifies(v) ? -v : 0.0;
  };
  const double inf = INFINITY;
  for (int j = lane; j < c; j += kWarp) {
    S.v[j] = 0.0;
    S.row4col[j] = -1;
  }
  for (int i = lane; i < r; i += kWarp) {
    S.u[i] = 0.0;
    S.col4row[i] = -1;
  }
  for (int cur_row = 0; cur_row < r; ++cur_row) {
    // Column-indexed arrays are owned by lane j % 32 during the search: only that lane writes
    // and reads spc[j], path[j], sc[j] until the __syncwarp after the search.
    for (int j = lane; j < c; j += kWarp) {
      S.spc[j] = inf;
      S.sc[j] = 0;
    }
    for (int i = lane; i < r; i += kWarp) S.sr[i] = 0;
    __syncwarp();  // sr cleared before lane 0 marks rows; u, v, row4col of the last round visible
    double min_val = 0.0;
    int i = cur_row;
    int sink = -1;
    bool stuck = false;
    while (sink < 0) {             // uniform: i, min_val and sink come from warp-reduced values
      if (lane == 0) S.sr[i] = 1;  // read only after the search (behind a __syncwarp)
      const double ui = S.u[i];
      double best = inf;
      int best_free = 0;
      int best_j = INT_MAX;
      for (int j = lane; j < c; j += kWarp) {
        if (S.sc[j]) continue;
        const double reduced = min_val + cost(i, j) - ui - S.v[j];
        if (reduced < S.spc[j]) {
          S.path[j] = i;
          S.spc[j] = reduced;
        }
        const double s = S.spc[j];
        const int is_free = S.row4col[j] < 0 ? 1 : 0;
        if (best_j == INT_MAX || s < best || (s == best && is_free > best_free)) {
          best = s;
          best_free = is_free;
          best_j = j;
        }
      }
      warp_argmin(best, best_free, best_j);
      if (best_j == INT_MAX || !(best < inf)) {
        // Cannot happen with finite costs and r <= c (a free column always remains); kept so a
        // broken invariant ends the search instead of hanging the GPU.
        stuck = true;
        break;
      }
      min_val = best;
      if (lane == (best_j & (kWarp - 1))) S.sc[best_j] = 1;  // the owner lane marks it
      if (S.row4col[best_j] < 0) {
        sink = best_j;
      } else {
        i = S.row4col[best_j];
      }
    }
    __syncwarp();  // the search's spc / path / sc / sr are read by other lanes below
    if (stuck) continue;
    // Dual update (scipy's augmenting_path epilogue): u[cur_row] += minVal;
    // u[i] += minVal - spc[col4row[i]] for the other visited rows; v[j] -= minVal - spc[j] for
    // the visited columns.
    for (int ii = lane; ii < r; ii += kWarp) {
      if (ii == cur_row) {
        S.u[ii] += min_val;
      } else if (S.sr[ii]) {
        S.u[ii] += min_val - S.spc[S.col4row[ii]];
      }
    }
    for (int j = lane; j < c; j += kWarp) {
      if (S.sc[j]) S.v[j] -= min_val - S.spc[j];
    }
    __syncwarp();     // the dual update reads col4row, which the augmentation rewrites
    if (lane == 0) {  // augment along the path back from the sink
      int j = sink;
      while (true) {
        const int pi = S.path[j];
        S.row4col[j] = pi;
        const int previous = S.col4row[pi];
        S.col4row[pi] = j;
        j = previous;
        if (pi == cur_row) break;
      }
    }
    __syncwarp();  // row4col / col4row / u / v complete before the next row's search
  }
  // Keep the qualifying pairs (negative cost); the zero-cost fillers are not matches.
  for (int i = lane; i < r; i += kWarp) {
    const int j = S.col4row[i];
    if (j < 0) continue;
    const int p = transposed ? j : i;
    const int g = transposed ? i : j;
    const T value = values[static_cast<int64_t>(p) * m + g];
    if (P.qualifies(static_cast<double>(value))) record(P, p0, g0, p, g, value);
  }
}

// ---- the kernel ----------------------------------------------------------------------------

template <typename T, MatchMethod M>
__global__ void match_kernel(MatchParams<T> P) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1);
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  const int warps = static_cast<int>(blockDim.x) / kWarp;
  const WarpState<T> S = carve<T>(shared_bytes + warp * P.layout.total, P.layout);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * warps + warp;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * warps;
  for (int64_t b = first; b < P.n_problems; b += stride) {  // uniform within the warp
    const int64_t p0 = P.pred_offsets[b];
    const int64_t g0 = P.gt_offsets[b];
    const int64_t n_boxes = P.pred_offsets[b + 1] - p0;
    const int64_t m_boxes = P.gt_offsets[b + 1] - g0;
    for (int64_t p = lane; p < n_boxes; p += kWarp) {
      P.out.matched_gt[p0 + p] = -1;
      P.out.matched_value[p0 + p] = T(0);
    }
    for (int64_t g = lane; g < m_boxes; g += kWarp) P.out.matched_pred[g0 + g] = -1;
    // A problem larger than the launch was planned for (a caller bug: the Python layer passes
    // the true maxima) would overrun the slice; it is left unmatched and flagged with
    // n_matched = -1 instead.  Within the plan, sides are <= 32768 and fit an int.
    const bool fits = n_boxes <= P.max_pred && m_boxes <= P.max_gt;
    const int n = fits ? static_cast<int>(n_boxes) : 0;
    const int m = fits ? static_cast<int>(m_boxes) : 0;
    if (n > 0 && m > 0) {
      T* values = P.scratch == nullptr ? S.values : P.scratch + P.scratch_offsets[b];
      fill_values(P, P.pred + 4 * p0, n, P.gt + 4 * g0, m, values, lane);
      __syncwarp();  // the tile and the -1 initialisation visible to every lane
      if (M == MatchMethod::kHungarian) {
        solve_hungarian(P, S, values, p0, n, g0, m, lane);
      } else {
        solve_greedy(P, S, values, p0, n, g0, m, lane);
      }
    }
    __syncwarp();  // all records written before lane 0 reads them
    if (lane == 0) {
      int64_t count = 0;
      double sum = 0.0;
      for (int p = 0; p < n; ++p) {
        if (P.out.matched_gt[p0 + p] >= 0) {
          ++count;
          sum += static_cast<double>(P.out.matched_value[p0 + p]);
        }
      }
      P.out.n_matched[b] = fits ? count : -1;
      P.out.sum_matched[b] = sum;
    }
    __syncwarp();  // the slice is reused by the warp's next problem
  }
}

}  // namespace vrft::cuda::detail
