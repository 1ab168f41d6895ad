// libFuzzer harness for the evaluation state a Ray / multiprocessing worker sends back pickled
// (vrft::eval::Evaluation; docs/reliability.md): arbitrary sizes and arrays go through
// check_evaluation(), exactly what EvalState.__setstate__ does; a state it accepts is then
// accumulated and merged, which must neither crash nor read out of bounds.  Sizes are read as raw
// int64 so extreme values (2**62, INT64_MAX, negatives) reach the size arithmetic.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/thread_pool.h"
#include "eval/accumulate.h"
#include "eval/evaluate.h"
#include "eval/merge.h"

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  template <typename T>
  T get() {
    T v{};
    const size_t k = n < sizeof(T) ? n : sizeof(T);
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
  // A length (small, mostly) and that many values; values near the previous ones with one byte of
  // control so that consistent states are found often.
  template <typename V>
  void vec(V& out, bool small_values) {
    const size_t len = get<uint8_t>() % 64;
    out.resize(len);
    for (size_t i = 0; i < len; ++i) {
      using T = typename V::value_type;
      if (small_values) {
        out[i] = static_cast<T>(get<int8_t>());
      } else {
        out[i] = get<T>();
      }
    }
  }
};

int64_t pick_size(Reader& r) {
  const uint8_t mode = r.get<uint8_t>();
  switch (mode % 4) {
    case 0:
      return mode / 4 % 8;  // small
    case 1:
      return r.get<int64_t>();  // anything
    case 2:
      return (int64_t{1} << 62) + (mode / 4 % 4);  // overflow bait
    default:
      return INT64_MAX - (mode / 4 % 4);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vrft::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vrft::eval;
  Reader r{data, size};
  Evaluation ev;
  ev.num_images = pick_size(r);
  ev.num_categories = pick_size(r);
  ev.num_iou_thrs = pick_size(r);
  ev.num_area_rngs = pick_size(r);
  const uint8_t small = r.get<uint8_t>();
  r.vec(ev.group_image, small & 1);
  r.vec(ev.group_category, small & 2);
  r.vec(ev.category_groups, small & 4);
  r.vec(ev.gt_offsets, true);
  r.vec(ev.gt_index, small & 8);
  r.vec(ev.dt_offsets, true);
  r.vec(ev.dt_index, small & 16);
  r.vec(ev.dt_score, false);
  r.vec(ev.dt_state, true);
  r.vec(ev.dt_any_tp, true);
  r.vec(ev.num_positive_gt, small & 32);
  try {
    check_evaluation(ev);
  } catch (const std::invalid_argument&) {
    return 0;  // refused: what __setstate__ raises as ValueError
  }
  // Accepted: it must accumulate and merge safely.
  const int64_t T = ev.num_iou_thrs, K = ev.num_categories, A = ev.num_area_rngs;
  const int64_t R = 11, M = 3;
  if (T > 64 || K > 4096 || A > 64 || T * K * A * R * M > (int64_t{1} << 22)) return 0;
  std::vector<double> rec(R), precision(T * R * K * A * M), recall(T * K * A * M),
      scores(precision.size());
  for (int64_t i = 0; i < R; ++i) rec[i] = static_cast<double>(i) / (R - 1);
  const int64_t max_dets[3] = {1, 10, 100};
  AccumulateParams params;
  params.rec_thrs = rec.data();
  params.num_rec_thrs = R;
  params.max_dets = max_dets;
  params.num_max_dets = M;
  accumulate(ev, params, precision.data(), recall.data(), scores.data());
  std::vector<EvaluationPart> parts(1);
  parts[0].ev = &ev;
  try {
    Evaluation merged = merge_evaluations(parts);
    check_evaluation(merged);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
