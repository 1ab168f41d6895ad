#include "eval/shape_results_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

namespace vrft::eval {
namespace {

// A minimal JSON reader over the bytes, for the record layout of the header (the bbox fast path,
// results_json.cpp, has its own for its one layout).
class Json {
 public:
  Json(const char* data, size_t size) : p_(data), end_(data + size) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  bool at_end() {
    ws();
    return p_ == end_;
  }

  // A string's raw bytes (escapes left in place: enough for keys).
  bool raw_string(const char** b, size_t* n) {
    if (!eat('"')) return false;
    const char* s = p_;
    while (p_ < end_ && *p_ != '"') {
      if (*p_ == '\\' && ++p_ == end_) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    *b = s;
    *n = static_cast<size_t>(p_ - s);
    ++p_;
    return true;
  }

  // A string's value, unescaping \\ and \/ (all an RLE string can hold); others: off the path.
  bool string_value(std::string& out) {
    const char* b;
    size_t n;
    if (!raw_string(&b, &n)) return false;
    out.clear();
    for (size_t i = 0; i < n; ++i) {
      if (b[i] != '\\') {
        out.push_back(b[i]);
        continue;
      }
      const char e = b[++i];
      if (e != '\\' && e != '/') return false;
      out.push_back(e);
    }
    return true;
  }

  bool number(double* value, bool* integral) {
    ws();
    const char* s = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) return false;
    bool is_int = true;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' ||
                         *p_ == '+' || *p_ == '-')) {
      if (*p_ == '.' || *p_ == 'e' || *p_ == 'E') is_int = false;
      ++p_;
    }
    const auto r = std::from_chars(s, p_, *value);
    if (r.ec != std::errc() || r.ptr != p_ || !std::isfinite(*value)) return false;
    *integral = is_int;
    return true;
  }

  // An integer token (or a float holding one, as Python's int(3.0) for ids), |v| < 2**53.
  bool integer(int64_t* value) {
    double d;
    bool integral;
    if (!number(&d, &integral) || d != std::floor(d) || std::fabs(d) > 9.007199254740992e15) {
      return false;
    }
    *value = static_cast<int64_t>(d);
    return true;
  }

  bool skip_value(int depth = 0) {
    if (depth > 64) return false;
    ws();
    if (p_ == end_) return false;
    const char c = *p_;
    const char* b;
    size_t n;
    if (c == '"') return raw_string(&b, &n);
    if (c == '{' || c == '[') {
      ++p_;
      const char close = c == '{' ? '}' : ']';
      if (eat(close)) return true;
      do {
        if (c == '{' && (!raw_string(&b, &n) || !eat(':'))) return false;
        if (!skip_value(depth + 1)) return false;
      } while (eat(','));
      return eat(close);
    }
    for (const char* lit : {"true", "false", "null"}) {
      const size_t len = std::strlen(lit);
      if (static_cast<size_t>(end_ - p_) >= len && std::memcmp(p_, lit, len) == 0) {
        p_ += len;
        return true;
      }
    }
    double d;
    bool integral;
    return number(&d, &integral);
  }

 private:
  const char* p_;
  const char* end_;
};

bool key_is(const char* b, size_t n, const char* key) {
  return n == std::strlen(key) && std::memcmp(b, key, n) == 0;
}

// One segmentation value into the arena.
struct SegmReader {
  const ImageSizes& sizes;
  std::vector<double> coords;
  std::vector<int64_t> lengths, counts;
  std::string text;

  bool image_size(int64_t image_id, int64_t* h, int64_t* w) const {
    const int64_t* end = sizes.sorted_ids + sizes.count;
    const int64_t* it = std::lower_bound(sizes.sorted_ids, end, image_id);
    if (it == end || *it != image_id) return false;
    const auto k = it - sizes.sorted_ids;
    *h = sizes.heights[k];
    *w = sizes.widths[k];
    return *h >= 0 && *w >= 0;
  }

  bool read(Json& r, int64_t image_id, masks::SegmArena& arena) {
    if (r.peek('[')) return polygons(r, image_id, arena);
    if (!r.eat('{')) return false;
    int64_t hw[2] = {-1, -1};
    bool have_size = false, have_counts = false, as_text = false;
    if (r.eat('}')) return false;
    do {
      const char* kb;
      size_t kn;
      if (!r.raw_string(&kb, &kn) || !r.eat(':')) return false;
      if (key_is(kb, kn, "size")) {
        if (!r.eat('[') || !r.integer(&hw[0]) || !r.eat(',') || !r.integer(&hw[1]) || !r.eat(']')) {
          return false;
        }
        have_size = true;
      } else if (key_is(kb, kn, "counts")) {
        have_counts = true;
        if (r.peek('"')) {
          as_text = true;
          if (!r.string_value(text)) return false;
        } else {
          as_text = false;
          counts.clear();
          if (!r.eat('[')) return false;
          if (!r.eat(']')) {
            do {
              int64_t c;
              if (!r.integer(&c)) return false;
              counts.push_back(c);
            } while (r.eat(','));
            if (!r.eat(']')) return false;
          }
        }
      } else if (!r.skip_value()) {
        return false;
      }
    } while (r.eat(','));
    if (!r.eat('}') || !have_size || !have_counts) return false;
    const std::string why = as_text ? arena.add_string(hw[0], hw[1], text)
                                    : arena.add_counts(hw[0], hw[1], counts.data(),
                                                       static_cast<int64_t>(counts.size()));
    return why.empty();
  }

