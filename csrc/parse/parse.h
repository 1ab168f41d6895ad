// Completion parsing: one pass over a batch of model completions (UTF-8 text) that locates the
// answer, records the format facts that format rewards need, and reads the answer payload
// (box lists in the Visual-RFT / Qwen2.5-VL JSON / Qwen2-VL tuple / bare-box forms, free text,
// numbers) into flat arrays.
//
// Rules and their reasons are documented in docs/parsing.md; Visual-RFT's own rules
// (grpo.py::extract_bbox and friends) are summarised in shared/research/visual_rft.md §2-4.
// Malformed text never throws: every completion gets a Status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vrft {
namespace parse {

// Per-completion outcome.  Values are part of the Python contract (ParsedBatch.status).
enum class Status : int8_t {
  kOk = 0,         // answer found and read cleanly
  kNoAnswer = 1,   // tags required but no <answer> block after the last </think>
  kEmpty = 2,      // the answer is empty or whitespace only
  kNoObjects = 3,  // a box answer that says there is nothing: [] or "No Objects"
  kRepaired = 4,   // read after repair: unclosed <answer>, list cut mid-item, trailing junk
  kMalformed = 5,  // an answer is there but no value of the requested kind could be read
};

// Detected (or forced) payload format.  Values are part of the Python contract.
enum class Format : int8_t {
  kNone = 0,       // nothing read (no answer, empty, malformed before any structure)
  kVisualRft = 1,  // [{'Position': [...], 'Confidence': c}, ...]
  kQwenJson = 2,   // [{"bbox_2d": [...], "label": ..., "score": ...}, ...]
  kQwenTuple = 3,  // (x1,y1),(x2,y2) with optional <|box_start|>/<|object_ref_start|> tokens
  kBoxes = 4,      // [x1,y1,x2,y2] or [[...], ...]
  kText = 5,       // free text / classification
  kNumber = 6,     // a number (counting)
};

// What the caller asked for.
enum class Schema : int8_t { kAuto, kVisualRft, kQwenJson, kQwenTuple, kBoxes, kText, kNumber };

enum class AnswerPick : int8_t { kLast, kFirst };

struct Options {
  Schema schema = Schema::kAuto;
  AnswerPick pick = AnswerPick::kLast;
  // When false, a completion without any <answer> block is answered by the text after the last
  // </think> (or the whole text when there is none) instead of getting Status::kNoAnswer.
  bool require_tags = true;
};

// Throws std::invalid_argument naming `arg` for unknown names.
Schema parse_schema(const std::string& name, const char* arg);
AnswerPick parse_answer_pick(const std::string& name, const char* arg);

// One completion's text: UTF-8 bytes [data, data + size).  `ascii` says every byte is < 0x80, so
// byte offsets are already Python string indices.
struct Text {
  const char* data;
  int64_t size;
  bool ascii;
};

// Per-completion outputs: arrays of length n, owned by the caller.  Positions ending in `_cp` are
// Python string indices (code points); -1 when absent.
struct CompletionColumns {
  int8_t* status;
  int8_t* format;
  uint8_t* has_think;      // at least one <think>
  uint8_t* think_closed;   // a </think> follows the first <think>
  uint8_t* has_answer;     // at least one <answer>
  uint8_t* answer_closed;  // the chosen answer block has its </answer>
  uint8_t* text_outside;   // non-whitespace outside the first think block and the answer block
  uint8_t* strict_format;  // Visual-RFT's format rule: <think>.*?</think>\s*<answer>.*?</answer>
  int32_t* n_think_open;
  int32_t* n_think_close;
  int32_t* n_answer_open;
  int32_t* n_answer_close;
  int64_t* answer_start_cp;  // answer content, whitespace-trimmed
  int64_t* answer_end_cp;
  int64_t* answer_start_byte;
  int64_t* answer_end_byte;
  double* number;      // the answer's number (see docs), NaN when none
  int8_t* choice;      // multiple-choice letter index (A=0 .. Z=25), -1 when none
  int32_t* n_dropped;  // boxes dropped: non-finite or not four numbers, unpaired corners
  int64_t* n_boxes;    // boxes kept

