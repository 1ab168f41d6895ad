// _C bindings of the keypoint OKS (iouType "keypoints", csrc/eval/oks.h): keypoint lists read
// into rows, and the two native passes around numpy's exp (vrft_rewards/cocoeval/engine.py calls
// np.exp between them).  keypoint_rows reads Python lists with the GIL held; the passes check
// their arrays with the GIL held and release it for the computation, which reads only those
// arrays and the plan held by this frame.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "bindings/eval_state.h"
#include "bindings/pyvalues.h"
#include "eval/oks.h"

namespace vrft::bindings {
namespace {

using pyvalues::is_text;
using pyvalues::Items;
using pyvalues::number;

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
  // The counts bound the reads: owned, so that a write from another thread cannot move one.
  const std::vector<int32_t> counts_owned = owned(counts);
  auto out = new_array<double>(counts.shape(0));
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    vrft::eval::oks_reduce(values.data(), values.shape(0), counts_owned.data(), counts.shape(0), o);
  }
  return out;
}

}  // namespace

void bind_keypoints(py::module_& m) {
  m.def("keypoint_rows", &keypoint_rows, py::arg("values"), py::arg("num_keypoints"),
        py::arg("where"));
  m.def("oks_exponents", &oks_exponents, py::arg("plan"), py::arg("vars"), py::arg("gt_keypoints"),
        py::arg("gt_integral"), py::arg("gt_box"), py::arg("gt_area"), py::arg("dt_keypoints"),
        py::arg("dt_integral"));
  m.def("oks_reduce", &oks_reduce, py::arg("values"), py::arg("counts"));
}

}  // namespace vrft::bindings
