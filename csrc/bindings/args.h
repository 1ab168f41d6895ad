// Argument checks shared by every binding area of _C (csrc/bindings/*.cpp) and by _C_cuda
// (csrc/cuda/bindings_cuda.cpp): each turns a Python argument into a validated buffer, with the
// GIL held, or raises TypeError / ValueError naming the argument and what was wrong.  Nothing
// here computes a result; the two output helpers at the end only wrap C++ values as arrays.
//
// Caller memory and the GIL.  A binding releases the GIL for the core's work, and from then on
// any other Python thread may write any byte of the caller's arrays (numpy does not stop it).  So:
//   * whatever decides where the core reads or writes (sizes, offsets, indices, categories, row
//     maps, shapes, thresholds) and whatever the core orders or searches (sort keys: a comparator
//     that sees a value change can walk out of its range) is copied here with the GIL held and
//     validated on the copy: `owned`, `owned_offsets`, `require_offsets`, `owned_no_nan`;
//   * arrays of values that only feed arithmetic (box coordinates into an overlap, values into a
//     sum) are read in place, kept alive by the binding's py::array handle, their shape fixed
//     when checked: those kernels are written so that any value, changing at any time, gives that
//     call an unspecified number (as numpy's own GIL-free loops do), never an out-of-bounds
//     access or a hang;
//   * strings are read through references the binding holds (a tuple snapshot of a list), never
//     through the caller's list.
// Every array is also read aligned: numpy allows views at any byte offset (np.frombuffer), which
// `require_array` copies, and `require_output` refuses.
//
// Only pybind11 and the standard library are included: _C_cuda shares this header without _C
// learning anything of CUDA (the dependency points from the CUDA module to this header, never
// back).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace vrft::bindings {

// What is wrong with `obj` when it is not a C-contiguous array of dtype `want`: its type, its
// dtype (with the byte order named when only that differs), or its layout.
inline std::string array_mismatch(const py::handle& obj, const py::dtype& want) {
  if (!py::isinstance<py::array>(obj)) return py::str(py::type::of(obj)).cast<std::string>();
  const py::dtype got = py::reinterpret_borrow<py::array>(obj).dtype();
  const std::string name = py::str(got).cast<std::string>();
  if (got.kind() == want.kind() && got.itemsize() == want.itemsize() &&
      !got.attr("isnative").cast<bool>()) {
    return "dtype " + name + " in non-native byte order (big-endian); convert it with .astype(" +
           py::str(want).cast<std::string>() + ")";
  }
  if (!got.attr("__eq__")(want).cast<bool>()) return "dtype " + name;
  return "an array that is not C-contiguous";
}

template <typename T>
bool is_aligned(const py::array_t<T>& arr) {
  return arr.size() == 0 || reinterpret_cast<std::uintptr_t>(arr.data()) % alignof(T) == 0;
}

// A C-contiguous array of exactly dtype T: refuses silent casts (the Python layer converts lists
// and chooses the dtype on purpose before calling in).  A misaligned view is copied (reading it
// in place would be undefined behaviour); the copy is a fresh, aligned numpy array.
template <typename T>
py::array_t<T> require_array(const py::handle& obj, const char* arg) {
  if (!py::array_t<T, py::array::c_style>::check_(obj)) {
    throw py::type_error(std::string(arg) + " must be a C-contiguous " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + " numpy array, got " +
                         array_mismatch(obj, py::dtype::of<T>()));
  }
  auto arr = py::reinterpret_borrow<py::array_t<T>>(obj);
  if (is_aligned(arr)) return arr;
  py::array_t<T> copy(std::vector<py::ssize_t>(arr.shape(), arr.shape() + arr.ndim()));
  std::memcpy(copy.mutable_data(), arr.data(), static_cast<size_t>(arr.nbytes()));
  return copy;
}

// An output array the core writes: as require_array, but it must be the caller's own memory, so
// a misaligned or read-only one is refused instead of copied.
template <typename T>
py::array_t<T> require_output(const py::handle& obj, const char* arg) {
  if (!py::array_t<T, py::array::c_style>::check_(obj)) {
    throw py::type_error(std::string(arg) + " must be a C-contiguous " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + " numpy array, got " +
                         array_mismatch(obj, py::dtype::of<T>()));
  }
  auto arr = py::reinterpret_borrow<py::array_t<T>>(obj);
  if (!is_aligned(arr)) {
    throw std::invalid_argument(std::string(arg) + " must be aligned to its dtype (a view at an " +
                                "odd byte offset cannot be written in place)");
  }
  if (!arr.writeable())
    throw std::invalid_argument(std::string(arg) + " must be a writeable array");
  return arr;
}

// The elements of `arr` (C order) copied with the GIL held: the core may read them without the
// GIL whatever other threads do to the caller's array meanwhile.
template <typename T>
std::vector<T> owned(const py::array_t<T>& arr) {
  std::vector<T> v(static_cast<size_t>(arr.size()));
  if (!v.empty()) std::memcpy(v.data(), arr.data(), v.size() * sizeof(T));
  return v;
}

