#include "masks/mask_iou.h"

#include <algorithm>
#include <cmath>

namespace vrft::masks {
namespace {}  // namespace

// maskApi bbIou for one pair: the value rleIou starts from (only `> 0` matters afterwards).
double mask_box_iou(const double* d, const double* g, bool crowd) {
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0.0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0.0;
  const double i = w * h, da = d[2] * d[3], ga = g[2] * g[3];
  const double u = crowd ? da : da + ga - i;
  return i / u;
}

namespace {

// Pixels in both masks, restricted to [lo, hi) (all shared pixels lie in the shared columns).
int64_t intersect(const std::vector<Interval>& a, const std::vector<Interval>& b, int64_t lo,
                  int64_t hi) {
  auto first_reaching = [lo](const std::vector<Interval>& v) {
    return std::upper_bound(v.begin(), v.end(), lo,
                            [](int64_t x, const Interval& iv) { return x < iv.end; });
  };
  auto ia = first_reaching(a), ib = first_reaching(b);
  int64_t total = 0;
  while (ia != a.end() && ib != b.end() && ia->begin < hi && ib->begin < hi) {
    const int64_t s = std::max(ia->begin, ib->begin), e = std::min(ia->end, ib->end);
    if (e > s) total += e - s;
    if (ia->end < ib->end) {
      ++ia;
    } else {
      ++ib;
    }
  }
  return total;
}

// rleIou's walk over the raw counts, line for line (uint arithmetic, early stop included).
void walk(const std::vector<uint32_t>& da, const std::vector<uint32_t>& db, uint32_t* inter,
          uint32_t* uni) {
  const size_t ka = da.size(), kb = db.size();
  uint32_t ca = ka ? da[0] : 0, cb = kb ? db[0] : 0;
  bool va = false, vb = false;
  size_t a = 1, b = 1;
  uint32_t i = 0, u = 0, ct = 1;
  while (ct > 0) {
    const uint32_t c = std::min(ca, cb);
    if (va || vb) {
      u += c;
      if (va && vb) i += c;
    }
    ct = 0;
    ca -= c;
    if (!ca && a < ka) {
      ca = da[a++];
      va = !va;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < kb) {
      cb = db[b++];
      vb = !vb;
    }
    ct += cb;
  }
  *inter = i;
  *uni = u;
}

// The raw counts of a canonical mask (what pycocotools holds for it): zeros, ones, ... .
void counts_of(const MaskRuns& m, std::vector<uint32_t>& out) {
  out.clear();
  int64_t at = 0;
  for (const Interval& iv : m.ones) {
    out.push_back(static_cast<uint32_t>(iv.begin - at));
    out.push_back(static_cast<uint32_t>(iv.end - iv.begin));
    at = iv.end;
  }
  out.push_back(static_cast<uint32_t>(m.height * m.width - at));
}

}  // namespace

double mask_iou(const MaskRuns& dt, const MaskRuns& gt, bool crowd) {
  const double o = mask_box_iou(dt.box, gt.box, crowd);
  if (!(o > 0)) return o;
  if (dt.height != gt.height || dt.width != gt.width) return -1.0;
  uint32_t i, u;
  if (dt.irregular || gt.irregular) {
    thread_local std::vector<uint32_t> ca, cb;
    if (!dt.irregular) counts_of(dt, ca);
    if (!gt.irregular) counts_of(gt, cb);
    walk(dt.irregular ? dt.counts : ca, gt.irregular ? gt.counts : cb, &i, &u);
  } else {
    // Overlapping boxes of canonical masks: both are tight, so the shared pixels lie in the
    // columns [max(xs), min(xe)] (box x and w are exact integers in double).
    const int64_t h = dt.height;
    const int64_t x0 = static_cast<int64_t>(std::max(dt.box[0], gt.box[0]));
    const int64_t x1 =
        static_cast<int64_t>(std::min(dt.box[0] + dt.box[2], gt.box[0] + gt.box[2]));  // exclusive
    const int64_t shared = intersect(dt.ones, gt.ones, x0 * h, x1 * h);
    i = static_cast<uint32_t>(shared);
    u = static_cast<uint32_t>(static_cast<int64_t>(dt.area) + gt.area - shared);
  }
  if (i == 0) {
    u = 1;
  } else if (crowd) {
    u = dt.area;
  }
  return static_cast<double>(i) / static_cast<double>(u);
}

}  // namespace vrft::masks
