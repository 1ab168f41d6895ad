#include "eval/oks.h"

#include <stdexcept>

#include "common/numpy_sum.h"
#include "common/thread_pool.h"

namespace vrft::eval {
namespace {

// np.spacing(1)
constexpr double kEps = 2.220446049250313e-16;

// dx**2 + dy**2 as numpy computes it for these rows: int64 arithmetic (wrapping, as numpy's int64
// ufuncs) converted once to float64 when both rows are integral, float64 throughout otherwise.
double squared_distance(double xd, double yd, double xg, double yg, bool integral) {
  if (integral) {
    const uint64_t dx = static_cast<uint64_t>(static_cast<int64_t>(xd)) -
                        static_cast<uint64_t>(static_cast<int64_t>(xg));
    const uint64_t dy = static_cast<uint64_t>(static_cast<int64_t>(yd)) -
                        static_cast<uint64_t>(static_cast<int64_t>(yg));
    return static_cast<double>(static_cast<int64_t>(dx * dx + dy * dy));
  }
  const double dx = xd - xg, dy = yd - yg;
  return dx * dx + dy * dy;
}

// The -e values of one (detection, GT) pair into out; returns how many.
int32_t pair_exponents(const OksInputs& in, int64_t gt_row, int64_t dt_row, double* out) {
  const int64_t K = in.num_keypoints;
  const double* g = in.gt.xyv + gt_row * 3 * K;
  const double* d = in.dt.xyv + dt_row * 3 * K;
  int64_t k1 = 0;
  for (int64_t k = 0; k < K; ++k) k1 += g[3 * k + 2] > 0;
  const double area = in.gt_area[gt_row] + kEps;
  int32_t n = 0;
  if (k1 > 0) {
    const bool integral = in.gt.integral[gt_row] && in.dt.integral[dt_row];
    for (int64_t k = 0; k < K; ++k) {
      if (!(g[3 * k + 2] > 0)) continue;
      const double s = squared_distance(d[3 * k], d[3 * k + 1], g[3 * k], g[3 * k + 1], integral);
      out[n++] = -(s / in.vars[k] / area / 2);
    }
    return n;
  }
  // No visible GT keypoint: distance to the GT box grown by its size on every side,
  // dx = max(0, x0 - xd) + max(0, xd - x1) (np.max over a stack with zeros, a float64 result).
  const double* b = in.gt_box + 4 * gt_row;
  const double x0 = b[0] - b[2], x1 = b[0] + b[2] * 2;
  const double y0 = b[1] - b[3], y1 = b[1] + b[3] * 2;
  auto outside = [](double v) { return v > 0.0 ? v : 0.0; };  // finite inputs (checked)
  for (int64_t k = 0; k < K; ++k) {
    const double xd = d[3 * k], yd = d[3 * k + 1];
    const double dx = outside(x0 - xd) + outside(xd - x1);
    const double dy = outside(y0 - yd) + outside(yd - y1);
    out[n++] = -((dx * dx + dy * dy) / in.vars[k] / area / 2);
  }
  return n;
}

}  // namespace

void oks_exponents(const Evaluation& plan, const OksInputs& in, std::vector<double>& neg_e,
                   std::vector<int32_t>& counts) {
  const int64_t num_groups = static_cast<int64_t>(plan.group_image.size());
  const int64_t K = in.num_keypoints;
  if (static_cast<int64_t>(plan.iou_offsets.size()) != num_groups + 1) {
    throw std::invalid_argument("oks_exponents needs a plan (evaluate_images, plan_only)");
  }
  const int64_t num_pairs = plan.iou_offsets.back();
  // Every pair gets a K-slot stretch first (a pair has at most K values), compacted afterwards.
  std::vector<double> wide(static_cast<size_t>(num_pairs * K));
  counts.assign(static_cast<size_t>(num_pairs), 0);
  parallel_for(num_groups, 64, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const int64_t s0 = plan.dt_offsets[g], D = plan.dt_offsets[g + 1] - s0;
      const int64_t g0 = plan.gt_offsets[g], G = plan.gt_offsets[g + 1] - g0;
      const int64_t p0 = plan.iou_offsets[g];
      for (int64_t d = 0; d < D; ++d) {
        for (int64_t j = 0; j < G; ++j) {
          const int64_t p = p0 + d * G + j;
          counts[p] =
              pair_exponents(in, plan.gt_index[g0 + j], plan.dt_index[s0 + d], wide.data() + p * K);
        }
      }
    }
  });
  int64_t total = 0;
  for (const int32_t c : counts) total += c;
  neg_e.resize(static_cast<size_t>(total));
  int64_t at = 0;
  for (int64_t p = 0; p < num_pairs; ++p) {
    std::copy(wide.begin() + p * K, wide.begin() + p * K + counts[p], neg_e.begin() + at);
    at += counts[p];
  }
}

void oks_reduce(const double* values, int64_t num_values, const int32_t* counts, int64_t num_pairs,
                double* oks) {
  int64_t at = 0;
  for (int64_t p = 0; p < num_pairs; ++p) {
    if (counts[p] < 0 || at + counts[p] > num_values) {
      throw std::invalid_argument("oks_reduce: counts do not match the values");
    }
    // pycocotools: np.sum(np.exp(-e)) / e.shape[0]; an empty e (K == 0) gives 0.0 / 0 = nan.
    const double sum = counts[p] ? numpy_pairwise_sum(values + at, counts[p]) : 0.0;
    oks[p] = sum / static_cast<double>(counts[p]);
    at += counts[p];
  }
  if (at != num_values) throw std::invalid_argument("oks_reduce: counts do not match the values");
}

}  // namespace vrft::eval