  // Calls f(column) for every column above: the one list that code handling all of them uses.
  template <typename F>
  void for_each(F&& f) const {
    f(status);
    f(format);
    f(has_think);
    f(think_closed);
    f(has_answer);
    f(answer_closed);
    f(text_outside);
    f(strict_format);
    f(n_think_open);
    f(n_think_close);
    f(n_answer_open);
    f(n_answer_close);
    f(answer_start_cp);
    f(answer_end_cp);
    f(answer_start_byte);
    f(answer_end_byte);
    f(number);
    f(choice);
    f(n_dropped);
    f(n_boxes);
  }
};

// Box outputs of a whole batch, concatenated in completion order (n_boxes gives the split).
struct BoxColumns {
  std::vector<double> boxes;         // 4 per box, in the model's own frame
  std::vector<double> confidences;   // NaN when absent
  std::vector<int64_t> label_start;  // code points, -1 when the box has no label
  std::vector<int64_t> label_end;
  std::vector<int64_t> label_start_byte;
  std::vector<int64_t> label_end_byte;

  // Calls f(column, values per box) for every column above.
  template <typename F>
  void for_each(F&& f) {
    f(boxes, 4);
    f(confidences, 1);
    f(label_start, 1);
    f(label_end, 1);
    f(label_start_byte, 1);
    f(label_end_byte, 1);
  }
};

// Parses texts[0..n) into `cols` and `parts` (one BoxColumns per chunk of consecutive
// completions, in order; concatenated they are the batch's boxes), splitting the batch over the
// thread pool.  `parts` may hold buffers of an earlier call: they are reused (emptied, capacity
// kept).  Never throws for any text content.
void parse_batch(const Text* texts, int64_t n, const Options& opt, const CompletionColumns& cols,
                 std::vector<BoxColumns>* parts);

// Total boxes of `parts`.
int64_t total_boxes(const std::vector<BoxColumns>& parts);

// offsets[0] = 0, offsets[i + 1] = offsets[i] + n_boxes[i] (n + 1 values): where completion i's
// boxes start in the arrays of concat_boxes.
void box_offsets(const int64_t* n_boxes, int64_t n, int64_t* offsets);

// Concatenates `parts` into caller-owned arrays sized for total_boxes(parts): boxes (total, 4),
// confidences, label code-point and byte spans (each (total,)).
void concat_boxes(const std::vector<BoxColumns>& parts, double* boxes, double* confidences,
                  int64_t* label_start, int64_t* label_end, int64_t* label_start_byte,
                  int64_t* label_end_byte);

// Parses one completion; appends its boxes to `out` (the fused per-completion rewards of
// csrc/rewards/ call it, one completion at a time, on the calling thread).
void parse_one(const Text& text, const Options& opt, const CompletionColumns& cols, int64_t i,
               BoxColumns* out);

// Text normalisation for classification answers, applied to [p, end) and appended to `out`:
//   lower    ASCII letters to lower case (non-ASCII case folding is left to the caller)
//   strip_punct  drop ASCII punctuation except '_' (handled by `underscores`)
//   underscores  0 keep, 1 -> space, 2 -> drop
//   collapse_space  runs of whitespace become one space, leading/trailing whitespace removed
//   drop_space  remove all whitespace (Visual-RFT's classification rule strips spaces)
struct NormalizeOptions {
  bool lower = true;
  bool strip_punct = true;
  int underscores = 1;
  bool collapse_space = true;
  bool drop_space = false;
};
void normalize_text(const char* p, const char* end, const NormalizeOptions& opt, std::string* out);

// normalize_text over a batch of spans, into one buffer: span i is
// [texts[i].data + start[i], texts[i].data + end[i]) (absent when start[i] < 0, giving ''), and its
// normalised text is (*out)[cuts[i], cuts[i + 1]).  Replaces *out; cuts holds n + 1 values.  The
// spans must lie within their texts (the caller checks them).  Serial.
void normalize_batch(const Text* texts, const int64_t* start, const int64_t* end, int64_t n,
                     const NormalizeOptions& opt, std::string* out, size_t* cuts);

}  // namespace parse
}  // namespace vrft
