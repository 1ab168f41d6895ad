#include "masks/polygon.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace vrft::masks {

double polygon_coordinate_limit(int64_t height, int64_t width) {
  return 4.0 * static_cast<double>(std::max(height, width)) + 64.0;
}

namespace {

// Step 3 for one change of the walk's x between (pu, pv) and (u, v).
void add_toggle(int pu, int pv, int u, int v, int64_t height, int64_t width,
                std::vector<int64_t>& toggles) {
  double xd = static_cast<double>(u < pu ? u : u - 1);
  xd = (xd + 0.5) / 5.0 - 0.5;
  if (std::floor(xd) != xd || xd < 0 || xd > static_cast<double>(width - 1)) return;
  toggles.push_back(static_cast<int64_t>(xd) * height + grid_row(v < pv ? v : pv, height));
}

// Sorts toggle positions (values in [0, height * width]): a counting sort by column, then an
// insertion sort inside each column, which holds a handful of boundaries; std::sort for few
// toggles.
void sort_toggles(PolygonScratch& s, int64_t height, int64_t width) {
  std::vector<int64_t>& toggles = s.toggles;
  const size_t n = toggles.size();
  // Buckets only pay off when the toggles are not far fewer than the columns (a small polygon
  // in a very wide image would otherwise clear `width` counters for a handful of values).
  if (n < 64 || static_cast<size_t>(width) > 8 * n) {
    std::sort(toggles.begin(), toggles.end());
    return;
  }
  std::vector<int64_t>& start = s.column_start;
  start.assign(static_cast<size_t>(width + 2), 0);
  for (const int64_t t : toggles) ++start[static_cast<size_t>(t / height + 1)];
  for (size_t c = 1; c < start.size(); ++c) start[c] += start[c - 1];
  std::vector<int64_t>& scratch = s.sorted;
  scratch.resize(n);
  for (const int64_t t : toggles) {
    scratch[static_cast<size_t>(start[static_cast<size_t>(t / height)]++)] = t;
  }
  size_t begin = 0;
  for (size_t c = 0; c + 1 < start.size(); ++c) {  // start[c] is now the end of column c
    const size_t end = static_cast<size_t>(start[c]);
    for (size_t i = begin + 1; i < end; ++i) {
      const int64_t x = scratch[i];
      size_t j = i;
      for (; j > begin && scratch[j - 1] > x; --j) scratch[j] = scratch[j - 1];
      scratch[j] = x;
    }
    begin = end;
  }
  toggles.swap(scratch);
}

}  // namespace

void rasterize_polygon(const double* xy, int64_t num_points, int64_t height, int64_t width,
                       std::vector<Interval>& ones, PolygonScratch& scratch) {
  if (num_points <= 0) return;
  std::vector<int64_t>& toggles = scratch.toggles;
  toggles.clear();
  // Step 1 (ints, as the reference: |5 * coordinate| stays far below 2**31 within the limit).
  auto snap = [](double v) { return static_cast<int>(5.0 * v + 0.5); };
  bool have_prev = false;
  int pu = 0, pv = 0;
  auto visit = [&](int u, int v) {
    if (have_prev && u != pu) add_toggle(pu, pv, u, v, height, width, toggles);
    pu = u;
    pv = v;
    have_prev = true;
  };
  for (int64_t j = 0; j < num_points; ++j) {
    const int64_t n = (j + 1) % num_points;
    int xs = snap(xy[2 * j]), xe = snap(xy[2 * n]);
    int ys = snap(xy[2 * j + 1]), ye = snap(xy[2 * n + 1]);
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    if (dx >= dy) {
      // A zero-length edge (dx == dy == 0) is one point whose row the reference computes from
      // 0 / 0; its x equals its neighbours' (or is negative), so its row is never read.
      const double s = dx == 0 ? 0.0 : static_cast<double>(ye - ys) / dx;
      auto y_at = [&](int t) { return static_cast<int>(ys + s * t + 0.5); };
      const int t_first = flip ? dx : 0, t_last = flip ? 0 : dx;
      visit(t_first + xs, y_at(t_first));  // the joint with the previous edge
      if (dx == 0) continue;
      // Inside the edge x moves by exactly one per step, so the step between points d - 1 and
      // d toggles iff its smaller x, xs + k with k = (flip ? dx - d : d - 1), is a pixel centre
      // 5c + 2: visit only those steps (a fifth of the walk), with step 3's row.
      const ColumnRange cols = centre_columns(xs, xs + dx - 1, width);
      for (int64_t c = cols.begin; c < cols.end; ++c) {
        const int k = static_cast<int>(5 * c + 2 - xs);
        const int d = flip ? dx - k : k + 1;
        const int y_prev = y_at(flip ? dx - d + 1 : d - 1), y_cur = y_at(flip ? dx - d : d);
        toggles.push_back(c * height + grid_row(std::min(y_prev, y_cur), height));
      }
      pu = t_last + xs;
      pv = y_at(t_last);
    } else {
      const double s = static_cast<double>(xe - xs) / dy;
      auto x_at = [&](int t) { return static_cast<int>(xs + s * t + 0.5); };
      const int t_first = flip ? dy : 0, t_last = flip ? 0 : dy;
      visit(x_at(t_first), t_first + ys);  // the joint with the previous edge
      // Inside a steep edge x is monotone in t and moves by at most one per step (|s| < 1), so
      // each x value m between the ends is left exactly once, between points t - 1 and t; the
      // pair's smaller x is m and its smaller y is ys + t - 1.  Only m = 5c + 2 toggles: find
      // that t for each such column (estimate from the line, then corrected against x_at
      // itself, so the result is the walk's) instead of walking all dy points.
      const int x0 = x_at(0), x1 = x_at(dy);
      const bool rising = x1 > x0;
      const ColumnRange cols = centre_columns(std::min(x0, x1), std::max(x0, x1) - 1, width);
      for (int64_t c = cols.begin; c < cols.end; ++c) {
        const int m = static_cast<int>(5 * c + 2);
        auto past = [&](int t) { return rising ? x_at(t) > m : x_at(t) <= m; };  // false..true
        const double guess = std::ceil((m + 0.5 - xs) / s);
        int t = guess < 1 ? 1 : guess > dy ? dy : static_cast<int>(guess);
        while (t > 1 && past(t - 1)) --t;
        while (!past(t)) ++t;
        toggles.push_back(c * height + grid_row(ys + t - 1, height));
      }
      pu = x_at(t_last);
      pv = t_last + ys;
    }
  }
  // Step 4: pairs of sorted toggles bound the runs of ones (equal toggles cancel: empty runs).
  sort_toggles(scratch, height, width);
  const int64_t end = height * width;
  for (size_t i = 0; i < toggles.size(); i += 2) {
    const int64_t b = toggles[i];
    const int64_t e = i + 1 < toggles.size() ? toggles[i + 1] : end;
    if (e > b) ones.push_back({b, e});
  }
}

}  // namespace vrft::masks
