// _C bindings of csrc/common/thread_pool.h: the size of the thread pool every batch call uses.
// Plain integers in and out; nothing to release the GIL for.
#include "bindings/areas.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace vrft::bindings {

void bind_runtime(py::module_& m) {
  m.def("get_num_threads", &vrft::get_num_threads,
        "Number of threads batch calls use (including the caller).");
  m.def("set_num_threads", &vrft::set_num_threads, py::arg("n"),
        "Set the thread-pool size; 0 restores the CPU count.");
}

}  // namespace vrft::bindings
