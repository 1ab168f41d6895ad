// Pairwise and paired IoU family: the multi-threaded, vectorised loops.
//
// The pairwise matrix is bound by writing its bytes (shared/research/kernels.md §4a, §5: a
// 2000 x 2000 float32 matrix takes ~0.8 ms just to fill).  So the loop here writes each output
// once, reads the column side from structure-of-arrays (x1[], y1[], x2[], y2[], area[], ...)
// built once per call, and keeps the per-element work branch-free so that g++ -O3 vectorises it
// (checked with -fopt-info-vec-optimized: all row kernels, in every clone, report "loop
// vectorized"; the IoU loop is 18 instructions per 16 float32 outputs with AVX-512).
#include "geometry/iou.h"

#include <algorithm>
#include <vector>

#include "common/thread_pool.h"
#include "geometry/box_math.h"

// x86-64 Linux builds get AVX-512 and AVX2 clones of each row kernel next to the baseline (SSE2)
// one; the loader picks one per CPU (ifunc).  All clones execute the same IEEE operations in the
// same order without FMA contraction (-ffp-contract=off in CMakeLists.txt: the AVX-512 clone
// has FMA, and g++ would otherwise fuse a * b + c and round once), so they give identical bits.
// Measured on the 2-core AMD EPYC VM, 1 thread, 2000 x 2000 float32: IoU 1.45 -> 1.1 ms and
// CIoU 3.6 -> 2.1 ms from AVX2 to AVX-512.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(VRFT_NO_TARGET_CLONES)
#define VRFT_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VRFT_SIMD_CLONES
#endif

#if defined(__GNUC__)
#define VRFT_ALWAYS_INLINE inline __attribute__((always_inline))
#define VRFT_RESTRICT __restrict__
#else
#define VRFT_ALWAYS_INLINE inline
#define VRFT_RESTRICT
#endif

