// _C bindings of the engine's non-box IoU sources: the SegmArena of a dataset's segmentations
// (iouType "segm": csrc/masks/segm_arena.h, mask_iou.h) and the two native passes of the keypoint
// OKS around numpy's exp (csrc/eval/oks.h).
//
// segm_arena reads the Python segmentations (lists of polygons, {"size", "counts"} dicts with
// list or str / bytes counts) with the GIL held and copies them into the arena; a segmentation
// pycocotools cannot evaluate raises ValueError naming the record.  The other functions check
// their arrays with the GIL held and release it for the computation, which reads only those
// arrays and C++ objects held by this frame.
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "bindings/eval_state.h"
#include "common/thread_pool.h"
#include "eval/oks.h"

namespace vrft::bindings {
namespace {

using vrft::masks::SegmArena;

// A Python number as a double ("" or why not).
std::string number(const py::handle& v, double* out) {
  if (PyFloat_Check(v.ptr())) {
    *out = PyFloat_AS_DOUBLE(v.ptr());
    return "";
  }
  if (PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr())) return "a string is not a number";
  PyObject* f = PyNumber_Float(v.ptr());
  if (!f) {
    PyErr_Clear();
    return "a " + py::str(py::type::of(v)).cast<std::string>() + " is not a number";
  }
  *out = PyFloat_AS_DOUBLE(f);
  Py_DECREF(f);
  return "";
}

// A Python integer (or a float holding one) as int64 ("" or why not).
std::string integer(const py::handle& v, int64_t* out) {
  if (PyLong_Check(v.ptr())) {
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    return overflow ? "an integer beyond int64" : "";
  }
  double d;
  if (!number(v, &d).empty() || !(std::floor(d) == d) || std::fabs(d) > 9.0e15) {
    return "counts and sizes must be integers";
  }
  *out = static_cast<int64_t>(d);
  return "";
}

struct Buffers {
  std::vector<double> coords;
  std::vector<int64_t> lengths, counts;
};

// Polygons as COCO.annToRLE takes them: frPyObjects dispatches on the first polygon only.
std::string add_polygons(SegmArena& arena, const py::sequence& polys, int64_t h, int64_t w,
                         Buffers& buf) {
  const size_t n = py::len(polys);
  if (n == 0) return "an empty polygon list (pycocotools raises IndexError)";
  buf.coords.clear();
  buf.lengths.clear();
  for (size_t p = 0; p < n; ++p) {
    py::handle poly = polys[p];
    if (PyDict_Check(poly.ptr())) return "a list of RLE dicts is not supported (give one RLE)";
    if (!PySequence_Check(poly.ptr()) || PyUnicode_Check(poly.ptr()) || PyBytes_Check(poly.ptr())) {
      return "polygon " + std::to_string(p) + " must be a list of numbers x1, y1, x2, y2, ...";
    }
    py::sequence seq = py::reinterpret_borrow<py::sequence>(poly);
    const int64_t len = static_cast<int64_t>(py::len(seq));
    if (p == 0 && len == 4) {
      return "the first polygon has 4 coordinates: pycocotools reads it as a box and fails";
    }
    if (p == 0 && len < 4) {
      return "the first polygon has fewer than 3 points (pycocotools: 'input type is not "
             "supported')";
    }
    for (int64_t c = 0; c < len; ++c) {
      double v;
      std::string why = number(seq[static_cast<size_t>(c)], &v);
      if (!why.empty()) return "polygon " + std::to_string(p) + ": " + why;
      buf.coords.push_back(v);
    }
    buf.lengths.push_back(len);
  }
  if (h < 0 || w < 0) return "the image has no 'height' / 'width' (needed for polygons)";
  return arena.add_polygons(h, w, buf.coords.data(), buf.lengths.data(),
                            static_cast<int64_t>(buf.lengths.size()));
}

std::string add_rle(SegmArena& arena, const py::dict& rle, Buffers& buf) {
  if (!rle.contains("counts") || !rle.contains("size")) {
    return "an RLE needs 'size' and 'counts'";
  }
  py::object size = rle["size"];
  if (!PySequence_Check(size.ptr()) || py::len(size) != 2) return "'size' must be [height, width]";
  int64_t hw[2];
  for (size_t k = 0; k < 2; ++k) {
    std::string why = integer(py::sequence(size)[k], &hw[k]);
    if (!why.empty()) return "'size': " + why;
  }
  py::object counts = rle["counts"];
  if (PyUnicode_Check(counts.ptr())) {
    return arena.add_string(hw[0], hw[1], counts.cast<std::string>());
  }
  if (PyBytes_Check(counts.ptr())) {
    return arena.add_string(hw[0], hw[1], std::string_view(py::bytes(counts)));
  }
  if (!PySequence_Check(counts.ptr())) {
    return "'counts' must be a compressed RLE string or a list of run lengths";
  }
  py::sequence seq = py::reinterpret_borrow<py::sequence>(counts);
  buf.counts.resize(py::len(seq));
  for (size_t j = 0; j < buf.counts.size(); ++j) {
    std::string why = integer(seq[j], &buf.counts[j]);
    if (!why.empty()) return "'counts': " + why;
  }
  return arena.add_counts(hw[0], hw[1], buf.counts.data(), static_cast<int64_t>(buf.counts.size()));
}

// segs[i]: a segmentation, or None to use loadRes' box polygon of boxes[i] (x, y, w, h):
// [[x1, y1, x1, y2, x2, y2, x2, y1]] with x2 = x1 + w, y2 = y1 + h.
std::shared_ptr<PySegmArena> segm_arena(const py::list& segs, const py::handle& heights_obj,
                                        const py::handle& widths_obj, const py::object& boxes_obj,
                                        const std::string& where) {
  const int64_t n = static_cast<int64_t>(py::len(segs));
  auto heights = require_column<int64_t>(heights_obj, "heights", n);
  auto widths = require_column<int64_t>(widths_obj, "widths", n);
  py::array_t<double> boxes;
  if (!boxes_obj.is_none()) boxes = require_column<double>(boxes_obj, "boxes", n, 4);
  auto out = std::make_shared<PySegmArena>();
  Buffers buf;
  for (int64_t i = 0; i < n; ++i) {
    py::handle seg = segs[static_cast<size_t>(i)];
    const int64_t h = heights.data()[i], w = widths.data()[i];
    std::string why;
    if (seg.is_none()) {
      if (!boxes) {
        why = "no segmentation";
      } else {
        const double* b = boxes.data() + 4 * i;
        const double x1 = b[0], y1 = b[1], x2 = b[0] + b[2], y2 = b[1] + b[3];
        const double poly[8] = {x1, y1, x1, y2, x2, y2, x2, y1};
        const int64_t len = 8;
        why = h < 0 || w < 0 ? std::string("the image has no 'height' / 'width'")
                             : out->arena.add_polygons(h, w, poly, &len, 1);
      }
    } else if (PyDict_Check(seg.ptr())) {
      why = add_rle(out->arena, py::reinterpret_borrow<py::dict>(seg), buf);
    } else if (PyList_Check(seg.ptr()) || PyTuple_Check(seg.ptr())) {
      why = add_polygons(out->arena, py::reinterpret_borrow<py::sequence>(seg), h, w, buf);
    } else {
      why = "must be a list of polygons or an RLE dict {'size', 'counts'}, got " +
            py::str(py::type::of(seg)).cast<std::string>();
    }
    if (!why.empty()) {
      throw std::invalid_argument(where + "[" + std::to_string(i) + "]['segmentation']: " + why);
    }
  }
  return out;
}

// loadRes' segm branch: (area int64, bbox (n, 4)) of every mask.
py::tuple segm_area_box(const PySegmArena& masks) {
  const SegmArena& arena = masks.arena;
  const int64_t n = arena.size();
  py::array_t<int64_t> area(n);
  py::array_t<double> box({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(4)});
  int64_t* a = area.mutable_data();
  double* b = box.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(n, 64, [&](int64_t begin, int64_t end) {
      SegmArena::Scratch scratch;
      vrft::masks::MaskRuns runs;
      for (int64_t i = begin; i < end; ++i) {
        vrft::masks::mask_area_and_box(arena, i, a + i, b + 4 * i, scratch, runs);
      }
    });
  }
  return py::make_tuple(area, box);
}

