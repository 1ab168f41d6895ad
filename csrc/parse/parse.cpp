#include "parse/parse.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/thread_pool.h"
#include "parse/lexer.h"
#include "parse/payload.h"

namespace vrft {
namespace parse {

Schema parse_schema(const std::string& name, const char* arg) {
  if (name == "auto") return Schema::kAuto;
  if (name == "visual_rft") return Schema::kVisualRft;
  if (name == "qwen_json") return Schema::kQwenJson;
  if (name == "qwen_tuple") return Schema::kQwenTuple;
  if (name == "boxes") return Schema::kBoxes;
  if (name == "text") return Schema::kText;
  if (name == "number") return Schema::kNumber;
  throw std::invalid_argument(std::string(arg) +
                              " must be one of 'auto', 'visual_rft', 'qwen_json', 'qwen_tuple', "
                              "'boxes', 'text', 'number', got '" +
                              name + "'");
}

AnswerPick parse_answer_pick(const std::string& name, const char* arg) {
  if (name == "last") return AnswerPick::kLast;
  if (name == "first") return AnswerPick::kFirst;
  throw std::invalid_argument(std::string(arg) + " must be 'last' or 'first', got '" + name + "'");
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class TagKind : int8_t { kThinkOpen, kThinkClose, kAnswerOpen, kAnswerClose };
struct Tag {
  int64_t pos;
  TagKind kind;
};
constexpr int64_t kThinkOpenLen = 7;    // <think>
constexpr int64_t kThinkCloseLen = 8;   // </think>
constexpr int64_t kAnswerOpenLen = 8;   // <answer>
constexpr int64_t kAnswerCloseLen = 9;  // </answer>

// All four tags in text order.  One memchr-driven pass; tags are exact and case-sensitive, as in
// every reference regex.
void scan_tags(const char* s, int64_t n, std::vector<Tag>* tags) {
  tags->clear();
  const char* end = s + n;
  const char* p = s;
  while (p < end) {
    const void* hit = std::memchr(p, '<', static_cast<size_t>(end - p));
    if (!hit) break;
    p = static_cast<const char*>(hit);
    const int64_t pos = p - s;
    if (starts_with(p, end, "<think>", kThinkOpenLen)) {
      tags->push_back({pos, TagKind::kThinkOpen});
      p += kThinkOpenLen;
    } else if (starts_with(p, end, "</think>", kThinkCloseLen)) {
      tags->push_back({pos, TagKind::kThinkClose});
      p += kThinkCloseLen;
    } else if (starts_with(p, end, "<answer>", kAnswerOpenLen)) {
      tags->push_back({pos, TagKind::kAnswerOpen});
      p += kAnswerOpenLen;
    } else if (starts_with(p, end, "</answer>", kAnswerCloseLen)) {
      tags->push_back({pos, TagKind::kAnswerClose});
      p += kAnswerCloseLen;
    } else {
      ++p;
    }
  }
}

bool has_non_space(const char* p, const char* end) { return skip_space(p, end) < end; }

// Non-whitespace in [0, n) outside the union of intervals a and b (either may be empty: lo >= hi).
bool text_outside(const char* s, int64_t n, int64_t alo, int64_t ahi, int64_t blo, int64_t bhi) {
  int64_t iv[2][2] = {{alo, ahi}, {blo, bhi}};
  if (iv[1][0] < iv[0][0]) std::swap(iv[0], iv[1]);
  int64_t cur = 0;
  for (auto& v : iv) {
    if (v[0] >= v[1]) continue;
    if (v[0] > cur && has_non_space(s + cur, s + v[0])) return true;
    cur = std::max(cur, v[1]);
  }
  return cur < n && has_non_space(s + cur, s + n);
}

// Multiple-choice letter at the start of the trimmed answer: "B", "B.", "B:", "B)", "(B)",
// "(B) text", "B. text", optionally after "The answer is", "Answer is", "Answer:", "Option" or
// "Choice" (any case).  "B text" is not a choice (it reads as a word).
int8_t choice_letter(const char* p, const char* end) {
  static constexpr const char* kPrefixes[] = {"the answer is", "answer is", "answer:", "option",
                                              "choice"};
  for (const char* prefix : kPrefixes) {
    const auto len = static_cast<int64_t>(std::strlen(prefix));
    if (end - p > len && iequals_ascii(p, len, prefix) && space_len(p + len, end) > 0) {
      p = skip_space(p + len, end);
      break;
    }
  }
  bool paren = false;
  if (p < end && *p == '(') {
    paren = true;
    ++p;
  }
  if (p >= end || *p < 'A' || *p > 'Z') return -1;
  const int8_t letter = static_cast<int8_t>(*p - 'A');
  ++p;
  if (paren) return (p < end && *p == ')') ? letter : -1;
  if (p == end) return letter;
  return (*p == '.' || *p == ':' || *p == ')') ? letter : -1;
}

// "No Objects" (Visual-RFT's prompt asks for it), any case, optional quotes and final '.'.
bool says_no_objects(const char* p, const char* end) {
  if (end - p >= 2 && (*p == '\'' || *p == '"') && end[-1] == *p) {
    ++p;
    --end;
  }
  if (end > p && (end[-1] == '.' || end[-1] == '!')) --end;
  p = skip_space(p, end);
  end = trim_space_back(p, end);
  return iequals_ascii(p, end - p, "no objects") || iequals_ascii(p, end - p, "no object");
}

// The payload inside a ``` fence, if the answer has one: the last complete fenced block (fences
// pair up in order), or the text after a lone opening fence (then *truncated is set).  A language
// tag right after the opening fence ("```json") is skipped.
void strip_fence(const char** pb, const char** pe, bool* truncated) {
  const char* p = *pb;
  const char* end = *pe;
  int64_t count = 0;
  const char* open = nullptr;
  const char* best_open = nullptr;
  const char* best_close = nullptr;
  for (const char* q = p; q < end;) {
    const void* hit = std::memchr(q, '`', static_cast<size_t>(end - q));
    if (!hit) break;
    q = static_cast<const char*>(hit);
    if (!starts_with(q, end, "```", 3)) {
      ++q;
      continue;
    }
    ++count;
    if (!open) {
      open = q;
    } else {
      best_open = open;
      best_close = q;
      open = nullptr;
    }
    q += 3;
    while (q < end && *q == '`') ++q;  // ```` counts as one fence
  }
  if (count == 0) return;
  const char* content_end;
  if (best_open) {
    open = best_open;
    content_end = best_close;
  } else {
    content_end = end;
    *truncated = true;
  }
  const char* c = open + 3;
  while (c < content_end && *c == '`') ++c;
  while (c < content_end && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                             (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '+'))
    ++c;
  *pb = skip_space(c, content_end);
  *pe = trim_space_back(*pb, content_end);
}

// Converts increasing byte positions of one text to code-point indices with one forward cursor
// (restarting from the front only if a position goes backwards).
struct CodePointCursor {
  const char* s;
  bool ascii;
  int64_t byte = 0;
  int64_t cp = 0;
  int64_t operator()(int64_t pos) {
    if (pos < 0) return -1;
    if (ascii) return pos;
    if (pos < byte) byte = cp = 0;
    cp += count_code_points(s + byte, s + pos);
    byte = pos;
    return cp;
  }
};

Format schema_format(Schema s) {
  switch (s) {
    case Schema::kVisualRft:
      return Format::kVisualRft;
    case Schema::kQwenJson:
      return Format::kQwenJson;
    case Schema::kQwenTuple:
      return Format::kQwenTuple;
    case Schema::kBoxes:
      return Format::kBoxes;
    case Schema::kText:
      return Format::kText;
    case Schema::kNumber:
      return Format::kNumber;
    case Schema::kAuto:
      break;
  }
  return Format::kNone;
}

// Status of a box answer from what the readers saw.
Status box_status(const BoxSink& sink, bool repaired, bool clean_empty) {
  if (sink.kept > 0) return repaired ? Status::kRepaired : Status::kOk;
  if (clean_empty && sink.dropped == 0) return Status::kNoObjects;
  return Status::kMalformed;
}

}  // namespace

// parse_one with a caller-provided scratch vector for the tag list (reused across a chunk).
static void parse_one_into(const Text& text, const Options& opt, const CompletionColumns& cols,
                           int64_t i, BoxColumns* out, std::vector<Tag>* tag_scratch) {
  const char* s = text.data;
  const int64_t n = text.size;
  const char* end = s + n;
  std::vector<Tag>& tags = *tag_scratch;
  scan_tags(s, n, &tags);

  // ---- format facts -----------------------------------------------------------------------
  int32_t nto = 0, ntc = 0, nao = 0, nac = 0;
  int64_t first_think = -1, first_think_close = -1, last_think_close_end = 0;
  for (const Tag& t : tags) {
    switch (t.kind) {
      case TagKind::kThinkOpen:
        ++nto;
        if (first_think < 0) first_think = t.pos;
        break;
      case TagKind::kThinkClose:
        ++ntc;
        if (first_think >= 0 && first_think_close < 0) first_think_close = t.pos;
        last_think_close_end = t.pos + kThinkCloseLen;
        break;
      case TagKind::kAnswerOpen:
        ++nao;
        break;
      case TagKind::kAnswerClose:
        ++nac;
        break;
    }
  }

  // Visual-RFT's format reward, re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", s,
  // re.DOTALL): s starts with <think>, ends with </answer>, and some </think> (not overlapping
  // the first tag) is followed by whitespace and an <answer> that does not overlap the last tag.
  bool strict = false;
  if (n >= kThinkOpenLen + kThinkCloseLen + kAnswerOpenLen + kAnswerCloseLen &&
      starts_with(s, end, "<think>", kThinkOpenLen) &&
      starts_with(end - kAnswerCloseLen, end, "</answer>", kAnswerCloseLen)) {
    for (const Tag& t : tags) {
      if (t.kind != TagKind::kThinkClose || t.pos < kThinkOpenLen) continue;
      const char* a = skip_space(s + t.pos + kThinkCloseLen, end);
      if (starts_with(a, end, "<answer>", kAnswerOpenLen) &&
          (a - s) + kAnswerOpenLen <= n - kAnswerCloseLen) {
        strict = true;
        break;
      }
    }
  }

  // ---- where the answer is ----------------------------------------------------------------
  // Candidate blocks start after the last </think>, so a prompt echoed before the reasoning (or
  // quoted inside it) never wins.  Blocks pair in order: an <answer> pairs with the next
  // </answer>; a second <answer> before that close restarts the block.
  int64_t pending = -1, first_lo = -1, first_hi = -1, last_lo = -1, last_hi = -1;
  for (const Tag& t : tags) {
    if (t.pos < last_think_close_end) continue;
    if (t.kind == TagKind::kAnswerOpen) {
      pending = t.pos;
    } else if (t.kind == TagKind::kAnswerClose && pending >= 0) {
      if (first_lo < 0) {
        first_lo = pending;
        first_hi = t.pos;
      }
      last_lo = pending;
      last_hi = t.pos;
      pending = -1;
    }
  }
  int64_t block_lo = -1, block_hi = -1;  // the chosen block including its tags
  const char* rb = nullptr;              // answer region (content)
  const char* re = nullptr;
  bool closed = false, found = false;
  if (last_lo >= 0) {
    const int64_t lo = opt.pick == AnswerPick::kLast ? last_lo : first_lo;
    const int64_t hi = opt.pick == AnswerPick::kLast ? last_hi : first_hi;
    block_lo = lo;
    block_hi = hi + kAnswerCloseLen;
    rb = s + lo + kAnswerOpenLen;
    re = s + hi;
    closed = found = true;
  } else if (pending >= 0) {
    // Only an unclosed <answer> (output cut off): read what is there and mark it repaired.
    block_lo = pending;
    block_hi = n;
    rb = s + pending + kAnswerOpenLen;
    re = end;
    found = true;
  } else if (!opt.require_tags) {
    rb = s + last_think_close_end;
    re = end;
    found = true;
  }

  cols.has_think[i] = nto > 0;
  cols.think_closed[i] = first_think_close >= 0;
  cols.has_answer[i] = nao > 0;
  cols.answer_closed[i] = closed;
  cols.strict_format[i] = strict;
  cols.n_think_open[i] = nto;
  cols.n_think_close[i] = ntc;
  cols.n_answer_open[i] = nao;
  cols.n_answer_close[i] = nac;
  const int64_t think_lo = first_think;
  const int64_t think_hi =
      first_think < 0 ? -1 : (first_think_close >= 0 ? first_think_close + kThinkCloseLen : n);
  cols.text_outside[i] = text_outside(s, n, think_lo, think_hi, block_lo, block_hi);
  cols.number[i] = kNaN;
  cols.choice[i] = -1;
  cols.n_dropped[i] = 0;
  cols.n_boxes[i] = 0;
  cols.answer_start_byte[i] = cols.answer_end_byte[i] = -1;
  cols.answer_start_cp[i] = cols.answer_end_cp[i] = -1;

  if (!found) {
    cols.status[i] = static_cast<int8_t>(Status::kNoAnswer);
    cols.format[i] = static_cast<int8_t>(Format::kNone);
    return;
  }

  // ---- the payload --------------------------------------------------------------------------
  const char* tb = skip_space(rb, re);
  const char* te = trim_space_back(tb, re);
  cols.answer_start_byte[i] = tb - s;
  cols.answer_end_byte[i] = te - s;
  cols.choice[i] = choice_letter(tb, te);
  const bool unclosed = !closed && block_lo >= 0;  // only an unclosed <answer> was found

  Status status = Status::kOk;
  Format format = schema_format(opt.schema);
  const size_t box_mark = out->confidences.size();
  BoxSink sink;
  sink.out = out;
  sink.base = s;

  if (tb == te) {
    status = Status::kEmpty;
    format = Format::kNone;
  } else if (opt.schema == Schema::kText) {
    status = unclosed ? Status::kRepaired : Status::kOk;
  } else if (opt.schema == Schema::kNumber) {
    double v;
    if (whole_number(tb, te, &v) || last_number(tb, te, &v)) {
      cols.number[i] = v;
      status = unclosed ? Status::kRepaired : Status::kOk;
    } else {
      status = Status::kMalformed;
    }
  } else {
    const char* pb = tb;
    const char* pe = te;
    bool fence_cut = false;
    strip_fence(&pb, &pe, &fence_cut);
    const bool repaired_context = unclosed || fence_cut;
    if (pb == pe) {
      status = Status::kEmpty;
      format = Format::kNone;
    } else if (says_no_objects(pb, pe)) {
      status = Status::kNoObjects;
      if (opt.schema == Schema::kAuto) format = Format::kNone;
    } else if (opt.schema == Schema::kQwenTuple) {
      scan_tuples(pb, pe, &sink);
      status = box_status(sink, repaired_context, false);
    } else if (*pb == '[' || *pb == '{') {
      const ListResult r = read_box_list(pb, pe, &sink);
      status = box_status(sink, repaired_context || r.truncated || r.trailing,
                          r.closed && r.items == 0 && !r.trailing);
      if (opt.schema == Schema::kAuto && status == Status::kNoObjects) {
        format = Format::kNone;
      } else if (opt.schema == Schema::kAuto) {
        format = sink.first_format != Format::kNone ? sink.first_format
                 : r.saw_object                     ? Format::kVisualRft
                                                    : Format::kBoxes;
      }
    } else if (opt.schema == Schema::kBoxes) {
      scan_bare_boxes(pb, pe, &sink);
      status = box_status(sink, repaired_context, false);
    } else if (opt.schema != Schema::kAuto) {
      status = Status::kMalformed;  // an object list was asked for and this is not one
    } else {
      // Auto, not a list: tuples, then a bare number, then free text.
      const bool tokens = scan_tuples(pb, pe, &sink);
      double v;
      if (sink.kept > 0 || tokens) {
        format = Format::kQwenTuple;
        status = box_status(sink, repaired_context, false);
      } else {
        // Lone corners found in prose are not an answer format: forget them.
        sink.dropped = 0;
        if (whole_number(tb, te, &v)) {
          format = Format::kNumber;
          cols.number[i] = v;
        } else {
          format = Format::kText;
        }
        status = unclosed ? Status::kRepaired : Status::kOk;
      }
    }
  }
  if (status == Status::kNoAnswer || status == Status::kEmpty) format = Format::kNone;
  cols.status[i] = static_cast<int8_t>(status);
  cols.format[i] = static_cast<int8_t>(format);
  cols.n_dropped[i] = sink.dropped;
  cols.n_boxes[i] = sink.kept;

  // ---- byte positions -> Python string indices ----------------------------------------------
  CodePointCursor cursor{s, text.ascii};
  cols.answer_start_cp[i] = cursor(cols.answer_start_byte[i]);
  cols.answer_end_cp[i] = cursor(cols.answer_end_byte[i]);
  const size_t nb = out->confidences.size();
  out->label_start.resize(nb);
  out->label_end.resize(nb);
  for (size_t k = box_mark; k < nb; ++k) {
    out->label_start[k] = cursor(out->label_start_byte[k]);
    out->label_end[k] = cursor(out->label_end_byte[k]);
  }
}

void parse_one(const Text& text, const Options& opt, const CompletionColumns& cols, int64_t i,
               BoxColumns* out) {
  // The tag list is kept per thread: a caller parsing one completion at a time (the fused
  // per-completion rewards) then allocates nothing once it has grown.
  static thread_local std::vector<Tag> tags;
  parse_one_into(text, opt, cols, i, out, &tags);
}

namespace {

bool same_text(const Text& a, const Text& b) {
  return a.size == b.size &&
         (a.data == b.data || std::memcmp(a.data, b.data, static_cast<size_t>(a.size)) == 0);
}

// Completion `to` gets the results of completion `from` (an equal text): every per-completion
// column, and a copy of its boxes [box_begin, box_end) appended to `out` (positions inside the
// text are the same, since the texts are).
void copy_completion(const CompletionColumns& c, int64_t from, int64_t to, BoxColumns* out,
                     size_t box_begin, size_t box_end) {
  c.for_each([from, to](auto* col) { col[to] = col[from]; });
  // Grow first, then copy by index: appending a vector's own range must not read freed memory.
  auto repeat = [box_begin, box_end](auto& v, size_t width) {
    const size_t old = v.size();
    v.resize(old + (box_end - box_begin) * width);
    std::copy(v.begin() + static_cast<std::ptrdiff_t>(box_begin * width),
              v.begin() + static_cast<std::ptrdiff_t>(box_end * width),
              v.begin() + static_cast<std::ptrdiff_t>(old));
  };
  out->for_each(repeat);
}

}  // namespace

void parse_batch(const Text* texts, int64_t n, const Options& opt, const CompletionColumns& cols,
                 std::vector<BoxColumns>* parts) {
  // Fixed chunks, each with its own box buffers: the completions of one chunk are contiguous, so
  // concatenating the chunks in order gives the boxes in completion order whatever thread ran
  // which chunk (results never depend on the thread count).  Buffers already in `parts` are
  // emptied but keep their capacity, so a caller that reuses `parts` across batches does not
  // allocate (and page-fault) them again every call.
  constexpr int64_t kChunk = 64;
  const int64_t n_chunks = n <= 0 ? 0 : (n + kChunk - 1) / kChunk;
  parts->resize(static_cast<size_t>(n_chunks));
  for (auto& part : *parts) part.for_each([](auto& v, size_t) { v.clear(); });
  if (n <= 0) return;
  parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      BoxColumns& part = (*parts)[static_cast<size_t>(c)];
      const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      // Room for 4 boxes per completion up front (the usual detection answer), so that most
      // chunks never reallocate.
      const auto guess = static_cast<size_t>(4 * (hi - lo));
      part.for_each([guess](auto& v, size_t width) { v.reserve(width * guess); });
      std::vector<Tag> tags;
      tags.reserve(16);
      // A text equal to the previous one (a GRPO solution column repeats each prompt's solution
      // for its whole group) copies that completion's results instead of parsing again.
      size_t prev_begin = 0;
      for (int64_t i = lo; i < hi; ++i) {
        const size_t begin = part.confidences.size();
        if (i > lo && same_text(texts[i], texts[i - 1])) {
          copy_completion(cols, i - 1, i, &part, prev_begin, begin);
        } else {
          parse_one_into(texts[i], opt, cols, i, &part, &tags);
        }
        prev_begin = begin;
      }
    }
  });
}

