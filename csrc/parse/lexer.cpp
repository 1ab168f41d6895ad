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
inline char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

int space_len(const char* p, const char* end) {
  if (p >= end) return 0;
  const unsigned char c = u8(*p);
  if (c < 0x80) return ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) ? 1 : 0;
  const int64_t left = end - p;
  if (c == 0xC2 && left >= 2) return (u8(p[1]) == 0x85 || u8(p[1]) == 0xA0) ? 2 : 0;
  if (left < 3) return 0;
  const unsigned char c1 = u8(p[1]), c2 = u8(p[2]);
  if (c == 0xE1) return (c1 == 0x9A && c2 == 0x80) ? 3 : 0;                      // U+1680
  if (c == 0xE2 && c1 == 0x80) {
    if (c2 >= 0x80 && c2 <= 0x8A) return 3;                                          // U+2000-200A
    if (c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) return 3;                            // U+2028/29/2F
    return 0;
  }
  if (c == 0xE2 && c1 == 0x81) return c2 == 0x9F ? 3 : 0;                          // U+205F
  if (c == 0xE3) return (c1 == 0x80 && c2 == 0x80) ? 3 : 0;                        // U+3000
  return 0;
}

const char* skip_space(const char* p, const char* end) {
  while (p < end) {
    // Fast path for the common ASCII bytes.
    const unsigned char c = u8(*p);
    if (c == ' ' || c == '\n') {
      ++p;
      continue;
    }
    const int n = space_len(p, end);
    if (n == 0) break;
    p += n;
  }
  return p;
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

bool iequals_ascii(const char* p, int64_t n, const char* lower) {
  int64_t i = 0;
  for (; i < n; ++i) {
    if (lower[i] == '\0' || lower_ascii(p[i]) != lower[i]) return false;
  }
  return lower[i] == '\0';
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
  const char* mant = q;
  int64_t int_digits = 0, frac_digits = 0;
  while (q < end && is_digit(*q)) ++q, ++int_digits;
  bool is_integer = true;
  if (q < end && *q == '.') {
    const char* f = q + 1;
    while (f < end && is_digit(*f)) ++f, ++frac_digits;
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
    for (const char* d = mant; d < q && !found; ++d) {
      if (*d == '.') continue;
      if (*d == 'e' || *d == 'E') break;
      if (*d != '0') {
        lead = pos;
        found = true;
      }
      --pos;
    }
    const double mag = (found && lead + exp_value > 0) ? std::numeric_limits<double>::infinity() : 0.0;
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
    if (*q == quote) return q;
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
