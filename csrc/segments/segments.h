// Per-segment operations on ragged batches (flat values + offsets) that the box rewards need
// once per batch.  Offsets must be validated by the caller (the bindings do).
#pragma once

#include <cstdint>

namespace vrft {

// True when every coordinate of the box is within +-max_safe_coordinate<double>() (2^510), the
// range the IoU kernels accept (geometry/iou.h); false for NaN and +-inf.
bool within_safe_range(const double* box);

// Replaces each of the n boxes that is not within_safe_range by (0, 0, 0, 0), a box that overlaps
// nothing (used on predictions after a frame conversion, which may overflow).
void zero_out_of_range(double* boxes, int64_t n);

// out[b] = values[offsets[b]] + ... + values[offsets[b+1]-1], added left to right starting from
// 0.0, as a Python `total = 0.0; for v in values: total += v` loop does (Visual-RFT's reward
// sums).  offsets must be validated by the caller (length num_segments + 1, non-decreasing,
// within values).
void segment_sum_sequential(const double* values, const int64_t* offsets, int64_t num_segments,
                            double* out);

// order = the global indices of each segment's values sorted by descending score, equal scores
// in input order (Python's stable sorted(..., reverse=True)); segments stay in place.  NaN scores
// must have been replaced by the caller.
void segment_stable_argsort_desc(const double* scores, const int64_t* offsets, int64_t num_segments,
                                 int64_t* order);

// Gathers the boxes of the segments with keep_segment[b] != 0 into a new flat batch: writes the
// kept boxes to out_boxes (count x 4), their source indices to out_source and the new offsets
// (num_segments + 1; dropped segments become empty) to out_offsets, and returns the count.
// With dedupe, a box equal to an earlier box of its segment is dropped as well (first occurrence
// kept; comparison with ==, so -0.0 equals 0.0 as in Python's tuple equality, which is
// Visual-RFT's remove_duplicates).  With collapse_inverted, a kept box with x2 < x1 or
// y2 < y1 becomes the zero-size box (x1, y1, x1, y1): it still counts, but overlaps nothing; and
// so does a box with a coordinate beyond the IoU kernels' safe range (see within_safe_range),
// which becomes (0, 0, 0, 0): model output is data, never a reason to raise.
// Output buffers must hold offsets[num_segments] boxes.  Serial: one pass over memory.
int64_t select_segment_boxes(const double* boxes, const int64_t* offsets, int64_t num_segments,
                             const uint8_t* keep_segment, bool dedupe, bool collapse_inverted,
                             double* out_boxes, int64_t* out_source, int64_t* out_offsets);

}  // namespace vrft
