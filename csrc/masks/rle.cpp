#include "masks/rle.h"

#include <algorithm>
#include <cmath>

namespace vrft::masks {

bool decode_rle_string(std::string_view text, std::vector<int64_t>& counts) {
  const size_t first = counts.size();
  size_t p = 0;
  while (p < text.size()) {
    int64_t value = 0;
    int shift = 0;
    bool more = true;
    while (more) {
      if (p >= text.size()) return false;  // the last group still announced "more"
      const int c = static_cast<unsigned char>(text[p++]) - 48;
      if (c < 0 || c > 63) return false;
      // More than 12 groups (a value of 2^60 or more): not a real count.  Bounding the shift
      // here keeps every shift below and the sign's 2^shift inside int64.
      if (shift >= 60) return false;
      value |= static_cast<int64_t>(c & 0x1f) << shift;
      shift += 5;
      more = (c & 0x20) != 0;
      if (!more && (c & 0x10)) value -= int64_t{1} << shift;  // sign of the last group
    }
    const size_t m = counts.size() - first;
    // Stored as a difference from two back; a sum beyond int64 is not a real count either.
    if (m > 2 && __builtin_add_overflow(value, counts[counts.size() - 2], &value)) return false;
    if (value < 0) return false;
    counts.push_back(value);
  }
  return true;
}

int64_t append_ones(const std::vector<int64_t>& counts, std::vector<Interval>& ones) {
  int64_t at = 0;
  for (size_t j = 0; j < counts.size(); ++j) {
    if ((j & 1) && counts[j] > 0) ones.push_back({at, at + counts[j]});
    at += counts[j];
  }
  return at;
}

void merge_intervals(std::vector<Interval>& ones) {
  auto by_begin = [](const Interval& a, const Interval& b) { return a.begin < b.begin; };
  if (!std::is_sorted(ones.begin(), ones.end(), by_begin)) {  // one piece: already in order
    std::sort(ones.begin(), ones.end(), by_begin);
  }
  size_t out = 0;
  for (const Interval& iv : ones) {
    if (iv.end <= iv.begin) continue;
    if (out > 0 && iv.begin <= ones[out - 1].end) {
      ones[out - 1].end = std::max(ones[out - 1].end, iv.end);
    } else {
      ones[out++] = iv;
    }
  }
  ones.resize(out);
}

namespace {

// pycocotools' grid snap `(int)(5 * v + .5)`, with v first limited to [-4, limit + 4] pixels so
// that the int conversion cannot overflow; the limit keeps every kept column / row unchanged
// (columns need 5c + 2 >= X0 with c >= 0, rows clamp to [0, height] anyway).
int64_t snap(double v, int64_t limit) {
  const double lo = -4.0, hi = static_cast<double>(limit) + 4.0;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return static_cast<int64_t>(5.0 * v + 0.5);  // truncation toward zero, as the C int cast
}

// Smallest integer c with 5c + 2 >= v, for any sign of v.
int64_t first_centre_at_or_after(int64_t v) {
  const int64_t n = v - 2;
  return n >= 0 ? (n + 4) / 5 : -((-n) / 5);
}

// Largest integer c with 5c + 2 <= v.
int64_t last_centre_at_or_before(int64_t v) {
  const int64_t n = v - 2;
  return n >= 0 ? n / 5 : -((-n + 4) / 5);
}

}  // namespace

ColumnRange centre_columns(int64_t lo, int64_t hi, int64_t width) {
  const int64_t begin = std::max<int64_t>(first_centre_at_or_after(lo), 0);
  const int64_t end = std::min<int64_t>(last_centre_at_or_before(hi), width - 1) + 1;
  return {begin, std::max(begin, end)};
}

int64_t grid_row(int64_t y, int64_t height) {
  double yd = (static_cast<double>(y) + 0.5) / 5.0 - 0.5;
  if (yd < 0) {
    yd = 0;
  } else if (yd > static_cast<double>(height)) {
    yd = static_cast<double>(height);
  }
  return static_cast<int64_t>(std::ceil(yd));
}

PixelBox rasterize_box(double x, double y, double w, double h, int64_t height, int64_t width) {
  PixelBox b;
  if (!(w >= 0) || !(h >= 0) || height <= 0 || width <= 0) return b;  // inverted / NaN: empty
  const double xe = x + w, ye = y + h;  // rleFrBbox: corners from x + w, y + h (this order)
  if (std::isnan(x) || std::isnan(y) || std::isnan(xe) || std::isnan(ye)) return b;  // no pixels
  const int64_t X0 = snap(x, width), X1 = snap(xe, width);
  const int64_t Y0 = snap(y, height), Y1 = snap(ye, height);
  const ColumnRange cols = centre_columns(X0, X1 - 1, width);
  b.col_begin = cols.begin;
  b.col_end = cols.end;
  b.row_begin = grid_row(Y0, height);
  b.row_end = grid_row(Y1, height);
  if (b.row_end < b.row_begin) b.row_end = b.row_begin;
  return b;
}

void rasterize_boxes(const double* xywh, int64_t n, int64_t height, int64_t width, int64_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const double* b = xywh + 4 * i;
    const PixelBox px = rasterize_box(b[0], b[1], b[2], b[3], height, width);
    int64_t* o = out + 4 * i;
    o[0] = px.col_begin;
    o[1] = px.col_end;
    o[2] = px.row_begin;
    o[3] = px.row_end;
  }
}