// Pickle: (version, kind, height, width, begin, end, polygon_coords, coords, counts, bytes).
constexpr int kArenaVersion = 1;

py::tuple arena_getstate(const PySegmArena& m) {
  SegmArena::Flat f = m.arena.flat();
  return py::make_tuple(kArenaVersion, to_numpy(f.kind), to_numpy(f.height), to_numpy(f.width),
                        to_numpy(f.begin), to_numpy(f.end), to_numpy(f.polygon_coords),
                        to_numpy(f.coords), to_numpy(f.counts), py::bytes(f.bytes));
}

template <typename T>
std::vector<T> vector_of(const py::handle& obj, const char* what) {
  auto arr = require_array<T>(obj, what);
  if (arr.ndim() != 1) throw std::invalid_argument(std::string(what) + " must be 1-D");
  return std::vector<T>(arr.data(), arr.data() + arr.shape(0));
}

std::shared_ptr<PySegmArena> arena_setstate(const py::tuple& t) {
  if (t.size() != 10 || t[0].cast<int>() != kArenaVersion) {
    throw std::invalid_argument("SegmArena pickle of another version or layout");
  }
  SegmArena::Flat f;
  f.kind = vector_of<uint8_t>(t[1], "kind");
  f.height = vector_of<int64_t>(t[2], "height");
  f.width = vector_of<int64_t>(t[3], "width");
  f.begin = vector_of<int64_t>(t[4], "begin");
  f.end = vector_of<int64_t>(t[5], "end");
  f.polygon_coords = vector_of<int64_t>(t[6], "polygon_coords");
  f.coords = vector_of<double>(t[7], "coords");
  f.counts = vector_of<uint32_t>(t[8], "counts");
  f.bytes = t[9].cast<std::string>();
  auto out = std::make_shared<PySegmArena>();
  out->arena = SegmArena::from_flat(std::move(f));
  return out;
}

