#include "segments/segments.h"

#include <algorithm>
#include <cmath>

#include "common/thread_pool.h"
#include "geometry/iou.h"

namespace vrft {

namespace {

bool within(const double* box, double limit) {
  return std::fabs(box[0]) <= limit && std::fabs(box[1]) <= limit && std::fabs(box[2]) <= limit &&
         std::fabs(box[3]) <= limit;
}

}  // namespace

bool within_safe_range(const double* box) { return within(box, max_safe_coordinate<double>()); }

void zero_out_of_range(double* boxes, int64_t n) {
  const double limit = max_safe_coordinate<double>();
  for (int64_t i = 0; i < n; ++i) {
    double* b = boxes + 4 * i;
    if (!within(b, limit)) b[0] = b[1] = b[2] = b[3] = 0.0;
  }
}

void segment_sum_sequential(const double* values, const int64_t* offsets, int64_t num_segments,
                            double* out) {
  parallel_for(num_segments, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      double total = 0.0;
      for (int64_t i = offsets[b]; i < offsets[b + 1]; ++i) total += values[i];
      out[b] = total;
    }
  });
}

void segment_stable_argsort_desc(const double* scores, const int64_t* offsets, int64_t num_segments,
                                 int64_t* order) {
  parallel_for(num_segments, 256, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      int64_t* first = order + offsets[b];
      int64_t* last = order + offsets[b + 1];
      for (int64_t i = offsets[b]; i < offsets[b + 1]; ++i) order[i] = i;
      std::stable_sort(first, last, [&](int64_t x, int64_t y) { return scores[x] > scores[y]; });
    }
  });
}

int64_t select_segment_boxes(const double* boxes, const int64_t* offsets, int64_t num_segments,
                             const uint8_t* keep_segment, bool dedupe, bool collapse_inverted,
                             double* out_boxes, int64_t* out_source, int64_t* out_offsets) {
  const double limit = max_safe_coordinate<double>();
  int64_t n = 0;
  out_offsets[0] = 0;
  for (int64_t b = 0; b < num_segments; ++b) {
    const int64_t first_out = n;
    if (keep_segment[b]) {
      for (int64_t i = offsets[b]; i < offsets[b + 1]; ++i) {
        const double* p = boxes + 4 * i;
        bool seen = false;
        // Compare with the boxes already kept for this segment: duplicates are dropped before
        // any collapse, so compare source coordinates.
        for (int64_t j = first_out; dedupe && j < n && !seen; ++j) {
          const double* q = boxes + 4 * out_source[j];
          seen = p[0] == q[0] && p[1] == q[1] && p[2] == q[2] && p[3] == q[3];
        }
        if (seen) continue;
        double* o = out_boxes + 4 * n;
        o[0] = p[0];
        o[1] = p[1];
        const bool inverted = p[2] < p[0] || p[3] < p[1];
        o[2] = collapse_inverted && inverted ? p[0] : p[2];
        o[3] = collapse_inverted && inverted ? p[1] : p[3];
        if (collapse_inverted && !within(o, limit)) o[0] = o[1] = o[2] = o[3] = 0.0;
        out_source[n++] = i;
      }
    }
    out_offsets[b + 1] = n;
  }
  return n;
}

}  // namespace vrft
