// Merge of evaluations computed on disjoint image subsets (sharded per-image matching).
//
// evaluate_images() treats every (category, image) group independently, so the images can be
// split across processes: each shard evaluates the GT / detection rows of its images (with image
// and category positions in the *global* lists) and the shards' groups are put back in
// (category, image) order here.  Within a group the rows keep their relative order as long as
// each shard's rows are an order-preserving subset of the caller's rows (which the row maps below
// translate back), so the merged Evaluation equals the one-process Evaluation field for field,
// and accumulate() on it gives bit-identical precision / recall / scores.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/evaluate.h"

namespace vrft::eval {

// One shard's result and how its local row numbers map to the caller's rows.
struct EvaluationPart {
  const Evaluation* ev = nullptr;
  const int64_t* gt_rows = nullptr;  // gt_rows[local GT row] = caller's GT row; nullptr: identity
  int64_t num_gt_rows = 0;           // length of gt_rows (local GT rows must be < this)
  const int64_t* dt_rows = nullptr;  // the same for detection rows
  int64_t num_dt_rows = 0;
};

// Groups of all parts in (category, image) order with rows translated.  Throws
// std::invalid_argument when the parts disagree on (I, K, T, A), a local row is outside its row
// map, or two parts hold the same (category, image) group (the image subsets overlap).
Evaluation merge_evaluations(const std::vector<EvaluationPart>& parts);

// Checks that an Evaluation rebuilt from outside (unpickled) is internally consistent: array
// lengths agree with the offsets, offsets are non-decreasing, groups are in (category, image)
// order within range, states are DetState values.  Throws std::invalid_argument naming the field.
void check_evaluation(const Evaluation& ev);

}  // namespace vrft::eval
