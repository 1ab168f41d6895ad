// COCO segmentations held as pycocotools receives them — polygon coordinates, uncompressed counts,
// compressed strings — in flat arenas, and decoded one mask at a time into the run-length form
// pycocotools computes with (COCO.annToRLE, then maskApi's RLE).
//
// Why sources and not masks: a dataset's masks then cost their input size, and the evaluation
// decodes each mask inside its (image, category) group (every GT and detection belongs to exactly
// one), so decoded masks never exist for the whole dataset at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "masks/polygon.h"
#include "masks/rle.h"

namespace vrft::masks {

// The largest mask (h * w pixels) pycocotools handles without overflow: its string codec
// (rleToString / rleFrString, which every polygon and uncompressed RLE goes through in annToRLE)
// shifts an `int` by 30 bits for counts or count differences of 2**29 and more, so larger masks
// come back as other masks there.  Below it every count, area and the IoU walk's `ca + cb` also
// stay inside uint32.
constexpr int64_t kMaxMaskPixels = (int64_t{1} << 29) - 1;

// Polygon coordinates must lie in [-kMaxPolygonCoordinate, kMaxPolygonCoordinate]: pycocotools
// snaps them to `(int)(5 * x + .5)`, which overflows (undefined behaviour) beyond ~4.29e8, and
// walks 5 points per pixel of perimeter, so it needs gigabytes long before that.  1e8 keeps the
// grid and every edge length inside int.
constexpr double kMaxPolygonCoordinate = 1e8;

// One mask as pycocotools' RLE holds it, plus the canonical form the evaluation intersects.
struct MaskRuns {
  int64_t height = 0, width = 0;
  uint32_t area = 0;             // rleArea: the sum of the ones counts (uint32 in maskApi)
  double box[4] = {0, 0, 0, 0};  // rleToBbox of the counts, quirks included (see rle_to_bbox)
  bool irregular = false;        // a zero count after the first: IoU must walk `counts` as rleIou
  std::vector<Interval> ones;    // sorted, disjoint, non-adjacent runs of ones
  std::vector<uint32_t> counts;  // the raw counts, kept only when `irregular`
};

class SegmArena {
 public:
  enum Kind : uint8_t { kPolygons = 0, kCounts = 1, kString = 2 };

  int64_t size() const { return static_cast<int64_t>(kind_.size()); }
  Kind kind(int64_t i) const { return static_cast<Kind>(kind_[static_cast<size_t>(i)]); }
  int64_t height(int64_t i) const { return height_[static_cast<size_t>(i)]; }
  int64_t width(int64_t i) const { return width_[static_cast<size_t>(i)]; }

  // Appenders: each checks the source and returns "" (appended) or why pycocotools cannot
  // evaluate it (nothing appended).
  // Polygons (frPoly + merge): polygon p has lengths[p] coordinates; an odd count is truncated to
  // int(lengths[p] / 2) points, as pycocotools does; the mask takes the image's height x width.
  std::string add_polygons(int64_t height, int64_t width, const double* coords,
                           const int64_t* lengths, int64_t num_polygons);
  // Uncompressed RLE {"size": [h, w], "counts": [...]} (frUncompressedRLE): the RLE's own size;
  // the counts must add up to h * w (pycocotools hangs in rleIou otherwise).
  std::string add_counts(int64_t height, int64_t width, const int64_t* counts, int64_t n);
  // Compressed RLE {"size": [h, w], "counts": "..."} (rleFrString): the same checks.
  std::string add_string(int64_t height, int64_t width, std::string_view text);

  // The area and rleToBbox of mask i without decoding it: RLE masks keep them from the check
  // when they were added; polygons have none (false: decode them).
  bool summary(int64_t i, uint32_t* area, double box[4]) const;

  // Mask i as pycocotools computes with it.  `scratch` keeps the buffers across calls.
  struct Scratch {
    std::vector<int64_t> counts;
    PolygonScratch polygon;
  };
  void decode(int64_t i, MaskRuns& out, Scratch& scratch) const;

  // Serialisation (pickle): the arenas as flat arrays, and back (validated).
  struct Flat {
    std::vector<uint8_t> kind;
    std::vector<int64_t> height, width, begin, end, polygon_coords;
    std::vector<double> coords;
    std::vector<uint32_t> counts;
    std::string bytes;
  };
  Flat flat() const;
  static SegmArena from_flat(Flat flat);  // throws std::invalid_argument when inconsistent

 private:
  std::string check_size(int64_t height, int64_t width) const;
  void push(Kind kind, int64_t height, int64_t width, int64_t begin, int64_t end);
  void push_summary(const int64_t* counts, int64_t n, int64_t height, int64_t width);

  std::vector<uint8_t> kind_;
  std::vector<int64_t> height_, width_;
  std::vector<int64_t> begin_, end_;        // per mask: its range in the arena of its kind
  std::vector<int64_t> polygon_coords_{0};  // per polygon + 1: offsets into coords_
  std::vector<double> coords_;
  std::vector<uint32_t> counts_;
  std::string bytes_;
  // Per mask: area, x, y, w, h (rleToBbox's uint values) of RLE masks; zeros for polygons.
  std::vector<uint32_t> summary_;
};

// rleToBbox of raw counts, exactly: m rounded down to even, zero-length ones runs skipped, uint32
// arithmetic (an RLE whose ones runs are all empty but that has m >= 2 gets pycocotools' box
// [w, h, 1 - w, 1 - h] with the last two wrapped modulo 2**32, not zeros).
void rle_to_bbox(const uint32_t* counts, int64_t m, int64_t height, int64_t width, double out[4]);

// The area and rleToBbox of mask i (what loadRes derives from a segmentation result).
void mask_area_and_box(const SegmArena& arena, int64_t i, int64_t* area, double box[4],
                       SegmArena::Scratch& scratch, MaskRuns& runs);

}  // namespace vrft::masks
