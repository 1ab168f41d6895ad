#include "eval/merge.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/thread_pool.h"

namespace vrft::eval {
namespace {

// Where one group of the merged evaluation comes from.
struct GroupSource {
  int64_t category, image;  // (category, image): the order evaluate_images() leaves groups in
  int64_t part;             // index into parts
  int64_t group;            // group index inside that part
};

// (category, image) order, compared as a pair: category * I + image could overflow int64 for
// the sizes an unpickled state may claim.
bool before(int64_t cat_a, int64_t img_a, int64_t cat_b, int64_t img_b) {
  return cat_a < cat_b || (cat_a == cat_b && img_a < img_b);
}

// a * b as size_t, or false when the product is negative or does not fit.
bool product(int64_t a, int64_t b, size_t* out) {
  uint64_t p;
  if (a < 0 || b < 0 ||
      __builtin_mul_overflow(static_cast<uint64_t>(a), static_cast<uint64_t>(b), &p)) {
    return false;
  }
  *out = static_cast<size_t>(p);
  return true;
}

int64_t translate(const int64_t* rows, int64_t num_rows, int64_t local, const char* what,
                  size_t part) {
  if (rows == nullptr) return local;
  if (local < 0 || local >= num_rows) {
    throw std::invalid_argument("part " + std::to_string(part) + ": local " + what + " row " +
                                std::to_string(local) + " is outside its row map of " +
                                std::to_string(num_rows));
  }
  return rows[local];
}

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("inconsistent evaluation state: ") + what);
}

bool offsets_ok(const std::vector<int64_t>& off, size_t groups, size_t total) {
  if (off.size() != groups + 1 || off.front() != 0) return false;
  for (size_t i = 0; i + 1 < off.size(); ++i) {
    if (off[i + 1] < off[i]) return false;
  }
  return static_cast<size_t>(off.back()) == total;
}

}  // namespace

void check_evaluation(const Evaluation& ev) {
  const int64_t I = ev.num_images, K = ev.num_categories, T = ev.num_iou_thrs, A = ev.num_area_rngs;
  require(I >= 0 && K >= 0 && T >= 0 && A >= 0, "negative sizes");
  // evaluate_images keys groups by category * I + image: no state it makes has larger sizes.
  require(K == 0 || I <= INT64_MAX / K, "sizes: num_categories * num_images exceeds int64");
  const size_t G = ev.group_image.size();
  require(ev.group_category.size() == G, "group_category length");
  for (size_t g = 0; g < G; ++g) {
    require(ev.group_image[g] >= 0 && ev.group_image[g] < I, "group_image out of range");
    require(ev.group_category[g] >= 0 && ev.group_category[g] < K, "group_category out of range");
    require(g == 0 || before(ev.group_category[g - 1], ev.group_image[g - 1], ev.group_category[g],
                             ev.group_image[g]),
            "groups not in (category, image) order");
  }
  require(ev.category_groups.size() - 1 == static_cast<uint64_t>(K), "category_groups length");
  require(category_group_offsets(ev.group_category, K) == ev.category_groups,
          "category_groups do not count the groups");
  require(offsets_ok(ev.gt_offsets, G, ev.gt_index.size()), "gt_offsets");
  const size_t slots = ev.dt_index.size();
  require(offsets_ok(ev.dt_offsets, G, slots), "dt_offsets");
  require(ev.dt_score.size() == slots && ev.dt_any_tp.size() == slots, "per-slot lengths");
  size_t per_slot = 0, states = 0, positives = 0;
  require(product(A, T, &per_slot) && product(static_cast<int64_t>(slots), per_slot, &states) &&
              ev.dt_state.size() == states,
          "dt_state length");
  for (uint8_t s : ev.dt_state) require(s <= kIgnored, "dt_state value");
  require(product(static_cast<int64_t>(G), A, &positives) && ev.num_positive_gt.size() == positives,
          "num_positive_gt length");
  // A group's positive GT count at an area range is at most its GT count (accumulate sizes
  // buffers by it).
  for (size_t g = 0; g < G; ++g) {
    const int64_t gt_count = ev.gt_offsets[g + 1] - ev.gt_offsets[g];
    for (int64_t a = 0; a < A; ++a) {
      const int64_t n = ev.num_positive_gt[g * static_cast<size_t>(A) + static_cast<size_t>(a)];
      require(n >= 0 && n <= gt_count, "num_positive_gt value");
    }
  }
}

