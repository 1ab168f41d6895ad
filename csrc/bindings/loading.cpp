// _C bindings that load evaluation data into columns: one field of a list of record dicts
// (annotations, results) and results JSON files read in blocks straight into their final arrays.
//
// records_columns walks Python objects, so it runs with the GIL held and touches only exact
// built-in types (list / tuple, dict, int, float, bool): no Python code runs while it reads, so
// the list cannot change under it.  Anything else (a dict subclass, a numpy scalar, a string, a
// missing field, an id that is not integral) is not converted here: the function returns None and
// the Python loader (vrft_rewards/cocoeval/columns.py) converts the column, with the error that
// names the record where there is one.  The values it does convert are the ones numpy's
// asarray would produce (a Python int becomes a double through PyLong_AsDouble, correctly
// rounded, as numpy converts it).
//
// eval_read_results reads the file without the GIL: it touches only its own buffers.
// eval_read_shape_results copies the images' ids and sizes (ImageSizes) with the GIL held, then
// reads the file without it, into its own buffers and arena: no caller memory is read unlocked.
#include <Python.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "bindings/eval_state.h"
#include "eval/results_json.h"
#include "eval/shape_results_json.h"

namespace vrft::bindings {
namespace {

// One value of a record, or "not on the fast path".
enum class Value { kOk, kFallback };

// A plain int / float as a double (numpy's float64 conversion of that object).
Value as_double(PyObject* v, double* out) {
  if (PyFloat_CheckExact(v)) {
    *out = PyFloat_AS_DOUBLE(v);
    return Value::kOk;
  }
  if (PyLong_CheckExact(v)) {
    const double d = PyLong_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred()) {  // too large for a double: numpy raises OverflowError
      PyErr_Clear();
      return Value::kFallback;
    }
    *out = d;
    return Value::kOk;
  }
  return Value::kFallback;
}

// The id columns: all plain ints, or all plain floats with integral values (int_column's two
// accepted cases; a mix is converted by numpy through float64, so it is left to Python).
struct IdReader {
  bool saw_int = false, saw_float = false;
  Value operator()(PyObject* v, int64_t* out) {
    if (PyLong_CheckExact(v)) {
      int overflow = 0;
      const long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
      if (overflow != 0 || saw_float) return Value::kFallback;
      saw_int = true;
      *out = static_cast<int64_t>(x);
      return Value::kOk;
    }
    if (PyFloat_CheckExact(v)) {
      const double d = PyFloat_AS_DOUBLE(v);
      // int_column: finite, integral and |x| < 2**63.
      if (saw_int || !std::isfinite(d) || d != std::floor(d) ||
          std::fabs(d) >= 9.223372036854775808e18) {
        return Value::kFallback;
      }
      saw_float = true;
      *out = static_cast<int64_t>(d);
      return Value::kOk;
    }
    return Value::kFallback;
  }
};

// flag_column: `np.asarray(values, float64) != 0`.
Value as_flag(PyObject* v, uint8_t* out) {
  if (PyBool_Check(v)) {
    *out = v == Py_True;
    return Value::kOk;
  }
  if (PyLong_CheckExact(v)) {
    *out = PyObject_IsTrue(v) == 1;  // int.__bool__ of an exact int runs no Python code
    return Value::kOk;
  }
  if (PyFloat_CheckExact(v)) {
    *out = PyFloat_AS_DOUBLE(v) != 0.0;  // NaN != 0 is true, as in numpy
    return Value::kOk;
  }
  return Value::kFallback;
}

// box_column: a list / tuple of exactly 4 plain numbers.
Value as_box(PyObject* v, double* out) {
  if (!PyList_CheckExact(v) && !PyTuple_CheckExact(v)) return Value::kFallback;
  if (PySequence_Fast_GET_SIZE(v) != 4) return Value::kFallback;
  PyObject** items = PySequence_Fast_ITEMS(v);
  for (int c = 0; c < 4; ++c) {
    if (as_double(items[c], out + c) != Value::kOk) return Value::kFallback;
  }
  return Value::kOk;
}

// One field being read: its key, kind, default, output column and whether it is still on the
// fast path (a field that leaves it stops being read; the others go on).
struct FieldReader {
  enum Kind { kInt, kFloat, kFlag, kBox } kind = kInt;
  PyObject* key = nullptr;            // borrowed from the fields list
  PyObject* default_value = nullptr;  // borrowed, or nullptr: the field is required
  py::array column;
  void* data = nullptr;
  IdReader ids;
  bool ok = true;

