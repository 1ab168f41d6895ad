#include "masks/segm_arena.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vrft::masks {

std::string SegmArena::check_size(int64_t height, int64_t width) const {
  if (height < 0 || width < 0) {
    return "size [" + std::to_string(height) + ", " + std::to_string(width) +
           "] must not be negative";
  }
  if (height > 0 && width > kMaxMaskPixels / height) {
    return "size [" + std::to_string(height) + ", " + std::to_string(width) +
           "] exceeds 2**29 pixels (pycocotools' RLE string codec overflows there)";
  }
  return "";
}

void SegmArena::push(Kind kind, int64_t height, int64_t width, int64_t begin, int64_t end) {
  if (kind == kPolygons) summary_.insert(summary_.end(), 5, 0u);
  kind_.push_back(kind);
  height_.push_back(height);
  width_.push_back(width);
  begin_.push_back(begin);
  end_.push_back(end);
}

std::string SegmArena::add_polygons(int64_t height, int64_t width, const double* coords,
                                    const int64_t* lengths, int64_t num_polygons) {
  std::string why = check_size(height, width);
  if (!why.empty()) return "image " + why;
  int64_t total = 0;
  for (int64_t p = 0; p < num_polygons; ++p) {
    if (lengths[p] < 0) return "polygon " + std::to_string(p) + " has a negative length";
    total += lengths[p];
  }
  for (int64_t c = 0; c < total; ++c) {
    if (!(std::fabs(coords[c]) <= kMaxPolygonCoordinate)) {
      return "polygon coordinate " + std::to_string(c) + " (" + std::to_string(coords[c]) +
             ") is not finite or beyond +-1e8 (pycocotools' grid overflows int)";
    }
  }
  const int64_t first = static_cast<int64_t>(polygon_coords_.size()) - 1;
  for (int64_t p = 0; p < num_polygons; ++p) {
    polygon_coords_.push_back(polygon_coords_.back() + lengths[p]);
  }
  coords_.insert(coords_.end(), coords, coords + total);
  push(kPolygons, height, width, first, first + num_polygons);
  return "";
}

std::string SegmArena::add_counts(int64_t height, int64_t width, const int64_t* counts, int64_t n) {
  std::string why = check_size(height, width);
  if (!why.empty()) return "RLE " + why;
  int64_t total = 0;
  for (int64_t j = 0; j < n; ++j) {
    // frUncompressedRLE: np.array(counts, dtype=np.uint32) (a negative count is an error there).
    if (counts[j] < 0 || counts[j] > kMaxMaskPixels) {
      return "RLE count " + std::to_string(j) + " (" + std::to_string(counts[j]) +
             ") is outside [0, h * w]";
    }
    total += counts[j];
  }
  if (total != height * width) {
    return "RLE counts add up to " + std::to_string(total) +
           ", not height * width = " + std::to_string(height * width) +
           " (pycocotools hangs on such an RLE)";
  }
  const int64_t begin = static_cast<int64_t>(counts_.size());
  for (int64_t j = 0; j < n; ++j) counts_.push_back(static_cast<uint32_t>(counts[j]));
  push_summary(counts, n, height, width);
  push(kCounts, height, width, begin, begin + n);
  return "";
}

std::string SegmArena::add_string(int64_t height, int64_t width, std::string_view text) {
  std::string why = check_size(height, width);
  if (!why.empty()) return "RLE " + why;
  thread_local std::vector<int64_t> counts;
  counts.clear();
  if (!decode_rle_string(text, counts)) {
    return "RLE counts is not a valid compressed RLE string";
  }
  int64_t total = 0;
  for (const int64_t c : counts) {
    if (c > kMaxMaskPixels) return "RLE counts add up to more than height * width";
    total += c;
  }
  if (total != height * width) {
    return "RLE counts add up to " + std::to_string(total) +
           ", not height * width = " + std::to_string(height * width) +
           " (pycocotools hangs on such an RLE)";
  }
  const int64_t begin = static_cast<int64_t>(bytes_.size());
  bytes_.append(text);
  push_summary(counts.data(), static_cast<int64_t>(counts.size()), height, width);
  push(kString, height, width, begin, begin + static_cast<int64_t>(text.size()));
  return "";
}

void SegmArena::push_summary(const int64_t* counts, int64_t n, int64_t height, int64_t width) {
  thread_local std::vector<uint32_t> raw;
  raw.assign(counts, counts + n);  // each checked < 2**29
  uint32_t area = 0;
  for (int64_t j = 1; j < n; j += 2) area += raw[static_cast<size_t>(j)];
  double box[4];
  rle_to_bbox(raw.data(), n, height, width, box);
  summary_.push_back(area);
  for (int c = 0; c < 4; ++c) summary_.push_back(static_cast<uint32_t>(box[c]));
}

