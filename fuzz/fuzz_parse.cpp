// libFuzzer harness for the completion parser (vrft::parse), the code every reward runs on model
// output (docs/reliability.md).  Input: byte 0 picks the options, the rest is split on 0x01 into up
// to 16 completions.  Texts are made valid UTF-8 first (Python hands the core UTF-8 only: str ->
// UTF-8, lone surrogates as 3-byte sequences), so every finding is reachable from Python.
// Besides ASan/UBSan findings it checks the documented output invariants (docs/parsing.md) and
// aborts on a breach.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "parse/parse.h"

namespace {

// Replaces every byte that does not start a well-formed UTF-8 sequence by '?'.  Surrogates
// (ED A0..BF xx) are kept: "surrogatepass" produces them.
std::string to_utf8(const uint8_t* p, size_t n) {
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len == 2) ok = c >= 0xC2;
    if (ok && len == 3) ok = !(c == 0xE0 && p[i + 1] < 0xA0);
    if (ok && len == 4)
      ok = !(c == 0xF0 && p[i + 1] < 0x90) && !(c > 0xF4 || (c == 0xF4 && p[i + 1] >= 0x90));
    if (!ok) {
      out.push_back('?');
      ++i;
      continue;
    }
    out.append(reinterpret_cast<const char*>(p + i), len);
    i += len;
  }
  return out;
}

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

[[noreturn]] void fail(const char* what, int64_t i) {
  std::fprintf(stderr, "invariant broken: %s (completion %lld)\n", what, static_cast<long long>(i));
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vrft::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vrft::parse;
  if (size < 1) return 0;
  Options opt;
  opt.schema = static_cast<Schema>(data[0] % 7);
  opt.pick = (data[0] >> 3) & 1 ? AnswerPick::kFirst : AnswerPick::kLast;
  opt.require_tags = ((data[0] >> 4) & 1) == 0;
  std::vector<std::string> strs(1);
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0x01 && strs.size() < 16) {
      strs.emplace_back();
    } else {
      strs.back().push_back(static_cast<char>(data[i]));
    }
  }
  const auto n = static_cast<int64_t>(strs.size());
  std::vector<Text> texts;
  for (auto& s : strs) {
    s = to_utf8(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    bool ascii = true;
    for (unsigned char c : s) ascii &= c < 0x80;
    texts.push_back({s.data(), static_cast<int64_t>(s.size()), ascii});
  }
  std::vector<int8_t> status(n), format(n), choice(n);
  std::vector<uint8_t> u8[6];
  for (auto& v : u8) v.resize(n);
  std::vector<uint8_t> strict(n);
  std::vector<int32_t> i32[5];
  for (auto& v : i32) v.resize(n);
  std::vector<int64_t> i64[5];
  for (auto& v : i64) v.resize(n);
  std::vector<double> number(n);
  CompletionColumns cols{status.data(), format.data(), u8[0].data(),  u8[1].data(),  u8[2].data(),
                         u8[3].data(),  u8[4].data(),  strict.data(), i32[0].data(), i32[1].data(),
                         i32[2].data(), i32[3].data(), i64[0].data(), i64[1].data(), i64[2].data(),
                         i64[3].data(), number.data(), choice.data(), i32[4].data(), i64[4].data()};
  std::vector<BoxColumns> parts;
  parse_batch(texts.data(), n, opt, cols, &parts);
  const int64_t total = total_boxes(parts);
  std::vector<double> boxes(4 * total), conf(total);
  std::vector<int64_t> ls(total), le(total), lsb(total), leb(total);
  concat_boxes(parts, boxes.data(), conf.data(), ls.data(), le.data(), lsb.data(), leb.data());
  // Documented invariants (docs/parsing.md).
  int64_t sum = 0, box = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (status[i] < 0 || status[i] > 5) fail("status out of range", i);
    const int64_t size_i = texts[i].size, cps = code_points(strs[i]);
    if (i64[2][i] >= 0 || i64[3][i] >= 0) {
      if (!(0 <= i64[2][i] && i64[2][i] <= i64[3][i] && i64[3][i] <= size_i))
        fail("answer byte span", i);
      if (!(0 <= i64[0][i] && i64[0][i] <= i64[1][i] && i64[1][i] <= cps))
        fail("answer code-point span", i);
    }
    if (i64[4][i] < 0) fail("negative box count", i);
    for (int64_t k = 0; k < i64[4][i]; ++k, ++box) {
      for (int c = 0; c < 4; ++c) {
        // Kept coordinates are finite and within the geometry's overflow guard (2^510).
        if (!(std::fabs(boxes[4 * box + c]) <= 0x1p510)) fail("kept box beyond the guard", i);
      }
      if (lsb[box] >= 0 && !(lsb[box] <= leb[box] && leb[box] <= size_i))
        fail("label byte span", i);
      if (ls[box] >= 0 && !(ls[box] <= le[box] && le[box] <= cps)) fail("label code-point span", i);
    }
    sum += i64[4][i];
  }
  if (sum != total) fail("box counts do not add up", -1);
  return 0;
}
