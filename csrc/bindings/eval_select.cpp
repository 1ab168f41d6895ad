// _C bindings of csrc/eval/select.h: id -> position lookups and lvis-api's detection selection
// (evaluated image / category, 0 < area < inf, federated filter, not-exhaustive flags).
//
// Pattern: every column is checked with the GIL held and its pointer taken; the GIL is then
// released for the core, which reads only those arrays (kept alive by the handles of this frame)
// and writes fresh outputs, handed to numpy without a copy.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "eval/select.h"

namespace vrft::bindings {
namespace {

// A C++ vector handed to numpy without a copy (the array owns it).
template <typename T>
py::array_t<T> adopt_vector(std::vector<T>&& v) {
  auto* holder = new std::vector<T>(std::move(v));
  py::capsule owner(holder, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(holder->size()), holder->data(), owner);
}

template <typename T>
py::array_t<T> vector_arg(const py::handle& obj, const char* arg) {
  auto arr = require_array<T>(obj, arg);
  if (arr.ndim() != 1) throw std::invalid_argument(std::string(arg) + " must be 1-D");
  return arr;
}

py::array_t<int64_t> eval_positions(const py::handle& ids_obj, const py::handle& table_obj) {
  auto ids = vector_arg<int64_t>(ids_obj, "ids");
  auto table = vector_arg<int64_t>(table_obj, "table");
  auto pos = new_array<int64_t>(ids.shape(0));
  const int64_t *i = ids.data(), *t = table.data();
  int64_t* p = pos.mutable_data();
  const int64_t n = ids.shape(0), m = table.shape(0);
  py::gil_scoped_release release;  // reads the two checked arrays, writes the fresh one
  vrft::eval::id_positions(t, m, i, n, p);
  return pos;
}

py::tuple eval_select_lvis(const py::handle& image_id, const py::handle& category_id,
                           const py::handle& box, const py::handle& area, const py::handle& img_ids,
                           const py::handle& cat_ids, const py::handle& present_image,
                           const py::handle& present_category, const py::handle& absent_image_id,
                           const py::handle& absent_category_id, const py::handle& nel_image_id,
                           const py::handle& nel_category_id, int64_t max_bitset_bits) {
  const int64_t n = py::len(image_id);
  auto d_img = require_column<int64_t>(image_id, "image_id", n);
  auto d_cat = require_column<int64_t>(category_id, "category_id", n);
  auto d_box = require_column<double>(box, "box", n, 4);
  py::array_t<double> d_area;
  if (!area.is_none()) d_area = require_column<double>(area, "area", n);
  auto imgs = vector_arg<int64_t>(img_ids, "img_ids");
  auto cats = vector_arg<int64_t>(cat_ids, "cat_ids");
  auto pi = vector_arg<int64_t>(present_image, "present_image");
  auto pc = require_column<int64_t>(present_category, "present_category", pi.shape(0));
  auto ai = vector_arg<int64_t>(absent_image_id, "absent_image_id");
  auto ac = require_column<int64_t>(absent_category_id, "absent_category_id", ai.shape(0));
  auto ni = vector_arg<int64_t>(nel_image_id, "nel_image_id");
  auto nc = require_column<int64_t>(nel_category_id, "nel_category_id", ni.shape(0));
  const int64_t num_images = imgs.shape(0), num_categories = cats.shape(0);
  for (int64_t i = 0; i < pi.shape(0); ++i) {  // positions index per-image tables below
    if (pi.data()[i] < 0 || pi.data()[i] >= num_images || pc.data()[i] < 0 ||
        pc.data()[i] >= num_categories) {
      throw std::invalid_argument("present pair " + std::to_string(i) + " is out of range");
    }
  }
  vrft::eval::LvisDetectionInput in;
  in.n = n;
  in.image_id = d_img.data();
  in.category_id = d_cat.data();
  in.box = d_box.data();
  in.area = area.is_none() ? nullptr : d_area.data();
  in.img_ids = imgs.data();
  in.num_images = num_images;
  in.cat_ids = cats.data();
  in.num_categories = num_categories;
  in.present = {pi.data(), pc.data(), pi.shape(0)};
  in.absent = {ai.data(), ac.data(), ai.shape(0)};
  in.not_exhaustive = {ni.data(), nc.data(), ni.shape(0)};
  if (max_bitset_bits >= 0) in.max_bitset_bits = static_cast<uint64_t>(max_bitset_bits);
  vrft::eval::LvisDetectionRows rows;
  {
    py::gil_scoped_release release;  // reads the checked arrays held by this frame
    rows = vrft::eval::select_lvis_detections(in);
  }
  return py::make_tuple(adopt_vector(std::move(rows.rows)), adopt_vector(std::move(rows.image)),
                        adopt_vector(std::move(rows.category)),
                        adopt_vector(std::move(rows.not_exhaustive)));
}

}  // namespace

void bind_eval_select(py::module_& m) {
  m.def("eval_positions", &eval_positions, py::arg("ids"), py::arg("table"),
        "Index of the first occurrence of each id in table (int64), -1 when absent.");
  m.def("eval_select_lvis", &eval_select_lvis, py::arg("image_id"), py::arg("category_id"),
        py::arg("box"), py::arg("area"), py::arg("img_ids"), py::arg("cat_ids"),
        py::arg("present_image"), py::arg("present_category"), py::arg("absent_image_id"),
        py::arg("absent_category_id"), py::arg("nel_image_id"), py::arg("nel_category_id"),
        py::arg("max_bitset_bits") = -1,
        "lvis-api's detection selection (evaluated image / category, 0 < area < inf, federated "
        "filter): (rows, image positions, category positions, not_exhaustive flags). "
        "max_bitset_bits (tests): the largest image x category bitset, -1: the default.");
}

}  // namespace vrft::bindings
