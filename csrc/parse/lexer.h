// Byte-level lexing helpers shared by the completion parsers: whitespace as Python's str.isspace
// sees it (in UTF-8), exact number tokens, quoted strings and bracket skipping.
//
// Everything here works on a half-open byte range [p, end) of UTF-8 text and never reads past
// `end`.  Nothing recurses: nested brackets are skipped with a depth counter, so a 100k-deep
// "[[[[..." costs one linear pass and no stack.
#pragma once

#include <cstdint>

namespace vrft {
namespace parse {

// Byte length of the whitespace character at p (0 when p == end or the character is not
// whitespace).  The set is exactly the code points for which Python's str.isspace() is true and
// which re's \s matches in str patterns: \t \n \v \f \r, \x1c-\x1f, space, U+0085, U+00A0,
// U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
int space_len(const char* p, const char* end);

// First position >= p that is not whitespace (or end).  Inline: it runs between every token.
inline const char* skip_space(const char* p, const char* end) {
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x80) {
      if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) {
        ++p;
        continue;
      }
      return p;
    }
    const int n = space_len(p, end);
    if (n == 0) return p;
    p += n;
  }
  return p;
}
// Last position such that [p, result) has no trailing whitespace.
const char* trim_space_back(const char* p, const char* end);

// Number of code points in [p, end): every byte that is not a UTF-8 continuation byte
// (10xxxxxx) starts one.  Lone surrogates that Python encodes with "surrogatepass" are 3-byte
// sequences and count once as well, so this equals the Python str length.
int64_t count_code_points(const char* p, const char* end);

// A number token at p.  Grammar (decimal only, no hex, no digit separators):
//   [+-]? ( digits ( '.' digits? )? | '.' digits ) ( [eE] [+-]? digits )?
//   [+-]? ( 'nan' | 'inf' | 'infinity' )            (ASCII, any case; json's NaN / Infinity)
// On success returns the end of the token and stores the value: correctly rounded by
// std::from_chars (the same double as Python's float() of the token), overflow gives +-inf and
// underflow +-0.0 like float().  An integer token equal to zero ("-0", "-000") gives +0.0, as
// json.loads / int() would before conversion to float.  Returns nullptr when p does not start a
// number token.  The token is not checked for what follows it; callers do that.
const char* scan_number(const char* p, const char* end, double* value);

// True when c cannot continue a word or number: the character after a number must be one of
// these for the number to count as a value in a list ("12px" is not a number).
inline bool is_value_delimiter(char c) {
  return c == ',' || c == ']' || c == '}' || c == ')' || c == ' ' || c == '\t' || c == '\n' ||
         c == '\r' || c == '\f' || c == '\v' || c == ':' || c == ';';
}

// String literal starting at p (which must be ' or "): returns the position of the closing quote,
// or nullptr when the text ends first.  A backslash escapes the next byte, as in JSON and Python.
// A single quote closes a single-quoted string only when followed (after spaces) by , : } ] ) or
// the end of the text, so apostrophes inside labels ('dog's bowl') stay inside.
const char* scan_string(const char* p, const char* end);

// Skips one generic value starting at p (string, bracketed group, or a bare scalar up to the next
// , ] } or whitespace).  For brackets, [ { open and ] } close regardless of kind (a depth
// counter, strings inside are skipped).  Returns the position after the value, or nullptr when
// the text ends inside it (truncated).
const char* skip_value(const char* p, const char* end);

// Continues skipping a bracketed group whose opening brackets were already consumed: `depth`
// groups are open at p.  Returns the position after the last closing bracket, or nullptr.
const char* skip_open_groups(const char* p, const char* end, int64_t depth);

// Case-sensitive prefix test of the literal `lit` (length n) at p.
inline bool starts_with(const char* p, const char* end, const char* lit, int64_t n) {
  if (end - p < n) return false;
  for (int64_t i = 0; i < n; ++i)
    if (p[i] != lit[i]) return false;
  return true;
}

// ASCII case-insensitive comparison of [p, p + n) with the lower-case literal `lower`.
inline bool iequals_ascii(const char* p, int64_t n, const char* lower) {
  int64_t i = 0;
  for (; i < n; ++i) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (lower[i] == '\0' || c != lower[i]) return false;
  }
  return lower[i] == '\0';
}

}  // namespace parse
}  // namespace vrft
