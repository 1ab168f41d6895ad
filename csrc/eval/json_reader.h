// A small JSON scanner for the results fast path (csrc/eval/results_json.cpp): whitespace,
// punctuation, raw strings (enough to compare plain keys), numbers, and skipping any value.
//
// Numbers follow JSON's grammar strictly (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; `01`,
// `.5`, `1.` and NaN / Infinity are refused) and are correctly rounded: short decimals exactly by
// Clinger's fast path, the rest by std::from_chars.  So a value equals Python's float(token), and
// an integral token's int64 equals int(token).
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace vrft::eval::json {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// 10^k, k = 0..22: every one exactly representable as a double.
inline constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// A JSON number token, scanned: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
struct NumberToken {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool negative = false;
  bool integral = true;  // no fraction, no exponent
  bool exact = true;     // every significant digit is in `digits`
  uint64_t digits = 0;   // the decimal digits as an integer ...
  int64_t exp10 = 0;     // ... times 10^exp10 is the value's magnitude (when exact)
};

class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), begin_(data), end_(data + size) {}

  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  void skip_ws() {
    while (p_ < end_ && is_ws(*p_)) ++p_;
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

  bool scan_number(NumberToken* t) {
    skip_ws();
    const char* q = p_;
    t->begin = q;
    t->negative = q < end_ && *q == '-';
    if (t->negative) ++q;
    if (q == end_ || !is_digit(*q)) return false;
    auto take = [t](char c) {
      if (t->digits <= (std::numeric_limits<uint64_t>::max() - 9) / 10) {
        t->digits = t->digits * 10 + static_cast<uint64_t>(c - '0');
        return true;
      }
      t->exact = false;  // from_chars will read this one
      return false;
    };
    if (*q == '0') {
      ++q;
      if (q < end_ && is_digit(*q)) return false;  // a leading zero: not JSON
    } else {
      while (q < end_ && is_digit(*q)) take(*q++);
    }
    if (q < end_ && *q == '.') {
      ++q;
      if (q == end_ || !is_digit(*q)) return false;
      t->integral = false;
      while (q < end_ && is_digit(*q)) {
        if (take(*q++)) --t->exp10;
      }
    }
    if (q < end_ && (*q == 'e' || *q == 'E')) {
      ++q;
      t->integral = false;
      const bool neg_exp = q < end_ && *q == '-';
      if (q < end_ && (*q == '-' || *q == '+')) ++q;
      if (q == end_ || !is_digit(*q)) return false;
      int64_t e = 0;
      while (q < end_ && is_digit(*q)) {
        if (e < 100000) e = e * 10 + (*q - '0');
        ++q;
      }
      t->exp10 += neg_exp ? -e : e;
    }
    t->end = q;
    p_ = q;
    return true;
  }

  // A JSON number -> double, correctly rounded (as Python's float(token)); `integral` tells
  // whether it had no fraction / exponent part.
  bool number(double* value, bool* integral) {
    NumberToken t;
    if (!scan_number(&t)) return false;
    *integral = t.integral;
    return to_double(t, value);
  }

  // A scanned token's value, correctly rounded; false when it is beyond double range.
  static bool to_double(const NumberToken& t, double* value) {
    if (t.exact && t.digits <= (uint64_t{1} << 53) && t.exp10 >= -22 && t.exp10 <= 22) {
      // Clinger's fast path: both operands are exact doubles, so the one IEEE multiplication or
      // division is the correctly rounded value of the decimal.
      const double m = static_cast<double>(t.digits);
      const double d = t.exp10 < 0 ? m / kPow10[-t.exp10] : m * kPow10[t.exp10];
      *value = t.negative ? -d : d;
      return true;
    }
    const auto r = std::from_chars(t.begin, t.end, *value);
    return r.ec == std::errc() && r.ptr == t.end && std::isfinite(*value);
  }

  bool integer(int64_t* value) {
    NumberToken t;
    if (!scan_number(&t)) return false;
    if (t.integral) {
      if (t.exact && t.digits <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        *value = t.negative ? -static_cast<int64_t>(t.digits) : static_cast<int64_t>(t.digits);
        return true;
      }
      const auto r = std::from_chars(t.begin, t.end, *value);
      return r.ec == std::errc() && r.ptr == t.end;
    }
    // 3.0 is accepted as an id (Python's int(3.0)); 3.5 is not on the fast path.
    double d;
    const auto r = std::from_chars(t.begin, t.end, d);
    if (r.ec != std::errc() || r.ptr != t.end || !std::isfinite(d)) return false;
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
    NumberToken t;
    return scan_number(&t);
  }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;
};

}  // namespace vrft::eval::json
