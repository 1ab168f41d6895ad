#include "rewards/detection.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "segments/segments.h"

namespace vrft {
namespace rewards {
namespace {

// The parser's per-completion columns for one completion, as plain fields.
struct OneCompletion {
  int8_t status, format, choice;
  uint8_t has_think, think_closed, has_answer, answer_closed, text_outside, strict_format;
  int32_t n_think_open, n_think_close, n_answer_open, n_answer_close, n_dropped;
  int64_t answer_start_cp, answer_end_cp, answer_start_byte, answer_end_byte, n_boxes;
  double number;

  parse::CompletionColumns columns() {
    return {&status,          &format,         &has_think,       &think_closed,  &has_answer,
            &answer_closed,   &text_outside,   &strict_format,   &n_think_open,  &n_think_close,
            &n_answer_open,   &n_answer_close, &answer_start_cp, &answer_end_cp, &answer_start_byte,
            &answer_end_byte, &number,         &choice,          &n_dropped,     &n_boxes};
  }
};

void clear(parse::BoxColumns* b) {
  b->for_each([](auto& v, size_t) { v.clear(); });
}

// _problems.answer_is_boxes: boxes read (ok / repaired) in a box format, or an explicit empty
// answer.
bool answer_is_boxes(const OneCompletion& c) {
  using parse::Format;
  using parse::Status;
  const auto status = static_cast<Status>(c.status);
  const auto format = static_cast<Format>(c.format);
  const bool readable = status == Status::kOk || status == Status::kRepaired;
  const bool box_format = format == Format::kVisualRft || format == Format::kQwenJson ||
                          format == Format::kQwenTuple || format == Format::kBoxes;
  return (readable && box_format) || status == Status::kNoObjects;
}

// box_problems' bad_gt: a ground-truth box that is not finite, is beyond the safe range, or is
// inverted makes the row's ground truth unusable.
bool ground_truth_boxes_ok(const double* boxes, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double* b = boxes + 4 * i;
    if (!within_safe_range(b) || b[2] < b[0] || b[3] < b[1]) return false;
  }
  return true;
}

// boxes_to_pixels: x / d * s per coordinate (f = dx, dy, sx, sy), then out-of-range boxes zeroed.
void convert(std::vector<double>* boxes, const double* f) {
  double* b = boxes->data();
  const auto n = static_cast<int64_t>(boxes->size() / 4);
  for (int64_t i = 0; i < n; ++i) {
    double* p = b + 4 * i;
    p[0] = p[0] / f[0] * f[2];
    p[1] = p[1] / f[1] * f[3];
    p[2] = p[2] / f[0] * f[2];
    p[3] = p[3] / f[1] * f[3];
  }
  zero_out_of_range(b, n);
}

// select_segment_boxes for one segment: the kept boxes (and their confidences when `conf` is
// given) replace `dst`.
void select(const parse::BoxColumns& src, bool dedupe, bool collapse, std::vector<double>* dst,
            std::vector<double>* conf, std::vector<int64_t>* source) {
  const auto n = static_cast<int64_t>(src.confidences.size());
  const int64_t offsets[2] = {0, n};
  const uint8_t keep = 1;
  int64_t out_offsets[2];
  dst->resize(static_cast<size_t>(4 * n));
  source->resize(static_cast<size_t>(n));
  const int64_t kept = select_segment_boxes(src.boxes.data(), offsets, 1, &keep, dedupe, collapse,
                                            dst->data(), source->data(), out_offsets);
  dst->resize(static_cast<size_t>(4 * kept));
  if (conf != nullptr) {
    conf->resize(static_cast<size_t>(kept));
    for (int64_t k = 0; k < kept; ++k) (*conf)[k] = src.confidences[(*source)[k]];
  }
}

// FormatReward's three modes from the parser's format facts.
void format_values(const OneCompletion& c, DetectionRow* row) {
  row->format_strict = c.strict_format ? 1.0 : 0.0;
  // numpy: 0.25 * (float(a) + b + c + d), added left to right (exact: small integers).
  double tags = c.n_think_open == 1 ? 1.0 : 0.0;
  tags += c.n_think_close == 1 ? 1.0 : 0.0;
  tags += c.n_answer_open == 1 ? 1.0 : 0.0;
  tags += c.n_answer_close == 1 ? 1.0 : 0.0;
  row->format_tags = 0.25 * tags;
  row->format_answer = (c.n_answer_open == 1 && c.n_answer_close == 1 && c.answer_closed &&
                        c.n_think_open == 0 && c.n_think_close == 0 && !c.text_outside)
                           ? 1.0
                           : 0.0;
}

// The rewards' arithmetic on one matched row (box_rewards.py: _iou_values, ConfidenceReward,
// F1Reward), every sum in the batch path's order.
void reward_values(const DetectionOptions& opt, DetectionScratch& s, DetectionRow* row,
                   double sum_in_prediction_order) {
  const int64_t n = row->n_pred;
  const bool greedy = opt.match.method == MatchMethod::kGreedy;
  // Visit order: descending score within the row for greedy (stable), written order otherwise.
  s.visit.resize(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) s.visit[p] = p;
  if (greedy) {
    const double* sc = s.scores.data();
    std::stable_sort(s.visit.begin(), s.visit.end(),
                     [sc](int64_t x, int64_t y) { return sc[x] > sc[y]; });
  }
  double sum = sum_in_prediction_order;
  if (greedy) {
    sum = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t p = s.visit[k];
      if (s.matched_gt[p] >= 0) sum += s.matched_value[p];
    }
  }
  const double denom = static_cast<double>(std::max<int64_t>(std::max(row->n_gt, n), 1));
  const double iou = sum / denom;
  row->iou = iou > 1.0 ? 1.0 : iou;  // np.minimum(1.0, x)