void box_offsets(const int64_t* n_boxes, int64_t n, int64_t* offsets) {
  offsets[0] = 0;
  for (int64_t i = 0; i < n; ++i) offsets[i + 1] = offsets[i] + n_boxes[i];
}

int64_t total_boxes(const std::vector<BoxColumns>& parts) {
  size_t total = 0;
  for (const auto& p : parts) total += p.confidences.size();
  return static_cast<int64_t>(total);
}

namespace {
template <typename T>
T* append(T* dst, const std::vector<T>& src) {
  if (!src.empty()) std::memcpy(dst, src.data(), src.size() * sizeof(T));
  return dst + src.size();
}
}  // namespace

void concat_boxes(const std::vector<BoxColumns>& parts, double* boxes, double* confidences,
                  int64_t* label_start, int64_t* label_end, int64_t* label_start_byte,
                  int64_t* label_end_byte) {
  // Each part lands at its own offset, so the parts are copied in parallel (the destination
  // arrays are fresh: spreading their first touch over the threads spreads the page faults too).
  std::vector<size_t> at(parts.size() + 1, 0);
  for (size_t p = 0; p < parts.size(); ++p) at[p + 1] = at[p] + parts[p].confidences.size();
  parallel_for(static_cast<int64_t>(parts.size()), 8, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const BoxColumns& part = parts[static_cast<size_t>(p)];
      const size_t o = at[static_cast<size_t>(p)];
      append(boxes + 4 * o, part.boxes);
      append(confidences + o, part.confidences);
      append(label_start + o, part.label_start);
      append(label_end + o, part.label_end);
      append(label_start_byte + o, part.label_start_byte);
      append(label_end_byte + o, part.label_end_byte);
    }
  });
}

