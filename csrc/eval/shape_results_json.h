// A fast path for loading mask and keypoint result files (iou_type "segm" / "keypoints"): a JSON
// array of objects
//   {"image_id": int, "category_id": int, "score": number, "bbox": [x, y, w, h] (optional),
//    "segmentation": {"size": [h, w], "counts": "..." | [..]} | [[x1, y1, ...], ...],
//    "keypoints": [x1, y1, v1, ...]}
// read straight into columns and a SegmArena, without a Python dict per result (the dicts of a
// 50k-mask file cost more time and memory than the evaluation).  Other keys are skipped.
//
// Anything off this path — a syntax error, an escape other than \\ and \/ in an RLE string, a
// missing required field, a result without the shape asked for, a segmentation the arena refuses,
// a polygon on an image of unknown size — makes the parser return false; the caller then falls
// back to the general loader, which names the bad record.  Numbers are converted as Python's
// float(token) / int(token) (std::from_chars, correctly rounded).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "masks/segm_arena.h"

namespace vrft::eval {

struct ShapeResults {
  std::vector<int64_t> image_id, category_id;
  std::vector<double> score;
  std::vector<double> box;           // 4 per record (zeros where has_box is 0)
  std::vector<uint8_t> has_box;      // the record carries a "bbox"
  masks::SegmArena masks;            // "segm": mask i = record i
  std::vector<double> keypoints;     // "keypoints": 3K per record
  std::vector<uint8_t> kp_integral;  // per record: every keypoint value was an integer token
};

// The images' sizes, for polygons (which take their image's height / width).
struct ImageSizes {
  const int64_t* sorted_ids = nullptr;  // ascending
  const int64_t* heights = nullptr;     // in sorted_ids' order; -1: unknown
  const int64_t* widths = nullptr;
  int64_t count = 0;
};

// want_segm: every record must carry a segmentation; num_keypoints > 0: every record must carry
// 3 * num_keypoints keypoint values.
bool parse_shape_results(const char* data, size_t size, const ImageSizes& sizes, bool want_segm,
                         int64_t num_keypoints, ShapeResults& out);

}  // namespace vrft::eval
