#include "eval/results_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/thread_pool.h"

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

// Records `{...}, {...}, ...` filling `out`; the reader must then be at `end_char` (']' for the
// last chunk, end of input for the others: end_char == 0).
bool parse_records(Reader& r, ResultColumns& out, char end_char, size_t bytes) {
  // A COCO result record takes 80-120 bytes of JSON: reserve for that many, once.
  const size_t guess = bytes / 80 + 16;
  out.image_id.reserve(guess);
  out.category_id.reserve(guess);
  out.box.reserve(4 * guess);
  out.score.reserve(guess);
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
  if (end_char == 0) return r.at_end();
  return r.eat(end_char) && r.at_end();
}

bool parse_serial(const char* data, size_t size, ResultColumns& out) {
  Reader r(data, size);
  out = ResultColumns{};
  if (!r.eat('[')) return false;
  if (r.eat(']')) return r.at_end();
  return parse_records(r, out, ']', size);
}

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// A position p such that data[p] == '{' starts a record: the previous non-space bytes are `}` ws*
// `,` ws*.  Only a candidate (it may sit inside a string); the chunk parses validate it.
size_t next_record_start(const char* data, size_t size, size_t from) {
  for (size_t p = from; p < size; ++p) {
    if (data[p] != '{') continue;
    size_t q = p;
    while (q > 0 && is_ws(data[q - 1])) --q;
    if (q == 0 || data[q - 1] != ',') continue;
    --q;
    while (q > 0 && is_ws(data[q - 1])) --q;
    if (q > 0 && data[q - 1] == '}') return p;
  }
  return size;
}

}  // namespace

bool parse_result_columns(const char* data, size_t size, ResultColumns& out) {
  // Large files are cut at record boundaries and parsed in parallel; a chunk that does not parse
  // exactly (a cut inside a string, a syntax error) sends the whole file to the serial parser,
  // which is the reference behaviour.
  const int64_t threads = get_num_threads();
  constexpr size_t kMinChunk = size_t{4} << 20;
  const int64_t pieces = std::min<int64_t>(threads, static_cast<int64_t>(size / kMinChunk));
  if (pieces < 2) return parse_serial(data, size, out);
  std::vector<size_t> cut{0};
  for (int64_t i = 1; i < pieces; ++i) {
    const size_t c = next_record_start(data, size, std::max(cut.back() + 1, size / pieces * i));
    if (c >= size) break;
    cut.push_back(c);
  }
  cut.push_back(size);
  const int64_t n = static_cast<int64_t>(cut.size()) - 1;
  if (n < 2) return parse_serial(data, size, out);
  std::vector<ResultColumns> parts(static_cast<size_t>(n));
  std::vector<char> ok(static_cast<size_t>(n), 0);
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Chunk i covers [cut[i], end): up to the ',' before the next record for all but the last.
      size_t end = cut[i + 1];
      if (i + 1 < n) {
        while (end > cut[i] && data[end - 1] != ',') --end;
        --end;  // drop the ','
      }
      Reader r(data + cut[i], end - cut[i]);
      if (i == 0) {
        if (!r.eat('[')) continue;
        if (n == 1 && r.eat(']')) {
          ok[i] = r.at_end();
          continue;
        }
      }
      ok[i] = parse_records(r, parts[i], i + 1 == n ? ']' : 0, end - cut[i]);
    }
  });
  for (const char v : ok) {
    if (!v) return parse_serial(data, size, out);
  }
  out = ResultColumns{};
  size_t total = 0;
  for (const auto& p : parts) total += p.score.size();
  out.image_id.reserve(total);
  out.category_id.reserve(total);
  out.box.reserve(4 * total);
  out.score.reserve(total);
  for (const auto& p : parts) {
    out.image_id.insert(out.image_id.end(), p.image_id.begin(), p.image_id.end());
    out.category_id.insert(out.category_id.end(), p.category_id.begin(), p.category_id.end());
    out.box.insert(out.box.end(), p.box.begin(), p.box.end());
    out.score.insert(out.score.end(), p.score.begin(), p.score.end());
  }
  return true;
}

}  // namespace vrft::eval
