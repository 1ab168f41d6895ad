// A fast path for loading mask and keypoint result files (iou_type "segm" / "keypoints"): a JSON
// array of objects
//   {"image_id": int, "category_id": int, "score": number, "bbox": [x, y, w, h] (optional),
//    "segmentation": {"size": [h, w], "counts": "..." | [..]} | [[x1, y1, ...], ...],
//    "keypoints": [x1, y1, v1, ...]}
// read straight into columns and a SegmArena, without a Python dict per result (for a file of
// 40k keypoint results the dicts cost more time than the evaluation).  Other keys are skipped.
//
// Anything off this path makes the reader return kOffFastPath and the caller reads the file the
// general way (load_json + the record loader), which names the bad record: a syntax error, NaN /
// Infinity, a key with an escape, an escape other than \\ and \/ in an RLE string, a missing
// field, a value of another type than above (an RLE count or size that is not an integer token,
// an empty polygon list, a first polygon of 4 or fewer coordinates), a segmentation the arena
// refuses, a polygon on an image of unknown size, keypoints of another length than 3K or integer
// keypoints beyond 2**53.  Values equal what the general loader reads: numbers are Python's
// float(token) (correctly rounded), integer tokens its int(token) (so -0 is 0, not -0.0), and a
// keypoint row is `integral` when every value is an integer token (numpy would hold it as int64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "eval/results_json.h"
#include "masks/segm_arena.h"

namespace vrft::eval {

struct ShapeResults {
  std::vector<int64_t> image_id, category_id;
  std::vector<double> score;
  std::vector<double> box;           // 4 per record (zeros where has_box is 0)
  std::vector<uint8_t> has_box;      // the record carries a "bbox"
  std::vector<uint8_t> has_segm;     // the record carries a "segmentation" (read only for segm)
  masks::SegmArena masks;            // want_segm: mask i = record i (see parse_shape_results)
  std::vector<double> keypoints;     // num_keypoints > 0: 3K per record
  std::vector<uint8_t> kp_integral;  // per record: every keypoint value was an integer token
};

// The images' sizes, for polygons (which take their image's height / width); the reader's own
// copy, so it can run without the caller's arrays.  As the general loader, a repeated image id
// takes the size of its first occurrence.
class ImageSizes {
 public:
  ImageSizes(const int64_t* ids, const int64_t* heights, const int64_t* widths, int64_t count);
  // The size of `image_id`: false when unknown (absent, or -1: no height / width).
  bool find(int64_t image_id, int64_t* height, int64_t* width) const;

 private:
  std::vector<int64_t> ids_, heights_, widths_;  // sorted by id
};

// want_segm: every record must carry a segmentation or a bbox (read into `masks`: the segmentation,
// else loadRes' box polygon, which only its bbox branch uses: the caller checks has_segm);
// num_keypoints > 0: every record must carry 3 * num_keypoints keypoint values.
bool parse_shape_results(const char* data, size_t size, const ImageSizes& sizes, bool want_segm,
                         int64_t num_keypoints, ShapeResults& out);

// The file at `path`, read whole, then parsed as above.
ReadStatus read_shape_results_file(const char* path, const ImageSizes& sizes, bool want_segm,
                                   int64_t num_keypoints, ShapeResults& out);

}  // namespace vrft::eval
