// Which rows an evaluation uses, and where they go: id -> position lookups and lvis-api's
// federated detection rules, one pass over whole columns (no temporary column per rule).
//
// Reproduces the selection of lvis-api 0.5.3 LVISEval._prepare for detections (after
// LVISResults' per-image cap, which the caller applies first):
//   * `self.lvis_dt.get_ann_ids(img_ids=..., cat_ids=...)`: the detection's image and category are
//     evaluated, and 0 < area < inf (LVIS.get_ann_ids' strict bounds on `area`, which LVISResults
//     sets to w * h for box results);
//   * the federated filter `img_pl[img_id] = set(neg_category_ids) | {cats with a GT}`: a detection
//     is kept only when its category is annotated in its image as present (one of the kept GTs)
//     or absent (`neg_category_ids`);
//   * `not_exhaustive`: its category is in the image's `not_exhaustive_category_ids`.
#pragma once

#include <cstdint>
#include <vector>

namespace vrft::eval {

// pos[i] = index of the first occurrence of ids[i] in table[0, m), or -1 when absent.  A lookup
// table over the id range when it is dense (the usual case), else a sorted search.
void id_positions(const int64_t* table, int64_t m, const int64_t* ids, int64_t n, int64_t* pos);

// (image position, category position) pairs, e.g. the kept GTs of an LVIS evaluation.
struct PositionPairs {
  const int64_t* image = nullptr;
  const int64_t* category = nullptr;
  int64_t n = 0;
};

// (image id, category id) pairs as a dataset lists them (neg_category_ids, ...).
struct IdPairs {
  const int64_t* image_id = nullptr;
  const int64_t* category_id = nullptr;
  int64_t n = 0;
};

struct LvisDetectionInput {
  int64_t n = 0;
  const int64_t* image_id = nullptr;
  const int64_t* category_id = nullptr;
  const double* box = nullptr;       // n x 4, xywh: area = w * h when `area` is null
  const double* area = nullptr;      // the results' own area field, or null
  const int64_t* img_ids = nullptr;  // evaluated images (their positions are indices here)
  int64_t num_images = 0;
  const int64_t* cat_ids = nullptr;  // evaluated categories
  int64_t num_categories = 0;
  PositionPairs present;   // the kept GTs
  IdPairs absent;          // neg_category_ids
  IdPairs not_exhaustive;  // not_exhaustive_category_ids
  // (image, category) sets are bitsets up to this many bits (32 MB), sorted lists beyond.
  uint64_t max_bitset_bits = uint64_t{1} << 28;
};

// The kept detections, in input order, with their positions and not-exhaustive flag.
struct LvisDetectionRows {
  std::vector<int64_t> rows, image, category;
  std::vector<uint8_t> not_exhaustive;
};

LvisDetectionRows select_lvis_detections(const LvisDetectionInput& in);

}  // namespace vrft::eval