void normalize_text(const char* p, const char* end, const NormalizeOptions& opt, std::string* out) {
  const size_t start = out->size();
  bool pending_space = false;
  while (p < end) {
    const int sl = space_len(p, end);
    char c = *p;
    bool is_space = sl > 0;
    if (!is_space && c == '_' && opt.underscores == 1) is_space = true;
    if (is_space) {
      p += sl > 0 ? sl : 1;
      if (opt.drop_space) continue;
      if (opt.collapse_space) {
        pending_space = out->size() > start;
      } else {
        out->push_back(' ');
      }
      continue;
    }
    const unsigned char uc = static_cast<unsigned char>(c);
    if (c == '_' && opt.underscores == 2) {
      ++p;
      continue;
    }
    if (opt.strip_punct && uc < 0x80 && c != '_' &&
        ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~'))) {
      ++p;
      continue;
    }
    if (pending_space) {
      out->push_back(' ');
      pending_space = false;
    }
    if (opt.lower && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    out->push_back(c);
    ++p;
  }
}

void normalize_batch(const Text* texts, const int64_t* start, const int64_t* end, int64_t n,
                     const NormalizeOptions& opt, std::string* out, size_t* cuts) {
  out->clear();
  cuts[0] = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (start[i] >= 0) normalize_text(texts[i].data + start[i], texts[i].data + end[i], opt, out);
    cuts[i + 1] = out->size();
  }
}

}  // namespace parse
}  // namespace vrft
