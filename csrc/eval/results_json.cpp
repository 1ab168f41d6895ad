#include "eval/results_json.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace vrft::eval {
namespace {

class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), end_(data + size) {}

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool eat(char c) {
    skip_ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skip_ws();
    return p_ < end_ && *p_ == c;
  }
  bool at_end() {
    skip_ws();
    return p_ == end_;
  }

  // A string; returns its raw bytes (escapes left in place, enough to compare plain keys).
  bool string(const char** begin, size_t* len) {
    if (!eat('"')) return false;
    const char* s = p_;
    while (p_ < end_ && *p_ != '"') {
      if (*p_ == '\\') {
        ++p_;
        if (p_ == end_) return false;
      }
      ++p_;
    }
    if (p_ == end_) return false;
    *begin = s;
    *len = static_cast<size_t>(p_ - s);
    ++p_;
    return true;
  }

  // A JSON number token -> double (correctly rounded); `integral` tells whether it had no
  // fraction / exponent part.
  bool number(double* value, bool* integral) {
    skip_ws();
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

  bool integer(int64_t* value) {
    skip_ws();
    const char* s = p_;
    double d;
    bool integral;
    if (!number(&d, &integral)) return false;
    if (integral) {
      const auto r = std::from_chars(s, p_, *value);
      return r.ec == std::errc() && r.ptr == p_;
    }
    // 3.0 is accepted as an id (Python's int(3.0)); 3.5 is not on the fast path.
    if (d != std::floor(d) || std::fabs(d) > 9.007199254740992e15) return false;
    *value = static_cast<int64_t>(d);
    return true;
  }

  // Skips any JSON value (depth-limited).
  bool skip_value(int depth = 0) {
    if (depth > 64) return false;
    skip_ws();
    if (p_ == end_) return false;
    const char c = *p_;
    if (c == '"') {
      const char* b;
      size_t n;
      return string(&b, &n);
    }
    if (c == '{') {
      ++p_;
      if (eat('}')) return true;
      do {
        const char* b;
        size_t n;
        if (!string(&b, &n) || !eat(':') || !skip_value(depth + 1)) return false;
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      ++p_;
      if (eat(']')) return true;
      do {
        if (!skip_value(depth + 1)) return false;
      } while (eat(','));
      return eat(']');
    }
    for (const char* lit : {"true", "false", "null"}) {
      const size_t n = std::strlen(lit);
      if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, lit, n) == 0) {
        p_ += n;
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

}  // namespace

bool parse_result_columns(const char* data, size_t size, ResultColumns& out) {
  Reader r(data, size);
  out = ResultColumns{};
  if (!r.eat('[')) return false;
  if (r.eat(']')) return r.at_end();
  do {
    if (!r.eat('{')) return false;
    int64_t image_id = 0, category_id = 0;
    double box[4] = {0, 0, 0, 0}, score = 0;
    unsigned seen = 0;  // bit per field; a repeated key overwrites (last wins, as in Python)
    if (!r.eat('}')) {
      do {
        const char* kb;
        size_t kn;
        if (!r.string(&kb, &kn) || !r.eat(':')) return false;
        if (key_is(kb, kn, "image_id")) {
          if (!r.integer(&image_id)) return false;
          seen |= 1u;
        } else if (key_is(kb, kn, "category_id")) {
          if (!r.integer(&category_id)) return false;
          seen |= 2u;
        } else if (key_is(kb, kn, "score")) {
          bool integral;
          if (!r.number(&score, &integral)) return false;
          seen |= 4u;
        } else if (key_is(kb, kn, "bbox")) {
          if (!r.eat('[')) return false;
          for (int i = 0; i < 4; ++i) {
            bool integral;
            if ((i > 0 && !r.eat(',')) || !r.number(&box[i], &integral)) return false;
          }
          if (!r.eat(']')) return false;
          seen |= 8u;
        } else if (!r.skip_value()) {
          return false;
        }
      } while (r.eat(','));
      if (!r.eat('}')) return false;
    }
    if (seen != 15u) return false;
    out.image_id.push_back(image_id);
    out.category_id.push_back(category_id);
    out.box.insert(out.box.end(), box, box + 4);
    out.score.push_back(score);
  } while (r.eat(','));
  return r.eat(']') && r.at_end();
}

}  // namespace vrft::eval
