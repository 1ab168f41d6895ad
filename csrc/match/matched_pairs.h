// The matched pairs of a ragged batch as flat lists (vrft_rewards.matching's MatchResult), built
// from the per-prediction outputs of match_boxes (match/match_boxes.h).
//
// Offsets must already be validated (length B + 1, start at 0, non-decreasing, end at the box
// counts), and matched_gt / n_matched must be match_boxes' outputs for those offsets.
#pragma once

#include <cstdint>

namespace vrft {

// Per-problem counts: problem b's pairs are [pair_offsets[b], pair_offsets[b + 1]) of the lists
// below (pair_offsets: B + 1 values from 0); n_unmatched_pred / n_unmatched_gt (B each) count the
// predictions / GTs of the problem left without a partner.  Returns the number of pairs.
int64_t count_matched_pairs(const int64_t* pred_offsets, const int64_t* gt_offsets,
                            int64_t n_problems, const int64_t* n_matched, int64_t* pair_offsets,
                            int64_t* n_unmatched_pred, int64_t* n_unmatched_gt);

// The pair lists, each with one entry per pair (count_matched_pairs' return value).
template <typename T>
struct MatchedPairs {
  int64_t* pred_index;   // prediction index local to its problem
  int64_t* gt_index;     // GT index local to its problem
  int64_t* pred_global;  // prediction index in the flat prediction array
  int64_t* gt_global;    // GT index in the flat GT array
  T* value;              // the pair's overlap value
};

// Lists the pairs problem by problem and, within a problem, in prediction order.  Serial: one
// pass over matched_gt.
template <typename T>
void list_matched_pairs(const int64_t* pred_offsets, const int64_t* gt_offsets, int64_t n_problems,
                        const int64_t* matched_gt, const T* matched_value,
                        const MatchedPairs<T>& pairs);

}  // namespace vrft
