#include "eval/shape_results_json.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "eval/json_reader.h"

namespace vrft::eval {
namespace {

using json::NumberToken;
using json::Reader;

constexpr int64_t kTwoPow53 = int64_t{1} << 53;

// An integer token's int64 (int(token)); false for a fraction / exponent or beyond int64.
bool exact_integer(const NumberToken& t, int64_t* value) {
  if (!t.integral || !t.exact || t.digits > static_cast<uint64_t>(INT64_MAX)) return false;
  *value = t.negative ? -static_cast<int64_t>(t.digits) : static_cast<int64_t>(t.digits);
  return true;
}

// A number as the general loader holds it: float(token), but an integer token's int(token)
// converted to double (so "-0" is 0.0, as Python's int -0 is).
bool plain_number(Reader& r, double* value, bool* integral) {
  NumberToken t;
  if (!r.scan_number(&t) || !Reader::to_double(t, value)) return false;
  *integral = t.integral;
  if (t.integral && *value == 0) *value = 0;
  return true;
}

// An integer token only (RLE sizes and counts): the general loader also takes 3.0 there, but no
// writer of RLEs produces that, so it is left to it.
bool integer_token(Reader& r, int64_t* value) {
  NumberToken t;
  return r.scan_number(&t) && exact_integer(t, value);
}

// A key, refusing escapes: "image\u005fid" is image_id to Python, not to a byte comparison.
bool plain_key(Reader& r, const char** b, size_t* n) {
  return r.string(b, n) && std::memchr(*b, '\\', *n) == nullptr && r.eat(':');
}

bool key_is(const char* b, size_t n, const char* key) {
  return n == std::strlen(key) && std::memcmp(b, key, n) == 0;
}

// One segmentation value into the arena, as the general loader's segm_arena reads the Python
// value (csrc/bindings/shapes.cpp): an RLE dict or a list of polygons.
class SegmReader {
 public:
  explicit SegmReader(const ImageSizes& sizes) : sizes_(sizes) {}

  bool read(Reader& r, int64_t image_id, masks::SegmArena& arena) {
    if (r.peek('[')) return polygons(r, image_id, arena);
    return rle(r, arena);
  }

  // loadRes' bbox branch gives a result without a segmentation its box polygon
  // [[x1, y1, x1, y2, x2, y2, x2, y1]], x2 = x1 + w, y2 = y1 + h (as segm_arena does for None).
  bool box_polygon(const double b[4], int64_t image_id, masks::SegmArena& arena) const {
    int64_t h, w;
    if (!sizes_.find(image_id, &h, &w)) return false;
    const double x1 = b[0], y1 = b[1], x2 = b[0] + b[2], y2 = b[1] + b[3];
    const double poly[8] = {x1, y1, x1, y2, x2, y2, x2, y1};
    const int64_t len = 8;
    return arena.add_polygons(h, w, poly, &len, 1).empty();
  }

 private:
  bool rle(Reader& r, masks::SegmArena& arena) {
    if (!r.eat('{')) return false;
    int64_t hw[2] = {-1, -1};
    bool have_size = false, have_counts = false, as_text = false;
    if (r.eat('}')) return false;
    do {
      const char* kb;
      size_t kn;
      if (!plain_key(r, &kb, &kn)) return false;
      if (key_is(kb, kn, "size")) {
        if (!r.eat('[') || !integer_token(r, &hw[0]) || !r.eat(',') || !integer_token(r, &hw[1]) ||
            !r.eat(']')) {
          return false;
        }
        have_size = true;
      } else if (key_is(kb, kn, "counts")) {
        have_counts = true;
        as_text = r.peek('"');
        if (as_text ? !string_value(r) : !count_list(r)) return false;
      } else if (!r.skip_value()) {
        return false;
      }
    } while (r.eat(','));
    if (!r.eat('}') || !have_size || !have_counts) return false;
    const std::string why = as_text ? arena.add_string(hw[0], hw[1], text_)
                                    : arena.add_counts(hw[0], hw[1], counts_.data(),
                                                       static_cast<int64_t>(counts_.size()));
    return why.empty();
  }