// "(2, 3)" / "(5,)": an array's shape as Python prints it, for error messages.
inline std::string shape_text(const py::array& arr) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    s += (d ? ", " : "") + std::to_string(arr.shape(d));
  }
  return s + (arr.ndim() == 1 ? ",)" : ")");
}

inline void require_boxes_shape(const py::array& arr, const char* arg) {
  if (arr.ndim() != 2 || arr.shape(1) != 4) {
    throw std::invalid_argument(std::string(arg) + " must have shape (N, 4), got " +
                                shape_text(arr));
  }
}

// ValueError "<arg>[i] is invalid: <reason>" (reason from vrft::find_invalid_box).
[[noreturn]] inline void throw_invalid_box(const char* arg, int64_t index, const char* reason) {
  throw std::invalid_argument(std::string(arg) + "[" + std::to_string(index) +
                              "] is invalid: " + reason);
}

// ValueError "<arg>[i] is NaN" for the first NaN of values[0..n).
inline void require_no_nan(const double* values, int64_t n, const char* arg) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(values[i])) {
      throw std::invalid_argument(std::string(arg) + "[" + std::to_string(i) + "] is NaN");
    }
  }
}

// A count passed as a plain integer (the CUDA bindings take sizes next to raw pointers).
inline void require_count(int64_t n, const char* arg) {
  if (n < 0) {
    throw std::invalid_argument(std::string(arg) + " must be >= 0, got " + std::to_string(n));
  }
}

// Offsets of a ragged batch, owned and checked on the copy: int64, (B+1,), start at 0,
// non-decreasing, end at `total` (the length of `boxes_arg`, the array they split).
inline std::vector<int64_t> owned_offsets(const py::array_t<int64_t>& off, int64_t total,
                                          const char* arg, const char* boxes_arg) {
  if (off.ndim() != 1 || off.shape(0) < 1) {
    throw std::invalid_argument(std::string(arg) + " must have shape (B + 1,), got " +
                                shape_text(off));
  }
  std::vector<int64_t> o = owned(off);
  const auto n = static_cast<int64_t>(o.size());
  if (o[0] != 0) {
    throw std::invalid_argument(std::string(arg) + "[0] must be 0, got " + std::to_string(o[0]));
  }
  for (int64_t i = 1; i < n; ++i) {
    if (o[i] < o[i - 1]) {
      throw std::invalid_argument(std::string(arg) + " must be non-decreasing, but " + arg + "[" +
                                  std::to_string(i) + "] = " + std::to_string(o[i]) + " < " + arg +
                                  "[" + std::to_string(i - 1) + "] = " + std::to_string(o[i - 1]));
    }
  }
  if (o[n - 1] != total) {
    throw std::invalid_argument(std::string(arg) + "[-1] must equal len(" + boxes_arg + ") = " +
                                std::to_string(total) + ", got " + std::to_string(o[n - 1]));
  }
  return o;
}

// Offsets of exactly `count` segments (`count` + 1 values from 0 to `total`), e.g. pieces per
// sample or coordinates per polygon; owned, like owned_offsets.
inline std::vector<int64_t> require_offsets(const py::handle& obj, const char* arg, int64_t count,
                                            int64_t total, const char* of) {
  auto off = require_array<int64_t>(obj, arg);
  if (off.ndim() != 1 || off.shape(0) != count + 1) {
    throw std::invalid_argument(std::string(arg) + " must have shape (" +
                                std::to_string(count + 1) + ",), got " + shape_text(off));
  }
  return owned_offsets(off, total, arg, of);
}

// Values the core sorts or compares as keys, owned and checked on the copy for NaN.
inline std::vector<double> owned_no_nan(const py::array_t<double>& arr, const char* arg) {
  std::vector<double> v = owned(arr);
  require_no_nan(v.data(), static_cast<int64_t>(v.size()), arg);
  return v;
}

// A column of n rows: shape (n,) when width == 0, else (n, width).
template <typename T>
py::array_t<T> require_column(const py::handle& obj, const char* arg, int64_t n,
                              int64_t width = 0) {
  auto arr = require_array<T>(obj, arg);
  const bool ok = width == 0 ? (arr.ndim() == 1 && arr.shape(0) == n)
                             : (arr.ndim() == 2 && arr.shape(0) == n && arr.shape(1) == width);
  if (!ok) {
    throw std::invalid_argument(std::string(arg) + " must have shape (" + std::to_string(n) +
                                (width ? ", " + std::to_string(width) : std::string(",")) +
                                "), got " + shape_text(arr));
  }
  return arr;
}

// ---- outputs ----------------------------------------------------------------------------------

// A fresh 1-D array of n values (uninitialised: the core writes every one).
template <typename T>
py::array_t<T> new_array(int64_t n) {
  return py::array_t<T>(static_cast<py::ssize_t>(n));
}

// A copy of a C++ vector as a 1-D array.
template <typename T, typename Alloc>
py::array_t<T> to_numpy(const std::vector<T, Alloc>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

}  // namespace vrft::bindings
