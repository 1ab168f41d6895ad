// A batch of GT masks (one per sample, each the union of its compressed-RLE pieces and polygons)
// and the paired overlap of each with one predicted box: the native half of the grounding gIoU /
// cIoU.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "masks/rle.h"

namespace vrft::masks {

enum MaskStatus : uint8_t {
  kMaskOk = 0,
  kMaskMalformed = 1,  // a piece is not a valid compressed RLE string
  kMaskWrongSize = 2,  // a piece's counts do not add up to height * width
};

struct MaskSet {
  std::vector<Mask> masks;      // per sample (empty mask where status != kMaskOk)
  std::vector<uint8_t> status;  // per sample, MaskStatus
};

// Where the pieces of every sample come from.  Sample i (height heights[i], width widths[i],
// both > 0) owns the compressed RLE strings rle[rle_offsets[i] .. rle_offsets[i + 1]) and the
// polygons [polygon_offsets[i], polygon_offsets[i + 1]); polygon p has the coordinates
// coords[coord_offsets[p] .. coord_offsets[p + 1]) as x, y pairs (even count, finite, within
// polygon_coordinate_limit: checked by the caller).
struct MaskSources {
  int64_t num_samples = 0;
  const int64_t* heights = nullptr;
  const int64_t* widths = nullptr;
  const std::vector<std::string_view>* rle = nullptr;
  const int64_t* rle_offsets = nullptr;
  const double* coords = nullptr;
  const int64_t* coord_offsets = nullptr;
  const int64_t* polygon_offsets = nullptr;
};

// Decodes / rasterises and unites the pieces of every sample.  Parallel over samples.
MaskSet decode_mask_set(const MaskSources& src);

// Per sample: the mask's area (areas: n values) and bounding box (bboxes: n x 4, xywh), as
// mask_area / mask_bbox give them.
void mask_areas(const MaskSet& set, int64_t* areas);
void mask_bboxes(const MaskSet& set, double* bboxes);

// Per sample i: intersection and union (pixels) of the mask with box i, given as x1, y1, x2, y2
// pixels and rasterised as pycocotools rasterises [x1, y1, x2 - x1, y2 - y1].  valid[i] == 0
// (or a bad mask) counts as an empty prediction: intersection 0, union = mask area.
void box_overlaps(const MaskSet& set, const double* boxes_xyxy, const uint8_t* valid,
                  int64_t* intersection, int64_t* union_area);

}  // namespace vrft::masks
