#include "parse/payload.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "parse/lexer.h"

namespace vrft {
namespace parse {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A coordinate is kept only when the geometry can use it: finite and within its overflow guard
// (2^510, geometry/iou.h: beyond it float64 areas overflow).  A box with a larger value is dropped
// like one with inf, so one absurd number changes only its own completion's reward.
constexpr double kMaxCoordinate = 0x1p510;
inline bool usable_coordinate(double v) { return std::fabs(v) <= kMaxCoordinate; }

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_ident(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

// "..." or the single character U+2026 (E2 80 A6) at p: returns the length, else 0.
int64_t ellipsis_len(const char* p, const char* end) {
  if (starts_with(p, end, "...", 3)) {
    int64_t n = 3;
    while (p + n < end && p[n] == '.') ++n;
    return n;
  }
  if (starts_with(p, end, "\xE2\x80\xA6", 3)) return 3;
  return 0;
}

const char* skip_space_and_ellipses(const char* p, const char* end) {
  for (;;) {
    p = skip_space(p, end);
    const int64_t n = ellipsis_len(p, end);
    if (n == 0) return p;
    p += n;
  }
}

// A number used as a value: a number token followed by a delimiter or the end of the text.
const char* scan_value_number(const char* p, const char* end, double* v) {
  const char* q = scan_number(p, end, v);
  if (!q) return nullptr;
  if (q < end && !is_value_delimiter(*q) && space_len(q, end) == 0) return nullptr;
  return q;
}

enum class ArrayRead { kNumeric, kNotNumeric, kTruncated };

// A numeric array whose '[' is at p, with one optional extra level ("[[a, b, c, d]]").  On
// kNumeric, *after is past the closing bracket(s), *count the number of elements, vals[0..3] the
// first four and *finite whether every element is a usable coordinate.  On kNotNumeric, *after is
// where a non-number was met and *depth how many brackets are open there (the caller decides
// whether to skip the group; scanning never goes back, so repeated attempts stay linear).
ArrayRead read_number_array(const char* p, const char* end, double* vals, int64_t* count,
                            bool* finite, const char** after, int64_t* depth) {
  const char* q = skip_space(p + 1, end);
  int64_t open = 1;
  if (q < end && *q == '[') {
    ++open;
    q = skip_space(q + 1, end);
  }
  *count = 0;
  *finite = true;
  for (;;) {
    if (q >= end) return ArrayRead::kTruncated;
    if (*q == ']') break;  // empty array or trailing comma
    double v;
    const char* nq = scan_value_number(q, end, &v);
    if (!nq) {
      *after = q;
      *depth = open;
      return ArrayRead::kNotNumeric;
    }
    if (*count < 4) vals[*count] = v;
    ++*count;
    if (!usable_coordinate(v)) *finite = false;
    q = skip_space(nq, end);
    if (q >= end) return ArrayRead::kTruncated;
    if (*q == ',') {
      q = skip_space(q + 1, end);
      continue;
    }
    if (*q == ']') break;
    *after = q;
    *depth = open;
    return ArrayRead::kNotNumeric;
  }
  ++q;  // past the first ']'
  if (open == 2) {
    q = skip_space(q, end);
    if (q >= end) return ArrayRead::kTruncated;
    if (*q != ']') {  // "[[1, 2, 3, 4], ..." is a list of boxes, not one box: not numeric here
      *after = q;
      *depth = 1;
      return ArrayRead::kNotNumeric;
    }
    ++q;
  }
  *after = q;
  return ArrayRead::kNumeric;
}

// Key families, matched without regard to ASCII case.
enum class Key { kOther, kBox, kConfidence, kLabel };

Key classify_key(const char* k, int64_t n, Format* box_format) {
  // Dispatch on the length first: keys are compared once at most.
  switch (n) {
    case 3:
      if (iequals_ascii(k, n, "box")) break;
      return Key::kOther;
    case 4:
      if (iequals_ascii(k, n, "bbox")) break;
      return Key::kOther;
    case 5:
      if (iequals_ascii(k, n, "score")) return Key::kConfidence;
      if (iequals_ascii(k, n, "label") || iequals_ascii(k, n, "class")) return Key::kLabel;
      return Key::kOther;
    case 6:
      if (iequals_ascii(k, n, "box_2d")) break;
      return Key::kOther;
    case 7:
      if (iequals_ascii(k, n, "bbox_2d")) break;
      return Key::kOther;
    case 8:
      if (iequals_ascii(k, n, "position")) {
        *box_format = Format::kVisualRft;
        return Key::kBox;
      }
      if (iequals_ascii(k, n, "category")) return Key::kLabel;
      return Key::kOther;
    case 10:
      if (iequals_ascii(k, n, "confidence")) return Key::kConfidence;
      return Key::kOther;
    default:
      return Key::kOther;
  }
  *box_format = Format::kQwenJson;  // bbox_2d, bbox, box_2d, box
  return Key::kBox;
}

struct ObjectRead {
  bool has_box_key = false;
  bool box_ok = false;  // four finite numbers
  double vals[4] = {0, 0, 0, 0};
  double conf = kNaN;
  const char* label_begin = nullptr;
  const char* label_end = nullptr;
  Format box_format = Format::kNone;
};

// One {...} object at p.  Returns the position after '}' or nullptr when the text ends or turns
// to garbage inside it.  A repeated key keeps its last value (as json.loads does).
const char* read_object(const char* p, const char* end, ObjectRead* r) {
  const char* q = p + 1;
  for (;;) {
    q = skip_space(q, end);
    if (q >= end) return nullptr;
    if (*q == '}') return q + 1;
    const char *kb, *ke;
    if (*q == '"' || *q == '\'') {
      const char* close = scan_string(q, end);
      if (!close) return nullptr;
      kb = q + 1;
      ke = close;
      q = close + 1;
    } else if (is_alpha(*q) || *q == '_') {  // bare key, as in a Python/JS literal
      kb = q;
      while (q < end && is_ident(*q)) ++q;
      ke = q;
    } else {
      return nullptr;
    }
    q = skip_space(q, end);
    if (q >= end || *q != ':') return nullptr;
    q = skip_space(q + 1, end);
    if (q >= end) return nullptr;
    Format f = Format::kNone;
    const Key key = classify_key(kb, ke - kb, &f);
    const char* next = nullptr;
    if (key == Key::kBox) {
      r->has_box_key = true;
      r->box_ok = false;
      if (r->box_format == Format::kNone) r->box_format = f;
      if (*q == '[') {
        int64_t count = 0, depth = 0;
        bool finite = true;
        const char* after = nullptr;
        const ArrayRead a = read_number_array(q, end, r->vals, &count, &finite, &after, &depth);
        if (a == ArrayRead::kTruncated) return nullptr;
        if (a == ArrayRead::kNumeric) {
          r->box_ok = count == 4 && finite;
          next = after;
        } else {
          next = skip_open_groups(after, end, depth);
        }
      } else {
        next = skip_value(q, end);
      }
    } else if (key == Key::kConfidence) {
      double v;
      const char* nq = scan_value_number(q, end, &v);
      if (nq) {
        r->conf = v;
        next = nq;
      } else {
        r->conf = kNaN;
        next = skip_value(q, end);
      }
    } else if (key == Key::kLabel && (*q == '"' || *q == '\'')) {
      const char* close = scan_string(q, end);
      if (close) {
        r->label_begin = q + 1;
        r->label_end = close;
        next = close + 1;
      }
    } else {
      if (key == Key::kLabel) r->label_begin = r->label_end = nullptr;
      next = skip_value(q, end);
    }
    if (!next) return nullptr;
    q = skip_space(next, end);
    if (q >= end) return nullptr;
    if (*q == ',') {
      ++q;
      continue;
    }
    if (*q == '}') return q + 1;
    return nullptr;
  }
}

void emit_object(const ObjectRead& o, BoxSink* sink) {
  if (o.has_box_key) sink->note_format(o.box_format);
  if (o.box_ok) {
    sink->keep(o.vals, o.conf, o.label_begin, o.label_end);
  } else {
    sink->drop();
  }
}

}  // namespace

void BoxSink::keep(const double* v, double conf, const char* label_begin, const char* label_end) {
  out->boxes.insert(out->boxes.end(), v, v + 4);
  out->confidences.push_back(conf);
  out->label_start_byte.push_back(label_begin ? label_begin - base : -1);
  out->label_end_byte.push_back(label_end ? label_end - base : -1);
  ++kept;
}

namespace {

// One bare [x1, y1, x2, y2] item at q (a list of bare boxes, or the whole answer): kept when it
// is four finite numbers, else dropped.  Returns the position after it, or nullptr with
// res->truncated set when the text ends inside it.
const char* read_bare_box(const char* q, const char* end, BoxSink* sink, ListResult* res) {
  double vals[4];
  int64_t count = 0, depth = 0;
  bool finite = true;
  const char* after = nullptr;
  const ArrayRead a = read_number_array(q, end, vals, &count, &finite, &after, &depth);
  if (a == ArrayRead::kTruncated) {
    res->truncated = true;
    return nullptr;
  }
  ++res->items;
  sink->note_format(Format::kBoxes);
  if (a == ArrayRead::kNotNumeric) {
    after = skip_open_groups(after, end, depth);
    if (!after) {  // cut off inside the item: an incomplete item is not counted as kept/dropped
      res->truncated = true;
      return nullptr;
    }
    sink->drop();
  } else if (count == 4 && finite) {
    sink->keep(vals, kNaN, nullptr, nullptr);
  } else {
    sink->drop();
  }
  return after;
}

}  // namespace

ListResult read_box_list(const char* p, const char* end, BoxSink* sink) {
  ListResult res;
  res.parsed_open = true;
  const char* q = p;
  if (*q == '{') {  // a single object instead of a list
    ObjectRead o;
    res.saw_object = true;
    const char* after = read_object(q, end, &o);
    if (!after) {
      if (o.box_format != Format::kNone) sink->note_format(o.box_format);
      res.truncated = true;
      return res;
    }
    res.items = 1;
    res.closed = true;
    emit_object(o, sink);
    q = skip_space_and_ellipses(after, end);
    res.trailing = q < end;
    return res;
  }
  // '[' here.  A number right after it: one bare box.
  {
    const char* first = skip_space(q + 1, end);
    double v;
    if (first < end && (is_digit(*first) || *first == '-' || *first == '+' || *first == '.') &&
        scan_number(first, end, &v)) {
      const char* after = read_bare_box(q, end, sink, &res);
      if (!after) return res;
      res.closed = true;
      q = skip_space_and_ellipses(after, end);
      res.trailing = q < end;
      return res;
    }
  }
  // Visual-RFT replaces "[[" by "[" before json.loads: accept one extra level around an object
  // list ("[[{...}, {...}]]").
  int64_t extra = 0;
  q = skip_space(q + 1, end);
  if (q < end && *q == '[') {
    const char* inner = skip_space(q + 1, end);
    if (inner < end && *inner == '{') {
      extra = 1;
      q = inner;
    }
  }
  for (;;) {
    q = skip_space_and_ellipses(q, end);
    if (q >= end) {
      res.truncated = true;
      return res;
    }
    const char c = *q;
    if (c == ']') break;
    if (c == '{') {
      ObjectRead o;
      res.saw_object = true;
      const char* after = read_object(q, end, &o);
      if (!after) {
        if (o.box_format != Format::kNone) sink->note_format(o.box_format);
        res.truncated = true;
        return res;
      }
      ++res.items;
      emit_object(o, sink);
      q = after;
    } else if (c == '[') {
      const char* after = read_bare_box(q, end, sink, &res);
      if (!after) return res;
      q = after;
    } else {
      // Anything else (a string, a number in an object list, a literal): skipped, and counted as
      // a dropped box since it stands where a box should be.
      const char* after = skip_value(q, end);
      if (!after || after == q) {
        res.truncated = true;  // garbage: stop here, keep what was read
        return res;
      }
      ++res.items;
      sink->drop();
      q = after;
    }
    q = skip_space_and_ellipses(q, end);
    if (q >= end) {
      res.truncated = true;
      return res;
    }
    if (*q == ',') {
      ++q;
      continue;
    }
    if (*q == ']') break;
    res.truncated = true;  // garbage between items
    return res;
  }
  ++q;  // past ']'
  if (extra) {
    q = skip_space(q, end);
    if (q < end && *q == ']') ++q;
    // A missing outer ']' is tolerated: the text ended or trailing text follows (flagged below).
  }
  res.closed = true;
  q = skip_space_and_ellipses(q, end);
  res.trailing = q < end;
  return res;
}

namespace {

constexpr char kRefStart[] = "<|object_ref_start|>";
constexpr int64_t kRefStartLen = sizeof(kRefStart) - 1;
constexpr char kRefEnd[] = "<|object_ref_end|>";
constexpr int64_t kRefEndLen = sizeof(kRefEnd) - 1;
constexpr char kBoxStart[] = "<|box_start|>";
constexpr int64_t kBoxStartLen = sizeof(kBoxStart) - 1;
constexpr char kBoxEnd[] = "<|box_end|>";
constexpr int64_t kBoxEndLen = sizeof(kBoxEnd) - 1;

const char* find_literal(const char* p, const char* end, const char* lit, int64_t n) {
  while (p < end) {
    const void* hit = std::memchr(p, lit[0], static_cast<size_t>(end - p));
    if (!hit) return nullptr;
    p = static_cast<const char*>(hit);
    if (starts_with(p, end, lit, n)) return p;
    ++p;
  }
  return nullptr;
}

// "(x, y)" at p: returns the position after ')' or nullptr.
const char* read_corner(const char* p, const char* end, double* x, double* y) {
  const char* q = skip_space(p + 1, end);
  q = scan_number(q, end, x);
  if (!q) return nullptr;
  q = skip_space(q, end);
  if (q >= end || *q != ',') return nullptr;
  q = skip_space(q + 1, end);
  q = scan_number(q, end, y);
  if (!q) return nullptr;
  q = skip_space(q, end);
  if (q >= end || *q != ')') return nullptr;
  return q + 1;
}

}  // namespace

bool scan_tuples(const char* p, const char* end, BoxSink* sink) {
  bool tokens = false;
  const char* label_begin = nullptr;
  const char* label_end = nullptr;
  const char* q = p;
  while (q < end) {
    // Jump to the next '(' or '<'.
    while (q < end && *q != '(' && *q != '<') ++q;
    if (q >= end) break;
    if (*q == '<') {
      if (starts_with(q, end, kRefStart, kRefStartLen)) {
        tokens = true;
        const char* lb = q + kRefStartLen;
        const char* le = find_literal(lb, end, kRefEnd, kRefEndLen);
        if (!le) break;  // label cut off by truncation: nothing after it can be paired with it
        label_begin = lb;
        label_end = le;
        q = le + kRefEndLen;
        continue;
      }
      if (starts_with(q, end, kBoxStart, kBoxStartLen)) {
        tokens = true;
        q += kBoxStartLen;
        continue;
      }
      if (starts_with(q, end, kBoxEnd, kBoxEndLen)) {
        tokens = true;
        q += kBoxEndLen;
        continue;
      }
      ++q;
      continue;
    }
    double v[4];
    const char* c1 = read_corner(q, end, &v[0], &v[1]);
    if (!c1) {
      ++q;
      continue;
    }
    // The second corner may follow after a comma and/or <|box_end|><|box_start|>-free space.
    const char* r = skip_space(c1, end);
    if (r < end && *r == ',') r = skip_space(r + 1, end);
    const char* c2 = (r < end && *r == '(') ? read_corner(r, end, &v[2], &v[3]) : nullptr;
    sink->note_format(Format::kQwenTuple);
    if (!c2) {
      sink->drop();  // a corner without its partner
      q = c1;
      continue;
    }
    if (usable_coordinate(v[0]) && usable_coordinate(v[1]) && usable_coordinate(v[2]) &&
        usable_coordinate(v[3])) {
      sink->keep(v, kNaN, label_begin, label_end);
    } else {
      sink->drop();
    }
    q = c2;
  }
  return tokens;
}

void scan_bare_boxes(const char* p, const char* end, BoxSink* sink) {
  const char* q = p;
  while (q < end) {
    const void* hit = std::memchr(q, '[', static_cast<size_t>(end - q));
    if (!hit) return;
    q = static_cast<const char*>(hit);
    double vals[4];
    int64_t count = 0, depth = 0;
    bool finite = true;
    const char* after = nullptr;
    const ArrayRead a = read_number_array(q, end, vals, &count, &finite, &after, &depth);
    if (a == ArrayRead::kNumeric && count == 4) {
      sink->note_format(Format::kBoxes);
      if (finite) {
        sink->keep(vals, kNaN, nullptr, nullptr);
      } else {
        sink->drop();
      }
      q = after;
    } else {
      ++q;  // never skip a group here: a later '[' may start a box (and this keeps it linear)
    }
  }
}

bool whole_number(const char* p, const char* end, double* value) {
  if (p >= end) return false;
  const char* d = p;
  if (*d == '+' || *d == '-') ++d;
  if (d >= end || !(is_digit(*d) || (*d == '.' && d + 1 < end && is_digit(d[1])))) return false;
  double v;
  const char* q = scan_number(p, end, &v);
  if (!q) return false;
  if (q < end && *q == '.' && q + 1 == end) ++q;  // "3." read as a sentence ending
  if (q != end) return false;
  *value = v;
  return true;
}

bool last_number(const char* p, const char* end, double* value) {
  bool found = false;
  const char* q = p;
  while (q < end) {
    const char c = *q;
    const bool starts =
        is_digit(c) || ((c == '-' || c == '+' || c == '.') && q + 1 < end &&
                        (is_digit(q[1]) || (q[1] == '.' && q + 2 < end && is_digit(q[2]))));
    if (!starts || (q > p && (is_ident(q[-1]) || q[-1] == '.'))) {
      ++q;
      continue;
    }
    double v;
    const char* e = scan_number(q, end, &v);
    if (!e) {
      ++q;
      continue;
    }
    if (e < end && is_ident(*e)) {  // glued to a word ("3rd", "2x"): not a count
      q = e;
      continue;
    }
    *value = v;
    found = true;
    q = e;
  }
  return found;
}

}  // namespace parse
}  // namespace vrft
