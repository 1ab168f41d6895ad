#include "match/matched_pairs.h"

namespace vrft {

int64_t count_matched_pairs(const int64_t* pred_offsets, const int64_t* gt_offsets,
                            int64_t n_problems, const int64_t* n_matched, int64_t* pair_offsets,
                            int64_t* n_unmatched_pred, int64_t* n_unmatched_gt) {
  pair_offsets[0] = 0;
  for (int64_t b = 0; b < n_problems; ++b) {
    pair_offsets[b + 1] = pair_offsets[b] + n_matched[b];
    n_unmatched_pred[b] = pred_offsets[b + 1] - pred_offsets[b] - n_matched[b];
    n_unmatched_gt[b] = gt_offsets[b + 1] - gt_offsets[b] - n_matched[b];
  }
  return pair_offsets[n_problems];
}

template <typename T>
void list_matched_pairs(const int64_t* pred_offsets, const int64_t* gt_offsets, int64_t n_problems,
                        const int64_t* matched_gt, const T* matched_value,
                        const MatchedPairs<T>& pairs) {
  int64_t* pred_index = pairs.pred_index;
  int64_t* gt_index = pairs.gt_index;
  int64_t* pred_global = pairs.pred_global;
  int64_t* gt_global = pairs.gt_global;
  T* value = pairs.value;
  int64_t k = 0;
  for (int64_t b = 0; b < n_problems; ++b) {
    for (int64_t p = pred_offsets[b]; p < pred_offsets[b + 1]; ++p) {
      const int64_t g = matched_gt[p];
      if (g < 0) continue;
      pred_index[k] = p - pred_offsets[b];
      gt_index[k] = g;
      pred_global[k] = p;
      gt_global[k] = gt_offsets[b] + g;
      value[k] = matched_value[p];
      ++k;
    }
  }
}

template void list_matched_pairs<float>(const int64_t*, const int64_t*, int64_t, const int64_t*,
                                        const float*, const MatchedPairs<float>&);
template void list_matched_pairs<double>(const int64_t*, const int64_t*, int64_t, const int64_t*,
                                         const double*, const MatchedPairs<double>&);

}  // namespace vrft
