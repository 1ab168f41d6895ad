// Readers for the answer payload: box lists (JSON-like object lists and bare number arrays),
// Qwen2-VL tuples, bare boxes embedded in text, and numbers in text.  Each reader is a single
// forward pass over [p, end) and appends what it finds to a BoxSink.
#pragma once

#include <cstdint>

#include "parse/parse.h"

namespace vrft {
namespace parse {

// Receives boxes for one completion (appends to a chunk-local BoxColumns).
struct BoxSink {
  BoxColumns* out = nullptr;
  const char* base = nullptr;  // start of the completion's text: label positions are relative
  int64_t kept = 0;
  int32_t dropped = 0;
  Format first_format = Format::kNone;  // format of the first item that looked like a box

  void keep(const double* v, double conf, const char* label_begin, const char* label_end);
  void drop() { ++dropped; }
  void note_format(Format f) {
    if (first_format == Format::kNone) first_format = f;
  }
};

// Outcome of reading a bracketed list (or a single object) at the start of the payload.
struct ListResult {
  bool parsed_open = false;  // the opening bracket was there
  bool closed = false;       // the list's closing bracket was found
  bool truncated = false;    // text ended (or turned to garbage) before the list closed
  bool trailing = false;     // non-whitespace other than "..." after the closing bracket
  int64_t items = 0;         // items seen (kept, dropped or skipped non-box values)
  bool saw_object = false;   // an item (complete or not) was a {...} object
};

// Reads a list at p (p points at '[' or '{'): Visual-RFT / Qwen JSON object lists, a single
// object, a single bare box [x1, y1, x2, y2], or a list of bare boxes; one extra level of
// brackets ([[...]]) is accepted like Visual-RFT's "[[" -> "[" replacement.
ListResult read_box_list(const char* p, const char* end, BoxSink* sink);

// Scans [p, end) for Qwen2-VL / LISA corner pairs "(x1,y1),(x2,y2)" (the comma between them and
// <|box_start|>/<|box_end|> tokens optional) and <|object_ref_start|>label<|object_ref_end|>
// labels, which apply to the boxes after them until the next label.  Consecutive corners pair up
// (box k = corners 2k, 2k+1 of a run); a corner without a partner is dropped.  Returns true when
// the text contains box or object-ref tokens.
bool scan_tuples(const char* p, const char* end, BoxSink* sink);

// Scans free text for "[a, b, c, d]" groups of exactly four numbers (each one box).
void scan_bare_boxes(const char* p, const char* end, BoxSink* sink);

// The value of [p, end) when it is exactly one number (digits-led, optional sign, optionally
// followed by one '.'); false (and *value untouched) otherwise.
bool whole_number(const char* p, const char* end, double* value);

// The last number token in free text that is not glued to a letter, digit or '.', or false.
bool last_number(const char* p, const char* end, double* value);

}  // namespace parse
}  // namespace vrft