  Value read(Py_ssize_t i, PyObject* v) {
    switch (kind) {
      case kInt:
        return ids(v, static_cast<int64_t*>(data) + i);
      case kFloat:
        return as_double(v, static_cast<double*>(data) + i);
      case kFlag:
        return as_flag(v, static_cast<uint8_t*>(data) + i);
      case kBox:
        return as_box(v, static_cast<double*>(data) + 4 * i);
    }
    return Value::kFallback;
  }
};

FieldReader make_reader(const py::handle& spec, Py_ssize_t n) {
  const auto t = spec.cast<py::tuple>();
  if (t.size() != 3 || !PyUnicode_CheckExact(t[0].ptr())) {
    throw std::invalid_argument("each field must be a (str key, kind, default) tuple");
  }
  const auto kind = t[1].cast<std::string>();
  FieldReader r;
  r.key = t[0].ptr();
  r.default_value = t[2].is_none() ? nullptr : t[2].ptr();
  if (kind == "int") {
    r.kind = FieldReader::kInt;
    r.column = new_array<int64_t>(n);
  } else if (kind == "float") {
    r.kind = FieldReader::kFloat;
    r.column = new_array<double>(n);
  } else if (kind == "flag") {
    r.kind = FieldReader::kFlag;
    r.column = new_array<uint8_t>(n);
  } else if (kind == "box") {
    r.kind = FieldReader::kBox;
    r.column = py::array_t<double>({n, static_cast<Py_ssize_t>(4)});
  } else {
    throw std::invalid_argument("kind must be 'int', 'float', 'flag' or 'box', got '" + kind + "'");
  }
  r.data = r.column.mutable_data();
  return r;
}

// Several fields of every record, in one pass over the records (each dict is visited once, which
// is what costs at 500k records): per field, its column, or None when some record is off the
// fast path for that field (not an exact dict, the field missing without a default, a value of
// another type).
py::list records_columns(const py::handle& records, const py::list& fields) {
  PyObject* seq = records.ptr();
  const bool plain = PyList_CheckExact(seq) || PyTuple_CheckExact(seq);
  const Py_ssize_t n = plain ? PySequence_Fast_GET_SIZE(seq) : 0;
  std::vector<FieldReader> readers;
  for (const auto& spec : fields) readers.push_back(make_reader(spec, n));
  size_t live = readers.size();
  if (!plain) {
    for (auto& r : readers) r.ok = false;
    live = 0;
  }
  PyObject** items = plain ? PySequence_Fast_ITEMS(seq) : nullptr;
  for (Py_ssize_t i = 0; i < n && live > 0; ++i) {
    PyObject* rec = items[i];
    for (auto& r : readers) {
      if (!r.ok) continue;
      PyObject* v = nullptr;
      if (PyDict_CheckExact(rec)) {
        // Borrowed; a str key looked up in a dict runs no Python code.
        v = PyDict_GetItemWithError(rec, r.key);
        if (v == nullptr && PyErr_Occurred()) PyErr_Clear();
        if (v == nullptr) v = r.default_value;
      }
      if (v == nullptr || r.read(i, v) != Value::kOk) {
        r.ok = false;
        --live;
      }
    }
  }
  py::list out;
  for (auto& r : readers) out.append(r.ok ? py::object(r.column) : py::object(py::none()));
  return out;
}

// A results JSON file read natively into columns (a dict of numpy arrays that own the parser's
// buffers: no copy), or None when the file is off the fast path or cannot be read (the Python
// loader then reads it and reports the problem).
py::object eval_read_results(const py::bytes& path_bytes, int64_t block_bytes) {
  if (block_bytes < 1) throw std::invalid_argument("block_bytes must be >= 1");
  const std::string path = path_bytes;
  vrft::eval::ResultArrays cols;
  vrft::eval::ReadStatus status;
  {
    py::gil_scoped_release release;  // reads the file into buffers of its own
    status = vrft::eval::read_result_file(path.c_str(), cols, static_cast<size_t>(block_bytes));
  }
  if (status != vrft::eval::ReadStatus::kOk) return py::none();
  const auto n = static_cast<py::ssize_t>(cols.n);
  auto adopt = [](auto& array, std::vector<py::ssize_t> shape) {
    auto* p = array.release();
    py::capsule owner(p, [](void* q) { std::free(q); });
    using T = std::remove_pointer_t<decltype(p)>;
    return py::array_t<T>(shape, p, owner);
  };
  py::dict out;
  out["image_id"] = adopt(cols.image_id, {n});
  out["category_id"] = adopt(cols.category_id, {n});
  out["bbox"] = adopt(cols.box, {n, 4});
  out["score"] = adopt(cols.score, {n});
  return out;
}

// A vector handed to numpy without a copy: the array owns it (a capsule deletes it).
template <typename T>
py::array_t<T> adopt_vector(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* q) { delete static_cast<std::vector<T>*>(q); });
  return py::array_t<T>(shape, owned->data(), owner);
}

