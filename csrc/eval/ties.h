// AP under tied scores: the range of a category's AP over the orders of its tied detections, and
// the expectation over uniformly random orders (Monte Carlo).
//
// What a tie order can change (pycocotools 2.0.11, COCOeval.evaluateImg / accumulate): within one
// (image, category), detections are sorted by score with a stable sort, so tied ones keep the
// order of the results file; that order decides the greedy matching when two tied detections
// compete for one GT, and which tied detections survive the maxDets cap.  Across images the
// concatenation is in image order and sorted stably again, so tied detections of different
// images are never interleaved by a permutation of the file.  The orders considered are
// therefore the independent permutations of every (category, image, score) group: exactly what
// shuffling the results file can produce.
//
// Exact extremes (validated against brute force over all file orders with pycocotools):
//   * a tie group is "free" when no two of its detections have IoU >= min(iou_thrs) with the
//     same non-crowd GT, and it does not straddle the cap: its labels (TP / FP / ignored at every
//     area range and threshold) do not depend on its order, and putting TPs first (last) raises
//     (lowers) every precision value pointwise, so sorting it by its number of TP cells gives the
//     maximum (minimum) for every threshold at once, provided its TP sets are nested;
//   * every other group ("hard": competing, straddling the cap, or not nested) has its
//     permutations enumerated, per (image, category) "unit" (the product of its hard groups'
//     permutations, up to `unit_budget`), each re-matched; outcomes dominated by another (every
//     segment's TP / FP prefix counts no better at every cell) are dropped, which leaves one
//     candidate per unit in the usual case;
//   * the units' candidates are combined exhaustively (up to `combo_budget` combinations per
//     category), each combination accumulated as pycocotools does.
// Beyond a budget the values are attained by real orders (inner bounds) and `exact` is 0.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/evaluate.h"

namespace vrft::eval {

struct TieParams {
  MatchParams match;                 // the engine's: positions, thresholds, area ranges, cap
  const double* rec_thrs = nullptr;  // R recall thresholds
  int64_t num_rec_thrs = 0;
  const uint8_t* cells = nullptr;  // M x A x T: 1 where metric m averages cell (a, t)
  int64_t num_metrics = 0;         // M
  int64_t unit_budget = 5040;      // orders enumerated per (image, category)
  int64_t combo_budget = 4096;     // unit-candidate combinations per category and bound
  int64_t num_draws = 0;           // Monte Carlo draws (0: none)
  uint64_t seed = 0;
};

// Per category k and metric m, row-major K x M (a metric's AP is the mean of the defined
// precision cells, in pycocotools' (t, r, a) order, numpy's pairwise sum; -1 without GT).
struct TieRange {
  std::vector<double> canonical;       // the file order's AP (equals the engine's)
  std::vector<double> lo, hi;          // lowest / highest AP over the orders
  std::vector<uint8_t> exact;          // 1: lo and hi are the exact extremes
  std::vector<double> mc_mean, mc_sd;  // over num_draws random orders (sd with ddof 1; 0 if K < 2)
  std::vector<int64_t> tied_groups;    // per category: (image, score) groups of >= 2 detections
  std::vector<int64_t>
      hard_groups;  // per category: of which competing / cut by the cap / not nested
};

// Parallel over categories (thread pool).  Throws std::invalid_argument on out-of-range positions.
TieRange tie_range(const GtColumns& gt, const DtColumns& dt, const TieParams& params);

}  // namespace vrft::eval