  bool polygons(Json& r, int64_t image_id, masks::SegmArena& arena) {
    coords.clear();
    lengths.clear();
    if (!r.eat('[') || r.peek(']')) return false;
    do {
      if (!r.eat('[')) return false;
      int64_t len = 0;
      if (!r.eat(']')) {
        do {
          double v;
          bool integral;
          if (!r.number(&v, &integral)) return false;
          coords.push_back(v);
          ++len;
        } while (r.eat(','));
        if (!r.eat(']')) return false;
      }
      // frPyObjects' first-polygon rules (4 coordinates: a box; fewer: unsupported): off the path.
      if (lengths.empty() && len <= 4) return false;
      lengths.push_back(len);
    } while (r.eat(','));
    if (!r.eat(']')) return false;
    int64_t h, w;
    if (!image_size(image_id, &h, &w)) return false;
    return arena
        .add_polygons(h, w, coords.data(), lengths.data(), static_cast<int64_t>(lengths.size()))
        .empty();
  }
};

bool read_keypoints(Json& r, int64_t num_keypoints, ShapeResults& out) {
  if (!r.eat('[')) return false;
  bool ints = true;
  int64_t n = 0;
  if (!r.eat(']')) {
    do {
      double v;
      bool integral;
      if (!r.number(&v, &integral)) return false;
      if (integral && std::fabs(v) > 9.007199254740992e15) return false;
      ints &= integral;
      out.keypoints.push_back(v);
      ++n;
    } while (r.eat(','));
    if (!r.eat(']')) return false;
  }
  out.kp_integral.push_back(ints ? 1 : 0);
  return n == 3 * num_keypoints;
}

}  // namespace

bool parse_shape_results(const char* data, size_t size, const ImageSizes& sizes, bool want_segm,
                         int64_t num_keypoints, ShapeResults& out) {
  out = ShapeResults{};
  Json r(data, size);
  SegmReader segm{sizes, {}, {}, {}, {}};
  if (!r.eat('[')) return false;
  if (r.eat(']')) return r.at_end();
  do {
    if (!r.eat('{')) return false;
    int64_t image_id = 0, category_id = 0;
    double box[4] = {0, 0, 0, 0}, score = 0;
    bool seen_img = false, seen_cat = false, seen_score = false, seen_box = false;
    // Shapes come before or after image_id: keep their source range and read them at the end.
    Json segm_at(nullptr, 0), kps_at(nullptr, 0);
    bool seen_segm = false, seen_kps = false;
    if (r.eat('}')) return false;
    do {
      const char* kb;
      size_t kn;
      if (!r.raw_string(&kb, &kn) || !r.eat(':')) return false;
      // A repeated key: the last wins, as in a Python dict.
      if (key_is(kb, kn, "image_id")) {
        if (!r.integer(&image_id)) return false;
        seen_img = true;
      } else if (key_is(kb, kn, "category_id")) {
        if (!r.integer(&category_id)) return false;
        seen_cat = true;
      } else if (key_is(kb, kn, "score")) {
        bool integral;
        if (!r.number(&score, &integral)) return false;
        seen_score = true;
      } else if (key_is(kb, kn, "bbox")) {
        if (!r.eat('[')) return false;
        for (int i = 0; i < 4; ++i) {
          bool integral;
          if ((i > 0 && !r.eat(',')) || !r.number(&box[i], &integral)) return false;
        }
        if (!r.eat(']')) return false;
        seen_box = true;
      } else if (want_segm && key_is(kb, kn, "segmentation")) {
        segm_at = r;
        seen_segm = true;
        if (!r.skip_value()) return false;
      } else if (num_keypoints > 0 && key_is(kb, kn, "keypoints")) {
        kps_at = r;
        seen_kps = true;
        if (!r.skip_value()) return false;
      } else if (!r.skip_value()) {
        return false;
      }
    } while (r.eat(','));
    if (!r.eat('}') || !seen_img || !seen_cat || !seen_score) return false;
    if ((want_segm && !seen_segm) || (num_keypoints > 0 && !seen_kps)) return false;
    if (want_segm && !segm.read(segm_at, image_id, out.masks)) return false;
    if (num_keypoints > 0 && !read_keypoints(kps_at, num_keypoints, out)) return false;
    out.image_id.push_back(image_id);
    out.category_id.push_back(category_id);
    out.score.push_back(score);
    out.box.insert(out.box.end(), box, box + 4);
    out.has_box.push_back(seen_box ? 1 : 0);
  } while (r.eat(','));
  return r.eat(']') && r.at_end();
}

}  // namespace vrft::eval