// ---- keypoints --------------------------------------------------------------------------------

// values[i]: a flat list of 3K numbers x, y, v.  Returns (rows x 3K float64, integral per row):
// `integral` says numpy would hold the row as int64 (every value a Python int), which changes
// how computeOks rounds dx**2 + dy**2 (see csrc/eval/oks.cpp).
py::tuple keypoint_rows(const py::list& values, int64_t K, const std::string& where) {
  const int64_t n = static_cast<int64_t>(py::len(values));
  py::array_t<double> xyv({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(3 * K)});
  py::array_t<uint8_t> integral(n);
  double* out = xyv.mutable_data();
  uint8_t* flags = integral.mutable_data();
  auto fail = [&](int64_t i, const std::string& why) {
    throw std::invalid_argument(where + "[" + std::to_string(i) + "]['keypoints']: " + why);
  };
  for (int64_t i = 0; i < n; ++i) {
    py::handle row = values[static_cast<size_t>(i)];
    if (!PySequence_Check(row.ptr()) || PyUnicode_Check(row.ptr()) || PyBytes_Check(row.ptr())) {
      fail(i, "must be a flat list of numbers x1, y1, v1, x2, ...");
    }
    py::sequence seq = py::reinterpret_borrow<py::sequence>(row);
    if (static_cast<int64_t>(py::len(seq)) != 3 * K) {
      fail(i, "has " + std::to_string(py::len(seq)) + " values, expected 3 * " + std::to_string(K) +
                  " (one x, y, v per sigma of kpt_oks_sigmas)");
    }
    bool ints = true;
    for (int64_t c = 0; c < 3 * K; ++c) {
      py::handle v = seq[static_cast<size_t>(c)];
      double d;
      if (PyLong_Check(v.ptr())) {
        int overflow = 0;
        const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
        if (overflow || x > (int64_t{1} << 53) || x < -(int64_t{1} << 53)) {
          fail(i, "an integer coordinate beyond 2**53");
        }
        d = static_cast<double>(x);
      } else {
        ints = false;
        std::string why = number(v, &d);
        if (!why.empty()) fail(i, why);
      }
      if (!std::isfinite(d)) fail(i, "values must be finite");
      out[i * 3 * K + c] = d;
    }
    flags[i] = ints ? 1 : 0;
  }
  return py::make_tuple(xyv, integral);
}