bool SegmArena::summary(int64_t i, uint32_t* area, double box[4]) const {
  if (kind(i) == kPolygons) return false;
  const uint32_t* s = summary_.data() + 5 * i;
  *area = s[0];
  for (int c = 0; c < 4; ++c) box[c] = static_cast<double>(s[c + 1]);
  return true;
}

namespace {

// x / h for x < 2**29 without a division per call: the quotient from a double reciprocal, off
// by at most one, then corrected (rleToBbox divides the start and end of every ones run).
struct Divider {
  explicit Divider(uint32_t divisor) : h(divisor), inv(divisor ? 1.0 / divisor : 0.0) {}
  uint32_t quotient(uint32_t x) const {
    uint32_t q = static_cast<uint32_t>(static_cast<double>(x) * inv);
    if (static_cast<uint64_t>(q) * h > x) {
      --q;
    } else if (static_cast<uint64_t>(q + 1) * h <= x) {
      ++q;
    }
    return q;
  }
  uint32_t h;
  double inv;
};

}  // namespace

void rle_to_bbox(const uint32_t* counts, int64_t m_in, int64_t height, int64_t width,
                 double out[4]) {
  // maskApi rleToBbox, line by line in uint arithmetic.
  const uint32_t h = static_cast<uint32_t>(height), w = static_cast<uint32_t>(width);
  const int64_t m = (m_in / 2) * 2;
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0;
  if (m == 0) {
    out[0] = out[1] = out[2] = out[3] = 0.0;
    return;
  }
  const Divider by_h(h);
  for (int64_t j = 0; j < m; ++j) {
    const uint32_t start = cc;
    cc += counts[j];
    if (j % 2 == 0 || counts[j] == 0) continue;
    // h > 0 here: a non-empty ones run needs h * w > 0.
    const uint32_t x_start = by_h.quotient(start), y_start = start - x_start * h;
    const uint32_t x_end = by_h.quotient(cc - 1), y_end = (cc - 1) - x_end * h;
    xs = std::min(xs, x_start);
    xe = std::max(xe, x_end);
    if (x_start < x_end) {
      ys = 0;
      ye = h - 1;
    } else {
      ys = std::min(ys, y_start);
      ye = std::max(ye, y_end);
    }
  }
  out[0] = static_cast<double>(xs);
  out[2] = static_cast<double>(static_cast<uint32_t>(xe - xs + 1));
  out[1] = static_cast<double>(ys);
  out[3] = static_cast<double>(static_cast<uint32_t>(ye - ys + 1));
}

namespace {

// MaskRuns of raw counts (uncompressed or decoded string).
// MaskRuns of raw counts (uncompressed or decoded string); `summary` = the area and box kept
// when the mask was added (computed from these counts).
template <typename C>
void runs_from_counts(const C* counts, int64_t m, const uint32_t* summary, MaskRuns& out) {
  out.ones.clear();
  out.counts.clear();
  out.irregular = false;
  int64_t at = 0;
  for (int64_t j = 0; j < m; ++j) {
    const int64_t c = static_cast<int64_t>(counts[j]);
    if (j > 0 && c == 0) out.irregular = true;
    if ((j & 1) && c > 0) out.ones.push_back({at, at + c});
    at += c;
  }
  out.area = summary[0];
  for (int c = 0; c < 4; ++c) out.box[c] = static_cast<double>(summary[c + 1]);
  if (out.irregular) {
    // The IoU walk of an irregular mask reads the raw counts (uint32, each checked < 2**29).
    for (int64_t j = 0; j < m; ++j) out.counts.push_back(static_cast<uint32_t>(counts[j]));
    merge_intervals(out.ones);  // adjacent ones runs split by an empty zeros run: one run
  }
}

}  // namespace

