// The entry point of _C, the native core's Python module: it only wires the areas together.
//
// csrc/bindings/ is the only place of the CPU core that includes pybind11 (the optional CUDA
// module has its own, csrc/cuda/bindings_cuda.cpp).  One file per area defines bind_<area>();
// args.h holds the argument checks they share.  Every batch binding follows one pattern: check
// and convert the Python arguments into validated buffers while holding the GIL, then release the
// GIL for the whole computation; each area file says why that is safe for its functions.
#include <pybind11/pybind11.h>

#include "bindings/areas.h"

PYBIND11_MODULE(_C, m) {
  using namespace vrft::bindings;
  m.doc() = "vrft_rewards native core (CPU)";
  bind_runtime(m);
  bind_geometry(m);
  bind_match(m);
  bind_parse(m);
  bind_eval(m);
  bind_eval_metrics(m);
  bind_masks(m);
  bind_shapes(m);
  bind_keypoints(m);
  bind_rewards(m);
  bind_rewards_fused(m);
  bind_loading(m);
  bind_eval_select(m);
}