  // Confidence: matched c, unmatched 1 - c, in visit order; a missing confidence zeroes the row.
  double total = 0.0;
  bool missing = false;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t p = s.visit[k];
    const double c = s.conf[p];
    const double term = s.matched_gt[p] >= 0 ? c : 1.0 - c;
    missing |= std::isnan(c);
    total += std::isnan(term) ? 0.0 : term;
  }
  double conf = 0.0;
  if (n > 0 && !missing) {
    conf = total / static_cast<double>(n);
    conf = conf < 0.0 ? 0.0 : (conf > 1.0 ? 1.0 : conf);  // np.clip(x, 0, 1)
  }
  row->confidence = conf;

  const auto k = static_cast<double>(row->n_matched);
  const double half = static_cast<double>(n + row->n_gt) / 2.0;
  row->f1 = half > 0.0 ? k / half : 0.0;
  row->precision = n > 0 ? k / static_cast<double>(n) : 0.0;
  row->recall = row->n_gt > 0 ? k / static_cast<double>(row->n_gt) : 0.0;
}

}  // namespace

void score_detection(const parse::Text& completion, const GroundTruth* truth,
                     const DetectionOptions& options, const RowFrames* frames, DetectionScratch& s,
                     DetectionRow* row, std::vector<double>* pair_values) {
  *row = DetectionRow();
  // The completion, as the box rewards parse it (schema auto, tags required).
  OneCompletion pred;
  parse::Options popt;
  popt.pick = options.pick;
  popt.require_tags = true;
  clear(&s.pred_parsed);
  parse::parse_one(completion, popt, pred.columns(), 0, &s.pred_parsed);
  format_values(pred, row);
  row->pred_ok = answer_is_boxes(pred);
  if (truth == nullptr) return;

  if (truth->text != nullptr) {  // a solution text: the last block, tags optional
    OneCompletion sol;
    parse::Options gopt;
    gopt.require_tags = false;
    clear(&s.gt_parsed);
    parse::parse_one(*truth->text, gopt, sol.columns(), 0, &s.gt_parsed);
    row->gt_ok = answer_is_boxes(sol) &&
                 ground_truth_boxes_ok(s.gt_parsed.boxes.data(),
                                       static_cast<int64_t>(s.gt_parsed.confidences.size()));
  } else {
    row->gt_ok = truth->usable && ground_truth_boxes_ok(truth->boxes, truth->count);
  }
  if (!(row->pred_ok && row->gt_ok)) return;

  // Boxes of the row: predictions deduplicated on request, inverted or out-of-range ones made
  // non-overlapping; the ground truth as read.
  select(s.pred_parsed, options.dedupe, true, &s.pred, &s.conf, &s.visit);
  if (truth->text != nullptr) {
    select(s.gt_parsed, false, false, &s.gt, nullptr, &s.visit);
  } else {
    s.gt.assign(truth->boxes, truth->boxes + 4 * truth->count);
  }
  if (frames != nullptr) {
    convert(&s.pred, frames->pred);
    convert(&s.gt, frames->gt);
  }
  const auto n = static_cast<int64_t>(s.pred.size() / 4);
  const auto m = static_cast<int64_t>(s.gt.size() / 4);
  row->n_pred = n;
  row->n_gt = m;

  // Greedy visits by confidence, a missing one last (NaN -> -inf, as the batch path).
  s.scores.resize(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) {
    s.scores[p] = std::isnan(s.conf[p]) ? -std::numeric_limits<double>::infinity() : s.conf[p];
  }
  s.matched_gt.resize(static_cast<size_t>(n));
  s.matched_value.resize(static_cast<size_t>(n));
  s.matched_pred.resize(static_cast<size_t>(m));
  double sum = 0.0;
  row->n_matched =
      match_problem(s.pred.data(), n, s.gt.data(), m, s.scores.data(), options.match, s.match,
                    s.matched_gt.data(), s.matched_value.data(), s.matched_pred.data(), &sum);
  for (int64_t p = 0; p < n; ++p) {
    if (s.matched_gt[p] >= 0) pair_values->push_back(s.matched_value[p]);
  }
  reward_values(options, s, row, sum);
}

}  // namespace rewards
}  // namespace vrft