Evaluation merge_evaluations(const std::vector<EvaluationPart>& parts) {
  Evaluation out;
  if (parts.empty()) return out;
  const Evaluation& first = *parts[0].ev;
  const int64_t I = first.num_images, K = first.num_categories;
  const int64_t T = first.num_iou_thrs, A = first.num_area_rngs;
  out.num_images = I;
  out.num_categories = K;
  out.num_iou_thrs = T;
  out.num_area_rngs = A;
  for (size_t p = 0; p < parts.size(); ++p) {
    const Evaluation& e = *parts[p].ev;
    if (e.num_images != I || e.num_categories != K || e.num_iou_thrs != T || e.num_area_rngs != A) {
      throw std::invalid_argument("part " + std::to_string(p) +
                                  " was evaluated with other (images, categories, IoU "
                                  "thresholds, area ranges) than part 0");
    }
  }

  // ---- order the groups of all parts by (category, image) --------------------------------------
  std::vector<GroupSource> order;
  size_t num_groups = 0;
  for (const EvaluationPart& part : parts) num_groups += part.ev->group_image.size();
  order.reserve(num_groups);
  for (size_t p = 0; p < parts.size(); ++p) {
    const Evaluation& e = *parts[p].ev;
    for (size_t g = 0; g < e.group_image.size(); ++g) {
      order.push_back({e.group_category[g], e.group_image[g], static_cast<int64_t>(p),
                       static_cast<int64_t>(g)});
    }
  }
  // Each part's groups are already sorted; a stable sort of the concatenation is then a merge.
  std::stable_sort(order.begin(), order.end(), [](const GroupSource& a, const GroupSource& b) {
    return before(a.category, a.image, b.category, b.image);
  });
  const int64_t G = static_cast<int64_t>(order.size());
  for (int64_t g = 1; g < G; ++g) {
    if (order[g].category == order[g - 1].category && order[g].image == order[g - 1].image) {
      throw std::invalid_argument(
          "parts " + std::to_string(order[g - 1].part) + " and " + std::to_string(order[g].part) +
          " both evaluated image position " + std::to_string(order[g].image) +
          " (category position " + std::to_string(order[g].category) +
          "): shards must hold disjoint images");
    }
  }

  // ---- offsets of the merged arrays -------------------------------------------------------------
  out.group_image.resize(static_cast<size_t>(G));
  out.group_category.resize(static_cast<size_t>(G));
  out.gt_offsets.assign(static_cast<size_t>(G + 1), 0);
  out.dt_offsets.assign(static_cast<size_t>(G + 1), 0);
  for (int64_t g = 0; g < G; ++g) {
    const Evaluation& e = *parts[static_cast<size_t>(order[g].part)].ev;
    const int64_t src = order[g].group;
    out.group_image[g] = e.group_image[src];
    out.group_category[g] = e.group_category[src];
    out.gt_offsets[g + 1] = out.gt_offsets[g] + e.gt_offsets[src + 1] - e.gt_offsets[src];
    out.dt_offsets[g + 1] = out.dt_offsets[g] + e.dt_offsets[src + 1] - e.dt_offsets[src];
  }
  out.category_groups = category_group_offsets(out.group_category, K);
  const int64_t num_gt = out.gt_offsets[G], num_slots = out.dt_offsets[G];
  out.gt_index.resize(static_cast<size_t>(num_gt));
  out.dt_index.resize(static_cast<size_t>(num_slots));
  out.dt_score.resize(static_cast<size_t>(num_slots));
  out.dt_state.resize(static_cast<size_t>(num_slots * A * T));
  out.dt_any_tp.resize(static_cast<size_t>(num_slots));
  out.num_positive_gt.resize(static_cast<size_t>(G * A));

  // ---- copy every group (independent: parallel) -------------------------------------------------
  // Row translation may throw; the pool rethrows the first exception in the caller.
  parallel_for(G, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const size_t p = static_cast<size_t>(order[g].part);
      const EvaluationPart& part = parts[p];
      const Evaluation& e = *part.ev;
      const int64_t src = order[g].group;
      for (int64_t i = e.gt_offsets[src], o = out.gt_offsets[g]; i < e.gt_offsets[src + 1];
           ++i, ++o) {
        out.gt_index[o] = translate(part.gt_rows, part.num_gt_rows, e.gt_index[i], "GT", p);
      }
      const int64_t s0 = e.dt_offsets[src], n = e.dt_offsets[src + 1] - s0;
      const int64_t o0 = out.dt_offsets[g];
      for (int64_t i = 0; i < n; ++i) {
        out.dt_index[o0 + i] =
            translate(part.dt_rows, part.num_dt_rows, e.dt_index[s0 + i], "detection", p);
        out.dt_score[o0 + i] = e.dt_score[s0 + i];
        out.dt_any_tp[o0 + i] = e.dt_any_tp[s0 + i];
      }
      std::copy(e.dt_state.begin() + s0 * A * T, e.dt_state.begin() + (s0 + n) * A * T,
                out.dt_state.begin() + o0 * A * T);
      std::copy(e.num_positive_gt.begin() + src * A, e.num_positive_gt.begin() + (src + 1) * A,
                out.num_positive_gt.begin() + g * A);
    }
  });
  return out;
}

}  // namespace vrft::eval
