// Bindings of the optional _C_cuda module.  Like csrc/bindings.cpp for _C, this is the only file
// of its module that includes pybind11; it takes raw device pointers (integers) and the caller's
// CUDA stream handle from the Python layer, so it never links libtorch.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/placeholder.h"

namespace py = pybind11;

namespace {

void raise_if_error(const std::string& message) {
  if (!message.empty()) throw std::runtime_error("CUDA error: " + message);
}

void bind_placeholder(py::module_& m) {
  m.def("device_count", &vrft::cuda::device_count, "Number of visible CUDA devices.");
  m.def(
      "add_f32",
      [](std::uintptr_t a, std::uintptr_t b, std::uintptr_t out, int64_t n, std::uintptr_t stream) {
        std::string err;
        {
          py::gil_scoped_release release;
          err = vrft::cuda::add_f32(reinterpret_cast<const float*>(a), reinterpret_cast<const float*>(b),
                                    reinterpret_cast<float*>(out), n, stream);
        }
        raise_if_error(err);
      },
      py::arg("a_ptr"), py::arg("b_ptr"), py::arg("out_ptr"), py::arg("n"), py::arg("stream"),
      "Placeholder kernel out = a + b over n float32 device values (build smoke test).");
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "vrft_rewards CUDA kernels";
  bind_placeholder(m);
}
