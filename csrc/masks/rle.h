// Binary masks in COCO's run-length encoding, and their overlap with boxes rasterised the way
// pycocotools rasterises them.  Used by the grounding evaluation (gIoU / cIoU of a predicted box
// against a GT mask) so that the per-sample work is one native pass, not a pycocotools call per
// sample.
//
// A mask of height h and width w is stored as the sorted, disjoint, non-adjacent pixel intervals
// [begin, end) of its ones, in COCO's column-major pixel order (index = x * h + y).  Counts are
// exact integers, so areas, intersections and unions equal pycocotools' `area` / `merge` results.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace vrft::masks {

struct Interval {
  int64_t begin, end;  // pixel indices, half-open
};

// A mask as the intervals of its ones.
struct Mask {
  int64_t height = 0, width = 0;
  std::vector<Interval> ones;
};

// Decodes a COCO compressed RLE string (pycocotools' rleToString format: each count in 5-bit
// groups, least significant first, as characters 48 + value with 0x20 = "more groups follow"
// and 0x10 of the last group = negative; from the fourth count on, the value is stored as the
// difference to the count two places before).  Appends the counts to `counts`.  Returns false
// for a character outside '0'..'o', an unterminated count or a negative count.
bool decode_rle_string(std::string_view text, std::vector<int64_t>& counts);

// Adds the ones of an RLE (counts alternate zeros, ones, zeros, ...) to `ones`, unsorted
// (merge_intervals normalises).  Returns the sum of the counts.
int64_t append_ones(const std::vector<int64_t>& counts, std::vector<Interval>& ones);

// Sorts and coalesces intervals in place: the union of the masks they came from.
void merge_intervals(std::vector<Interval>& ones);

// Shared by the box and polygon rasterisers (the grid of pycocotools' rleFrPoly, 5 steps per
// pixel):
// Columns c in [0, width) whose centre 5c + 2 lies in [lo, hi] (grid units), as [begin, end).
struct ColumnRange {
  int64_t begin, end;
};
ColumnRange centre_columns(int64_t lo, int64_t hi, int64_t width);
// Row of a boundary at grid height y: ceil(clamp((y + .5) / 5 - .5, 0, height)).
int64_t grid_row(int64_t y, int64_t height);

// The pixels pycocotools gives a box: frPyObjects([[x, y, w, h]]) rasterises the box as the
// polygon (x, y), (x, y + h), (x + w, y + h), (x + w, y) with rleFrPoly.  For an axis-aligned
// rectangle that rule reduces to a pixel rectangle:
//   * corners snap to a 5x grid: X = (int)(5 * x + 0.5) (C truncation toward zero);
//   * column c is inside when 5c + 2 lies in [X0, X1 - 1] (rleFrPoly keeps the boundary points
//     of the upsampled edges whose x is a pixel centre) and 0 <= c < width;
//   * rows [ceil(clamp((Y0 + .5) / 5 - .5, 0, height)), same for Y1): each kept column toggles
//     at the snapped top and bottom edge (equal toggles cancel, so a flat box is empty).
// Rows / columns are half-open; an empty box has col_begin == col_end or row_begin == row_end.
struct PixelBox {
  int64_t col_begin = 0, col_end = 0, row_begin = 0, row_end = 0;
  int64_t area() const { return (col_end - col_begin) * (row_end - row_begin); }
};
PixelBox rasterize_box(double x, double y, double w, double h, int64_t height, int64_t width);
// (NaN anywhere, or w / h < 0: no pixels; infinite corners clamp like any far-away corner.)
// rasterize_box for n boxes: xywh (n x 4) -> out (n x 4) = col_begin, col_end, row_begin, row_end.
void rasterize_boxes(const double* xywh, int64_t n, int64_t height, int64_t width, int64_t* out);

// Number of pixels of `box` inside the mask (intervals sorted and disjoint): O(intervals).
int64_t box_overlap(const Mask& mask, const PixelBox& box);

// Area of the mask and its bounding box as pycocotools' toBbox gives it for a canonical RLE:
// [x, y, w, h] of the tight pixel box (whole columns' height once a run crosses a column), all
// zeros for an empty mask.
int64_t mask_area(const Mask& mask);
void mask_bbox(const Mask& mask, double out_xywh[4]);
// mask_bbox of n canonical intervals of a mask of height `height`.
void intervals_bbox(const Interval* ones, size_t n, int64_t height, double out_xywh[4]);

// COCO's uncompressed RLE of the mask (pycocotools' `counts` of an uncompressed RLE): run lengths
// alternating zeros and ones in column-major pixel order, starting with a (possibly empty) run of
// zeros and ending with the trailing zeros; they add up to height * width.
std::vector<int64_t> mask_counts(const Mask& mask);

}  // namespace vrft::masks