namespace vrft {
namespace {

using geometry_detail::PreparedBox;

// The column (boxes2) side of a pairwise call as structure of arrays.  cx/cy are filled only
// for DIoU/CIoU, aspect/has_aspect only for CIoU.
template <typename T>
struct Columns {
  const T* x1;
  const T* y1;
  const T* x2;
  const T* y2;
  const T* area;
  const T* cx;
  const T* cy;
  const T* aspect;
  const T* has_aspect;
};

// Number of arrays in the column block, per kind.
inline int column_arrays(IouKind kind) {
  switch (kind) {
    case IouKind::kIoU:
    case IouKind::kGIoU:
      return 5;
    case IouKind::kDIoU:
      return 7;
    case IouKind::kCIoU:
    default:
      return 9;
  }
}

// Converts boxes2 into columns inside `storage` (column_arrays(kind) * m values).
template <typename T>
Columns<T> build_columns(const T* b, int64_t m, BoxFormat fmt, IouKind kind, T* storage) {
  const bool centre = geometry_detail::kind_needs_centre(kind);
  const bool with_aspect = geometry_detail::kind_needs_aspect(kind);
  T* x1 = storage;
  T* y1 = x1 + m;
  T* x2 = y1 + m;
  T* y2 = x2 + m;
  T* area = y2 + m;
  // Arrays the kind does not need are not part of `storage` (column_arrays): null, never read.
  T* cx = centre ? area + m : nullptr;
  T* cy = centre ? cx + m : nullptr;
  T* aspect = with_aspect ? cy + m : nullptr;
  T* has_aspect = with_aspect ? aspect + m : nullptr;
  for (int64_t j = 0; j < m; ++j) {
    const PreparedBox<T> p = geometry_detail::prepare_box(b + 4 * j, fmt, centre, with_aspect);
    x1[j] = p.x1;
    y1[j] = p.y1;
    x2[j] = p.x2;
    y2[j] = p.y2;
    area[j] = p.area;
    if (centre) {
      cx[j] = p.cx;
      cy[j] = p.cy;
    }
    if (with_aspect) {
      aspect[j] = p.aspect;
      has_aspect[j] = p.has_aspect;
    }
  }
  return {x1, y1, x2, y2, area, cx, cy, aspect, has_aspect};
}

// out[j] = K(a, column j) for j in [j0, j1).  `out` points at the start of the output row.
// The body has no branches: the kind is a template parameter and the edge-case rules are
// selects (box_math.h), so the loop vectorises.
template <typename T, IouKind K>
VRFT_ALWAYS_INLINE void row_loop(const PreparedBox<T>& a, const Columns<T>& c, int64_t j0,
                                 int64_t j1, T* VRFT_RESTRICT out) {
  namespace gd = geometry_detail;
  const T ax1 = a.x1, ay1 = a.y1, ax2 = a.x2, ay2 = a.y2, aarea = a.area;
  const T acx = a.cx, acy = a.cy, aaspect = a.aspect, ahas = a.has_aspect;
  const T* VRFT_RESTRICT bx1 = c.x1;
  const T* VRFT_RESTRICT by1 = c.y1;
  const T* VRFT_RESTRICT bx2 = c.x2;
  const T* VRFT_RESTRICT by2 = c.y2;
  const T* VRFT_RESTRICT barea = c.area;
  const T* VRFT_RESTRICT bcx = c.cx;
  const T* VRFT_RESTRICT bcy = c.cy;
  const T* VRFT_RESTRICT baspect = c.aspect;
  const T* VRFT_RESTRICT bhas = c.has_aspect;
  for (int64_t j = j0; j < j1; ++j) {
    T uni;
    const T iou =
        gd::pair_iou(ax1, ay1, ax2, ay2, aarea, bx1[j], by1[j], bx2[j], by2[j], barea[j], uni);
    if constexpr (K == IouKind::kIoU) {
      out[j] = iou;
    } else {
      T cw, ch;
      gd::pair_enclosing(ax1, ay1, ax2, ay2, bx1[j], by1[j], bx2[j], by2[j], cw, ch);
      if constexpr (K == IouKind::kGIoU) {
        out[j] = gd::pair_giou(iou, uni, cw, ch);
      } else {
        const T diou = gd::pair_diou(iou, cw, ch, acx, acy, bcx[j], bcy[j]);
        if constexpr (K == IouKind::kDIoU) {
          out[j] = diou;
        } else {
          out[j] = gd::pair_ciou(iou, diou, aaspect, baspect[j], ahas * bhas[j]);
        }
      }
    }
  }
}

// One task range of the pairwise matrix: tasks t in [t0, t1) are (row i, column block cb) with
// t = i * n_blocks + cb.  Row boxes are prepared here (scalar), then the vectorised row loop runs.
// Instantiated per (T, K) through the macro below so that each gets its own SIMD clones.
template <typename T, IouKind K>
VRFT_ALWAYS_INLINE void pairwise_tasks(const T* a, BoxFormat fmt, const Columns<T>& c, int64_t m,
                                       int64_t block, int64_t n_blocks, int64_t t0, int64_t t1,
                                       T* out) {
  constexpr bool centre = K == IouKind::kDIoU || K == IouKind::kCIoU;
  constexpr bool with_aspect = K == IouKind::kCIoU;
  int64_t last_row = -1;
  PreparedBox<T> row{};
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t i = t / n_blocks;
    const int64_t cb = t - i * n_blocks;
    if (i != last_row) {
      row = geometry_detail::prepare_box(a + 4 * i, fmt, centre, with_aspect);
      last_row = i;
    }
    const int64_t j0 = cb * block;
    const int64_t j1 = std::min(m, j0 + block);
    row_loop<T, K>(row, c, j0, j1, out + i * m);
  }
}

#define VRFT_PAIRWISE_KERNEL(NAME, T, K)                                                        \
  VRFT_SIMD_CLONES void NAME(const T* a, BoxFormat fmt, const Columns<T>& c, int64_t m,         \
                             int64_t block, int64_t n_blocks, int64_t t0, int64_t t1, T* out) { \
    pairwise_tasks<T, K>(a, fmt, c, m, block, n_blocks, t0, t1, out);                           \
  }

VRFT_PAIRWISE_KERNEL(pairwise_iou_f32, float, IouKind::kIoU)
VRFT_PAIRWISE_KERNEL(pairwise_giou_f32, float, IouKind::kGIoU)
VRFT_PAIRWISE_KERNEL(pairwise_diou_f32, float, IouKind::kDIoU)
VRFT_PAIRWISE_KERNEL(pairwise_ciou_f32, float, IouKind::kCIoU)
VRFT_PAIRWISE_KERNEL(pairwise_iou_f64, double, IouKind::kIoU)
VRFT_PAIRWISE_KERNEL(pairwise_giou_f64, double, IouKind::kGIoU)
VRFT_PAIRWISE_KERNEL(pairwise_diou_f64, double, IouKind::kDIoU)
VRFT_PAIRWISE_KERNEL(pairwise_ciou_f64, double, IouKind::kCIoU)

#undef VRFT_PAIRWISE_KERNEL

template <typename T>
using PairwiseKernel = void (*)(const T*, BoxFormat, const Columns<T>&, int64_t, int64_t, int64_t,
                                int64_t, int64_t, T*);

template <typename T>
PairwiseKernel<T> pairwise_kernel(IouKind kind);

template <>
PairwiseKernel<float> pairwise_kernel<float>(IouKind kind) {
  switch (kind) {
    case IouKind::kGIoU:
      return &pairwise_giou_f32;
    case IouKind::kDIoU:
      return &pairwise_diou_f32;
    case IouKind::kCIoU:
      return &pairwise_ciou_f32;
    case IouKind::kIoU:
    default:
      return &pairwise_iou_f32;
  }
}

template <>
PairwiseKernel<double> pairwise_kernel<double>(IouKind kind) {
  switch (kind) {
    case IouKind::kGIoU:
      return &pairwise_giou_f64;
    case IouKind::kDIoU:
      return &pairwise_diou_f64;
    case IouKind::kCIoU:
      return &pairwise_ciou_f64;
    case IouKind::kIoU:
    default:
      return &pairwise_iou_f64;
  }
}

// Columns of at most this many boxes live on the stack: the matching code calls pairwise_iou
// once per small problem (<= ~20 x 10) from inside pool workers, where a heap allocation per
// call would cost more than the matrix.
constexpr int64_t kStackColumns = 64;
// Output elements below which a call is not worth waking the pool (~10 us of work).
constexpr int64_t kMinParallelWork = 32768;
// Column block of one task: rows narrower than this are one task each; wider rows (e.g. 4 x 1e6)
// are cut so that the threads still share the work.
constexpr int64_t kColumnBlock = 8192;

template <typename T, IouKind K>
void paired_loop(const T* a, const T* b, int64_t begin, int64_t end, BoxFormat fmt, T* out) {
  constexpr bool centre = K == IouKind::kDIoU || K == IouKind::kCIoU;
  constexpr bool with_aspect = K == IouKind::kCIoU;
  for (int64_t i = begin; i < end; ++i) {
    const PreparedBox<T> pa = geometry_detail::prepare_box(a + 4 * i, fmt, centre, with_aspect);
    const PreparedBox<T> pb = geometry_detail::prepare_box(b + 4 * i, fmt, centre, with_aspect);
    out[i] = geometry_detail::pair_value(pa, pb, K);
  }
}

}  // namespace

