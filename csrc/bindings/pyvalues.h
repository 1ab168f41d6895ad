// Reading Python values (numbers, sequences) through the C API, for the binding files that copy
// many small Python objects into native arenas (shapes.cpp, keypoints.cpp): faster than pybind11's
// casts for the per-value work, with the same errors as text.
#pragma once

#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace py = pybind11;

namespace vrft::bindings::pyvalues {

// A Python number as a double ("" or why not).
inline std::string number(PyObject* v, double* out) {
  if (PyFloat_Check(v)) {
    *out = PyFloat_AS_DOUBLE(v);
    return "";
  }
  if (PyLong_Check(v)) {
    *out = PyLong_AsDouble(v);
    if (*out == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return "an integer beyond double range";
    }
    return "";
  }
  if (PyUnicode_Check(v) || PyBytes_Check(v)) return "a string is not a number";
  PyObject* f = PyNumber_Float(v);
  if (!f) {
    PyErr_Clear();
    return "a " + py::str(py::type::of(py::handle(v))).cast<std::string>() + " is not a number";
  }
  *out = PyFloat_AS_DOUBLE(f);
  Py_DECREF(f);
  return "";
}
inline std::string number(const py::handle& v, double* out) { return number(v.ptr(), out); }

// A Python integer (or a float holding one) as int64 ("" or why not).
inline std::string integer(PyObject* v, int64_t* out) {
  if (PyLong_Check(v)) {
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    return overflow ? "an integer beyond int64" : "";
  }
  double d;
  if (!number(v, &d).empty() || !(std::floor(d) == d) || std::fabs(d) > 9.0e15) {
    return "counts and sizes must be integers";
  }
  *out = static_cast<int64_t>(d);
  return "";
}

// The items of a list / tuple (borrowed), or of any other sequence through PySequence_Fast.
class Items {
 public:
  explicit Items(PyObject* seq) {
    if (PyList_Check(seq) || PyTuple_Check(seq)) {
      fast_ = seq;
      Py_INCREF(fast_);
    } else {
      fast_ = PySequence_Fast(seq, "not a sequence");
      if (!fast_) PyErr_Clear();
    }
  }
  ~Items() { Py_XDECREF(fast_); }
  Items(const Items&) = delete;
  Items& operator=(const Items&) = delete;
  bool ok() const { return fast_ != nullptr; }
  Py_ssize_t size() const { return PySequence_Fast_GET_SIZE(fast_); }
  PyObject* operator[](Py_ssize_t i) const { return PySequence_Fast_GET_ITEM(fast_, i); }

 private:
  PyObject* fast_ = nullptr;
};

inline bool is_text(PyObject* o) { return PyUnicode_Check(o) || PyBytes_Check(o); }

}  // namespace vrft::bindings::pyvalues