// A mask / keypoint results JSON file read natively (eval/shape_results_json.h): a dict of
// columns, the SegmArena (want_segm) and the keypoint rows (num_keypoints > 0), or None when the
// file is off the fast path or cannot be read.
py::object eval_read_shape_results(const py::bytes& path_bytes, const py::handle& ids_obj,
                                   const py::handle& heights_obj, const py::handle& widths_obj,
                                   bool want_segm, int64_t num_keypoints) {
  if (num_keypoints < 0) throw std::invalid_argument("num_keypoints must be >= 0");
  const std::string path = path_bytes;
  auto ids = require_array<int64_t>(ids_obj, "image_ids");
  if (ids.ndim() != 1) throw std::invalid_argument("image_ids must be 1-D");
  const int64_t n_img = ids.shape(0);
  auto heights = require_column<int64_t>(heights_obj, "heights", n_img);
  auto widths = require_column<int64_t>(widths_obj, "widths", n_img);
  const vrft::eval::ImageSizes sizes(ids.data(), heights.data(), widths.data(), n_img);  // copies
  vrft::eval::ShapeResults cols;
  vrft::eval::ReadStatus status;
  {
    py::gil_scoped_release release;  // the path and the sizes are this frame's own copies
    status =
        vrft::eval::read_shape_results_file(path.c_str(), sizes, want_segm, num_keypoints, cols);
  }
  if (status != vrft::eval::ReadStatus::kOk) return py::none();
  const auto n = static_cast<py::ssize_t>(cols.score.size());
  py::dict out;
  out["image_id"] = adopt_vector(std::move(cols.image_id), {n});
  out["category_id"] = adopt_vector(std::move(cols.category_id), {n});
  out["score"] = adopt_vector(std::move(cols.score), {n});
  out["bbox"] = adopt_vector(std::move(cols.box), {n, 4});
  out["has_bbox"] = adopt_vector(std::move(cols.has_box), {n});
  out["has_segmentation"] = adopt_vector(std::move(cols.has_segm), {n});
  if (want_segm) {
    auto arena = std::make_shared<PySegmArena>();
    arena->arena = std::move(cols.masks);
    out["masks"] = arena;
  }
  if (num_keypoints > 0) {
    out["keypoints"] = adopt_vector(std::move(cols.keypoints), {n, 3 * num_keypoints});
    out["kp_integral"] = adopt_vector(std::move(cols.kp_integral), {n});
  }
  return out;
}

}  // namespace

void bind_loading(py::module_& m) {
  m.def("records_columns", &records_columns, py::arg("records"), py::arg("fields"),
        "Fields of every record dict, in one pass: for each (key, kind, default) of fields "
        "(kind: 'int' int64, 'float' float64, 'flag' uint8 truthiness, 'box' (N, 4) float64; "
        "default None: required), its numpy column, or None when a record is off the fast path "
        "for it (Python then converts that field).");
  m.def("eval_read_results", &eval_read_results, py::arg("path"),
        py::arg("block_bytes") = int64_t{32} << 20,
        "A results JSON file (path as bytes) read into columns in blocks of block_bytes (at least "
        "4096), or None when it is off the fast path or cannot be read.");
  m.def("eval_read_shape_results", &eval_read_shape_results, py::arg("path"), py::arg("image_ids"),
        py::arg("heights"), py::arg("widths"), py::arg("want_segm"), py::arg("num_keypoints"),
        "A mask / keypoint results JSON file (path as bytes) read into columns (image_id, "
        "category_id, score, bbox, has_bbox, has_segmentation; masks: a SegmArena when want_segm; "
        "keypoints (N, 3K) and kp_integral when num_keypoints > 0), polygons taking the size of "
        "their image (image_ids, heights, widths; -1: unknown), or None when it is off the fast "
        "path or cannot be read.");
}

}  // namespace vrft::bindings