template <typename T>
void pairwise_iou(const T* a, int64_t n, const T* b, int64_t m, BoxFormat fmt, IouKind kind,
                  T* out) {
  if (n <= 0 || m <= 0) return;  // an empty matrix has nothing to write
  const int64_t arrays = column_arrays(kind);
  T stack_storage[9 * kStackColumns];
  std::vector<T> heap_storage;
  T* storage = stack_storage;
  if (m > kStackColumns) {
    heap_storage.resize(static_cast<size_t>(arrays * m));
    storage = heap_storage.data();
  }
  const Columns<T> columns = build_columns(b, m, fmt, kind, storage);
  const PairwiseKernel<T> kernel = pairwise_kernel<T>(kind);

  const int64_t block = std::min(m, kColumnBlock);
  const int64_t n_blocks = (m + block - 1) / block;
  const int64_t tasks = n * n_blocks;
  // n * m <= kMinParallelWork means tasks <= grain: parallel_for runs it serially.
  const int64_t grain = std::max<int64_t>(1, kMinParallelWork / block);
  parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    kernel(a, fmt, columns, m, block, n_blocks, t0, t1, out);
  });
}

template <typename T>
void paired_iou(const T* a, const T* b, int64_t n, BoxFormat fmt, IouKind kind, T* out) {
  if (n <= 0) return;
  parallel_for(n, kMinParallelWork / 8, [&](int64_t begin, int64_t end) {
    switch (kind) {
      case IouKind::kGIoU:
        paired_loop<T, IouKind::kGIoU>(a, b, begin, end, fmt, out);
        break;
      case IouKind::kDIoU:
        paired_loop<T, IouKind::kDIoU>(a, b, begin, end, fmt, out);
        break;
      case IouKind::kCIoU:
        paired_loop<T, IouKind::kCIoU>(a, b, begin, end, fmt, out);
        break;
      case IouKind::kIoU:
      default:
        paired_loop<T, IouKind::kIoU>(a, b, begin, end, fmt, out);
        break;
    }
  });
}

template void pairwise_iou<float>(const float*, int64_t, const float*, int64_t, BoxFormat, IouKind,
                                  float*);
template void pairwise_iou<double>(const double*, int64_t, const double*, int64_t, BoxFormat,
                                   IouKind, double*);
template void paired_iou<float>(const float*, const float*, int64_t, BoxFormat, IouKind, float*);
template void paired_iou<double>(const double*, const double*, int64_t, BoxFormat, IouKind,
                                 double*);

}  // namespace vrft