  // A string's value into text_, unescaping \\ and \/ (an RLE string's characters are '0'..'o',
  // backslash included); any other escape: off the path.
  bool string_value(Reader& r) {
    const char* b;
    size_t n;
    if (!r.string(&b, &n)) return false;
    text_.clear();
    for (size_t i = 0; i < n; ++i) {
      if (b[i] != '\\') {
        text_.push_back(b[i]);
        continue;
      }
      const char e = b[++i];  // r.string() saw a character after every backslash
      if (e != '\\' && e != '/') return false;
      text_.push_back(e);
    }
    return true;
  }

  bool count_list(Reader& r) {
    counts_.clear();
    if (!r.eat('[')) return false;
    if (r.eat(']')) return true;
    do {
      int64_t c;
      if (!integer_token(r, &c)) return false;
      counts_.push_back(c);
    } while (r.eat(','));
    return r.eat(']');
  }

  bool polygons(Reader& r, int64_t image_id, masks::SegmArena& arena) {
    coords_.clear();
    lengths_.clear();
    if (!r.eat('[') || r.peek(']')) return false;  // [] : pycocotools raises IndexError
    do {
      if (!r.eat('[')) return false;
      int64_t len = 0;
      if (!r.eat(']')) {
        do {
          double v;
          bool integral;
          if (!plain_number(r, &v, &integral)) return false;
          coords_.push_back(v);
          ++len;
        } while (r.eat(','));
        if (!r.eat(']')) return false;
      }
      // frPyObjects reads a first polygon of 4 coordinates as a box, fewer as unsupported.
      if (lengths_.empty() && len <= 4) return false;
      lengths_.push_back(len);
    } while (r.eat(','));
    if (!r.eat(']')) return false;
    int64_t h, w;
    if (!sizes_.find(image_id, &h, &w)) return false;
    return arena
        .add_polygons(h, w, coords_.data(), lengths_.data(), static_cast<int64_t>(lengths_.size()))
        .empty();
  }

  const ImageSizes& sizes_;
  std::vector<double> coords_;
  std::vector<int64_t> lengths_, counts_;
  std::string text_;
};

// keypoint_rows (csrc/bindings/keypoints.cpp) of one record, appended to `values`: integer tokens
// within +-2**53 are exact; the row is integral when every value is an integer token.
bool read_keypoints(Reader& r, int64_t num_keypoints, std::vector<double>& values, bool* integral) {
  if (!r.eat('[')) return false;
  bool ints = true;
  int64_t n = 0;
  if (!r.eat(']')) {
    do {
      NumberToken t;
      double v;
      if (!r.scan_number(&t)) return false;
      if (t.integral) {
        int64_t x;
        if (!exact_integer(t, &x) || x > kTwoPow53 || x < -kTwoPow53) return false;
        v = static_cast<double>(x);
      } else {
        if (!Reader::to_double(t, &v)) return false;
        ints = false;
      }
      if (++n > 3 * num_keypoints) return false;
      values.push_back(v);
    } while (r.eat(','));
    if (!r.eat(']')) return false;
  }
  *integral = ints;
  return n == 3 * num_keypoints;
}

}  // namespace

ImageSizes::ImageSizes(const int64_t* ids, const int64_t* heights, const int64_t* widths,
                       int64_t count) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(count, 0)));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Stable: among repeated ids the first occurrence comes first, and find() takes it.
  std::stable_sort(order.begin(), order.end(),
                   [ids](int64_t a, int64_t b) { return ids[a] < ids[b]; });
  for (const int64_t k : order) {
    ids_.push_back(ids[k]);
    heights_.push_back(heights[k]);
    widths_.push_back(widths[k]);
  }
}

bool ImageSizes::find(int64_t image_id, int64_t* height, int64_t* width) const {
  const auto it = std::lower_bound(ids_.begin(), ids_.end(), image_id);
  if (it == ids_.end() || *it != image_id) return false;
  const auto k = static_cast<size_t>(it - ids_.begin());
  *height = heights_[k];
  *width = widths_[k];
  return *height >= 0 && *width >= 0;
}

