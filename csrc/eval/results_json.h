// A fast path for loading COCO result files: a JSON array of objects
//   {"image_id": int, "category_id": int, "bbox": [x, y, w, h], "score": number, ...}
// read straight into columns, without building a Python dict per detection.
//
// Only this shape is accepted; other keys (segmentation, ...) are skipped whatever their value.
// Anything else (a syntax error, a missing field, a non-integral id, NaN / Infinity literals,
// which Python's json accepts) makes the parser return false, and the caller falls back to the
// general loader, which produces the error message naming the record and field.  Numbers are
// converted with std::from_chars (correctly rounded), so they equal Python's float(token).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vrft::eval {

struct ResultColumns {
  std::vector<int64_t> image_id, category_id;
  std::vector<double> box;  // 4 per record (xywh)
  std::vector<double> score;
};

// Parses data[0, size).  Returns true and fills `out` on success; false means "not on the fast
// path" (nothing about the file is implied beyond that).
bool parse_result_columns(const char* data, size_t size, ResultColumns& out);

}  // namespace vrft::eval