void SegmArena::decode(int64_t i, MaskRuns& out, Scratch& scratch) const {
  const size_t k = static_cast<size_t>(i);
  out.height = height_[k];
  out.width = width_[k];
  const int64_t b = begin_[k], e = end_[k];
  switch (kind(i)) {
    case kPolygons: {
      // frPoly rasterises each polygon; merge unites them.  rleFrPoly and rleMerge produce
      // canonical counts (no empty run after the first), so the canonical intervals carry all
      // of it, and toBbox of canonical counts is the tight box of the intervals.
      out.ones.clear();
      out.counts.clear();
      out.irregular = false;
      for (int64_t p = b; p < e; ++p) {
        const int64_t c0 = polygon_coords_[static_cast<size_t>(p)];
        const int64_t c1 = polygon_coords_[static_cast<size_t>(p) + 1];
        // frPoly: rleFrPoly(..., int(len(p) / 2), h, w): an odd count drops the last number.
        rasterize_polygon(coords_.data() + c0, (c1 - c0) / 2, out.height, out.width, out.ones,
                          scratch.polygon);
      }
      merge_intervals(out.ones);
      int64_t area = 0;
      for (const Interval& iv : out.ones) area += iv.end - iv.begin;
      out.area = static_cast<uint32_t>(area);
      intervals_bbox(out.ones.data(), out.ones.size(), out.height, out.box);
      break;
    }
    case kCounts:
      runs_from_counts(counts_.data() + b, e - b, summary_.data() + 5 * i, out);
      break;
    case kString: {
      scratch.counts.clear();
      decode_rle_string(
          std::string_view(bytes_).substr(static_cast<size_t>(b), static_cast<size_t>(e - b)),
          scratch.counts);  // checked when added
      runs_from_counts(scratch.counts.data(), static_cast<int64_t>(scratch.counts.size()),
                       summary_.data() + 5 * i, out);
      break;
    }
  }
}

void mask_area_and_box(const SegmArena& arena, int64_t i, int64_t* area, double box[4],
                       SegmArena::Scratch& scratch, MaskRuns& runs) {
  uint32_t a;
  if (arena.summary(i, &a, box)) {
    *area = a;
    return;
  }
  arena.decode(i, runs, scratch);
  *area = runs.area;
  for (int c = 0; c < 4; ++c) box[c] = runs.box[c];
}

SegmArena::Flat SegmArena::flat() const {
  Flat f;
  f.kind = kind_;
  f.height = height_;
  f.width = width_;
  f.begin = begin_;
  f.end = end_;
  f.polygon_coords = polygon_coords_;
  f.coords = coords_;
  f.counts = counts_;
  f.bytes = bytes_;
  return f;
}

SegmArena SegmArena::from_flat(Flat f) {
  const size_t n = f.kind.size();
  if (f.height.size() != n || f.width.size() != n || f.begin.size() != n || f.end.size() != n) {
    throw std::invalid_argument("SegmArena: per-mask arrays of different lengths");
  }
  if (f.polygon_coords.empty() || f.polygon_coords.front() != 0 ||
      !std::is_sorted(f.polygon_coords.begin(), f.polygon_coords.end()) ||
      f.polygon_coords.back() != static_cast<int64_t>(f.coords.size())) {
    throw std::invalid_argument("SegmArena: polygon offsets do not describe the coordinates");
  }
  const int64_t num_polygons = static_cast<int64_t>(f.polygon_coords.size()) - 1;
  for (size_t i = 0; i < n; ++i) {
    int64_t limit = 0;
    switch (f.kind[i]) {
      case kPolygons:
        limit = num_polygons;
        break;
      case kCounts:
        limit = static_cast<int64_t>(f.counts.size());
        break;
      case kString:
        limit = static_cast<int64_t>(f.bytes.size());
        break;
      default:
        throw std::invalid_argument("SegmArena: unknown mask kind");
    }
    if (f.begin[i] < 0 || f.begin[i] > f.end[i] || f.end[i] > limit || f.height[i] < 0 ||
        f.width[i] < 0 || (f.height[i] > 0 && f.width[i] > kMaxMaskPixels / f.height[i])) {
      throw std::invalid_argument("SegmArena: mask " + std::to_string(i) + " is inconsistent");
    }
  }
  // Re-check every mask's content as the appenders do (counts totals, strings, coordinates).
  SegmArena out;
  for (size_t i = 0; i < n; ++i) {
    std::string why;
    const int64_t b = f.begin[i], e = f.end[i];
    if (f.kind[i] == kPolygons) {
      std::vector<int64_t> lengths;
      for (int64_t p = b; p < e; ++p)
        lengths.push_back(f.polygon_coords[p + 1] - f.polygon_coords[p]);
      why = out.add_polygons(f.height[i], f.width[i], f.coords.data() + f.polygon_coords[b],
                             lengths.data(), e - b);
    } else if (f.kind[i] == kCounts) {
      std::vector<int64_t> counts(f.counts.begin() + b, f.counts.begin() + e);
      why = out.add_counts(f.height[i], f.width[i], counts.data(), e - b);
    } else {
      why = out.add_string(
          f.height[i], f.width[i],
          std::string_view(f.bytes).substr(static_cast<size_t>(b), static_cast<size_t>(e - b)));
    }
    if (!why.empty())
      throw std::invalid_argument("SegmArena: mask " + std::to_string(i) + ": " + why);
  }
  return out;
}

}  // namespace vrft::masks