py::tuple oks_exponents(const PyEvaluation& plan, const py::handle& vars_obj,
                        const py::handle& gt_kps_obj, const py::handle& gt_int_obj,
                        const py::handle& gt_box_obj, const py::handle& gt_area_obj,
                        const py::handle& dt_kps_obj, const py::handle& dt_int_obj) {
  auto vars = require_array<double>(vars_obj, "vars");
  if (vars.ndim() != 1) throw std::invalid_argument("vars must be 1-D");
  const int64_t K = vars.shape(0);
  auto gt_kps = require_array<double>(gt_kps_obj, "gt keypoints");
  auto dt_kps = require_array<double>(dt_kps_obj, "detection keypoints");
  if (gt_kps.ndim() != 2 || gt_kps.shape(1) != 3 * K || dt_kps.ndim() != 2 ||
      dt_kps.shape(1) != 3 * K) {
    throw std::invalid_argument("keypoints must have shape (rows, 3 * len(vars))");
  }
  const int64_t ng = gt_kps.shape(0), nd = dt_kps.shape(0);
  auto gt_int = require_column<uint8_t>(gt_int_obj, "gt integral", ng);
  auto dt_int = require_column<uint8_t>(dt_int_obj, "detection integral", nd);
  auto gt_box = require_column<double>(gt_box_obj, "gt box", ng, 4);
  auto gt_area = require_column<double>(gt_area_obj, "gt area", ng);
  const auto& ev = plan.ev;
  for (const int64_t r : ev.gt_index) {
    if (r < 0 || r >= ng) throw std::invalid_argument("plan GT row outside the keypoint rows");
  }
  for (const int64_t r : ev.dt_index) {
    if (r < 0 || r >= nd) throw std::invalid_argument("plan detection row outside the rows");
  }
  vrft::eval::OksInputs in;
  in.num_keypoints = K;
  in.vars = vars.data();
  in.gt = {gt_kps.data(), gt_int.data()};
  in.dt = {dt_kps.data(), dt_int.data()};
  in.gt_box = gt_box.data();
  in.gt_area = gt_area.data();
  std::vector<double> neg_e;
  std::vector<int32_t> counts;
  {
    py::gil_scoped_release release;
    vrft::eval::oks_exponents(ev, in, neg_e, counts);
  }
  return py::make_tuple(to_numpy(neg_e), to_numpy(counts));
}

py::array_t<double> oks_reduce(const py::handle& values_obj, const py::handle& counts_obj) {
  auto values = require_array<double>(values_obj, "values");
  auto counts = require_array<int32_t>(counts_obj, "counts");
  if (values.ndim() != 1 || counts.ndim() != 1) {
    throw std::invalid_argument("values and counts must be 1-D");
  }
  auto out = new_array<double>(counts.shape(0));
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    vrft::eval::oks_reduce(values.data(), values.shape(0), counts.data(), counts.shape(0), o);
  }
  return out;
}

}  // namespace

void bind_shapes(py::module_& m) {
  py::class_<PySegmArena, std::shared_ptr<PySegmArena>>(m, "SegmArena")
      .def("__len__", [](const PySegmArena& a) { return a.arena.size(); })
      .def(py::pickle(&arena_getstate, &arena_setstate));
  m.def("segm_arena", &segm_arena, py::arg("segmentations"), py::arg("heights"), py::arg("widths"),
        py::arg("boxes"), py::arg("where"));
  m.def("segm_area_box", &segm_area_box, py::arg("masks"));
  m.def("keypoint_rows", &keypoint_rows, py::arg("values"), py::arg("num_keypoints"),
        py::arg("where"));
  m.def("oks_exponents", &oks_exponents, py::arg("plan"), py::arg("vars"), py::arg("gt_keypoints"),
        py::arg("gt_integral"), py::arg("gt_box"), py::arg("gt_area"), py::arg("dt_keypoints"),
        py::arg("dt_integral"));
  m.def("oks_reduce", &oks_reduce, py::arg("values"), py::arg("counts"));
}

}  // namespace vrft::bindings
