#include "eval/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/thread_pool.h"

namespace vrft::eval {
namespace {

// id -> first position in a table: a dense lookup table over [lo, hi] when the range is at most
// a few times the table (ids are usually 1..N), else binary search in a sorted copy.
class PositionIndex {
 public:
  PositionIndex(const int64_t* table, int64_t m) {
    if (m == 0) return;
    lo_ = *std::min_element(table, table + m);
    const int64_t hi = *std::max_element(table, table + m);
    // hi - lo as unsigned: no overflow for ids spanning the whole int64 range.
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo_);
    if (span <= static_cast<uint64_t>(8 * m + 4096)) {
      lut_.assign(static_cast<size_t>(span) + 1, -1);
      for (int64_t i = m - 1; i >= 0; --i) {  // backwards: the first occurrence wins
        lut_[static_cast<size_t>(static_cast<uint64_t>(table[i]) - static_cast<uint64_t>(lo_))] = i;
      }
      return;
    }
    sorted_.resize(static_cast<size_t>(m));
    std::iota(sorted_.begin(), sorted_.end(), int64_t{0});
    std::stable_sort(sorted_.begin(), sorted_.end(),
                     [table](int64_t a, int64_t b) { return table[a] < table[b]; });
    values_.resize(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) values_[i] = table[sorted_[i]];
  }

  int64_t operator()(int64_t id) const {
    if (!lut_.empty()) {
      const uint64_t off = static_cast<uint64_t>(id) - static_cast<uint64_t>(lo_);
      return off < lut_.size() ? lut_[static_cast<size_t>(off)] : -1;
    }
    const auto it = std::lower_bound(values_.begin(), values_.end(), id);
    if (it == values_.end() || *it != id) return -1;
    return sorted_[static_cast<size_t>(it - values_.begin())];  // stable: the first occurrence
  }

 private:
  int64_t lo_ = 0;
  std::vector<int64_t> lut_;
  std::vector<int64_t> sorted_, values_;
};

// A set of (image position, category position) pairs: a bit per pair when images x categories
// is small enough (LVIS v1 val: 20k x 1,203 bits = 3 MB; a test is one load), else each image's
// sorted categories (CSR) and a binary search.
class PairSet {
 public:
  PairSet(int64_t num_images, int64_t num_categories,
          const std::vector<std::pair<int64_t, int64_t>>& pairs, uint64_t max_bits)
      : num_categories_(num_categories) {
    const uint64_t bits = static_cast<uint64_t>(num_images) * static_cast<uint64_t>(num_categories);
    if (num_categories > 0 &&
        bits / static_cast<uint64_t>(num_categories) == static_cast<uint64_t>(num_images) &&
        bits <= max_bits) {
      bits_.assign(static_cast<size_t>((bits + 63) / 64), 0);
      for (const auto& p : pairs) {
        const uint64_t b = static_cast<uint64_t>(p.first * num_categories + p.second);
        bits_[b >> 6] |= uint64_t{1} << (b & 63);
      }
      return;
    }
    offsets_.assign(static_cast<size_t>(num_images) + 1, 0);
    for (const auto& p : pairs) ++offsets_[static_cast<size_t>(p.first) + 1];
    for (size_t i = 1; i < offsets_.size(); ++i) offsets_[i] += offsets_[i - 1];
    cats_.resize(pairs.size());
    std::vector<int64_t> fill(offsets_.begin(), offsets_.end() - 1);
    for (const auto& p : pairs) {
      cats_[static_cast<size_t>(fill[static_cast<size_t>(p.first)]++)] = p.second;
    }
    for (size_t i = 0; i + 1 < offsets_.size(); ++i) {
      std::sort(cats_.begin() + offsets_[i], cats_.begin() + offsets_[i + 1]);
    }
  }

  bool contains(int64_t image, int64_t category) const {
    if (!bits_.empty()) {
      const uint64_t b = static_cast<uint64_t>(image * num_categories_ + category);
      return (bits_[b >> 6] >> (b & 63)) & 1;
    }
    const auto b = cats_.begin() + offsets_[static_cast<size_t>(image)];
    const auto e = cats_.begin() + offsets_[static_cast<size_t>(image) + 1];
    return std::binary_search(b, e, category);
  }

 private:
  int64_t num_categories_;
  std::vector<uint64_t> bits_;
  std::vector<int64_t> offsets_;
  std::vector<int64_t> cats_;
};

std::vector<std::pair<int64_t, int64_t>> mapped_pairs(const IdPairs& p, const PositionIndex& images,
                                                      const PositionIndex& categories) {
  std::vector<std::pair<int64_t, int64_t>> out;
  out.reserve(static_cast<size_t>(p.n));
  for (int64_t i = 0; i < p.n; ++i) {
    const int64_t im = images(p.image_id[i]), c = categories(p.category_id[i]);
    if (im >= 0 && c >= 0) out.emplace_back(im, c);
  }
  return out;
}

}  // namespace

void id_positions(const int64_t* table, int64_t m, const int64_t* ids, int64_t n, int64_t* pos) {
  const PositionIndex index(table, m);
  parallel_for(n, 65536, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) pos[i] = index(ids[i]);
  });
}

LvisDetectionRows select_lvis_detections(const LvisDetectionInput& in) {
  const PositionIndex images(in.img_ids, in.num_images);
  const PositionIndex categories(in.cat_ids, in.num_categories);
  // Present or absent: one set (the rule only asks whether the category is in either).
  std::vector<std::pair<int64_t, int64_t>> annotated;
  annotated.reserve(static_cast<size_t>(in.present.n + in.absent.n));
  for (int64_t i = 0; i < in.present.n; ++i) {
    annotated.emplace_back(in.present.image[i], in.present.category[i]);
  }
  for (const auto& p : mapped_pairs(in.absent, images, categories)) annotated.push_back(p);
  const PairSet annotated_cats(in.num_images, in.num_categories, annotated, in.max_bitset_bits);
  const PairSet not_exhaustive_cats(in.num_images, in.num_categories,
                                    mapped_pairs(in.not_exhaustive, images, categories),
                                    in.max_bitset_bits);

  LvisDetectionRows out;
  // Reserved for all rows: pages are touched only as rows are kept.
  out.rows.reserve(static_cast<size_t>(in.n));
  out.image.reserve(static_cast<size_t>(in.n));
  out.category.reserve(static_cast<size_t>(in.n));
  out.not_exhaustive.reserve(static_cast<size_t>(in.n));
  for (int64_t i = 0; i < in.n; ++i) {
    const int64_t im = images(in.image_id[i]);
    if (im < 0) continue;
    const int64_t c = categories(in.category_id[i]);
    if (c < 0) continue;
    // LVIS.get_ann_ids keeps 0 < area < inf; the same product as loadRes' bb[2] * bb[3].
    const double area = in.area ? in.area[i] : in.box[4 * i + 2] * in.box[4 * i + 3];
    if (!(area > 0.0 && area < std::numeric_limits<double>::infinity())) continue;
    if (!annotated_cats.contains(im, c)) continue;
    out.rows.push_back(i);
    out.image.push_back(im);
    out.category.push_back(c);
    out.not_exhaustive.push_back(not_exhaustive_cats.contains(im, c) ? 1 : 0);
  }
  return out;
}

}  // namespace vrft::eval
