#include "masks/mask_set.h"

#include "common/thread_pool.h"
#include "masks/polygon.h"

namespace vrft::masks {

MaskSet decode_mask_set(const MaskSources& src) {
  const int64_t n = src.num_samples;
  MaskSet set;
  set.masks.resize(static_cast<size_t>(n));
  set.status.assign(static_cast<size_t>(n), kMaskOk);
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> counts;
    PolygonScratch polygon_scratch;
    for (int64_t i = begin; i < end; ++i) {
      Mask& m = set.masks[static_cast<size_t>(i)];
      uint8_t& status = set.status[static_cast<size_t>(i)];
      m.height = src.heights[i];
      m.width = src.widths[i];
      for (int64_t p = src.rle_offsets[i]; p < src.rle_offsets[i + 1]; ++p) {
        counts.clear();
        if (!decode_rle_string((*src.rle)[static_cast<size_t>(p)], counts)) {
          status = kMaskMalformed;
          break;
        }
        if (append_ones(counts, m.ones) != m.height * m.width) {
          status = kMaskWrongSize;
          break;
        }
      }
      if (status != kMaskOk) {
        m.ones.clear();
        continue;
      }
      for (int64_t p = src.polygon_offsets[i]; p < src.polygon_offsets[i + 1]; ++p) {
        const int64_t c0 = src.coord_offsets[p], c1 = src.coord_offsets[p + 1];
        rasterize_polygon(src.coords + c0, (c1 - c0) / 2, m.height, m.width, m.ones,
                          polygon_scratch);
      }
      merge_intervals(m.ones);
    }
  });
  return set;
}

void mask_areas(const MaskSet& set, int64_t* areas) {
  for (size_t i = 0; i < set.masks.size(); ++i) areas[i] = mask_area(set.masks[i]);
}

void mask_bboxes(const MaskSet& set, double* bboxes) {
  for (size_t i = 0; i < set.masks.size(); ++i) mask_bbox(set.masks[i], bboxes + 4 * i);
}

void box_overlaps(const MaskSet& set, const double* boxes, const uint8_t* valid,
                  int64_t* intersection, int64_t* union_area) {
  const int64_t n = static_cast<int64_t>(set.masks.size());
  parallel_for(n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const Mask& m = set.masks[static_cast<size_t>(i)];
      const int64_t area = mask_area(m);
      intersection[i] = 0;
      union_area[i] = area;
      if (!valid[i] || set.status[static_cast<size_t>(i)] != kMaskOk) continue;
      const double* b = boxes + 4 * i;
      // The caller's xyxy goes through pycocotools' xywh: w = x2 - x1, then x1 + w again.
      const PixelBox px = rasterize_box(b[0], b[1], b[2] - b[0], b[3] - b[1], m.height, m.width);
      const int64_t inter = box_overlap(m, px);
      intersection[i] = inter;
      union_area[i] = px.area() + area - inter;
    }
  });
}

}  // namespace vrft::masks