bool parse_shape_results(const char* data, size_t size, const ImageSizes& sizes, bool want_segm,
                         int64_t num_keypoints, ShapeResults& out) {
  out = ShapeResults{};
  Reader r(data, size);
  SegmReader segm(sizes);
  if (!r.eat('[')) return false;
  if (r.eat(']')) return r.at_end();
  do {
    if (!r.eat('{')) return false;
    int64_t image_id = 0, category_id = 0;
    double box[4] = {0, 0, 0, 0}, score = 0;
    bool seen_img = false, seen_cat = false, seen_score = false, seen_box = false;
    // A shape may come before image_id: keep where it starts and read it after the record.
    // Keypoints need nothing else of the record: read at once (a repeated key reads them again).
    Reader segm_at(nullptr, 0);
    bool seen_segm = false, seen_kps = false, kp_ints = true;
    const size_t kp_begin = out.keypoints.size();
    if (r.eat('}')) return false;
    do {
      const char* kb;
      size_t kn;
      if (!plain_key(r, &kb, &kn)) return false;
      bool integral;
      // A repeated key: the last wins, as in a Python dict.
      if (key_is(kb, kn, "image_id")) {
        if (!r.integer(&image_id)) return false;
        seen_img = true;
      } else if (key_is(kb, kn, "category_id")) {
        if (!r.integer(&category_id)) return false;
        seen_cat = true;
      } else if (key_is(kb, kn, "score")) {
        if (!plain_number(r, &score, &integral)) return false;
        seen_score = true;
      } else if (key_is(kb, kn, "bbox")) {
        if (!r.eat('[')) return false;
        for (int i = 0; i < 4; ++i) {
          if ((i > 0 && !r.eat(',')) || !plain_number(r, &box[i], &integral)) return false;
        }
        if (!r.eat(']')) return false;
        seen_box = true;
      } else if (key_is(kb, kn, "segmentation")) {
        segm_at = r;
        seen_segm = true;
        if (!r.skip_value()) return false;
      } else if (key_is(kb, kn, "keypoints")) {
        seen_kps = true;
        if (num_keypoints > 0) {
          out.keypoints.resize(kp_begin);
          if (!read_keypoints(r, num_keypoints, out.keypoints, &kp_ints)) return false;
        } else if (!r.skip_value()) {
          return false;
        }
      } else if (!r.skip_value()) {
        return false;
      }
    } while (r.eat(','));
    if (!r.eat('}') || !seen_img || !seen_cat || !seen_score) return false;
    if (num_keypoints > 0 && !seen_kps) return false;
    if (want_segm) {
      // Without a segmentation only in loadRes' bbox branch (has_segm tells the caller).
      if (seen_segm ? !segm.read(segm_at, image_id, out.masks)
                    : !seen_box || !segm.box_polygon(box, image_id, out.masks)) {
        return false;
      }
    }
    if (num_keypoints > 0) out.kp_integral.push_back(kp_ints ? 1 : 0);
    out.image_id.push_back(image_id);
    out.category_id.push_back(category_id);
    out.score.push_back(score);
    out.box.insert(out.box.end(), box, box + 4);
    out.has_box.push_back(seen_box ? 1 : 0);
    out.has_segm.push_back(seen_segm ? 1 : 0);
  } while (r.eat(','));
  return r.eat(']') && r.at_end();
}

ReadStatus read_shape_results_file(const char* path, const ImageSizes& sizes, bool want_segm,
                                   int64_t num_keypoints, ShapeResults& out) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return ReadStatus::kCannotRead;
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  std::string data;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long bytes = std::ftell(f);
    if (bytes > 0) data.reserve(static_cast<size_t>(bytes));
  }
  if (std::fseek(f, 0, SEEK_SET) != 0) return ReadStatus::kCannotRead;
  char block[1 << 16];
  size_t got;
  while ((got = std::fread(block, 1, sizeof(block), f)) > 0) data.append(block, got);
  if (std::ferror(f)) return ReadStatus::kCannotRead;
  return parse_shape_results(data.data(), data.size(), sizes, want_segm, num_keypoints, out)
             ? ReadStatus::kOk
             : ReadStatus::kOffFastPath;
}

}  // namespace vrft::eval