namespace {

// Pixels of `box` with column-major index < p (p in [0, height * width]).
int64_t box_pixels_before(const PixelBox& box, int64_t height, int64_t p) {
  const int64_t col = p / height, row = p % height;
  const int64_t rows = box.row_end - box.row_begin;
  const int64_t full = std::clamp<int64_t>(col, box.col_begin, box.col_end) - box.col_begin;
  int64_t partial = 0;
  if (col >= box.col_begin && col < box.col_end) {
    partial = std::clamp<int64_t>(row - box.row_begin, 0, rows);
  }
  return full * rows + partial;
}

}  // namespace

int64_t box_overlap(const Mask& mask, const PixelBox& box) {
  if (box.area() == 0 || mask.ones.empty()) return 0;
  const int64_t h = mask.height;
  // Only intervals that reach the box's columns can overlap it.
  const int64_t lo = box.col_begin * h, hi = box.col_end * h;
  auto it = std::upper_bound(mask.ones.begin(), mask.ones.end(), lo,
                             [](int64_t v, const Interval& iv) { return v < iv.end; });
  int64_t total = 0;
  for (; it != mask.ones.end() && it->begin < hi; ++it) {
    total += box_pixels_before(box, h, it->end) - box_pixels_before(box, h, it->begin);
  }
  return total;
}

int64_t mask_area(const Mask& mask) {
  int64_t a = 0;
  for (const Interval& iv : mask.ones) a += iv.end - iv.begin;
  return a;
}

void mask_bbox(const Mask& mask, double out[4]) {
  intervals_bbox(mask.ones.data(), mask.ones.size(), mask.height, out);
}

void intervals_bbox(const Interval* ones, size_t n, int64_t h, double out[4]) {
  out[0] = out[1] = out[2] = out[3] = 0.0;
  if (n == 0) return;
  int64_t xs = INT64_MAX, xe = 0, ys = INT64_MAX, ye = 0;
  for (size_t i = 0; i < n; ++i) {
    const Interval& iv = ones[i];
    const int64_t x0 = iv.begin / h, y0 = iv.begin % h;
    const int64_t x1 = (iv.end - 1) / h, y1 = (iv.end - 1) % h;
    xs = std::min(xs, x0);
    xe = std::max(xe, x1);
    if (x1 > x0) {  // the run crosses a column: every row is covered
      ys = 0;
      ye = h - 1;
    } else {
      ys = std::min(ys, y0);
      ye = std::max(ye, y1);
    }
  }
  out[0] = static_cast<double>(xs);
  out[1] = static_cast<double>(ys);
  out[2] = static_cast<double>(xe - xs + 1);
  out[3] = static_cast<double>(ye - ys + 1);
}

std::vector<int64_t> mask_counts(const Mask& mask) {
  std::vector<int64_t> counts;
  counts.reserve(2 * mask.ones.size() + 1);
  int64_t at = 0;
  for (const Interval& iv : mask.ones) {
    counts.push_back(iv.begin - at);
    counts.push_back(iv.end - iv.begin);
    at = iv.end;
  }
  counts.push_back(mask.height * mask.width - at);
  return counts;
}

}  // namespace vrft::masks
