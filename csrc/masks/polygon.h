// Polygon rasterisation with pycocotools' rule (maskApi rleFrPoly), so that GT polygons become
// masks natively, with exactly the pixels pycocotools gives them.
#pragma once

#include <cstdint>
#include <vector>

#include "masks/rle.h"

namespace vrft::masks {

// Appends the ones of polygon (x0, y0, x1, y1, ...) with `num_points` vertices (closed: the last
// vertex joins the first) to `ones`, unsorted.  The rule, in steps:
//   1. vertices snap to a 5x grid: X = (int)(5 * x + .5) (C truncation toward zero);
//   2. each edge is walked one grid step at a time along its longer axis, from its start vertex
//      to its end vertex, the other coordinate rounded as (int)(start + slope * t + .5) with the
//      slope computed after orienting the edge toward increasing major coordinate;
//   3. wherever the walk's x changes between consecutive points, the smaller grid x is kept if
//      it is a pixel centre (5c + 2, 0 <= c < width), with the row
//      ceil(clamp((min(y_prev, y) + .5) / 5 - .5, 0, height));
//   4. the kept (column, row) points are toggles in column-major pixel order; pixels with an odd
//      number of toggles at or before them are ones.
// Coordinates must be finite and within [-limit, limit], limit = 4 * max(height, width) + 64
// (checked by the caller), which keeps the walk bounded and the grid in int range.
// Buffers of rasterize_polygon, kept by the caller across polygons so that a batch allocates
// them once per worker instead of once per polygon.
struct PolygonScratch {
  std::vector<int64_t> toggles;       // toggle positions of the current polygon
  std::vector<int64_t> sorted;        // the bucket sort's output
  std::vector<int64_t> column_start;  // the bucket sort's per-column counters
};
void rasterize_polygon(const double* xy, int64_t num_points, int64_t height, int64_t width,
                       std::vector<Interval>& ones, PolygonScratch& scratch);

// The coordinate bound of rasterize_polygon for an image of this size.
double polygon_coordinate_limit(int64_t height, int64_t width);

}  // namespace vrft::masks
