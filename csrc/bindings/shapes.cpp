// _C bindings of the engine's masks (iouType "segm"): the SegmArena of a dataset's segmentations
// (csrc/masks/segm_arena.h, mask_iou.h) and loadRes' area / box of masks.
//
// segm_arena reads the Python segmentations (lists of polygons, {"size", "counts"} dicts with
// list or str / bytes counts) with the GIL held and copies them into the arena; a segmentation
// pycocotools cannot evaluate raises ValueError naming the record.  The other functions check
// their arguments with the GIL held and release it for the computation, which reads only those
// arrays / bytes and C++ objects held by this frame.
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
#include "bindings/pyvalues.h"
#include "common/thread_pool.h"

namespace vrft::bindings {
namespace {

using pyvalues::integer;
using pyvalues::is_text;
using pyvalues::Items;
using pyvalues::number;
using vrft::masks::SegmArena;

struct Buffers {
  std::vector<double> coords;
  std::vector<int64_t> lengths, counts;
};

// Polygons as COCO.annToRLE takes them: frPyObjects dispatches on the first polygon only.
std::string add_polygons(SegmArena& arena, PyObject* polys, int64_t h, int64_t w, Buffers& buf) {
  Items items(polys);
  const Py_ssize_t n = items.size();
  if (n == 0) return "an empty polygon list (pycocotools raises IndexError)";
  buf.coords.clear();
  buf.lengths.clear();
  for (Py_ssize_t p = 0; p < n; ++p) {
    PyObject* poly = items[p];
    if (PyDict_Check(poly)) return "a list of RLE dicts is not supported (give one RLE)";
    const std::string which = "polygon " + std::to_string(p);
    if (!PySequence_Check(poly) || is_text(poly)) {
      return which + " must be a list of numbers x1, y1, x2, y2, ...";
    }
    Items coords(poly);
    if (!coords.ok()) return which + " must be a list of numbers x1, y1, x2, y2, ...";
    const Py_ssize_t len = coords.size();
    if (p == 0 && len == 4) {
      return "the first polygon has 4 coordinates: pycocotools reads it as a box and fails";
    }
    if (p == 0 && len < 4) {
      return "the first polygon has fewer than 3 points (pycocotools: 'input type is not "
             "supported')";
    }
    for (Py_ssize_t c = 0; c < len; ++c) {
      double v;
      std::string why = number(coords[c], &v);
      if (!why.empty()) return which + ": " + why;
      buf.coords.push_back(v);
    }
    buf.lengths.push_back(len);
  }
  if (h < 0 || w < 0) return "the image has no 'height' / 'width' (needed for polygons)";
  return arena.add_polygons(h, w, buf.coords.data(), buf.lengths.data(),
                            static_cast<int64_t>(buf.lengths.size()));
}

std::string add_rle(SegmArena& arena, PyObject* rle, Buffers& buf) {
  PyObject* counts = PyDict_GetItemString(rle, "counts");  // borrowed
  PyObject* size = PyDict_GetItemString(rle, "size");
  if (!counts || !size) return "an RLE needs 'size' and 'counts'";
  Items hw_items(size);
  if (!hw_items.ok() || is_text(size) || hw_items.size() != 2)
    return "'size' must be [height, width]";
  int64_t hw[2];
  for (Py_ssize_t k = 0; k < 2; ++k) {
    std::string why = integer(hw_items[k], &hw[k]);
    if (!why.empty()) return "'size': " + why;
  }
  if (PyUnicode_Check(counts)) {
    Py_ssize_t len = 0;
    const char* text = PyUnicode_AsUTF8AndSize(counts, &len);
    if (!text) {
      PyErr_Clear();
      return "'counts' is not valid text";
    }
    return arena.add_string(hw[0], hw[1], std::string_view(text, static_cast<size_t>(len)));
  }
  if (PyBytes_Check(counts)) {
    return arena.add_string(
        hw[0], hw[1],
        std::string_view(PyBytes_AS_STRING(counts), static_cast<size_t>(PyBytes_GET_SIZE(counts))));
  }
  Items items(counts);
  if (!items.ok()) return "'counts' must be a compressed RLE string or a list of run lengths";
  buf.counts.resize(static_cast<size_t>(items.size()));
  for (Py_ssize_t j = 0; j < items.size(); ++j) {
    std::string why = integer(items[j], &buf.counts[static_cast<size_t>(j)]);
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
      why = add_rle(out->arena, seg.ptr(), buf);
    } else if (PyList_Check(seg.ptr()) || PyTuple_Check(seg.ptr())) {
      why = add_polygons(out->arena, seg.ptr(), h, w, buf);
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

}  // namespace

void bind_shapes(py::module_& m) {
  py::class_<PySegmArena, std::shared_ptr<PySegmArena>>(m, "SegmArena")
      .def("__len__", [](const PySegmArena& a) { return a.arena.size(); })
      .def(py::pickle(&arena_getstate, &arena_setstate));
  m.def("segm_arena", &segm_arena, py::arg("segmentations"), py::arg("heights"), py::arg("widths"),
        py::arg("boxes"), py::arg("where"));
  m.def("segm_area_box", &segm_area_box, py::arg("masks"));
}

}  // namespace vrft::bindings
