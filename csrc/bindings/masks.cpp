// _C bindings of csrc/masks/: the MaskSet of a batch of ground-truth masks (grounding gIoU /
// cIoU), its overlaps with predicted boxes, and two helpers the tests compare with pycocotools.
//
// The Python layer turns every sample's segmentation into compressed-RLE pieces (pycocotools
// rasterises polygons); these bindings decode and unite them once and compute the paired
// overlaps with predicted boxes without the GIL.  Pattern (args.h, "Caller memory and the GIL"):
// sizes, offsets and polygon coordinates are copied and checked on the copies, and the RLE bytes
// are viewed through a tuple snapshot of the list (which holds them), all with the GIL held; the
// GIL is then released for the decoding, which reads only those.  box_overlap reads the boxes and
// flags in place: every value, changing at any time, rasterises to a box clamped to the image.
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "masks/mask_set.h"
#include "masks/polygon.h"
#include "masks/rle.h"

namespace vrft::bindings {
namespace {

struct PyMaskSet {
  vrft::masks::MaskSet set;
};

std::shared_ptr<PyMaskSet> make_mask_set(const py::handle& heights_obj,
                                         const py::handle& widths_obj, const py::list& rle,
                                         const py::handle& rle_offsets_obj,
                                         const py::handle& coords_obj,
                                         const py::handle& coord_offsets_obj,
                                         const py::handle& polygon_offsets_obj) {
  auto heights_arr = require_array<int64_t>(heights_obj, "heights");
  auto widths_arr = require_array<int64_t>(widths_obj, "widths");
  if (heights_arr.ndim() != 1 || widths_arr.ndim() != 1 ||
      widths_arr.shape(0) != heights_arr.shape(0)) {
    throw std::invalid_argument("heights and widths must be 1-D arrays of the same length");
  }
  const std::vector<int64_t> heights = owned(heights_arr), widths = owned(widths_arr);
  const auto n = static_cast<int64_t>(heights.size());
  auto coords_arr = require_array<double>(coords_obj, "coords");
  if (coords_arr.ndim() != 1) throw std::invalid_argument("coords must be 1-D");
  const std::vector<double> coords = owned(coords_arr);
  const py::tuple pieces(rle);  // holds every bytes object while the GIL is released
  const std::vector<int64_t> rle_offsets = require_offsets(
      rle_offsets_obj, "rle_offsets", n, static_cast<int64_t>(pieces.size()), "rle");
  auto coord_offsets_arr = require_array<int64_t>(coord_offsets_obj, "coord_offsets");
  if (coord_offsets_arr.ndim() != 1 || coord_offsets_arr.shape(0) < 1) {
    throw std::invalid_argument("coord_offsets must have shape (P + 1,)");
  }
  const int64_t num_polygons = coord_offsets_arr.shape(0) - 1;
  const std::vector<int64_t> coord_offsets =
      require_offsets(coord_offsets_obj, "coord_offsets", num_polygons,
                      static_cast<int64_t>(coords.size()), "coords");
  const std::vector<int64_t> polygon_offsets = require_offsets(
      polygon_offsets_obj, "polygon_offsets", n, num_polygons, "coord_offsets[:-1]");
  for (int64_t i = 0; i < n; ++i) {
    const int64_t h = heights[i], w = widths[i];
    if (h <= 0 || w <= 0) {
      throw std::invalid_argument("heights[" + std::to_string(i) + "] and widths[" +
                                  std::to_string(i) + "] must be positive");
    }
    if (h > (int64_t{1} << 24) || w > (int64_t{1} << 24)) {
      throw std::invalid_argument("mask " + std::to_string(i) +
                                  " is larger than 2**24 pixels a side");
    }
    const double limit = vrft::masks::polygon_coordinate_limit(h, w);
    for (int64_t p = polygon_offsets[i]; p < polygon_offsets[i + 1]; ++p) {
      const int64_t c0 = coord_offsets[p], c1 = coord_offsets[p + 1];
      if ((c1 - c0) % 2) {
        throw std::invalid_argument("polygon " + std::to_string(p) +
                                    " has an odd number of coordinates");
      }
      for (int64_t c = c0; c < c1; ++c) {
        if (!(std::fabs(coords[c]) <= limit)) {
          throw std::invalid_argument(
              "polygon " + std::to_string(p) + " of mask " + std::to_string(i) +
              " has a coordinate that is not finite or lies far outside the image");
        }
      }
    }
  }
  // Views into the bytes objects, which the snapshot keeps alive for the whole call.
  std::vector<std::string_view> views;
  views.reserve(pieces.size());
  for (const py::handle& piece : pieces) {
    if (!PyBytes_Check(piece.ptr())) {
      throw py::type_error("rle must be a list of bytes (compressed RLE counts)");
    }
    views.emplace_back(PyBytes_AS_STRING(piece.ptr()),
                       static_cast<size_t>(PyBytes_GET_SIZE(piece.ptr())));
  }
  vrft::masks::MaskSources src;
  src.num_samples = n;
  src.heights = heights.data();
  src.widths = widths.data();
  src.rle = &views;
  src.rle_offsets = rle_offsets.data();
  src.coords = coords.data();
  src.coord_offsets = coord_offsets.data();
  src.polygon_offsets = polygon_offsets.data();
  auto out = std::make_shared<PyMaskSet>();
  py::gil_scoped_release release;  // only the owned copies and the views held above are read
  out->set = vrft::masks::decode_mask_set(src);
  return out;
}

py::tuple mask_set_box_overlap(const PyMaskSet& s, const py::handle& boxes_obj,
                               const py::handle& valid_obj) {
  const auto n = static_cast<py::ssize_t>(s.set.masks.size());
  auto boxes = require_array<double>(boxes_obj, "boxes");
  require_boxes_shape(boxes, "boxes");
  auto valid = require_array<uint8_t>(valid_obj, "valid");
  if (boxes.shape(0) != n || valid.ndim() != 1 || valid.shape(0) != n) {
    throw std::invalid_argument("boxes and valid must have one row per mask (" + std::to_string(n) +
                                ")");
  }
  py::array_t<int64_t> inter(n), uni(n);
  int64_t* pi = inter.mutable_data();
  int64_t* pu = uni.mutable_data();
  {
    py::gil_scoped_release release;
    vrft::masks::box_overlaps(s.set, boxes.data(), valid.data(), pi, pu);
  }
  return py::make_tuple(inter, uni);
}

py::array_t<int64_t> mask_set_area(const PyMaskSet& s) {
  py::array_t<int64_t> out(static_cast<py::ssize_t>(s.set.masks.size()));
  vrft::masks::mask_areas(s.set, out.mutable_data());
  return out;
}

py::array_t<double> mask_set_bbox(const PyMaskSet& s) {
  py::array_t<double> out({static_cast<py::ssize_t>(s.set.masks.size()), py::ssize_t{4}});
  vrft::masks::mask_bboxes(s.set, out.mutable_data());
  return out;
}

// COCO's uncompressed RLE of mask i: alternating zeros / ones run lengths.
py::array_t<int64_t> mask_set_counts(const PyMaskSet& s, int64_t i) {
  if (i < 0 || i >= static_cast<int64_t>(s.set.masks.size())) {
    throw py::index_error("mask index out of range");
  }
  return to_numpy(vrft::masks::mask_counts(s.set.masks[static_cast<size_t>(i)]));
}

// The rasterised pixel rectangle of xywh boxes as (col_begin, col_end, row_begin, row_end).
py::array_t<int64_t> rasterize_boxes(const py::handle& boxes_obj, int64_t height, int64_t width) {
  auto boxes = require_array<double>(boxes_obj, "boxes");
  require_boxes_shape(boxes, "boxes");
  py::array_t<int64_t> out({boxes.shape(0), py::ssize_t{4}});
  vrft::masks::rasterize_boxes(boxes.data(), boxes.shape(0), height, width, out.mutable_data());
  return out;
}

// The counts of one compressed RLE string.
py::array_t<int64_t> rle_decode(const py::bytes& text) {
  std::vector<int64_t> counts;
  if (!vrft::masks::decode_rle_string(std::string_view(text), counts)) {
    throw std::invalid_argument("not a valid compressed RLE string");
  }
  return to_numpy(counts);
}

}  // namespace

void bind_masks(py::module_& m) {
  py::class_<PyMaskSet, std::shared_ptr<PyMaskSet>>(m, "MaskSet")
      .def(py::init(&make_mask_set), py::arg("heights"), py::arg("widths"), py::arg("rle"),
           py::arg("rle_offsets"), py::arg("coords"), py::arg("coord_offsets"),
           py::arg("polygon_offsets"))
      .def_property_readonly("status", [](const PyMaskSet& s) { return to_numpy(s.set.status); })
      .def_property_readonly("area", &mask_set_area)
      .def_property_readonly("bbox", &mask_set_bbox)
      .def("counts", &mask_set_counts, py::arg("i"))
      .def("box_overlap", &mask_set_box_overlap, py::arg("boxes"), py::arg("valid"));
  // Exposed for the tests against pycocotools.
  m.def("rasterize_boxes", &rasterize_boxes, py::arg("boxes"), py::arg("height"), py::arg("width"));
  m.def("rle_decode", &rle_decode, py::arg("text"));
}

}  // namespace vrft::bindings
