#include "parse/lexer.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace vrft {
namespace parse {

namespace {
inline unsigned char u8(char c) { return static_cast<unsigned char>(c); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

int space_len(const char* p, const char* end) {
  if (p >= end) return 0;
  const unsigned char c = u8(*p);
  if (c < 0x80) return ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) ? 1 : 0;
  const int64_t left = end - p;
  if (c == 0xC2 && left >= 2) return (u8(p[1]) == 0x85 || u8(p[1]) == 0xA0) ? 2 : 0;
  if (left < 3) return 0;
  const unsigned char c1 = u8(p[1]), c2 = u8(p[2]);
  if (c == 0xE1) return (c1 == 0x9A && c2 == 0x80) ? 3 : 0;  // U+1680
  if (c == 0xE2 && c1 == 0x80) {
    if (c2 >= 0x80 && c2 <= 0x8A) return 3;                // U+2000-200A
    if (c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) return 3;  // U+2028/29/2F
    return 0;
  }
  if (c == 0xE2 && c1 == 0x81) return c2 == 0x9F ? 3 : 0;    // U+205F
  if (c == 0xE3) return (c1 == 0x80 && c2 == 0x80) ? 3 : 0;  // U+3000
  return 0;
}

const char* trim_space_back(const char* p, const char* end) {
  while (end > p) {
    const unsigned char c = u8(end[-1]);
    if (c < 0x80) {
      if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) {
        --end;
        continue;
      }
      break;
    }
    // A multi-byte whitespace is 2 or 3 bytes long; try both starts.
    if (end - p >= 2 && space_len(end - 2, end) == 2) {
      end -= 2;
      continue;
    }
    if (end - p >= 3 && space_len(end - 3, end) == 3) {
      end -= 3;
      continue;
    }
    break;
  }
  return end;
}

int64_t count_code_points(const char* p, const char* end) {
  int64_t n = 0;
  for (; p < end; ++p) n += (u8(*p) & 0xC0) != 0x80;
  return n;
}

const char* scan_number(const char* p, const char* end, double* value) {
  const char* q = p;
  bool negative = false;
  if (q < end && (*q == '+' || *q == '-')) {
    negative = *q == '-';
    ++q;
  }
  if (q >= end) return nullptr;
  // Non-finite words: nan, inf, infinity (json.loads accepts NaN / Infinity / -Infinity).
  if (!is_digit(*q) && *q != '.') {
    const char* w = q;
    while (w < end && w - q < 8 && ((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z'))) ++w;
    if (w < end && ((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z'))) return nullptr;
    const int64_t n = w - q;
    if (iequals_ascii(q, n, "nan")) {
      *value = std::numeric_limits<double>::quiet_NaN();
      return w;
    }
    if (iequals_ascii(q, n, "inf") || iequals_ascii(q, n, "infinity")) {
      *value = negative ? -std::numeric_limits<double>::infinity()
                        : std::numeric_limits<double>::infinity();
      return w;
    }
    return nullptr;
  }
  // One pass over the digits: count them and accumulate the significand (only used when it has
  // at most 15 digits, so the uint64 never overflows where it matters).
  const char* mant = q;
  uint64_t m = 0;
  const char* d = q;
  while (d < end && is_digit(*d)) m = m * 10 + static_cast<uint64_t>(*d++ - '0');
  const int64_t int_digits = d - q;
  int64_t frac_digits = 0;
  bool is_integer = true;
  q = d;
  if (q < end && *q == '.') {
    const char* f = q + 1;
    const char* f0 = f;
    while (f < end && is_digit(*f)) m = m * 10 + static_cast<uint64_t>(*f++ - '0');
    frac_digits = f - f0;
    if (int_digits == 0 && frac_digits == 0) return nullptr;  // a lone "."
    q = f;
    is_integer = false;
  }
  if (int_digits == 0 && frac_digits == 0) return nullptr;
  int64_t exp_value = 0;
  if (q < end && (*q == 'e' || *q == 'E')) {
    const char* e = q + 1;
    bool eneg = false;
    if (e < end && (*e == '+' || *e == '-')) eneg = *e++ == '-';
    const char* ed = e;
    while (e < end && is_digit(*e)) {
      if (exp_value < 100000000) exp_value = exp_value * 10 + (*e - '0');
      ++e;
    }
    if (e > ed) {  // "3e" without digits: the 'e' is not part of the number
      q = e;
      is_integer = false;
      if (eneg) exp_value = -exp_value;
    } else {
      exp_value = 0;
    }
  }
  // Clinger's exact fast path (the one fast_float and strtod implementations also take): when
  // the decimal significand is an integer below 2^53 and the power of ten is at most 22 in
  // magnitude, both are exact doubles and one IEEE multiplication or division rounds correctly.
  // Coordinates and confidences ("512", "0.93") always take it; everything else goes to
  // std::from_chars.
  if (int_digits + frac_digits <= 15) {
    const int64_t e10 = exp_value - frac_digits;
    if (e10 >= -22 && e10 <= 22) {
      static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                          1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
      double v = static_cast<double>(m);  // exact: m < 10^15 < 2^53
      v = e10 >= 0 ? v * kPow10[e10] : v / kPow10[-e10];
      if (negative) v = -v;
      if (is_integer && v == 0.0) v = 0.0;  // "-0" is the integer 0
      *value = v;
      return q;
    }
  }
  // from_chars rejects a leading '+', so parse from the sign only when it is '-'.
  const char* from = negative ? mant - 1 : mant;
  double v = 0.0;
  const auto res = std::from_chars(from, q, v);
  if (res.ec == std::errc::result_out_of_range) {
    // The value is beyond double's range: either it overflows (Python's float() gives inf) or it
    // underflows below the smallest subnormal (float() gives 0.0).  Decide by the decimal
    // exponent of the first significant digit.
    int64_t lead = 0;  // exponent of the first nonzero digit, relative to the decimal point
    bool found = false;
    int64_t pos = int_digits - 1;
    for (const char* z = mant; z < q && !found; ++z) {
      if (*z == '.') continue;
      if (*z == 'e' || *z == 'E') break;
      if (*z != '0') {
        lead = pos;
        found = true;
      }
      --pos;
    }
    const double mag =
        (found && lead + exp_value > 0) ? std::numeric_limits<double>::infinity() : 0.0;
    v = negative ? -mag : mag;
  } else if (res.ec != std::errc() || res.ptr != q) {
    return nullptr;  // cannot happen for the grammar above; refuse rather than guess
  }
  if (is_integer && v == 0.0) v = 0.0;  // "-0" is the integer 0
  *value = v;
  return q;
}

const char* scan_string(const char* p, const char* end) {
  const char quote = *p;
  for (const char* q = p + 1; q < end; ++q) {
    if (*q == '\\') {
      ++q;
      continue;
    }
    if (*q != quote) continue;
    if (quote == '"') return q;
    // Single quotes (Visual-RFT's Python-literal style) also serve as apostrophes in labels
    // ('dog's bowl'): such a quote closes the string only when what follows it (after spaces)
    // can follow a string in a list -- , : } ] ) -- or the text ends.  The spaces looked at are
    // scanned at most twice, so the scan stays linear.
    const char* r = q + 1;
    while (r < end && (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r')) ++r;
    if (r == end || *r == ',' || *r == ':' || *r == '}' || *r == ']' || *r == ')') return q;
  }
  return nullptr;
}

const char* skip_open_groups(const char* p, const char* end, int64_t depth) {
  while (p < end) {
    const char c = *p;
    if (c == '"' || c == '\'') {
      const char* close = scan_string(p, end);
      if (!close) return nullptr;
      p = close + 1;
      continue;
    }
    if (c == '[' || c == '{' || c == '(') {
      ++depth;
    } else if (c == ']' || c == '}' || c == ')') {
      if (--depth == 0) return p + 1;
    }
    ++p;
  }
  return nullptr;
}

const char* skip_value(const char* p, const char* end) {
  if (p >= end) return nullptr;
  const char c = *p;
  if (c == '"' || c == '\'') {
    const char* close = scan_string(p, end);
    return close ? close + 1 : nullptr;
  }
  if (c == '[' || c == '{' || c == '(') return skip_open_groups(p + 1, end, 1);
  const char* q = p;
  while (q < end && *q != ',' && *q != ']' && *q != '}' && space_len(q, end) == 0) ++q;
  return q;
}

}  // namespace parse
}  // namespace vrft
